"""The HTML report as an analyst attaches it to a takedown request: opened in headless Chromium,
with the uploads' URLs as links and their titles, one contact sheet per content cluster, no
absolute path, and every section drawn with a size on the screenshot."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.chromium import Browser, chromium_binary
from tests.conftest import FIXTURES, fixture_clip, run

SECTIONS = ("#summary", "#groups", "#amplifiers", "#network", "#timelines", "#copies")


class Page(HTMLParser):
    """Links, contact sheets (with their figures and images) and shown paths of a page."""

    def __init__(self):
        super().__init__()
        self.links: dict[str, list[str]] = {}  # href -> the text of each link to it
        self.sheets: dict[str, dict] = {}
        self.paths: list[str] = []
        self.text: list[str] = []
        self._sheet = None
        self._link = None
        self._path = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and "contact-sheet" in classes:
            self._sheet = self.sheets.setdefault(a["id"], {"figures": 0, "images": 0})
        elif tag == "figure" and self._sheet is not None:
            self._sheet["figures"] += 1
        elif tag == "img" and self._sheet is not None and a.get("src", "").startswith("data:image/jpeg;base64,"):
            self._sheet["images"] += 1
        elif tag == "a" and a.get("href", "").startswith("http"):
            self._link = a["href"]
            self.links.setdefault(self._link, []).append("")
        elif tag == "span" and "path" in classes:
            self._path = True
            self.paths.append("")

    def handle_endtag(self, tag):
        if tag == "a":
            self._link = None
        elif tag == "span":
            self._path = False

    def handle_data(self, data):
        self.text.append(data)
        if self._link:
            self.links[self._link][-1] += data
        if self._path:
            self.paths[-1] += data


def test_report_in_chromium_has_links_titles_contact_sheets_and_no_absolute_paths(tmp_path):
    chromium = chromium_binary()
    case = tmp_path / "case-42"
    shutil.copytree(FIXTURES, case, ignore=shutil.ignore_patterns("*.py", "README.md"))
    store = case / "store"
    assert run(store, "--quiet", "ingest", "--manifest", case / "manifest.csv").exit_code == 0
    report = case / "report.html"
    written = run(store, "report", "--html", report, "--base", case, "--quiet")
    assert written.exit_code == 0, written.stderr
    html = report.read_text(encoding="utf-8")
    assert str(tmp_path) not in html and str(FIXTURES) not in html  # no absolute path anywhere
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' in html

    clusters = json.loads(run(store, "clusters", "--json").stdout)["clusters"]
    posted_again = [c for c in clusters if len(c["uploads"]) > 1]
    rows = {
        (r["path"], r["account"]): r
        for r in csv.DictReader(io.StringIO((case / "manifest.csv").read_text(encoding="utf-8")))
    }
    uploads = {rows[(os.path.relpath(u["path"], case), u["account"])]["url"]: rows[(os.path.relpath(u["path"], case), u["account"])]
               for c in posted_again for u in c["uploads"]}.values()  # fmt: skip
    assert len(posted_again) >= 2 and len(uploads) == 9  # all but the unrelated clip, posted once

    if chromium is None:
        pytest.skip("chromium not installed here (CI installs it)")
    browser = Browser(chromium, str(tmp_path / "chromium"))
    try:
        browser.load(report.as_uri())
        root = browser.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        dom = browser.call("DOM.getOuterHTML", nodeId=root)["outerHTML"]
        boxes = {
            selector: browser.boxes(selector)
            for selector in (*SECTIONS, ".contact-sheet", "svg.network", ".contact-sheet img")
        }
        shot = browser.screenshot()
    finally:
        browser.close()

    page = Page()
    page.feed(dom)
    # every upload of a content posted more than once: its URL as a link, its title shown
    for u in uploads:
        assert u["url"] in page.links, u["url"]
    text = " ".join(page.text)
    for u in uploads:
        assert u["title"] in text, u["title"]
    # in the groups' evidence the title is the link; on the contact sheet the URL itself
    assert page.links["https://videoshare.example/v/0004"] == [
        "THEY don't want you to see this",
        "https://videoshare.example/v/0004",
    ]
    # one contact sheet per cluster posted more than once, a still of each of its videos
    assert set(page.sheets) == {f"cluster-{c['id']}" for c in posted_again}
    for c in posted_again:
        sheet = page.sheets[f"cluster-{c['id']}"]
        assert sheet["figures"] == len(c["videos"]) + len(c["partial_videos"]) and sheet["images"] == sheet["figures"]
    assert "Cluster 1:" in text and "Amplifiers" in text and "voice_of_people" in text
    # paths relative to the case folder
    assert page.paths and all(not p.startswith("/") for p in page.paths)
    assert any(p.startswith("videos/news_hub/orig_a.mp4") for p in page.paths)
    assert not re.search(r"(?<![\w.])/(?:tmp|home|work|root|Users)/", dom)

    # the screenshot: every section drawn with a size, and not blank where it is drawn
    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("L")
    for selector, found in boxes.items():
        assert found, f"{selector} not in the page"
        for box in found:
            assert box["width"] > 0 and box["height"] > 0, (selector, box)
            left, top = int(box["x"]), int(box["y"])
            area = image.crop((left, top, left + int(box["width"]), top + int(box["height"])))
            low, high = area.getextrema()
            assert high - low > 50, f"{selector} is blank on the screenshot"
    assert image.height >= max(b["y"] + b["height"] for found in boxes.values() for b in found) - 1
    # the network's labels fit inside the drawing
    network = boxes["svg.network"][0]
    assert network["width"] <= image.width
    keep = os.environ.get("VIDTRACE_SCREENSHOT_DIR")
    if keep:
        Path(keep, "report.png").write_bytes(shot)


def test_same_soundtrack_links_lead_to_both_clusters_sheets(tmp_path):
    from tests.test_signals import _with_sound

    root = tmp_path / "videos"
    for account in ("news", "dubber"):
        (root / account).mkdir(parents=True)
    _with_sound(fixture_clip("orig_a.mp4"), root / "news" / "voiced.mp4", 20)
    _with_sound(fixture_clip("unrelated_c.mp4"), root / "dubber" / "dub.mp4", 15, "-b:a", "64k")
    store = tmp_path / "store"
    assert run(store, "--quiet", "ingest", root).exit_code == 0
    report = tmp_path / "report.html"
    written = run(store, "report", "--html", report, "--file-times", "--quiet", "--base", tmp_path)
    assert written.exit_code == 0 and "1 same-soundtrack link(s)" in written.stdout
    page = Page()
    page.feed(report.read_text(encoding="utf-8"))
    html = report.read_text(encoding="utf-8")
    related = html[html.index("<section id='related'>") :]
    targets = re.findall(r"<a href='#(cluster-\d+)'>", related)
    assert len(targets) == 2 and set(targets) == set(page.sheets)  # both contents shown, each linked
    assert all(sheet["images"] == 1 for sheet in page.sheets.values())
