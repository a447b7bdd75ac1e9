"""report.html: one self-contained page, every profiled text escaped, every section present.

The page's script runs in a real browser in test_browser.py; these tests parse the HTML.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from profwork import analyses
from profwork.analyses import Summary
from profwork.model import EdgeStats, Frame, FunctionStats, Profile
from profwork.renderers import get_renderer
from profwork.renderers.html import HtmlReport, _environment
from profwork.units import format_quantity, visible
from tests.browser import CDATA_NAME, EVIL_FILE, EVIL_NAME, tricky_profile

METRICS = {
    "GET /calendar": {"p50": 0.012, "p95": 0.0431, "p99": 0.09, "mean": 0.015, "requests": 200},
    "POST </script><script>alert(4)</script>": {"p99": 0.5},
}


class Page(HTMLParser):
    """The parts of a page the tests read: scripts, tables, sections and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.sections: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self._script: dict[str, str | None] | None = None
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "script":
            self._script = attributes
            self.scripts.append((attributes, ""))
        elif tag == "section":
            self._section = attributes.get("id") or ""
            self.sections.append(self._section)
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attributes, text = self.scripts[-1]
            self.scripts[-1] = (attributes, text + data)
            return
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


def render(profile: Profile, summary: Summary | None = None) -> str:
    summary = summary or analyses.analyse(profile, target_metrics=METRICS)
    return HtmlReport().render(profile, summary).decode("utf-8")


def rows(page: Page, section: str) -> list[list[str]]:
    return page.tables.get(section, [])[1:]  # without the header row


def test_the_registry_names_it_html_and_report_html() -> None:
    renderer = get_renderer("html")
    assert (renderer.name, renderer.filename) == ("html", "report.html")


def test_the_template_autoescapes() -> None:
    assert _environment().autoescape is True


def test_every_section_is_on_the_page_in_reading_order() -> None:
    page = Page(render(tricky_profile()))
    assert page.sections == [
        "verdict",  # the answer first (issue 21)
        "summary",
        "metrics",
        "bottlenecks",
        "hotspots",
        "nplusone",
        "paths",
        "flame",
    ]


def test_later_issues_have_their_blocks() -> None:
    template = _environment().get_template("report.html.j2")
    assert {"nplusone", "nplusone_nav", "memory", "memory_nav"} <= set(template.blocks)


def test_the_summary_shows_the_run_facts_and_notes() -> None:
    profile = tricky_profile(
        status="ok",
        duration=8.25,
        rate=100,
        threads=2,
        notes=["py-spy sampled every thread", "a <b>bold</b> note"],
    )
    html = render(profile)
    page = Page(html)
    text = " ".join(" ".join(page.text).split())
    for fact in (
        "Target scheduler",
        "Method pyspy",
        "Unit seconds",
        f"Total {format_quantity(profile.total, 'seconds')}",
        "Duration 8.25 s",
        "Status ok",
        "Rate 100 Hz",
        "Threads 2",
        "Statistics sampled",
    ):
        assert fact in text
    assert "py-spy sampled every thread" in text
    assert "a <b>bold</b> note" in text  # shown as text...
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # ...because it was escaped
    assert "b" not in page.tags


def test_the_bottleneck_table_lists_functions_with_their_figures() -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile)
    page = Page(render(profile, summary))
    table = rows(page, "bottlenecks")
    assert len(table) == len(summary.bottlenecks)
    first, row = table[0], summary.bottlenecks[0]
    assert first == [
        "1",
        f"{row.frame.function} user {row.frame.location}",
        "",  # a sampler counts no calls: blank, not 0 or None
        format_quantity(row.self, "seconds"),
        format_quantity(row.own, "seconds"),
        format_quantity(row.cumulative, "seconds"),
        f"{row.share:.1%}",
    ]
    # user code comes first and is marked; library code follows with its kind
    user = [i for i, r in enumerate(table) if " user " in r[1]]
    library = [i for i, r in enumerate(table) if " third-party " in r[1] or " native" in r[1]]
    assert user and library and max(user) < min(library)
    assert 'class="user"' in render(profile)


