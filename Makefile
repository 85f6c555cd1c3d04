# Set-up is part of every target: a .venv is created if missing and the project installed
# into it (again only when pyproject.toml changed). Safe to run twice.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.fishseg-installed

.PHONY: demo test lint install

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fishseg demo --out fishseg-demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -ra

lint: $(STAMP)
	$(VENV)/bin/ruff check fishseg tests scripts
