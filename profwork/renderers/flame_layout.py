"""Laying out a flame graph's views (`flame_views`): stacks merged into blocks, thinned, and
library runs collapsed.

- `lay_out` merges the stacks' common prefixes into blocks top-down, visiting only blocks at
  least `min_share` of the total wide (the algorithm of `flamesvg.layout`, which it extends: the
  stacks may repeat, and hidden-frame markers are named as they are drawn).
- `thinned` turns a layout back into a few weighted paths (a big profile's shortcut).
- `Collapser` cuts each run of consecutive third-party or stdlib frames of one package to its first
  frame and one `N frames hidden (package)` marker, with native passes over all the frames.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from operator import countOf, itemgetter

from profwork.model import Frame, FrameKind, Stack

MIN_SHARE = 0.001  # the narrowest block drawn, as a share of its view's total
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
            end = shared_run(sub, first, p, shortest)
            if end > p:
                blocks.extend(block(d + 1, x, rest, first[d], sub) for d in range(p, end))
                todo.append((sub, ws, end, x))
                continue
        children = group_children(sub, ws, p)
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


def shared_run(sub: list[Stack], first: Stack, p: int, shortest: int) -> int:
    """The end of the run of levels from `p` on that every stack shares with `first` (p if none).

    Guessed from a few samples by identity, then verified in one native pass (`countOf` compares
    the slices item by item, identity first, equality when needed)."""
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


def group_children(sub: list[Stack], ws: list[float], p: int) -> dict[Frame, _Group]:
    """Group the stacks of one node by their frame at `p` (by identity first, then equality)."""
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
