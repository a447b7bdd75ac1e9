"""flame.svg: a well-formed, self-contained, escaped SVG whose blocks are the merged stacks.

The interaction (hover, zoom, search) runs in a real browser in test_browser.py; these tests read
the SVG as XML.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

import pytest

from profwork import analyses
from profwork.analyses import Summary
from profwork.model import Frame, Profile, Stack
from profwork.renderers import flame_views, get_renderer
from profwork.renderers.flamesvg import PAD, TOP, FlameSvg, asset, layout
from profwork.units import format_quantity
from tests.browser import CDATA_NAME, EVIL_FILE, EVIL_NAME, large_profile, tricky_profile

NS = {"svg": "http://www.w3.org/2000/svg"}
PLOT = 1180.0


def render(profile: Profile, renderer: FlameSvg | None = None) -> bytes:
    return (renderer or FlameSvg()).render(profile, analyses.analyse(profile))


@dataclass(frozen=True)
class Drawn:
    """One drawn block, as the SVG has it."""

    lines: list[str]  # its title: function, file:line (when known), figure
    x: float
    y: float
    width: float
    fill: str
    classes: list[str]

    @property
    def name(self) -> str:
        return self.lines[0]

    @property
    def depth(self) -> int:
        return int((self.y - TOP) // 16)


def frames(svg: bytes) -> list[Drawn]:
    root = ET.fromstring(svg)
    out = []
    for g in root.iterfind(".//svg:g", NS):
        classes = (g.get("class") or "").split()
        if "f" not in classes:
            continue
        rect = g.find("svg:rect", NS)
        title = g.find("svg:title", NS)
        assert rect is not None and title is not None and title.text is not None
        out.append(
            Drawn(
                lines=title.text.split("\n"),
                x=float(rect.get("x", "0")),
                y=float(rect.get("y", "0")),
                width=float(rect.get("width", "0")),
                fill=rect.get("fill", ""),
                classes=classes,
            )
        )
    return out


def block(svg: bytes, name: str) -> Drawn:
    found = [f for f in frames(svg) if f.name == name]
    assert len(found) == 1, f"{name!r}: {len(found)} blocks"
    return found[0]


def test_the_registry_names_it_svg_and_flame_svg() -> None:
    renderer = get_renderer("svg")
    assert (renderer.name, renderer.filename) == ("svg", "flame.svg")


def test_every_function_is_a_block_with_its_details() -> None:
    # GIVEN a profile with threads, every kind of code and hostile names
    profile = tricky_profile()
    # WHEN it is drawn
    svg = render(profile)
    # THEN it is well-formed XML with one block per (caller path, function), titled with the
    # function, its file:line, the weight as format_quantity prints it and the share
    validate = block(svg, "Scheduler.validate")
    assert validate.lines == [
        "Scheduler.validate",
        "/srv/app/scheduler.py:90",
        f"{format_quantity(4.2, 'seconds')} · {4.2 / profile.stack_total:.2%}",
    ]
    names = {f.name for f in frames(svg)}
    # library frames are collapsed: JSONEncoder.encode, called by json's dumps, is hidden
    assert "JSONEncoder.encode" not in names and "1 frame hidden (json)" in names
    for stack in profile.stacks:
        functions = {frame.function.replace("\x01", "\ufffd") for frame in stack}
        assert functions - {"JSONEncoder.encode"} <= names


def test_the_all_root_spans_the_total_and_threads_are_roots_below_it() -> None:
    profile = tricky_profile()
    svg = render(profile)
    root = block(svg, "all")
    assert (root.x, root.width, root.depth) == (PAD, PLOT, 0)
    assert "r" in root.classes
    threads = [f for f in frames(svg) if f.depth == 1]
    assert [f.name for f in threads] == ["thread (1): MainThread", "thread (2): worker-1"]
    assert all("t" in f.classes for f in threads)
    # the threads split the total between them, left to right
    assert threads[0].x == PAD
    assert sum(f.width for f in threads) == pytest.approx(PLOT, abs=0.02)


def test_widths_are_proportional_to_weight_and_callees_sit_inside_their_callers() -> None:
    profile = tricky_profile()
    svg = render(profile)
    total = profile.stack_total
    generate, validate = block(svg, "Scheduler.generate"), block(svg, "Scheduler.validate")
    assert generate.width == pytest.approx(5.0 / total * PLOT, abs=0.01)
    assert validate.width == pytest.approx(4.2 / total * PLOT, abs=0.01)
    assert validate.depth == generate.depth + 1  # icicle: callees below their callers
    assert generate.x <= validate.x
    assert validate.x + validate.width <= generate.x + generate.width + 0.01


def test_equal_frames_held_by_different_objects_are_one_block() -> None:
    # GIVEN stacks whose frames are equal but never the same object (a reader that does not
    # intern its frames)
    def stack(*names: str) -> tuple[Frame, ...]:
        return tuple(Frame(n, f"/srv/{n}.py", 1) for n in names)

    profile = Profile("samples", {stack("a", "b"): 2, stack("a", "c"): 1, stack("a", "b", "d"): 1})
    # THEN the frames merge as if they were interned
    svg = render(profile)
    assert [f.name for f in frames(svg)] == ["all", "a", "b", "c", "d"]
    assert block(svg, "b").width == pytest.approx(PLOT * 3 / 4, abs=0.01)


def test_profiled_text_is_escaped_everywhere() -> None:
    svg = render(tricky_profile(target="<script>alert(3)</script>"))
    # nothing from profiled code becomes markup...
    assert b"<script>alert" not in svg
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert b"&lt;script&gt;alert(3)&lt;/script&gt;" in svg  # the title, from the target spec
    # ...nor closes a CDATA section: only our style, data and script have one, and their ends
    assert svg.count(b"<![CDATA[") == 3 and svg.count(b"]]>") == 3
    root = ET.fromstring(svg)
    scripts = root.findall(".//svg:script", NS)
    assert [script.get("type") for script in scripts] == ["application/json", None]
    assert scripts[1].text is not None and scripts[1].text.strip() == asset("flameviews.js").strip()
    # the views' data is JSON without a `<`, `>` or `&` of its own, the names intact inside
    text = scripts[0].text or ""
    assert not set("<>&") & set(text)
    names = [row[0] for row in json.loads(text)["frames"]]
    assert EVIL_NAME in names and CDATA_NAME in names
    # the hostile names and path round-trip through the XML parser as plain text
    titles = [f.lines for f in frames(svg)]
    assert [EVIL_NAME, f"{EVIL_FILE}:7"] == titles[[t[0] for t in titles].index(EVIL_NAME)][:2]
    assert CDATA_NAME in [t[0] for t in titles]
    # a control character XML cannot carry is replaced, keeping the file well-formed
    assert "bad\ufffdname\x7f" in [t[0] for t in titles]


def test_the_svg_is_self_contained() -> None:
    svg = render(tricky_profile()).decode("utf-8")
    assert re.findall(r"(?:href|src)\s*=|url\(|@import", svg) == []
    # the only address is the SVG namespace (in the root element and in the script)
    assert set(re.findall(r"https?://[^\s\"'<]*", svg)) == {"http://www.w3.org/2000/svg"}


def test_colours_tell_modules_apart_and_mute_libraries_deterministically() -> None:
    profile = tricky_profile()
    svg = render(profile)
    fills = {f.name: f.fill for f in frames(svg)}
    by_name = {frame.function: frame for stack in profile.stacks for frame in stack}
    for name in ("Scheduler.validate", "main", "dumps", "Session.execute"):
        assert fills[name] == flame_views.fill(by_name[name])
    # user code: a colour-blind-safe palette colour per module (file), shaded per function
    assert fills["main"] != fills["Scheduler.generate"]  # run.py and scheduler.py
    assert fills["Scheduler.generate"] != fills["Scheduler.validate"]  # one module, two shades
    # libraries and the standard library are muted (grey-ish), never a palette colour
    for name in ("dumps", "Session.execute"):
        r, g, b = (int(fills[name][i : i + 2], 16) for i in (1, 3, 5))
        assert max(r, g, b) - min(r, g, b) < 40
    assert render(tricky_profile()) == svg  # same profile, same bytes
    legend = ET.fromstring(svg).find(".//svg:g[@class='legend']", NS)
    assert legend is not None
    labels = [t.text for t in legend.iterfind("svg:text", NS)]
    assert labels[:4] == ["your code (a colour per module)", "stdlib", "third-party", "native"]


def _hue(fill: str) -> float:
    import colorsys

    r, g, b = (int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hls(r, g, b)[0] * 360


def test_frames_narrower_than_a_pixel_are_merged_and_the_header_says_so() -> None:
    # GIVEN a caller with 300 callees each far narrower than a pixel, and one wide callee
    main = Frame("main", "/srv/main.py", 1)
    wide = Frame("wide", "/srv/wide.py", 1)
    stacks: dict[Stack, float] = {(main, wide): 1.0}
    stacks.update({(main, Frame(f"tiny_{i}", "/srv/tiny.py", i)): 0.001 for i in range(300)})
    profile = Profile("seconds", stacks)
    svg = render(profile)
    drawn = [f.name for f in frames(svg)]
    # THEN none of them is drawn; one grey block stands for them, with their summed weight
    assert not any(name.startswith("tiny_") for name in drawn)
    merged = block(svg, "[300 narrow frames]")
    assert "n" in merged.classes
    assert merged.width == pytest.approx(0.3 / 1.3 * PLOT, abs=0.01)
    assert merged.lines[-1] == f"{format_quantity(0.3, 'seconds')} · {0.3 / 1.3:.2%}"
    assert b"300 frames narrower than 0.10% of the total were merged" in svg


def test_merged_blocks_narrower_than_a_pixel_are_left_out() -> None:
    main = Frame("main", "/srv/main.py", 1)
    profile = Profile("samples", {(main,): 100_000, (main, Frame("rare", "/srv/r.py", 1)): 1})
    svg = render(profile)
    assert [f.name for f in frames(svg)] == ["all", "main"]
    assert b"1 frame narrower than 0.10% of the total was merged" in svg


def test_the_narrowest_width_drawn_is_an_option() -> None:
    main = Frame("main", "/srv/main.py", 1)
    profile = Profile("samples", {(main,): 990, (main, Frame("rare", "/srv/r.py", 1)): 10})
    # 10/1000 of 1180 px is 11.8 px: drawn at 1 px, merged at 20 px
    assert "rare" in [f.name for f in frames(render(profile))]
    assert "rare" not in [f.name for f in frames(render(profile, FlameSvg(min_width=20)))]


@pytest.mark.parametrize(
    "stacks",
    [{}, {(Frame("main", "/srv/main.py", 1),): 0.0}],
    ids=["no stacks", "zero weights"],
)
def test_an_empty_profile_is_a_valid_svg_saying_no_samples(stacks: dict[Stack, float]) -> None:
    svg = render(Profile("seconds", stacks))
    root = ET.fromstring(svg)
    assert "no samples" in [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert frames(svg) == []


def test_a_weight_recorded_without_any_frame_still_counts_in_all() -> None:
    main = Frame("main", "/srv/main.py", 1)
    svg = render(Profile("samples", {(): 1, (main,): 3}))
    assert block(svg, "main").width == pytest.approx(PLOT * 3 / 4, abs=0.01)
    assert block(svg, "all").lines[-1] == "4 samples · 100.00%"


def test_the_header_names_the_run_and_its_total() -> None:
    profile = tricky_profile()
    summary = analyses.analyse(profile)
    svg = FlameSvg().render(profile, summary)
    root = ET.fromstring(svg)
    title = root.find(".//svg:text[@class='title']", NS)
    assert title is not None and title.text == "Flame graph — scheduler · pyspy"
    sub = root.find(".//svg:text[@class='sub']", NS)
    assert sub is not None
    subtitle = "".join(sub.itertext())
    assert f"Total {format_quantity(profile.stack_total, 'seconds')}" in subtitle
    assert root.get("data-unit") == "seconds"
    assert float(root.get("data-total", "0")) == pytest.approx(profile.stack_total)


@pytest.fixture(scope="module")
def large() -> tuple[Profile, bytes]:
    """200,000 distinct stacks 50 frames deep. The flame graph reads only the stacks and the
    metadata, so its summary is the one of an empty profile: analysing 10M frames is the
    model's cost, not this renderer's."""
    profile = large_profile()
    summary: Summary = analyses.analyse(Profile("seconds", {}, metadata=profile.metadata))
    return profile, FlameSvg().render(profile, summary)


def test_a_huge_profile_stays_small_because_narrow_frames_merge(
    large: tuple[Profile, bytes],
) -> None:
    profile, svg = large
    assert len(profile.stacks) == 200_000
    drawn = frames(svg)
    # every drawn block is at least a pixel wide, so no depth can hold more blocks than pixels
    assert min(f.width for f in drawn) >= 1.0
    per_depth = Counter(f.depth for f in drawn)
    assert max(per_depth.values()) <= PLOT
    # the deep heavy paths are drawn to the bottom, and the file stays far below the stacks' size
    assert max(per_depth) == 50
    assert len(drawn) < 10_000
    assert len(svg) < 4_000_000  # every view's data included
    assert b"of the total were merged" in svg


def test_layout_of_a_huge_profile_accounts_for_every_weight(
    large: tuple[Profile, bytes],
) -> None:
    profile, _ = large
    drawn = layout(profile.stacks, PLOT)
    assert drawn.total == pytest.approx(profile.stack_total)
    assert drawn.stacks == 200_000
    # each depth's blocks (merged ones included) never hold more than the total
    by_depth: dict[int, float] = {}
    for b in drawn.blocks:
        by_depth[b.depth] = by_depth.get(b.depth, 0.0) + b.weight
    assert all(w <= drawn.total * (1 + 1e-9) for w in by_depth.values())
    assert drawn.narrow > 0


@pytest.mark.parametrize("order", [("svg", "html"), ("html", "svg")])
def test_flame_svg_and_the_report_share_one_layout_in_either_order(
    order: tuple[str, str],
) -> None:
    # GIVEN two profiles, rendered interleaved, in either order of the renderers
    one, other = large_profile(200), tricky_profile()
    flame = get_renderer("svg")
    assert isinstance(flame, FlameSvg)
    outputs = {}
    for name in order:
        outputs[name] = get_renderer(name).render(one, analyses.analyse(one))
        get_renderer(name).render(other, analyses.analyse(other))

    # THEN the layout was computed once for each profile, and the report embeds the same drawing
    assert flame.layout(one) is flame.layout(one)
    assert flame.layout(one) is not flame.layout(other)
    assert FlameSvg(width=600).layout(one) is not flame.layout(one)  # another width, its own
    svg = outputs["svg"].decode().split("\n", 1)[1].rstrip("\n")
    assert svg in outputs["html"].decode()
