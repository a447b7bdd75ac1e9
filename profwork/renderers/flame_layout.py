"""The blocks of a flame graph's views (`flame_views`, laid out by `flame_tree`), and the
shortcut of a big profile held as tuples of frames.

- `ViewBlock`, `ViewLayout`: what a view draws; `package`: the unit library frames collapse in.
- `lay_out` merges stacks' common prefixes into blocks top-down, visiting only blocks at least
  `min_share` of the total wide (the algorithm of `flamesvg.layout`, which it extends: the stacks
  may repeat): a big profile's call tree, thinned to THIN_SHARE, from which `flame_tree` takes
  its node table.
- `thinned` turns a layout back into a few weighted paths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from operator import countOf, itemgetter
from typing import NamedTuple

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


class ViewBlock(NamedTuple):
    """One block of a view: `start` and `weight` in the profile's unit; depth 0 is the root.
    (A named tuple: a view of a big profile makes thousands, and a tuple is made fastest.)"""

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


def sibling_order(frame: Frame) -> tuple[bool, str, str, int, str]:
    """The order of sibling blocks."""
    # by name (as flamegraph.pl), thinned-away paths last, where merged narrow frames go
    return (frame is NARROW, frame.function, frame.file, frame.line, frame.kind.value)


_Todo = tuple[list[Stack], list[float], int, float]


def weighted(stacks: Mapping[Stack, float]) -> tuple[list[Stack], list[float]]:
    """The stacks that weigh something, and their weights, as `lay_out` takes them."""
    subs: list[Stack] = []
    weights: list[float] = []
    for stack, weight in stacks.items():
        if weight > 0:
            subs.append(stack)
            weights.append(float(weight))
    return subs, weights


def lay_out(subs: list[Stack], weights: list[float], min_share: float = MIN_SHARE) -> ViewLayout:
    """Merge the stacks' common prefixes into blocks, top-down, visiting only blocks at least
    `min_share` of the total wide. The stacks may repeat (suffixes of different stacks do).

    The same algorithm as `flamesvg.layout`: children grouped by frame identity, then merged by
    equality; a run of levels every stack of a node shares is taken in one native pass."""
    total = math.fsum(weights)
    if not subs or total <= 0:
        return ViewLayout([], 0.0, 0, 0)
    threshold = total * min_share
    blocks = [ViewBlock(0, 0.0, total, None)]
    narrow = 0

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
                blocks.extend(ViewBlock(d + 1, x, rest, first[d]) for d in range(p, end))
                todo.append((sub, ws, end, x))
                continue
        children = group_children(sub, ws, p)
        wide = [(f, c) for f, c in children.items() if c[0] >= threshold]
        wide.sort(key=lambda item: sibling_order(item[0]))
        for frame, (weight, child_stacks, child_weights) in wide:
            blocks.append(ViewBlock(p + 1, x, weight, frame))
            todo.append((child_stacks, child_weights, p + 1, x))
            x += weight
        if len(wide) < len(children):
            count = len(children) - len(wide)
            weight = math.fsum(c[0] for c in children.values() if c[0] < threshold)
            narrow += count
            if weight >= threshold:
                blocks.append(ViewBlock(p + 1, x, weight, None, count))
    blocks.sort(key=lambda b: (b.depth, b.start))
    return ViewLayout(blocks, total, 0, narrow)


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
