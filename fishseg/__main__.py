"""``python -m fishseg`` is the ``fishseg`` command."""

from fishseg.cli import main

raise SystemExit(main())
