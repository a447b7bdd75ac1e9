"""The flame graph's views (`flame.svg`, inline in `report.html`): the data its script draws.

Three views of one profile, each laid out here from the public `Profile` API (`stacks`,
`numbered_stacks`, `view`) and thinned the same way:

- **tree** — the call tree as recorded (`all` on top, callees below their callers);
- **merged** — one function at a time, its time summed over every caller ("sandwich", as
  speedscope calls it): the function is one block with its total share, its callers stacked
  above it (nearest first) and its callees below. Drawn for the heaviest functions (the hotspots,
  then the bottlenecks) within a work budget, so a huge profile stays quick; the first hotspot
  is shown first. A recursive function is taken at its outermost call, so its total counts once;
- **inverted** — callee first: the functions doing the work (leaves) on top, their callers below.

Each view comes in two variants, library frames **collapsed** (the default) and **expanded**.
Collapsing follows pyinstrument: a run of consecutive third-party or stdlib frames of one
package keeps its first frame and turns the rest into one `N frames hidden (package)` block
(N distinct functions), under which the code the run calls back into (your code, another
package) continues. A view with nothing to collapse is stored once.

The layout, the thinning and the collapsing are `flame_layout`'s.

**Thinning.** A block narrower than `min_share` of its view's total (0.1% by default) is never
visited: the narrow callees of one caller become a single `[N narrow frames]` block when that is
itself wide enough. The work is bounded by the blocks drawn, not by the profile's size.

**Escaping.** The data is JSON, embedded by `flamesvg` in a `<script type="application/json">`
inside CDATA: `<`, `>` and `&` are written as `\\u003c`… so neither `]]>` nor `</script>` can
appear, and the script shows every name with `textContent`.
"""

from __future__ import annotations

import json
import math
import operator
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, FrameKind, NumberedStacks, Stack
from profwork.renderers.flame_layout import FRAME_BUDGET as FRAME_BUDGET
from profwork.renderers.flame_layout import HIDDEN_LINE as HIDDEN_LINE
from profwork.renderers.flame_layout import MIN_SHARE as MIN_SHARE
from profwork.renderers.flame_layout import NARROW as NARROW
from profwork.renderers.flame_layout import THIN_SHARE as THIN_SHARE
from profwork.renderers.flame_layout import Collapser as Collapser
from profwork.renderers.flame_layout import ViewBlock as ViewBlock
from profwork.renderers.flame_layout import ViewLayout as ViewLayout
from profwork.renderers.flame_layout import is_hidden as is_hidden
from profwork.renderers.flame_layout import lay_out as lay_out
from profwork.renderers.flame_layout import package as package
from profwork.renderers.flame_layout import thinned as thinned

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile

MERGED_FUNCTIONS = 10  # at most this many functions get a merged view

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


def _variants(
    subs: list[Stack],
    short: list[Stack] | None,
    weights: list[float],
    min_share: float,
    collapser: Collapser,
) -> Variants:
    """Both variants of a view: `short` are the stacks collapsed (None when nothing was)."""
    expanded = lay_out(list(subs), list(weights), min_share)
    if short is None:
        return Variants(expanded, None)
    return Variants(lay_out(list(short), list(weights), min_share, collapser.namer), expanded)


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


def compute(profile: Profile, summary: Summary | None, min_share: float = MIN_SHARE) -> Views:
    """Every view of `profile` (what `FlameSvg` draws and embeds)."""
    subs: list[Stack] = []
    weights: list[float] = []
    for stack, weight in profile.stacks.items():
        if weight > 0:
            subs.append(stack)
            weights.append(float(weight))
    total = math.fsum(weights)
    collapser = Collapser(profile.numbered_stacks().frames)
    candidates = merged_candidates(profile, summary)
    count = len(subs)
    big = sum(map(len, subs)) > FRAME_BUDGET
    if big:
        # Too many frames to walk them all for every view. The call tree is drawn from the
        # paths at least THIN_SHARE of the total wide (every block over min_share is among
        # them, with its weight), which are few and collapse quickly; the inverted view (no
        # collapsed variant) and the top function's merged view walk every stack.
        few, few_weights = thinned(lay_out(list(subs), list(weights), THIN_SHARE))
        short = collapser.all(few) if collapser.active else None
        if short is not None and all(map(operator.is_, short, few)):
            short = None
        tree = _variants(few, short, few_weights, min_share, collapser)
        numbered = profile.numbered_stacks()
        inverted = Variants(
            lay_out(*_truncated(numbered, lambda n: n[: -DEPTH - 1 : -1]), min_share), None
        )
        merged = []
        number = {frame: i for i, frame in enumerate(numbered.frames)}
        key = number.get(candidates[0]) if candidates else None
        if key is not None:
            callers, callees = _sandwich(numbered, key)
            merged.append(
                Merged(
                    candidates[0],
                    Variants(lay_out(*callers, min_share), None),
                    Variants(lay_out(*callees, min_share), None),
                )
            )
        return Views(tree, inverted, merged, total, count, min_share, True)
    short = collapser.all(subs) if collapser.active else None
    if short is not None and all(map(operator.is_, short, subs)):
        short = None
    tree = _variants(subs, short, weights, min_share, collapser)
    inverted = _variants(
        [s[::-1] for s in subs],
        None if short is None else [collapser.view(t, len(t) - 1, True) for t in short],
        weights,
        min_share,
        collapser,
    )
    merged = _merged(profile, subs, short, weights, candidates, min_share, collapser)
    return Views(tree, inverted, merged, total, count, min_share)