def test_exact_call_counts_show_like_pstats() -> None:
    # GIVEN a cProfile-like profile: `work` called 120 times, 3 of them primitive (recursion)
    main = Frame("main", "/srv/main.py", 1)
    work = Frame("work", "/srv/work.py", 5)
    stats = {
        main: FunctionStats(1, 1, 0.1, 1.0),
        work: FunctionStats(120, 3, 0.9, 0.9, {main: EdgeStats(3, 3, 0.9, 0.9)}),
    }
    profile = Profile("seconds", {(main,): 0.1, (main, work): 0.9}, stats=stats)
    page = Page(render(profile))
    calls = {r[1].split()[0]: r[2] for r in rows(page, "bottlenecks")}
    assert calls == {"main": "1", "work": "120/3"}
    assert "Statistics exact (call counts)" in " ".join(" ".join(page.text).split())


def test_hotspots_rank_user_functions_by_own_time() -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile)
    table = rows(Page(render(profile, summary)), "hotspots")
    assert [r[1].split()[0] for r in table] == [
        visible(r.frame.function).split()[0] for r in summary.hotspots
    ]
    assert table[0][4] == format_quantity(summary.hotspots[0].own, "seconds")


def test_heaviest_paths_list_each_path_root_first() -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile)
    page = Page(render(profile, summary))
    text = " ".join(" ".join(page.text).split())
    top = summary.hot_paths[0]
    assert f"{top.share:.1%} · {format_quantity(top.weight, 'seconds')}" in text
    chain = " ".join(f"{f.function} {f.location}".strip() for f in top.stack)
    assert chain in text


def test_target_metrics_are_a_table_in_seconds() -> None:
    page = Page(render(tricky_profile()))
    table = page.tables["metrics"]
    assert table[0] == ["name", "p50", "p95", "p99", "mean", "requests"]
    assert table[1] == ["GET /calendar", "12.0 ms", "43.1 ms", "90.0 ms", "15.0 ms", "200"]
    assert table[2] == ["POST </script><script>alert(4)</script>", "", "", "500.0 ms", "", ""]


def test_no_target_metrics_says_none_reported() -> None:
    profile = tricky_profile()
    page = Page(render(profile, analyses.analyse(profile)))
    assert "metrics" not in page.tables
    assert "none reported" in page.text


def test_profiled_text_never_becomes_markup() -> None:
    html = render(tricky_profile(target="<script>alert(3)</script>"))
    page = Page(html)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # exactly our scripts: the flame graph's data and code, and the summary data
    assert [a.get("type") for a, _ in page.scripts] == [
        "application/json",
        None,
        "application/json",
    ]
    assert "alert" not in page.scripts[1][1]
    data = [t for a, t in page.scripts if a.get("type") == "application/json"]
    assert all("<" not in t.replace("<![CDATA[", "", 1) for t in data)  # (the flame data's CDATA)
    # the hostile texts are on the page as text
    text = "".join(page.text)
    for hostile in (EVIL_NAME, EVIL_FILE, CDATA_NAME, "<script>alert(3)</script>"):
        assert hostile in text


def test_the_summary_json_cannot_close_its_script() -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile, target_metrics=METRICS)
    html = render(profile, summary)
    block = re.search(
        r'<script type="application/json" id="profwork-summary">(.*?)</script>', html, re.S
    )
    assert block is not None
    body = block.group(1)
    assert "<" not in body and ">" not in body and "&" not in body
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in body
    assert json.loads(body) == json.loads(json.dumps(summary.to_dict(), default=str))


def test_the_flame_graph_is_inline_and_the_page_self_contained() -> None:
    html = render(tricky_profile())
    page = Page(html)
    assert page.tags.count("svg") == 1
    assert "<?xml" not in html
    assert re.search(r'<svg xmlns="http://www.w3.org/2000/svg" class="pwf"', html)
    assert re.findall(r"(?:href|src)\s*=\s*[\"'](?!#)|url\(|@import", html) == []
    assert set(re.findall(r"https?://[^\s\"'<]*", html)) == {"http://www.w3.org/2000/svg"}


def test_an_empty_profile_still_makes_a_page() -> None:
    page = Page(render(Profile("seconds", {})))
    text = " ".join(page.text)
    assert "no functions recorded" in text
    assert "no stacks recorded" in text
    assert "no samples" in text


@pytest.mark.parametrize("unit", ["seconds", "bytes", "samples"])
def test_figures_use_the_profile_unit(unit: str) -> None:
    main = Frame("main", "/srv/main.py", 1)
    profile = Profile(unit, {(main,): 3 * 1024 * 1024})  # type: ignore[arg-type]
    page = Page(render(profile))
    assert rows(page, "bottlenecks")[0][5] == format_quantity(3 * 1024 * 1024, unit)  # type: ignore[arg-type]
