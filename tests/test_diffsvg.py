"""diff.svg: widths from the new run, colours by the change of each call path (normalised), new
paths hatched, removed paths listed, escaped; and in a real headless chromium, the picture has
the expected colours and the self/total toggle works."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from profwork.analyses.compare import Side, compare
from profwork.model import Frame, FrameKind, Profile, Stack
from profwork.renderers.diffsvg import (
    FASTER,
    NEUTRAL,
    NEW_FILL,
    NEW_PATTERN,
    SLOWER,
    DiffSvg,
    fill,
)
from tests import browser
from tests.browser import EVIL_FILE, EVIL_NAME

NS = {"svg": "http://www.w3.org/2000/svg"}
MAIN = Frame("main", "/srv/app/run.py", 1)
SLOW = Frame("slow", "/srv/app/run.py", 10)
FAST = Frame("fast", "/srv/app/run.py", 20)
SAME = Frame("same", "/srv/app/run.py", 30)
FRESH = Frame("fresh", "/srv/app/run.py", 40)
GONE = Frame("gone", "/srv/app/run.py", 50)


def hex_of(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def draw(base: Profile, new: Profile) -> str:
    sides = [Side(label, p.unit, p.total) for label, p in (("base", base), ("new", new))]
    return DiffSvg.document(DiffSvg().svg(compare(*sides, base, new), base, new))


def blocks(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    out = {}
    for g in root.iterfind(".//svg:g", NS):
        if "f" in (g.get("class") or "").split():
            title = g.find("svg:title", NS)
            assert title is not None and title.text is not None
            out[title.text.split("\n")[0]] = g
    return out


def fill_of(g: ET.Element) -> str:
    rect = g.find("svg:rect", NS)
    assert rect is not None
    return rect.get("fill") or ""


# slow doubled, fast halved, same unchanged, fresh new, gone removed; totals equal (8 and 8)
BASE = Profile(
    "seconds",
    {(MAIN, SLOW): 1.0, (MAIN, FAST): 2.0, (MAIN, SAME): 3.0, (MAIN, GONE): 2.0},
    metadata={"method": "pyspy"},
)
NEW = Profile(
    "seconds",
    {(MAIN, SLOW): 2.0, (MAIN, FAST): 1.0, (MAIN, SAME): 3.0, (MAIN, FRESH): 2.0},
    metadata={"method": "pyspy"},
)


def test_red_is_slower_blue_faster_new_paths_hatched_removed_paths_listed() -> None:
    svg = draw(BASE, NEW)
    drawn = blocks(svg)
    assert fill_of(drawn["slow"]) == hex_of(SLOWER)  # doubled: +50% symmetric, full red
    assert fill_of(drawn["fast"]) == hex_of(FASTER)
    assert fill_of(drawn["same"]) == hex_of(NEUTRAL)
    assert fill_of(drawn["fresh"]) == f"url(#{NEW_PATTERN})"
    assert NEW_FILL in svg
    assert "gone" not in drawn  # no width in the new run…
    removed = ET.fromstring(svg).find(".//svg:g[@class='removed']", NS)
    assert removed is not None
    listed = "".join(removed.itertext())
    assert "Removed paths (1)" in listed and "gone" in listed  # …listed beside the graph


def test_widths_come_from_the_new_run() -> None:
    drawn = blocks(draw(BASE, NEW))

    def width(name: str) -> float:
        rect = drawn[name].find("svg:rect", NS)
        assert rect is not None
        return float(rect.get("width") or 0)

    assert width("slow") == pytest.approx(2 * width("fast"), rel=1e-3)
    assert width("fresh") == pytest.approx(width("slow"), rel=1e-3)


def test_a_uniformly_longer_run_is_drawn_neutral() -> None:
    doubled = Profile("seconds", {s: 2 * w for s, w in BASE.stacks.items()}, metadata={})
    drawn = blocks(draw(BASE, doubled))
    assert {fill_of(g) for name, g in drawn.items() if name != "all"} == {hex_of(NEUTRAL)}


def test_intensity_grows_with_the_change() -> None:
    slightly, clearly = fill(0.05), fill(0.3)
    assert slightly != clearly != hex_of(SLOWER)
    # redder as it grows: the green channel falls
    assert int(slightly[3:5], 16) > int(clearly[3:5], 16) > SLOWER[1]


def test_each_frame_carries_both_colourings_and_hover_shows_both_runs() -> None:
    # main's total is unchanged; its self time went from 0 to 1 s
    base = Profile("seconds", {(MAIN, SLOW): 2.0}, metadata={})
    new = Profile("seconds", {(MAIN,): 1.0, (MAIN, SLOW): 1.0}, metadata={})
    main = blocks(draw(base, new))["main"]
    assert main.get("data-total-fill") == hex_of(NEUTRAL)
    assert main.get("data-self-fill") == hex_of(SLOWER)
    title = main.find("svg:title", NS)
    assert title is not None and title.text is not None
    assert "total 2.00 s vs base 2.00 s (+0.0%)" in title.text
    assert "self 1.00 s vs base 0 s (new)" in title.text


def test_thread_roots_match_by_name_whatever_their_id() -> None:
    def thread(tid: int) -> Frame:
        return Frame(f"thread ({tid}): MainThread", kind=FrameKind.THREAD)

    base = Profile("seconds", {(thread(11), MAIN, SLOW): 1.0}, metadata={})
    new = Profile("seconds", {(thread(99), MAIN, SLOW): 1.0}, metadata={})
    drawn = blocks(draw(base, new))
    assert fill_of(drawn["slow"]) == hex_of(NEUTRAL)


def test_every_profiled_name_is_escaped() -> None:
    evil = Frame(EVIL_NAME, EVIL_FILE, 7)
    gone = Frame("</text><script>alert(3)</script>", EVIL_FILE, 9)
    base: dict[Stack, float] = {(MAIN, gone): 1.0, (MAIN,): 1.0}
    new: dict[Stack, float] = {(MAIN, evil): 1.0, (MAIN,): 1.0}
    svg = draw(Profile("seconds", base), Profile("seconds", new))
    root = ET.fromstring(svg)  # well-formed XML
    assert len(root.findall(".//svg:script", NS)) == 2  # flame.js and diff.js, nothing else
    assert EVIL_NAME in "".join(root.itertext())
    assert "alert(3)" in "".join(root.itertext())


# ---- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diff_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("diff") / "diff.svg"
    path.write_text(draw(BASE, NEW), encoding="utf-8")
    return path


def test_diff_svg_renders_in_chromium_with_the_expected_colours(
    diff_file: Path, tmp_path: Path
) -> None:
    png = browser.screenshot(browser.file_url(diff_file), tmp_path / "diff.png", (1560, 400))
    seen = {bytes(c[:3]) for c in png.colours(step=2)}
    for colour in (SLOWER, FASTER, (0xF0, 0xE4, 0x42)):  # red, blue, new yellow
        assert bytes(colour) in seen, colour


def test_the_toggle_colours_by_self_time_in_chromium(tmp_path: Path) -> None:
    # main's total is unchanged (neutral), its self time is new (red by self)
    base = Profile("seconds", {(MAIN, SLOW): 2.0}, metadata={})
    new = Profile("seconds", {(MAIN,): 1.0, (MAIN, SLOW): 1.0}, metadata={})
    path = tmp_path / "toggle.svg"
    path.write_text(draw(base, new), encoding="utf-8")
    before = blocks(browser.dump_dom(browser.file_url(path)))
    assert fill_of(before["main"]) == hex_of(NEUTRAL)
    dom = browser.dump_dom(browser.file_url(path, "mode=self"))
    assert 'data-diff-ready="1"' in dom and 'data-ready="1"' in dom  # both scripts ran
    assert 'data-mode="self"' in dom and "Colour by: self" in dom
    after = blocks(dom)
    assert fill_of(after["main"]) == hex_of(SLOWER)
    assert fill_of(after["slow"]) == after["slow"].get("data-self-fill")
