"""The flame graph's views (issue 21): call tree, merged, inverted; library frames collapsed;
shares on the blocks; fitted to the window; keyboard; escaping in every view.

The data is checked in Python (`flame_views`), the pages in a real headless chromium: a harness
script appended to a copy of the page clicks and types like a user and writes what it saw onto
the <svg> for `--dump-dom` to report.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from profwork import analyses
from profwork.model import Frame, FrameKind, FunctionStats, Profile, Stack
from profwork.renderers import flame_views
from profwork.renderers.flamesvg import PAD, ROOT_FILL, TOP, FlameSvg
from profwork.renderers.html import HtmlReport
from profwork.stacktree import StackTree
from tests import browser
from tests.browser import EVIL_FILE, EVIL_NAME, large_profile, tricky_profile
from tests.conftest import profwork
from tests.test_browser import Dom, rgb

SA = "/venv/lib/python3.11/site-packages/sqlalchemy"


def sa(name: str, module: str, line: int) -> Frame:
    return Frame(name, f"{SA}/{module}.py", line, FrameKind.THIRD_PARTY)


def orm_profile() -> Profile:
    """A user function that reaches back into the user's code through 4 sqlalchemy frames (3
    distinct below the first), and a json call: two packages, each run collapsible."""
    main = Frame("main", "/srv/app/main.py", 1)
    entry = Frame("calendar_entry", "/srv/app/views.py", 10)
    get = sa("InstrumentedAttribute.__get__", "orm/attributes", 470)
    load = sa("AttributeImpl.get", "orm/attributes", 1000)
    lazy = sa("LazyLoader._load_for_state", "orm/strategies", 800)
    emit = sa("LazyLoader._emit_lazyload", "orm/strategies", 900)
    hook = Frame("on_load", "/srv/app/models.py", 30)
    dumps = Frame("dumps", "/usr/lib/python3.11/json/__init__.py", 183, FrameKind.STDLIB)
    encode = Frame(
        "JSONEncoder.encode", "/usr/lib/python3.11/json/encoder.py", 183, FrameKind.STDLIB
    )
    return Profile(
        "seconds",
        {
            (main, entry, get, load, lazy, emit): 6.0,
            (main, entry, get, load, lazy, emit, hook): 2.0,
            (main, entry, get, load, emit): 1.0,
            (main, dumps, encode): 1.0,
        },
        metadata={"target": "orm", "method": "pyspy"},
    )


def scattered_profile() -> Profile:
    """One hot function called from five different callers (the scheduler's shape)."""
    main = Frame("main", "/srv/app/run.py", 1)
    hot = Frame("Ledger.shifts_in_window", "/srv/app/ledger.py", 79)
    stacks: dict[Stack, float] = {}
    for i, share in enumerate((30, 25, 20, 12, 8)):
        caller = Frame(f"check_{i}", "/srv/app/rules.py", 100 + i)
        stacks[(main, caller, hot)] = float(share)
        stacks[(main, caller)] = 1.0
    return Profile("seconds", stacks, metadata={"target": "scattered", "method": "pyspy"})


def named(drawn: flame_views.ViewLayout, name: str) -> list[flame_views.ViewBlock]:
    return [b for b in drawn.blocks if b.frame is not None and b.frame.function == name]


# ---- the data ----------------------------------------------------------------------------------


def test_a_library_run_collapses_into_one_block_naming_its_package_and_size() -> None:
    views = flame_views.compute(orm_profile(), None)
    collapsed, expanded = views.tree.collapsed, views.tree.expanded
    assert expanded is not None  # there was something to collapse
    names = [b.frame.function for b in collapsed.blocks if b.frame is not None]
    # the run's first frame stays, the other three sqlalchemy functions become one block, and
    # the user's code it calls back into hangs right below it
    assert "InstrumentedAttribute.__get__" in names
    assert "3 frames hidden (sqlalchemy)" in names
    assert "1 frame hidden (json)" in names
    assert not {"AttributeImpl.get", "LazyLoader._load_for_state"} & set(names)
    hidden = named(collapsed, "3 frames hidden (sqlalchemy)")[0]
    hook = named(collapsed, "on_load")[0]
    assert hook.depth == hidden.depth + 1
    assert hidden.weight == pytest.approx(9.0)
    # expanded, every frame is there
    assert named(expanded, "LazyLoader._emit_lazyload")


def test_only_consecutive_frames_of_one_package_collapse() -> None:
    main = Frame("main", "/srv/app/main.py", 1)
    a1 = sa("Session.execute", "orm/session", 1)
    j1 = Frame("loads", "/usr/lib/python3.11/json/__init__.py", 1, FrameKind.STDLIB)
    a2 = sa("Result.all", "engine/result", 2)
    profile = Profile("samples", {(main, a1, j1, a2): 10})
    views = flame_views.compute(profile, None)
    assert views.tree.expanded is None  # no two neighbours share a package: nothing hidden
    assert [b.frame.function for b in views.tree.collapsed.blocks if b.frame] == [
        "main",
        "Session.execute",
        "loads",
        "Result.all",
    ]


def test_the_merged_view_sums_a_function_over_all_its_callers() -> None:
    profile = scattered_profile()
    views = flame_views.compute(profile, None)
    # five blocks in the call tree, one in the merged view
    assert len(named(views.tree.collapsed, "Ledger.shifts_in_window")) == 5
    merged = views.merged[0]
    assert merged.frame.function == "Ledger.shifts_in_window"  # the top hotspot comes first
    centre = named(merged.callees.collapsed, "Ledger.shifts_in_window")
    assert len(centre) == 1 and centre[0].weight == pytest.approx(95.0)
    # its five callers sit above it, each with its part
    callers = [b for b in merged.callers.collapsed.blocks if b.depth == 2]
    assert sorted(b.weight for b in callers) == [8.0, 12.0, 20.0, 25.0, 30.0]


def test_the_inverted_view_puts_the_leaves_first() -> None:
    views = flame_views.compute(scattered_profile(), None)
    first = [b for b in views.inverted.collapsed.blocks if b.depth == 1]
    heaviest = max(first, key=lambda b: b.weight)
    assert heaviest.frame is not None and heaviest.frame.function == "Ledger.shifts_in_window"
    assert heaviest.weight == pytest.approx(95.0)


def test_no_view_draws_a_block_narrower_than_a_thousandth_of_its_total() -> None:
    profile = large_profile(20_000)
    views = flame_views.compute(profile, None)
    layouts = [views.tree.collapsed, views.inverted.collapsed]
    layouts += [v for v in (views.tree.expanded, views.inverted.expanded) if v is not None]
    for merged in views.merged:
        layouts += [merged.callers.collapsed, merged.callees.collapsed]
    assert views.merged  # the work budget still leaves room for merged views
    for drawn in layouts:
        assert min(b.weight for b in drawn.blocks) >= drawn.total * flame_views.MIN_SHARE * 0.999


class WatchedTree(StackTree):
    """A stack tree that counts the stacks made from it (as tuples of frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.materialised = 0

    def stack(self, node: int) -> Stack:
        self.materialised += 1
        return super().stack(node)


def test_the_views_of_a_stack_tree_are_laid_out_from_its_nodes_without_making_a_stack() -> None:
    # GIVEN a profile read into a stack tree with exact statistics (as the pstats reader gives
    # it): a chain 3,000 distinct functions deep (4.5 million frame references as tuples), whose
    # leaf is also called from main
    tree = WatchedTree()
    main = Frame("main", "/srv/app/main.py", 1)
    chain = [Frame(f"level_{i}", "/srv/app/deep.py", i) for i in range(3_000)]
    tree.add(tree.node([main, *chain]), 3.0)
    tree.add(tree.node([main, chain[-1]]), 1.0)
    stats = {main: FunctionStats(1, 1, 0.0, 4.0), chain[-1]: FunctionStats(2, 2, 4.0, 4.0)}
    stats.update({f: FunctionStats(1, 1, 0.0, 3.0) for f in chain[:-1]})
    profile = Profile("seconds", tree, stats)
    # WHEN its views are computed
    views = flame_views.compute(profile, None)
    # THEN not one stack was made from the tree
    assert tree.materialised == 0
    # and the views are those of its stacks: the chain drawn to its end,
    deepest = named(views.tree.collapsed, "level_2999")
    assert sorted((b.depth, b.weight) for b in deepest) == [(2, 1.0), (3_001, 3.0)]
    # the leaf first in the inverted view, with its whole time, its two callers below it
    first = [b for b in views.inverted.collapsed.blocks if b.depth == 1]
    assert [(b.frame and b.frame.function, b.weight) for b in first] == [("level_2999", 4.0)]
    callers = [b for b in views.inverted.collapsed.blocks if b.depth == 2]
    assert sorted((b.frame and b.frame.function, b.weight) for b in callers) == [
        ("level_2998", 3.0),
        ("main", 1.0),
    ]
    # and the leaf's merged view one block of 4.0 with both callers above it
    leaf = next(m for m in views.merged if m.frame.function == "level_2999")
    assert [b.weight for b in named(leaf.callees.collapsed, "level_2999")] == [4.0]
    assert sorted(b.weight for b in leaf.callers.collapsed.blocks if b.depth == 2) == [1.0, 3.0]


def test_a_hidden_run_names_every_function_it_hides_however_many_stacks_lie_below() -> None:
    # GIVEN one sqlalchemy entry point that reaches 300 distinct sqlalchemy functions, each
    # calling back into the user's code: 300 stacks below one collapsed run
    main = Frame("main", "/srv/app/main.py", 1)
    entry = sa("Session.execute", "orm/session", 1)
    stacks: dict[Stack, float] = {}
    for i in range(300):
        inner = sa(f"Inner.step_{i}", "orm/inner", 10 + i)
        stacks[(main, entry, inner, Frame(f"callback_{i}", "/srv/app/hooks.py", i))] = 1.0
    views = flame_views.compute(Profile("seconds", stacks), None)
    # THEN the one marker counts all 300 hidden functions (not a sample of them)
    markers = [b for b in views.tree.collapsed.blocks if b.frame and flame_views.is_hidden(b.frame)]
    assert [(b.frame and b.frame.function, b.weight) for b in markers] == [
        ("300 frames hidden (sqlalchemy)", 300.0)
    ]
    # and so does the inverted view, where the run is read upwards from each callback
    inverted = {b.frame.function for b in views.inverted.collapsed.blocks if b.frame is not None}
    assert "1 frame hidden (sqlalchemy)" in inverted  # (each callback's caller alone)


def test_every_view_of_a_big_profile_comes_from_its_thinned_paths_at_every_depth() -> None:
    # GIVEN a profile of 2.25 million frames held as tuples (past FRAME_BUDGET)
    profile = large_profile(45_000)
    assert sum(map(len, profile.stacks)) > flame_views.FRAME_BUDGET
    views = flame_views.compute(profile, None)
    assert views.thinned
    # THEN the inverted view reaches the roots of the 50-deep stacks (not cut at some depth),
    # with library frames collapsed and shown, and several functions get a merged view
    assert max(b.depth for b in views.inverted.collapsed.blocks) == 50
    assert views.inverted.expanded is not None
    assert len(views.merged) > 1
    # and each depth of every view holds its total at most once
    for drawn in (views.tree.collapsed, views.inverted.collapsed, views.inverted.expanded):
        by_depth: dict[int, float] = {}
        for b in drawn.blocks:
            by_depth[b.depth] = by_depth.get(b.depth, 0.0) + b.weight
        assert max(by_depth.values()) <= drawn.total * (1 + 1e-9)


def test_the_views_data_is_json_that_cannot_close_cdata_or_a_script() -> None:
    profile = tricky_profile()
    text = flame_views.to_json(flame_views.data(flame_views.compute(profile, None), "seconds"))
    assert not set("<>&") & set(text)
    frames = json.loads(text)["frames"]
    assert [EVIL_NAME, f"{EVIL_FILE}:7"] in [row[:2] for row in frames]


# ---- in the browser -----------------------------------------------------------------------------

HARNESS = """
(function () {
  var svg = document.querySelector("svg.pwf");
  function note(key, value) { svg.setAttribute("data-test-" + key, String(value)); }
  function blocks(name) {
    return Array.prototype.filter.call(svg.querySelectorAll("g.f"), function (g) {
      return g.querySelector("title").textContent.split("\\n")[0] === name &&
        !g.classList.contains("h");
    });
  }
  function label(name) {
    var found = blocks(name);
    var text = found.length ? found[0].querySelector("text") : null;
    return text ? text.textContent : "";
  }
  function click(selector) {
    svg.querySelector(selector).dispatchEvent(new MouseEvent("click", {bubbles: true}));
  }
  function key(name) {
    var target = svg === document.documentElement ? document : svg;
    target.dispatchEvent(new KeyboardEvent("keydown", {key: name, bubbles: true}));
  }
  function record(prefix, names) {
    names.forEach(function (name, i) {
      note(prefix + "-count-" + i, blocks(name).length);
      note(prefix + "-label-" + i, label(name));
    });
  }
  var names = JSON.parse(svg.getAttribute("data-test-names"));
  // 1. as opened
  note("view-0", svg.getAttribute("data-view"));
  record("open", names);
  // 2. library frames shown, then hidden again
  click(".btn.libs");
  note("collapsed-1", svg.getAttribute("data-collapsed"));
  record("libs", names);
  click(".btn.libs");
  // 3. the merged view
  click('.btn.view[data-view="merged"]');
  note("view-2", svg.getAttribute("data-view"));
  note("merged-2", svg.getAttribute("data-merged"));
  record("merged", names);
  // 4. the inverted view
  click('.btn.view[data-view="inverted"]');
  note("view-3", svg.getAttribute("data-view"));
  record("inverted", names);
  // 5. back to the call tree; zoom with the keyboard, then out again
  click('.btn.view[data-view="tree"]');
  key("ArrowDown"); key("ArrowDown"); key("ArrowDown");
  note("focus-4", svg.getAttribute("data-focus"));
  key("Enter");
  note("zoomed-4", svg.getAttribute("data-zoomed"));
  var focused = blocks(svg.getAttribute("data-focus"))[0];
  note("focus-width-4", focused.querySelector("rect").getAttribute("width"));
  key("Backspace");
  note("zoomed-5", svg.getAttribute("data-zoomed"));
  // 6. a search (from ?s=), cleared by Escape; a second Escape leaves a zoom
  note("matched-6", svg.getAttribute("data-matched"));
  key("Escape");
  note("matched-7", svg.getAttribute("data-matched"));
  // 7. every label fits its block
  var worst = 0;
  Array.prototype.forEach.call(svg.querySelectorAll("g.f"), function (g) {
    var text = g.querySelector("text");
    if (!text || g.classList.contains("h")) return;
    var room = parseFloat(g.querySelector("rect").getAttribute("width"));
    worst = Math.max(worst, text.getComputedTextLength() + 3 - room);
  });
  note("overflow", worst.toFixed(2));
  // 8. a double-click opens the merged view of that function
  var hot = blocks(names[0])[0];
  hot.dispatchEvent(new MouseEvent("dblclick", {bubbles: true}));
  note("merged-8", svg.getAttribute("data-merged"));
  note("view-8", svg.getAttribute("data-view"));
  note("label-8", label(names[0]));
})();
"""


def drive(page: Path, names: list[str], out: Path, query: str = "") -> dict[str, str | None]:
    """The page with the harness appended, opened in chromium; what the harness noted."""
    source = page.read_text("utf-8")
    marker = f'data-test-names="{html.escape(json.dumps(names), quote=True)}" '
    if page.suffix == ".svg":
        driven = source.replace('class="pwf" ', f'class="pwf" {marker}', 1).replace(
            "</svg>", f"<script><![CDATA[{HARNESS}]]></script></svg>"
        )
    else:
        driven = source.replace('class="pwf" ', f'class="pwf" {marker}', 1).replace(
            "</body>", f"<script>{HARNESS}</script></body>"
        )
    out.write_text(driven, "utf-8")
    return Dom(browser.dump_dom(browser.file_url(out, query))).flame()


@pytest.fixture(scope="module")
def orm_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("views")
    profile = orm_profile()
    summary = analyses.analyse(profile)
    pages = {
        "flame.svg": FlameSvg().render(profile, summary),
        "report.html": HtmlReport().render(profile, summary),
    }
    for name, data in pages.items():
        (out / name).write_bytes(data)
    return {name: out / name for name in pages}


@pytest.mark.parametrize("page", ["flame.svg", "report.html"])
def test_the_views_switch_collapse_zoom_search_and_label_shares(
    orm_pages: dict[str, Path], tmp_path: Path, page: str
) -> None:
    names = ["calendar_entry", "3 frames hidden (sqlalchemy)", "AttributeImpl.get", "on_load"]
    seen = drive(orm_pages[page], names, tmp_path / page, "s=on_load")
    # opened on the call tree, library frames collapsed: one block for the sqlalchemy run,
    # labelled with its share; the frames it hides are not drawn
    assert seen["data-test-view-0"] == "tree"
    assert seen["data-test-open-label-0"] == "calendar_entry 90.0%"
    assert seen["data-test-open-count-1"] == "1"
    assert seen["data-test-open-label-1"] == "3 frames hidden (sqlalchemy) 90.0%"
    assert seen["data-test-open-count-2"] == "0"
    assert seen["data-test-open-label-3"] == "on_load 20.0%"
    # library frames shown: the hidden block gives way to the frames themselves
    assert seen["data-test-collapsed-1"] == "0"
    assert seen["data-test-libs-count-1"] == "0"
    assert seen["data-test-libs-label-2"] == "AttributeImpl.get 90.0%"
    # merged: the top hotspot, one block with its total share
    assert seen["data-test-view-2"] == "merged"
    assert seen["data-test-merged-2"] == "calendar_entry"
    assert seen["data-test-merged-count-0"] == "1"
    assert seen["data-test-merged-label-0"] == "calendar_entry 90.0%"
    # inverted: the user's callback is a leaf, with its own share
    assert seen["data-test-view-3"] == "inverted"
    assert seen["data-test-inverted-label-3"] == "on_load 20.0%"
    # keyboard: three rows down from `all` is calendar_entry; Enter zooms it to the full
    # width, Backspace zooms out
    assert seen["data-test-focus-4"] == "calendar_entry"
    assert seen["data-test-zoomed-4"] == "1"
    plot = float(seen.get("data-plot-width") or 0)
    assert float(seen["data-test-focus-width-4"] or 0) == pytest.approx(plot, abs=0.01)
    assert seen["data-test-zoomed-5"] == "null"  # the attribute is gone
    # ?s= searched; Escape cleared it
    assert seen["data-test-matched-6"] == "1"
    assert seen["data-test-matched-7"] == "null"
    # labels are cut to their block's measured width, never past it
    assert float(seen["data-test-overflow"] or 0) <= 0.5
    # a double-click opens a function's merged view
    assert (seen["data-test-view-8"], seen["data-test-merged-8"]) == ("merged", "calendar_entry")


@pytest.mark.parametrize("view", ["tree", "merged", "inverted"])
@pytest.mark.parametrize("libs", ["", "&libs=shown"])
def test_hostile_names_stay_text_in_every_view(tmp_path: Path, view: str, libs: str) -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile)
    path = tmp_path / "flame.svg"
    path.write_bytes(FlameSvg().render(profile, summary))
    names = [EVIL_NAME, "Scheduler.validate", "x", "y"]
    # the hostile function's own merged view (the harness double-clicks names[0] last)
    seen = drive(path, names, tmp_path / "driven.svg", f"view={view}{libs}")
    assert seen["data-ready"] == "1"
    assert seen["data-test-view-0"] == view
    # its merged view shows the name as a label (text), with its share
    assert seen["data-test-merged-8"] == EVIL_NAME
    assert seen["data-test-label-8"] == f"{EVIL_NAME} 5.7%"
    dom = Dom(browser.dump_dom(browser.file_url(path, f"view={view}{libs}")))
    assert dom.flame().get("data-view") == view
    kinds = sorted(str(kind) for kind, _ in dom.scripts)
    assert kinds == ["None", "application/json"]
    assert "alert(" not in [text for kind, text in dom.scripts if kind is None][0]
    if view != "merged":  # (the merged view opens on the top hotspot, not on this function)
        assert EVIL_NAME in "".join(dom.text)


def test_the_graph_fits_the_window_and_is_never_cut_off(tmp_path: Path) -> None:
    # GIVEN a call chain 120 frames deep
    chain = tuple(Frame(f"level_{i}", "/srv/app/deep.py", i) for i in range(120))
    profile = Profile("seconds", {chain: 1.0, chain[:3]: 1.0})
    path = tmp_path / "deep.svg"
    path.write_bytes(FlameSvg().render(profile, analyses.analyse(profile)))
    # WHEN it is shown in windows 900 and 1400 px wide
    for width in (900, 1400):
        png = browser.screenshot(browser.file_url(path), tmp_path / f"w{width}.png", (width, 900))
        # THEN the `all` bar reaches the right edge of either window
        assert png.pixel(width - PAD - 4, TOP + 7)[:3] == rgb(ROOT_FILL)
        assert png.pixel(width - PAD + 3, TOP + 7)[:3] != rgb(ROOT_FILL)
    # and the drawing is as tall as its 121 rows
    flame = Dom(browser.dump_dom(browser.file_url(path))).flame()
    assert float(flame.get("height") or 0) >= TOP + 121 * 16


def test_the_merged_view_of_a_real_scheduler_run_is_one_block_with_its_share(
    tmp_path: Path,
) -> None:
    # GIVEN a real (small) scheduler run
    result = profwork(
        "run",
        "scheduler",
        "--size",
        "small",
        "-p",
        "rounds=2",
        "-o",
        str(tmp_path),
        "-m",
        "cprofile",
    )
    assert result.returncode == 0, result.stderr
    run = next(tmp_path.glob("scheduler/*"))
    import profwork as api

    profile = api.load(run)
    hot = profile.function("Ledger.shifts_in_window")
    share = sum(w for s, w in profile.stacks.items() if hot in s) / profile.stack_total
    svg = (run / "flame.svg").read_bytes()
    # the recorded call tree has it under several callers
    static = re.findall(rb"<title>Ledger\.shifts_in_window\n", svg)
    assert len(static) >= 2
    # WHEN the merged view is opened
    url = browser.file_url(run / "flame.svg", "view=merged")
    dom = Dom(browser.dump_dom(url))
    png = browser.screenshot(url, tmp_path / "merged.png", (1400, 900))
    # THEN the function is one block, labelled with its total share
    flame = dom.flame()
    assert flame.get("data-merged") == "Ledger.shifts_in_window"
    labels = [t for t in dom.text if t.startswith("Ledger.shifts_in_window ") and "\n" not in t]
    assert labels == [f"Ledger.shifts_in_window {share:.1%}"]
    assert len(png.colours(step=4)) >= 20  # not blank


def test_a_big_profile_draws_its_call_tree_from_thinned_paths_without_changing_it() -> None:
    # GIVEN the stacks of a big profile, and the paths at least 0.01% of its total wide
    profile = large_profile(20_000)
    subs, weights = list(profile.stacks), [float(w) for w in profile.stacks.values()]
    full = flame_views.lay_out(list(subs), list(weights), flame_views.MIN_SHARE)
    few, few_weights = flame_views.thinned(
        flame_views.lay_out(list(subs), list(weights), flame_views.THIN_SHARE)
    )
    # THEN they are far fewer, weigh the same, and draw the same blocks at 0.1%
    assert len(few) < len(subs) / 2
    assert sum(few_weights) == pytest.approx(sum(weights))
    again = flame_views.lay_out(few, few_weights, flame_views.MIN_SHARE)

    def drawn(layout: flame_views.ViewLayout) -> list[tuple[int, float, float, str]]:
        return [
            (b.depth, round(b.start, 9), round(b.weight, 9), b.frame.function)
            for b in layout.blocks
            if b.frame is not None and b.frame is not flame_views.NARROW
        ]

    assert drawn(again) == drawn(full)
