"""The flame graph's views (`flame.svg`, inline in `report.html`): the data its script draws.

Three views of one profile, each laid out by `flame_tree` from the profile's call tree (its
`StackTree`, or its numbered stacks merged into one) and thinned the same way:

- **tree** — the call tree as recorded (`all` on top, callees below their callers);
- **merged** — one function at a time, its time summed over every caller ("sandwich", as
  speedscope calls it): the function is one block with its total share, its callers stacked
  above it (nearest first) and its callees below. Drawn for the heaviest functions (the hotspots,
  then the bottlenecks): the first always, the others while all of them draw no more blocks
  than the call tree (or MERGED_BLOCKS), so they cost about what it costs. A recursive function
  is taken at its outermost call, so its total counts once;
- **inverted** — callee first: the functions doing the work (leaves) on top, their callers below.

Each view comes in two variants, library frames **collapsed** (the default) and **expanded**.
Collapsing follows pyinstrument: a run of consecutive third-party or stdlib frames of one
package keeps its first frame and turns the rest into one `N frames hidden (package)` block
(N distinct functions), under which the code the run calls back into (your code, another
package) continues. A profile with nothing to collapse stores each view once.

**Thinning.** A block narrower than `min_share` of its view's total (0.1% by default) is never
visited: the narrow callees of one caller become a single `[N narrow frames]` block when that is
itself wide enough. The work is bounded by the blocks drawn and one pass over the tree's nodes.
A big profile held as tuples (more than FRAME_BUDGET frames) is first thinned to the call paths
at least THIN_SHARE of the total wide (`flame_layout.lay_out`), and every view drawn from those.

**The data** is the blocks of every view, each a flat list of integers (start and weight in
2**-30 of the view's total), and one table of the frames they draw. It is JSON, embedded by
`flamesvg` in a `<script type="application/json">` inside CDATA: `<`, `>` and `&` are written
as `\\u003c`… so neither `]]>` nor `</script>` can appear, and the script shows every name with
`textContent`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, FrameKind
from profwork.renderers.flame_layout import FRAME_BUDGET as FRAME_BUDGET
from profwork.renderers.flame_layout import HIDDEN_LINE as HIDDEN_LINE
from profwork.renderers.flame_layout import MIN_SHARE as MIN_SHARE
from profwork.renderers.flame_layout import NARROW as NARROW
from profwork.renderers.flame_layout import THIN_SHARE as THIN_SHARE
from profwork.renderers.flame_layout import ViewBlock as ViewBlock
from profwork.renderers.flame_layout import ViewLayout as ViewLayout
from profwork.renderers.flame_layout import is_hidden as is_hidden
from profwork.renderers.flame_layout import lay_out as lay_out
from profwork.renderers.flame_layout import package as package
from profwork.renderers.flame_layout import thinned as thinned
from profwork.renderers.flame_layout import weighted
from profwork.renderers.flame_tree import NodeTable, Walker
from profwork.stacktree import StackTree

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile

MERGED_FUNCTIONS = 10  # at most this many functions get a merged view
MERGED_BLOCKS = 1_000  # the blocks all merged views may draw, at least (the first always)

# ---- the views ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variants:
    """A view's two variants; `expanded` is None when collapsing changed nothing."""

    collapsed: ViewLayout
    expanded: ViewLayout | None


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged view of one function: its callers (the function first, then who called it)
    and its callees (the function first), each in both variants."""

    frame: Frame
    callers: Variants
    callees: Variants


@dataclass(frozen=True, slots=True)
class Views:
    tree: Variants
    inverted: Variants
    merged: list[Merged]
    total: float
    stacks: int
    min_share: float
    thinned: bool = False  # the call tree drawn from the paths over THIN_SHARE (a big profile)


def merged_candidates(profile: Profile, summary: Summary | None) -> list[Frame]:
    """The functions that get a merged view: the hotspots (the user functions doing the work),
    then the bottlenecks, heaviest first."""
    rows: Iterable[Any]
    if summary is not None:
        rows = chain(summary.hotspots, summary.bottlenecks)
    else:
        rows = chain(profile.top(MERGED_FUNCTIONS, "own"), profile.top(MERGED_FUNCTIONS))
    out: list[Frame] = []
    for row in rows:
        frame = row.frame
        if not frame.is_pseudo and frame not in out:
            out.append(frame)
    return out[:MERGED_FUNCTIONS]


def node_table(profile: Profile) -> tuple[NodeTable, bool, int]:
    """The profile's call tree as a node table, whether it was thinned, and its stack count.

    A `StackTree` is read as it is; other stacks are numbered (`Profile.numbered_stacks`, which
    the pstats, folded and speedscope writers share) and merged level by level, unless they hold
    more than FRAME_BUDGET frames: then the tree is the paths at least THIN_SHARE of the total
    wide (every block over `min_share` is among them, with its weight), which are few."""
    stacks = profile.stacks
    if isinstance(stacks, StackTree):
        table = NodeTable.of_tree(stacks.frames, stacks.parent, stacks.frame, stacks.entries())
        return table, False, table.entries
    if sum(map(len, stacks)) <= FRAME_BUDGET:
        table = NodeTable.of_numbered(profile.numbered_stacks())
        return table, False, table.entries
    subs, weights = weighted(stacks)
    return NodeTable.of_layout(lay_out(subs, weights, THIN_SHARE)), True, len(subs)


def compute(profile: Profile, summary: Summary | None, min_share: float = MIN_SHARE) -> Views:
    """Every view of `profile` (what `FlameSvg` draws and embeds), from its call tree."""
    table, thin, count = node_table(profile)
    walker = Walker(table)
    both = walker.collapsible

    def variants(draw: Callable[[bool], ViewLayout]) -> Variants:
        return Variants(draw(True), draw(False) if both else None)

    tree = variants(lambda c: walker.forward(None, c, min_share))
    inverted = variants(lambda c: walker.inverted(c, min_share))
    merged: list[Merged] = []
    candidates = merged_candidates(profile, summary)
    if candidates and walker.total > 0:
        number = {frame: i for i, frame in enumerate(table.frames)}
        keys = {frame: number[frame] for frame in candidates if frame in number}
        calls = walker.calls(set(keys.values()))
        # the first always; the others while they draw no more blocks than the call tree
        # (or MERGED_BLOCKS), so that they cost about what it costs
        drawn = sum(len(v.blocks) for v in (tree.collapsed, tree.expanded) if v is not None)
        budget = max(MERGED_BLOCKS, drawn)
        for frame, key in keys.items():
            if merged and budget <= 0:
                break
            starts = walker.outermost(key, calls[key])
            if not starts:
                continue
            view = Merged(
                frame,
                variants(lambda c, s=starts: walker.callers(s, c, min_share)),  # type: ignore[misc]
                variants(lambda c, s=starts: walker.forward(s, c, min_share)),  # type: ignore[misc]
            )
            merged.append(view)
            for pair in (view.callers, view.callees):
                budget -= len(pair.collapsed.blocks)
                budget -= len(pair.expanded.blocks) if pair.expanded is not None else 0
    return Views(tree, inverted, merged, walker.total, count, min_share, thin)


# ---- colours ------------------------------------------------------------------------------------

# Paul Tol's "light" scheme (colour-blind safe, readable with black text), for user code: one
# colour per module (file), a little lighter or darker per function.
USER_PALETTE = ("#77aadd", "#ee8866", "#44bb99", "#eedd88", "#ffaabb", "#99ddff", "#bbcc33")
# Everything that is not the user's code is muted, so the user's code stands out.
MUTED: dict[FrameKind, str] = {
    FrameKind.STDLIB: "#d5dbe3",
    FrameKind.THIRD_PARTY: "#cdd3c7",
    FrameKind.NATIVE: "#e3ddd2",
    FrameKind.PROFWORK: "#ddd8ea",
    FrameKind.THREAD: "#3f4a5c",
    FrameKind.PROCESS: "#3f4a5c",
}
HIDDEN_FILL = "#b9c0c9"


def _shade(colour: str, amount: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    if amount >= 0:
        r, g, b = (round(c + (255 - c) * amount) for c in (r, g, b))
    else:
        r, g, b = (round(c * (1 + amount)) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def fill(frame: Frame) -> str:
    """A frame's colour: user code by module (a stable hash of its file), the rest muted."""
    if is_hidden(frame):
        return HIDDEN_FILL
    if frame.kind is FrameKind.USER:
        module = zlib.crc32((frame.file or frame.function).encode("utf-8", "surrogatepass"))
        base = USER_PALETTE[module % len(USER_PALETTE)]
        # functions of one module: seven shades, far enough apart to tell neighbours apart
        shade = zlib.crc32(frame.function.encode("utf-8", "surrogatepass")) % 7
        return _shade(base, (shade - 3) * 0.1 if shade < 3 else (shade - 3) * 0.08)
    return MUTED[frame.kind]