DEPTH = 24  # on a big profile, the levels the inverted and merged views show


_Cut = tuple[list[Stack], list[float]]


def _truncated(numbered: NumberedStacks, cut: Callable[[tuple[int, ...]], tuple[int, ...]]) -> _Cut:
    """The profile's stacks cut to a few levels (by `cut`, on their frame numbers, natively),
    those that become equal merged: a big profile's many stacks become a few distinct ones."""
    weights: dict[tuple[int, ...], float] = {}
    for numbers, _lead, weight in numbered.stacks:
        if weight > 0:
            short = cut(numbers)
            weights[short] = weights.get(short, 0.0) + weight
    return _frames(numbered, weights)


def _sandwich(numbered: NumberedStacks, key: int) -> tuple[_Cut, _Cut]:
    """The callers and the callees of frame number `key`, each cut to DEPTH levels."""
    up: dict[tuple[int, ...], float] = {}
    down: dict[tuple[int, ...], float] = {}
    for numbers, _lead, weight in numbered.stacks:
        if weight > 0 and key in numbers:
            at = numbers.index(key)
            caller = numbers[at : max(-1, at - DEPTH) : -1] if at >= DEPTH else numbers[at::-1]
            callee = numbers[at : at + DEPTH]
            up[caller] = up.get(caller, 0.0) + weight
            down[callee] = down.get(callee, 0.0) + weight
    return _frames(numbered, up), _frames(numbered, down)


def _frames(numbered: NumberedStacks, weights: dict[tuple[int, ...], float]) -> _Cut:
    frames = numbered.frames
    return [tuple(map(frames.__getitem__, k)) for k in weights], list(weights.values())


def _merged(
    profile: Profile,
    subs: list[Stack],
    short: list[Stack] | None,
    weights: list[float],
    candidates: list[Frame],
    min_share: float,
    collapser: Collapser,
) -> list[Merged]:
    """Merged views for the candidates, in order, within a budget of stacks visited (half the
    profile's stacks, and never less than 5,000; the first candidate always gets one), so that
    all the merged views together cost about as much as the call tree's layout."""
    if not candidates or not subs:
        return []
    numbered = profile.numbered_stacks()
    number = {frame: i for i, frame in enumerate(numbered.frames)}
    # the stacks drawn (`subs`) are the profile's stacks that weigh something, in its order
    drawn = [numbers for numbers, _lead, weight in numbered.stacks if weight > 0]
    if len(drawn) != len(subs):
        return []
    budget = max(5_000, len(subs) // 2)
    out: list[Merged] = []
    for frame in candidates:
        key = number.get(frame)
        if key is None:
            continue
        # the stacks that hold it: one native pass
        held = list(compress(range(len(drawn)), map(operator.contains, drawn, repeat(key))))
        if not held:
            continue
        if out and len(held) > budget:
            break  # the heaviest functions first, while the work stays bounded
        budget -= len(held)
        callers: list[Stack] = []
        callees: list[Stack] = []
        short_callers: list[Stack] = []
        short_callees: list[Stack] = []
        ws: list[float] = []
        for i in held:
            s = subs[i]
            at = s.index(frame)
            callees.append(s[at:])
            callers.append(s[at::-1])
            ws.append(weights[i])
            if short is not None:
                t = short[i]
                if t is not s and frame in t:  # (a library function may be hidden in a run)
                    at = t.index(frame)
                    short_callees.append(collapser.view(t, at, False))
                    short_callers.append(collapser.view(t, at, True))
                else:
                    short_callees.append(callees[-1])
                    short_callers.append(callers[-1])
        out.append(
            Merged(
                frame,
                _variants(callers, short_callers or None, ws, min_share, collapser),
                _variants(callees, short_callees or None, ws, min_share, collapser),
            )
        )
    return out


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

_JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class _Table:
    """The frames the views draw, numbered once: name, location, kind, fill."""

    def __init__(self) -> None:
        self.index: dict[Frame, int] = {}
        self.rows: list[list[str]] = []

    def __call__(self, frame: Frame) -> int:
        known = self.index.get(frame)
        if known is None:
            known = self.index[frame] = len(self.rows)
            kind = "hidden" if is_hidden(frame) else frame.kind.value
            self.rows.append([frame.function, frame.location, kind, fill(frame)])
        return known


def _number(value: float) -> float | int:
    rounded = float(f"{value:.7g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def _blocks(drawn: ViewLayout, table: _Table) -> list[float | int]:
    """A layout as a flat list: depth, start, weight, frame (-1 the root, -2 merged), merged."""
    out: list[float | int] = []
    for b in drawn.blocks:
        f = -1 if b.frame is None and not b.merged else (-2 if b.frame is None else table(b.frame))
        out.extend((b.depth, _number(b.start), _number(b.weight), f, b.merged))
    return out


def _pair(v: Variants, table: _Table) -> dict[str, Any]:
    out: dict[str, Any] = {"collapsed": _blocks(v.collapsed, table), "narrow": v.collapsed.narrow}
    if v.expanded is not None:
        out["expanded"] = _blocks(v.expanded, table)
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
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).translate(_JSON_ESCAPES)
