"""The report's first screen (issue 21), in headless chromium at 1400×900: the top hotspot's name
and share are visible without scrolling, for real runs of the `scheduler` and `api` targets; and
the report's stylesheet reaches nothing inside the flame graph it embeds.

The page is measured by the DOM: a probe script appended to a copy of `report.html` writes the
bounding boxes it finds into a `data-probe` attribute, which `--dump-dom` returns.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests import browser
from tests.conftest import only_run, profwork

SIZE = (1400, 900)
WHITE = bytes((255, 255, 255))

PROBE = """
<script>
(function () {
  function box(selector) {
    var e = document.querySelector(selector);
    if (!e) return null;
    var r = e.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            text: e.textContent, shown: getComputedStyle(e).visibility === "visible"};
  }
  // the report stylesheet's selectors that match an element inside the flame graph's <svg>
  var reached = [];
  var inside = document.querySelectorAll(".flame svg *");
  var rules = document.styleSheets[0].cssRules;
  for (var i = 0; i < rules.length; i++) {
    var text = rules[i].selectorText;
    if (!text) continue;
    text.split(",").forEach(function (selector) {
      selector = selector.trim();
      if (selector === "*") return;  // box-sizing for every element, on purpose
      for (var j = 0; j < inside.length; j++) {
        if (inside[j].matches(selector)) { reached.push(selector); return; }
      }
    });
  }
  document.body.setAttribute("data-probe", JSON.stringify({
    width: window.innerWidth, scrolled: window.scrollY,
    name: box("#verdict .v-name"), share: box("#verdict .v-share"),
    inside: inside.length, reached: reached}));
})();
</script>
"""


class _Probe(HTMLParser):
    def __init__(self, dump: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, object] = {}
        self.feed(dump)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        value = dict(attrs).get("data-probe")
        if tag == "body" and value:
            self.found = json.loads(value)


@pytest.fixture(scope="module", params=["scheduler", "api"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's report.html (small size: the same hotspot, sooner)."""
    browser.chromium()  # skip (or fail under CI) before running anything without a browser
    results = tmp_path_factory.mktemp(f"first-screen-{request.param}")
    done = profwork("run", request.param, "--size", "small", "-o", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results) / "report.html"


def test_the_hotspot_and_its_share_are_on_the_first_screen(report: Path, tmp_path: Path) -> None:
    verdict = json.loads((report.parent / "summary.json").read_text())["verdict"]
    page = tmp_path / "probed.html"
    page.write_text(
        report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    url = browser.file_url(page)
    dump = browser.run(
        [f"--window-size={SIZE[0]},{SIZE[1]}", "--virtual-time-budget=2000", "--dump-dom", url]
    ).stdout.decode("utf-8")
    probe = _Probe(dump).found
    assert probe["width"] == SIZE[0] and probe["scrolled"] == 0
    name, share = probe["name"], probe["share"]
    assert isinstance(name, dict) and isinstance(share, dict), probe
    # the names the verdict found: the scheduler's quadratic scan, the api's lazy-loading entry
    expected = {"scheduler": "Ledger.shifts_in_window", "api": "calendar_entry"}
    assert name["text"] == verdict["hotspot"]["function"] == expected[report.parents[1].name]
    assert share["text"] == f"{verdict['share']:.1%}"
    for box in (name, share):
        assert box["shown"] and 0 <= box["top"] < box["bottom"] <= SIZE[1]
        assert 0 <= box["left"] < box["right"] <= SIZE[0]
    # and the screenshot of that first screen is a drawn page, not a blank one
    png = browser.screenshot(url, tmp_path / "first.png", size=SIZE)
    assert (png.width, png.height) == SIZE
    assert len(png.colours(step=4)) >= 20 and png.share_of(WHITE) < 0.9


def test_the_report_stylesheet_reaches_nothing_inside_the_flame_graph(
    report: Path, tmp_path: Path
) -> None:
    """report.css once styled `.bar`, which the flame graph's hover-details `<rect
    class="bar">` also matched, shrinking it to a 70×8 px pill."""
    page = tmp_path / "probed.html"
    page.write_text(
        report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    dump = browser.dump_dom(browser.file_url(page))
    probe = _Probe(dump).found
    assert isinstance(probe["inside"], int) and probe["inside"] > 10  # the graph is there
    assert probe["reached"] == []