# ---- the data the script draws ------------------------------------------------------------------


class _Table:
    """The frames the views draw, numbered once: name, location, kind, fill. Looked up by
    identity (the views share their frame objects), so equal frames held twice are two rows."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.held: list[Frame] = []  # (keeps the frames, and so their ids, alive)
        self.rows: list[list[str]] = []

    def __call__(self, frame: Frame) -> int:
        known = self.ids.get(id(frame))
        if known is None:
            known = self.ids[id(frame)] = len(self.rows)
            self.held.append(frame)
            kind = "hidden" if is_hidden(frame) else frame.kind.value
            self.rows.append([frame.function, frame.location, kind, fill(frame)])
        return known


UNITS = 2**30  # a view's total, in the integers its blocks are written in


def _blocks(drawn: ViewLayout, table: _Table, per_unit: float) -> list[int]:
    """A layout as a flat list of integers: depth, start, weight (both in units of
    `1 / per_unit`), frame (-1 the root, -2 merged narrow frames), merged."""
    out: list[int] = []
    extend, ids = out.extend, table.ids
    for depth, start, weight, frame, merged in drawn.blocks:
        if frame is None:
            f = -2 if merged else -1
        else:
            known = ids.get(id(frame))
            f = table(frame) if known is None else known
        extend((depth, int(start * per_unit + 0.5), int(weight * per_unit + 0.5), f, merged))
    return out


def _pair(v: Variants, table: _Table) -> dict[str, Any]:
    """Both variants of a view, their starts and weights as integers (quicker to write and
    read than decimals): as they are when they all are (samples, bytes), else in 2**-30 of the
    view's total; `scale` turns them back."""
    total = v.collapsed.total
    per_unit = UNITS / total if total > 0 else 0.0
    layouts = (v.collapsed,) if v.expanded is None else (v.collapsed, v.expanded)
    if total > 0 and all(b.weight % 1.0 == 0 == b.start % 1.0 for d in layouts for b in d.blocks):
        per_unit = 1.0
    out: dict[str, Any] = {
        "scale": 1 / per_unit if per_unit else 0.0,
        "collapsed": _blocks(v.collapsed, table, per_unit),
        "narrow": v.collapsed.narrow,
    }
    if v.expanded is not None:
        out["expanded"] = _blocks(v.expanded, table, per_unit)
    return out


def data(views: Views, unit: str) -> dict[str, Any]:
    table = _Table()
    return {
        "unit": unit,
        "total": views.total,
        "minShare": views.min_share,
        "tree": _pair(views.tree, table),
        "inverted": _pair(views.inverted, table),
        "merged": [
            {
                "frame": table(m.frame),
                "callers": _pair(m.callers, table),
                "callees": _pair(m.callees, table),
            }
            for m in views.merged
        ],
        "frames": table.rows,
    }


def to_json(payload: dict[str, Any]) -> str:
    """JSON safe inside CDATA and inside an HTML page's `<svg>`: no `<`, `>` or `&` at all."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
