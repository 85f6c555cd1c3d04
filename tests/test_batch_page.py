"""OUT/index.html: the batch on one page (fishseg.io.batch_page)."""

import csv
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from fishseg.cli import main
from fishseg.io.batch_page import _duration, write_batch_page


class Links(HTMLParser):
    """Every href / src, every id, and the page's text."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.text = [], set(), []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src"):
                self.links.append(v)
            if k == "id":
                self.ids.add(v)

    def handle_data(self, data):
        self.text.append(data)


def test_the_page_links_every_output_that_exists_and_escapes_names(tmp_path, capsys):
    assert write_batch_page(tmp_path) is None          # no inputs.csv: no page
    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "12", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    copy = tmp_path / "cam_b.mp4"
    copy.write_bytes((tmp_path / "v" / "video.mp4").read_bytes())
    bad = tmp_path / "bad<1>.mp4"                        # a name that is HTML
    bad.write_text("junk")
    out = tmp_path / "out"
    rc = main(["-q", "segment", str(tmp_path / "v" / "video.mp4"), str(copy), str(bad),
               "--out", str(out), "--model", "fast"])
    assert rc == 1
    assert f"the batch on one page (open it in a browser): {out / 'index.html'}" in \
        capsys.readouterr().out
    raw = (out / "index.html").read_text()
    assert "<1>" not in raw and "bad&lt;1&gt;.mp4" in raw
    page = Links()
    page.feed(raw)
    text = " ".join(page.text)
    with open(out / "all_fish.csv", newline="") as f:
        fish = len(list(csv.DictReader(f)))
    assert "3 inputs: 2 done, 0 skipped" in text and "1 failed" in text
    with open(out / "inputs.csv", newline="") as f:
        unsure = {r["output"]: r["uncertainty"] for r in csv.DictReader(f)}
    assert 0 < float(unsure["video"]) < 1 and unsure["bad<1>"] == ""   # the model's doubt
    assert f"{fish} fish counted" in text
    assert "bad<1>.mp4" in text                           # shown as text, with its error
    targets = [unquote(h) for h in page.links]
    for t in targets:
        if t.startswith("#"):
            assert t[1:] in page.ids, t
        else:
            assert (out / t).is_file(), t
    for name in ("video", "cam_b"):                       # each done input: its outputs
        for f in ("overlay.mp4", "fish/sheet_001.jpg", "counts.png", "fish.csv"):
            assert f"{name}/{f}" in targets, (name, f)
        assert name in page.ids
    assert "all_lengths.png" in targets and "inputs.csv" in targets


def test_duration():
    assert _duration(0) == "0:00:00"
    assert _duration(3725.4) == "1:02:05"


def test_each_input_gets_a_page_of_its_fish(tmp_path):
    assert main(["-q", "synth", str(tmp_path / "v"), "--frames", "12", "--seed", "5",
                 "--width", "320", "--height", "192"]) == 0
    out = tmp_path / "out"
    assert main(["-q", "segment", str(tmp_path / "v" / "video.mp4"), "--out", str(out),
                 "--model", "fast"]) == 0
    assert "video/fish.html" in (out / "index.html").read_text()
    page = Links()
    page.feed((out / "video" / "fish.html").read_text())
    with open(out / "video" / "fish.csv", newline="") as f:
        fish = list(csv.DictReader(f))
    pictures = [h for h in page.links if h.startswith("fish/")]
    jumps = [h for h in page.links if h.startswith("overlay.mp4#t=")]
    assert len(set(pictures)) == len(fish) == len(jumps) > 0
    assert all((out / "video" / unquote(h)).is_file() for h in pictures)
    assert [float(h.split("=")[1]) for h in jumps] == pytest.approx(
        [float(r["first_s"]) for r in fish], abs=0.01)
