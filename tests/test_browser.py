"""flame.svg and report.html in a real headless chromium (DESIGN §7: where a page is the product).

Screenshots prove the pages draw something; `--dump-dom` after the scripts ran proves the flame
graph's script works standalone and inline, that `?s=` searches, that hover and zoom do what they
say, and that a `<script>` in a function name stayed text.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from profwork import analyses
from profwork.model import Profile
from profwork.renderers.flamesvg import PAD, ROOT_FILL, TOP, FlameSvg
from profwork.renderers.html import HtmlReport
from profwork.units import format_quantity
from tests import browser
from tests.browser import EVIL_NAME, large_profile, tricky_profile

WHITE = bytes((255, 255, 255))


class Dom(HTMLParser):
    """A dumped DOM: the attributes of each element by tag, and the text of each script."""

    def __init__(self, dump: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[str | None, str]] = []  # (type, text)
        self.text: list[str] = []
        self._in_script = False
        self.feed(dump)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append((dict(attrs).get("type"), ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)
        else:
            self.text.append(data)

    def flame(self) -> dict[str, str | None]:
        graphs = [a for tag, a in self.elements if tag == "svg" and a.get("class") == "pwf"]
        assert len(graphs) == 1
        return graphs[0]

    def count(self, tag: str, cls: str) -> int:
        return sum(1 for t, a in self.elements if t == tag and a.get("class") == cls)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pages of one tricky profile (hostile names, threads, every kind), and an empty one."""
    out = tmp_path_factory.mktemp("pages")
    profile = tricky_profile(status="ok", duration=8.25, notes=["sampled every thread"])
    summary = analyses.analyse(profile, target_metrics={"GET /calendar": {"p50": 0.012}})
    empty = Profile("seconds", {})
    files = {
        "flame.svg": FlameSvg().render(profile, summary),
        "report.html": HtmlReport().render(profile, summary),
        "empty.svg": FlameSvg().render(empty, analyses.analyse(empty)),
        "empty.html": HtmlReport().render(empty, analyses.analyse(empty)),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    return {name: out / name for name in files}


def assert_drawn(png: browser.Png) -> None:
    """Not a blank page: many colours, and the background is far from everything."""
    assert (png.width, png.height) == (1200, 800)
    assert len(png.colours(step=4)) >= 20
    assert png.share_of(WHITE) < 0.9


def rgb(fill: str) -> tuple[int, ...]:
    return tuple(int(fill[i : i + 2], 16) for i in (1, 3, 5))


def test_the_flame_graph_draws_its_frames(pages: dict[str, Path], tmp_path: Path) -> None:
    png = browser.screenshot(browser.file_url(pages["flame.svg"]), tmp_path / "flame.png")
    assert_drawn(png)
    # the standalone SVG is drawn at its own size: the `all` bar is where the layout put it
    assert png.pixel(PAD + 20, TOP + 7)[:3] == rgb(ROOT_FILL)


def test_the_report_draws_its_page(pages: dict[str, Path], tmp_path: Path) -> None:
    png = browser.screenshot(browser.file_url(pages["report.html"]), tmp_path / "report.png")
    assert_drawn(png)
    assert png.pixel(4, 4)[:3] == rgb("#1f2937")  # the header band


@pytest.mark.parametrize("page", ["empty.svg", "empty.html"])
def test_an_empty_profile_draws_a_page_that_says_so(
    pages: dict[str, Path], tmp_path: Path, page: str
) -> None:
    png = browser.screenshot(browser.file_url(pages[page]), tmp_path / "empty.png")
    assert len(png.colours(step=4)) >= 8
    dom = Dom(browser.dump_dom(browser.file_url(pages[page])))
    assert dom.flame().get("data-ready") == "1"
    assert "no samples" in dom.text


@pytest.mark.parametrize("page", ["flame.svg", "report.html"])
def test_the_script_runs_and_hostile_names_stay_text(pages: dict[str, Path], page: str) -> None:
    dom = Dom(browser.dump_dom(browser.file_url(pages[page])))
    # the flame graph's script ran to its end, standalone and inline
    assert dom.flame().get("data-ready") == "1"
    # no script element came from a name: only ours (the flame graph's data, its code, and the
    # summary data in the report, where the name is JSON with `<` escaped)
    kinds = sorted(str(kind) for kind, _ in dom.scripts)
    json_scripts = 1 if page == "flame.svg" else 2
    assert kinds == ["None"] + ["application/json"] * json_scripts
    code = [text for kind, text in dom.scripts if kind is None]
    assert "alert(" not in code[0]
    data = [text for kind, text in dom.scripts if kind == "application/json"]
    assert all("<" not in text.replace("<![CDATA[", "", 1) for text in data)
    assert EVIL_NAME in "".join(dom.text)  # shown, as text


@pytest.mark.parametrize(
    ("query", "matched", "weight"),
    [
        ("s=Scheduler", 2, 5.0),  # generate contains validate: their share counts once
        ("s=%5EScheduler%5C.val", 1, 4.2),  # a regular expression: ^Scheduler\.val
        ("s=%3Cscript%3E", 1, 0.5),  # the hostile name, searched as text
        ("s=session%5C.py", 2, 2.0),  # paths match too: Session.execute under both threads
        ("s=nothing-like-this", 0, 0.0),
    ],
)
def test_search_from_the_url_highlights_the_matches(
    pages: dict[str, Path], query: str, matched: int, weight: float
) -> None:
    total = tricky_profile().stack_total
    for page in ("flame.svg", "report.html"):
        dom = Dom(browser.dump_dom(browser.file_url(pages[page], query)))
        flame = dom.flame()
        assert flame.get("data-matched") == str(matched)
        assert float(flame.get("data-matched-share") or -1) == pytest.approx(
            weight / total, abs=1e-4
        )
        assert dom.count("g", "f m") + dom.count("g", "f t m") == matched


# Our own test harness, appended to a copy of the page: it hovers and clicks like a user would
# and writes what it saw onto the <svg> for --dump-dom to report.
HARNESS = """
(function () {
  var svg = document.querySelector("svg.pwf");
  function block(name) {
    return Array.prototype.find.call(svg.querySelectorAll("g.f"), function (g) {
      return g.querySelector("title").textContent.split("\\n")[0] === name;
    });
  }
  function width(name) { return block(name).querySelector("rect").getAttribute("width"); }
  function note(key, value) { svg.setAttribute("data-test-" + key, String(value)); }
  function fire(name, type) {
    block(name).querySelector("rect").dispatchEvent(new MouseEvent(type, {bubbles: true}));
  }
  fire("Scheduler.generate", "mouseover");
  note("details", svg.querySelector(".details").textContent);
  fire("Scheduler.generate", "click");
  note("generate", width("Scheduler.generate"));
  note("validate", width("Scheduler.validate"));
  note("main-faded", block("main").classList.contains("a"));
  note("worker-hidden", block("thread (2): worker-1").classList.contains("h"));
  note("reset-shown", !svg.querySelector(".btn.reset").classList.contains("h"));
  fire("all", "click");
  note("generate-after-reset", width("Scheduler.generate"));
  note("worker-after-reset", block("thread (2): worker-1").classList.contains("h"));
})();
"""


@pytest.mark.parametrize("page", ["flame.svg", "report.html"])
def test_hover_shows_details_and_click_zooms(
    pages: dict[str, Path], tmp_path: Path, page: str
) -> None:
    source = pages[page].read_text("utf-8")
    if page.endswith(".svg"):
        driven = source.replace("</svg>", f"<script><![CDATA[{HARNESS}]]></script></svg>")
    else:
        driven = source.replace("</body>", f"<script>{HARNESS}</script></body>")
    path = tmp_path / page
    path.write_text(driven, "utf-8")
    flame = Dom(browser.dump_dom(browser.file_url(path))).flame()

    total = tricky_profile().stack_total
    plot = float(flame.get("data-plot-width") or 0)  # the graph fits its window
    original = 5.0 / total * plot
    details = flame.get("data-test-details") or ""
    assert "Scheduler.generate" in details and "/srv/app/scheduler.py:40" in details
    assert f"{format_quantity(5.0, 'seconds')} · {5.0 / total:.2%}" in details
    # the clicked frame fills the width, its callees scale with it, its callers stay (faded),
    # everything else is hidden until the zoom is reset
    assert float(flame.get("data-test-generate") or 0) == pytest.approx(plot)
    assert float(flame.get("data-test-validate") or 0) == pytest.approx(4.2 / 5.0 * plot, abs=0.02)
    assert flame.get("data-test-main-faded") == "true"
    assert flame.get("data-test-worker-hidden") == "true"
    assert flame.get("data-test-reset-shown") == "true"
    assert float(flame.get("data-test-generate-after-reset") or 0) == pytest.approx(
        original, abs=0.01
    )
    assert flame.get("data-test-worker-after-reset") == "false"


def test_a_huge_profile_loads_and_searches(tmp_path: Path) -> None:
    profile = large_profile()
    summary = analyses.analyse(Profile("seconds", {}, metadata=profile.metadata))
    path = tmp_path / "flame.svg"
    path.write_bytes(FlameSvg().render(profile, summary))
    assert_drawn(browser.screenshot(browser.file_url(path), tmp_path / "large.png"))
    flame = Dom(browser.dump_dom(browser.file_url(path, "s=worker-0"))).flame()
    assert flame.get("data-ready") == "1"
    share = float(flame.get("data-matched-share") or 0)
    assert flame.get("data-matched") == "1" and 0.2 < share < 0.3  # one of four threads
