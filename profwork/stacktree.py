"""Collapsed stacks held as a prefix tree (a stack table): one node per distinct call path.

Each node has a parent, a frame number (frames are interned once) and a weight; a stack is the
path from the root to a node. As the Firefox profiler, pprof and speedscope store stacks, the
cost grows with the number of distinct call-tree nodes, not with stacks × depth: a 50,000-deep
chain is 50,000 nodes, where the same stacks as tuples hold 1.25 billion frame references.

`StackTree` is a `Mapping[Stack, float]`, so it stands wherever collapsed stacks do
(`Profile.stacks`): its entries are the stacks given a weight (in the order they were first
given one, as a dict keeps them), each materialised as a tuple only when asked for. The views a
profile of deep stacks needs (own time, the heaviest paths, thread roots) are computed in one
pass over the nodes here instead (`model.StackTable`, the contract `Profile` reads them by).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView

from profwork.model import Frame, Stack

ROOT = 0  # the empty stack


class StackTree(Mapping[Stack, float]):
    """A prefix tree of weighted stacks (see the module docstring)."""

    __slots__ = ("_children", "_number", "_order", "frames", "frame", "parent", "weight")

    def __init__(self, frames: Sequence[Frame] = ()) -> None:
        # Frames by number; `frames` may be given up front (the caller graph's functions).
        self.frames: list[Frame] = list(frames)
        self._number: dict[Frame, int] = {f: i for i, f in enumerate(self.frames)}
        self.parent: list[int] = [-1]
        self.frame: list[int] = [-1]
        # None: no entry for the node's stack (a path through it only); a float: its weight.
        self.weight: list[float | None] = [None]
        self._children: dict[tuple[int, int], int] = {}
        self._order: list[int] = []

    @classmethod
    def of(cls, stacks: Mapping[Stack, float]) -> StackTree:
        """The tree of collapsed stacks (the same tree when given one)."""
        if isinstance(stacks, StackTree):
            return stacks
        tree = cls()
        for stack, weight in stacks.items():
            tree.add(tree.node(stack), weight)
        return tree

    # ---- building ---------------------------------------------------------------------------

    def number(self, frame: Frame) -> int:
        """The frame's number, interning it on first sight."""
        number = self._number.get(frame)
        if number is None:
            number = self._number[frame] = len(self.frames)
            self.frames.append(frame)
        return number

    def child(self, node: int, frame: int) -> int:
        """The node for `node`'s stack followed by frame number `frame` (made when new)."""
        key = (node, frame)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = len(self.parent)
            self.parent.append(node)
            self.frame.append(frame)
            self.weight.append(None)
        return found

    def node(self, stack: Iterable[Frame], start: int = ROOT) -> int:
        """The node of `stack` below `start` (made when new)."""
        node = start
        for frame in stack:
            node = self.child(node, self.number(frame))
        return node

    def add(self, node: int, weight: float) -> None:
        """Add `weight` to the node's stack, making it an entry if it was not one."""
        known = self.weight[node]
        if known is None:
            self._order.append(node)
            self.weight[node] = weight
        else:
            self.weight[node] = known + weight

    def graft(self, other: StackTree, start: int = ROOT) -> None:
        """Add every entry of `other` below the node `start`, in `other`'s order."""
        mapped = [start] * len(other.parent)
        numbers = [self.number(frame) for frame in other.frames]
        for node in range(1, len(other.parent)):  # a parent is always made before its child
            mapped[node] = self.child(mapped[other.parent[node]], numbers[other.frame[node]])
        for node in other._order:
            weight = other.weight[node]
            assert weight is not None
            self.add(mapped[node], weight)

    # ---- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Stack]:
        return map(self.stack, self._order)

    def __getitem__(self, stack: Stack) -> float:
        node = ROOT
        for frame in stack:
            number = self._number.get(frame)
            found = None if number is None else self._children.get((node, number))
            if found is None:
                raise KeyError(stack)
            node = found
        weight = self.weight[node]
        if weight is None:
            raise KeyError(stack)
        return weight

    def items(self) -> ItemsView[Stack, float]:
        return _Items(self)

    def values(self) -> ValuesView[float]:
        return _Values(self)

    def __repr__(self) -> str:
        return f"<StackTree: {len(self._order)} stacks, {len(self.parent) - 1} nodes>"

    @property
    def nodes(self) -> int:
        """How many call-path nodes the tree has (the root not counted)."""
        return len(self.parent) - 1

    def entries(self) -> list[tuple[int, float]]:
        """(node, weight) of every entry, in order."""
        weights = self.weight
        return [(node, weights[node]) for node in self._order]  # type: ignore[misc]

    def stack(self, node: int) -> Stack:
        """The stack of a node, root first."""
        frames, parent, frame = self.frames, self.parent, self.frame
        out: list[Frame] = []
        while node > ROOT:
            out.append(frames[frame[node]])
            node = parent[node]
        out.reverse()
        return tuple(out)

    def subtree_weights(self) -> list[float]:
        """Each node's weight plus its descendants', in one pass (children come after parents)."""
        totals = [w or 0.0 for w in self.weight]
        parent = self.parent
        for node in range(len(totals) - 1, ROOT, -1):
            totals[parent[node]] += totals[node]
        return totals

    # ---- views (see the same names on Profile) ------------------------------------------------

    def deepest(self, keep: Callable[[Frame], bool]) -> dict[Frame, float]:
        """Each entry's weight added to the deepest frame of its stack that `keep` keeps (own
        time: the deepest user frame); stacks without one add nothing."""
        frames, parent, frame = self.frames, self.parent, self.frame
        user = [keep(f) for f in frames]
        deepest = [-1] * len(parent)  # the deepest user frame on each node's path, or -1
        for node in range(1, len(parent)):
            number = frame[node]
            deepest[node] = number if user[number] else deepest[parent[node]]
        out: dict[int, float] = {}
        for node in self._order:
            number = deepest[node]
            if number >= 0:
                out[number] = out.get(number, 0.0) + self.weight[node]  # type: ignore[operator]
        return {frames[number]: weight for number, weight in out.items()}

    def heaviest(self, n: int) -> list[tuple[Stack, float]]:
        """The n heaviest non-empty stacks, heaviest first (ties in entry order)."""
        entries = ((node, w) for node, w in self.entries() if node != ROOT)
        ranked = heapq.nlargest(n, entries, key=lambda item: item[1])
        return [(self.stack(node), weight) for node, weight in ranked]

    def root_weights(self) -> dict[Frame, float]:
        """The total weight under each first frame of a stack."""
        totals = self.subtree_weights()
        return {
            self.frames[self.frame[node]]: totals[node]
            for (parent, _), node in self._children.items()
            if parent == ROOT
        }


class _Items(ItemsView[Stack, float]):
    _mapping: StackTree

    def __iter__(self) -> Iterator[tuple[Stack, float]]:
        tree = self._mapping
        return ((tree.stack(node), weight) for node, weight in tree.entries())


class _Values(ValuesView[float]):
    _mapping: StackTree

    def __iter__(self) -> Iterator[float]:
        return (weight for _, weight in self._mapping.entries())
