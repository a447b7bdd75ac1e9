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
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from operator import countOf, itemgetter
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, FrameKind, NumberedStacks, Stack

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile

MIN_SHARE = 0.001  # the narrowest block drawn, as a share of its view's total
MERGED_FUNCTIONS = 10  # at most this many functions get a merged view
HIDDEN_LINE = -1  # the `line` of a `N frames hidden (package)` pseudo-frame
_LIBRARY = (FrameKind.THIRD_PARTY, FrameKind.STDLIB)

# ---- packages -----------------------------------------------------------------------------------

_SITE = re.compile(r"/(?:site|dist)-packages/([^/]+)")
_STDLIB = re.compile(r"/lib/python\d+(?:\.\d+)?/([^/]+)")


def package(frame: Frame) -> str:
    """The package a library frame belongs to (`sqlalchemy`, `json`, `asyncio`), the empty string
    for any other frame: the unit in which library frames are collapsed."""
    if frame.kind not in _LIBRARY or is_hidden(frame):
        return ""
    file = frame.file
    if file.startswith("<"):  # `<frozen importlib._bootstrap>`, `<sqlalchemy generated …>`
        words = file[1:].rstrip(">").split()
        word = words[-1] if words and words[0] == "frozen" else (words[0] if words else "")
        return word.split(".")[0] or "generated"
    found = _SITE.search(file) or _STDLIB.search(file)
    if found is None:
        return "stdlib" if frame.kind is FrameKind.STDLIB else "library"
    name = found.group(1)
    for suffix in (".py", ".so"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.split(".")[0] or name


def is_hidden(frame: Frame) -> bool:
    return frame.line == HIDDEN_LINE and not frame.file


# ---- layout -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewBlock:
    """One block of a view: `start` and `weight` in the profile's unit; depth 0 is the root."""

    depth: int
    start: float
    weight: float
    frame: Frame | None  # None: the root, or merged narrow frames
    merged: int = 0  # narrow frames merged into this block


@dataclass(frozen=True, slots=True)
class ViewLayout:
    blocks: list[ViewBlock]
    total: float
    collapsed: int  # library runs collapsed (0: the expanded variant is the same)
    narrow: int  # frames too narrow to draw, merged


def _order(frame: Frame) -> tuple[bool, str, str, int, str]:
    # by name (as flamegraph.pl), thinned-away paths last, where merged narrow frames go
    return (frame is NARROW, frame.function, frame.file, frame.line, frame.kind.value)


_Todo = tuple[list[Stack], list[float], int, float]
# Names a hidden-frames marker from the stacks below it and its position in them.
Namer = Callable[[Frame, list[Stack], int], Frame]


def lay_out(
    subs: list[Stack],
    weights: list[float],
    min_share: float = MIN_SHARE,
    name: Namer | None = None,
) -> ViewLayout:
    """Merge the stacks' common prefixes into blocks, top-down, visiting only blocks at least
    `min_share` of the total wide. The stacks may repeat (suffixes of different stacks do).

    The same algorithm as `flamesvg.layout`: children grouped by frame identity, then merged by
    equality; a run of levels every stack of a node shares is taken in one native pass. `name`
    gives each hidden-frames marker drawn its label (`Collapser.namer`)."""
    total = math.fsum(weights)
    if not subs or total <= 0:
        return ViewLayout([], 0.0, 0, 0)
    threshold = total * min_share
    blocks = [ViewBlock(0, 0.0, total, None)]
    narrow = markers = 0

    def block(depth: int, x: float, weight: float, frame: Frame, sub: list[Stack]) -> ViewBlock:
        nonlocal markers
        if name is not None and frame.line == HIDDEN_LINE:
            markers += 1
            frame = name(frame, sub, depth - 1)
        return ViewBlock(depth, x, weight, frame)

    todo: list[_Todo] = [(subs, weights, 0, 0.0)]
    while todo:
        sub, ws, p, x = todo.pop()
        shortest = min(map(len, sub))
        if shortest <= p:  # self weight: the stacks that end here (several when they repeat)
            keep = [i for i, s in enumerate(sub) if len(s) > p]
            if not keep:
                continue
            sub = [sub[i] for i in keep]
            ws = [ws[i] for i in keep]
            shortest = min(map(len, sub))
        rest = math.fsum(ws)
        first = sub[0]
        if rest >= threshold:
            end = _shared_run(sub, first, p, shortest)
            if end > p:
                blocks.extend(block(d + 1, x, rest, first[d], sub) for d in range(p, end))
                todo.append((sub, ws, end, x))
                continue
        children = _children(sub, ws, p)
        wide = [(f, c) for f, c in children.items() if c[0] >= threshold]
        wide.sort(key=lambda item: _order(item[0]))
        for frame, (weight, child_stacks, child_weights) in wide:
            blocks.append(block(p + 1, x, weight, frame, child_stacks))
            todo.append((child_stacks, child_weights, p + 1, x))
            x += weight
        if len(wide) < len(children):
            count = len(children) - len(wide)
            weight = math.fsum(c[0] for c in children.values() if c[0] < threshold)
            narrow += count
            if weight >= threshold:
                blocks.append(ViewBlock(p + 1, x, weight, None, count))
    blocks.sort(key=lambda b: (b.depth, b.start))
    return ViewLayout(blocks, total, markers, narrow)


FRAME_BUDGET = 2_000_000  # frames (summed stack lengths) beyond which the stacks are thinned
THIN_SHARE = 0.0001  # the thinning: paths narrower than this share of the total are cut short
NARROW = Frame("[narrow frames]", "", HIDDEN_LINE - 1, FrameKind.NATIVE)


def thinned(drawn: ViewLayout) -> tuple[list[Stack], list[float]]:
    """The stacks a layout drew, as weighted paths: each block's own weight (what its children
    do not cover) becomes one stack ending at it, merged narrow callees a `[narrow frames]` leaf.
    A big profile's stacks become a few thousand paths that weigh the same in total."""
    stacks: list[Stack] = []
    weights: list[float] = []
    path: list[tuple[ViewBlock, float]] = []  # (block, weight its children cover)
    order = sorted(drawn.blocks, key=lambda b: (b.start, b.depth))

    def close(until: int) -> None:
        while len(path) > until:
            block, covered = path.pop()
            own = block.weight - covered
            if own > block.weight * 1e-9 and block.depth > 0:
                stacks.append(
                    tuple(b.frame or NARROW for b, _ in path[1:]) + (block.frame or NARROW,)
                )
                weights.append(own)
            elif own > 0 and block.depth == 0:
                stacks.append(())
                weights.append(own)
            if path:
                parent, done = path[-1]
                path[-1] = (parent, done + block.weight)

    for block in order:
        close(block.depth)
        path.append((block, 0.0))
    close(0)
    return stacks, weights


# ---- collapsing library frames ------------------------------------------------------------------

NAMED_FROM = 64  # a marker's hidden functions are counted over at most this many stacks


class Collapser:
    """Collapses library runs in stacks with native passes over all their frames at once (a big
    profile has millions of frames): each frame's package, by identity; the frames continuing a
    run of their package; those replaced by the package's marker, and repeated markers dropped.
    The marker is one object per package, so the layout merges it like any frame, and a marker
    drawn is named afterwards (`namer`) with the number of distinct functions it hides."""

    def __init__(self, frames: Iterable[Frame]) -> None:
        self._kinds: dict[str, FrameKind] = {}
        for frame in frames:
            name = package(frame)
            if name:
                self._kinds.setdefault(name, frame.kind)
        self.markers: dict[str, Frame] = {
            name: Frame(f"frames hidden ({name})", "", HIDDEN_LINE, kind)
            for name, kind in self._kinds.items()
        }
        self._marker_of: dict[str, Frame | None] = {"": None, **self.markers}
        self._package: dict[int, str] = {}
        # a collapsed stack (or a view of one) by id → (itself, the collapsed stack, the
        # original, the view's offset in the collapsed stack, whether it reads it backwards)
        self._views: dict[int, tuple[Stack, Stack, Stack, int, bool]] = {}

    @property
    def active(self) -> bool:
        return bool(self.markers)

    def _packages(self, flat: list[Frame]) -> list[str]:
        known = self._package
        ids = list(map(id, flat))
        objects = dict(zip(ids, flat, strict=True))
        known.update((key, package(objects[key])) for key in objects.keys() - known.keys())
        return list(map(known.__getitem__, ids))

    def _continues(self, pk: list[str], starts: Iterable[int]) -> list[bool]:
        cont = [False, *map(operator.and_, map(bool, pk[1:]), map(operator.eq, pk[1:], pk[:-1]))]
        for start in starts:  # a stack's first frame continues nothing
            if start < len(cont):
                cont[start] = False
        return cont

    def all(self, stacks: list[Stack]) -> list[Stack]:
        """Every stack with each library run cut to its first frame and one marker (the same
        object when it has no run)."""
        flat = list(chain.from_iterable(stacks))
        if not flat:
            return list(stacks)
        lengths = list(map(len, stacks))
        starts = list(accumulate(lengths, initial=0))
        pk = self._packages(flat)
        cont = self._continues(pk, starts[1:-1])
        if True not in cont:
            return list(stacks)
        markers = map(self._marker_of.__getitem__, pk)
        mixed = map(tuple.__getitem__, zip(flat, markers, strict=True), cont)
        keep = list(map(operator.lt, map(operator.add, cont, [False, *cont[:-1]]), repeat(2)))
        for start in starts[1:-1]:
            if start < len(keep):
                keep[start] = True
        kept: list[Frame] = list(compress(mixed, keep))  # type: ignore[arg-type]  # a marker is picked only where one exists
        out: list[Stack] = []
        at = 0
        views = self._views
        for stack, a, b in zip(stacks, starts, starts[1:], strict=False):
            n = b - a - countOf(keep[a:b], False)
            if True not in cont[a:b]:
                out.append(stack)
            else:
                short = tuple(kept[at : at + n])
                views[id(short)] = (short, short, stack, 0, False)
                out.append(short)
            at += n
        return out

    def view(self, collapsed: Stack, start: int, backwards: bool) -> Stack:
        """A slice of a collapsed stack (from `start` on, or back from it to the root), which
        the namer can still trace to the original."""
        view = collapsed[start::-1] if backwards else collapsed[start:]
        entry = self._views.get(id(collapsed))
        if entry is not None:
            self._views[id(view)] = (view, collapsed, entry[2], start, backwards)
        return view

    def hidden(self, view: Stack, at: int) -> set[Frame]:
        """The functions hidden by the marker at `at` of a collapsed stack (or a view of one)."""
        entry = self._views.get(id(view))
        if entry is None:
            return set()
        _, collapsed, original, start, backwards = entry
        at = start - at if backwards else start + at
        run = sum(1 for f in collapsed[:at] if f.line == HIDDEN_LINE and not f.file)
        cont = self._continues(list(map(self._package.__getitem__, map(id, original))), ())
        out: set[Frame] = set()
        index = -1
        for i, (frame, c) in enumerate(zip(original, cont, strict=True)):
            if c and not cont[i - 1]:
                index += 1
            if c and index == run:
                out.add(frame)
            elif index > run:
                break
        return out

    def namer(self, marker: Frame, stacks: list[Stack], at: int) -> Frame:
        """The marker as drawn: `N frames hidden (package)`, N counted over the heaviest
        stacks below it (at most NAMED_FROM; `N+` when there were more)."""
        sample = stacks if len(stacks) <= NAMED_FROM else stacks[:: len(stacks) // NAMED_FROM]
        hidden: set[Frame] = set()
        for s in sample:
            hidden |= self.hidden(s, at)
        name = marker.function.rsplit("(", 1)[-1].rstrip(")")
        count = max(1, len(hidden))
        plus = "+" if len(sample) < len(stacks) else ""
        plural = "" if count == 1 and not plus else "s"
        label = f"{count:,}{plus} frame{plural} hidden ({name})"
        return Frame(label, "", HIDDEN_LINE, marker.kind)


def _shared_run(sub: list[Stack], first: Stack, p: int, shortest: int) -> int:
    """The end of the run of levels from `p` on that every stack shares with `first`."""
    samples = sub[:: max(1, len(sub) // 8)]
    end = p
    while end < shortest:
        frame = first[end]
        if any(s[end] is not frame for s in samples):
            break
        end += 1
    if end == p:
        return p
    if countOf(map(itemgetter(slice(p, end)), sub), first[p:end]) == len(sub):
        return end
    return p


_Group = tuple[float, list[Stack], list[float]]


def _children(sub: list[Stack], ws: list[float], p: int) -> dict[Frame, _Group]:
    by_id: dict[int, tuple[list[float], list[Stack], list[float]]] = {}
    for stack, weight in zip(sub, ws, strict=True):
        key = id(stack[p])
        entry = by_id.get(key)
        if entry is None:
            by_id[key] = ([weight], [stack], [weight])
        else:
            entry[0][0] += weight
            entry[1].append(stack)
            entry[2].append(weight)
    out: dict[Frame, _Group] = {}
    for total, stacks, weights in by_id.values():
        frame = stacks[0][p]
        known = out.get(frame)
        if known is None:
            out[frame] = (total[0], stacks, weights)
        else:
            out[frame] = (known[0] + total[0], known[1] + stacks, known[2] + weights)
    return out


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
    profile's stacks, and never less than 20,000; the first candidate always gets one), so that
    all the merged views together cost about as much as the call tree's layout."""
    if not candidates or not subs:
        return []
    numbered = profile.numbered_stacks()
    number = {frame: i for i, frame in enumerate(numbered.frames)}
    # the stacks drawn (`subs`) are the profile's stacks that weigh something, in its order
    drawn = [numbers for numbers, _lead, weight in numbered.stacks if weight > 0]
    if len(drawn) != len(subs):
        return []
    budget = max(20_000, len(subs) // 2)
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
