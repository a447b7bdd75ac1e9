"""The flame graph's views laid out from a call tree (`flame_views` says what each view is).

Every view is drawn from one node table — one node per distinct call path: its parent, its
frame, its own (self) weight — rather than from tuples of frames walked again per view:

- **forward** (the call tree, a merged view's callees): a block is a set of nodes with one frame;
  its children are their children grouped by frame, each weighing its nodes' subtree weights;
- **backward** (the inverted view, a merged view's callers): a block holds weighted states, each
  a node to be shown next; its children are those states moved to their parents, grouped by
  frame. Equal states merge, so paths that join are walked once.

Both visit only blocks at least `min_share` of their view's total wide (the narrow children of a
block become one `[N narrow frames]` block when that is wide enough), so the work is bounded by
the blocks drawn, plus one pass over the nodes for the subtree weights and the collapsing.

**Collapsing** (pyinstrument's rule): a library frame whose caller is of the same package
*continues* a run; the run keeps its first frame, and the frames continuing it become one marker
`N frames hidden (package)` (N distinct functions, counted exactly from the nodes it hides),
below which the code the run calls continues. A node continues a run or not by its own path
alone, so the rule is one flag per node, applied by the walks as they go: no second tree.

The node table comes from a `StackTree` (`Profile.stacks` when a reader built one), read only
through its public `frames`, `parent`, `frame` and `entries()`; from the profile's numbered
stacks (`Profile.numbered_stacks`) otherwise; or from a thinned layout (a big profile).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress

from profwork.model import Frame, FrameKind, NumberedStacks
from profwork.renderers.flame_layout import (
    HIDDEN_LINE,
    NARROW,
    ViewBlock,
    ViewLayout,
    package,
    sibling_order,
)

ROOT = 0  # node 0 is the empty stack; every other node's parent has a smaller number


@dataclass
class NodeTable:
    """A call tree: `parent[n] < n` (the root, node 0, has -1), `frame[n]` indexes `frames`,
    `own[n]` is the weight of the stacks ending at node n (nothing at or below zero)."""

    frames: Sequence[Frame]
    parent: Sequence[int]
    frame: Sequence[int]
    own: list[float]
    entries: int  # stacks that weigh something
    # derived once, by `prepare` (children: those that weigh something, when not given)
    sub: list[float] = field(default_factory=list)
    children: list[list[int]] = field(default_factory=list)

    @classmethod
    def of_tree(
        cls,
        frames: Sequence[Frame],
        parent: Sequence[int],
        frame: Sequence[int],
        entries: Iterable[tuple[int, float]],
    ) -> NodeTable:
        """From a stack tree's node arrays and its (node, weight) entries."""
        own = [0.0] * len(parent)
        count = 0
        for node, weight in entries:
            if weight > 0:
                own[node] += weight
                count += 1
        return cls(frames, parent, frame, own, count)

    @classmethod
    def of_numbered(cls, numbered: NumberedStacks) -> NodeTable:
        """From numbered stacks, level by level: a node per distinct (parent, frame) pair."""
        seqs = [numbers for numbers, _lead, weight in numbered.stacks if weight > 0]
        weights = [float(weight) for _numbers, _lead, weight in numbered.stacks if weight > 0]
        parent, frame = [-1], [-1]
        children: list[list[int]] = [[]]
        at = [ROOT] * len(seqs)
        index: dict[tuple[int, int], int] = {}
        live = [i for i, s in enumerate(seqs) if s]
        depth = 0
        while live:
            for i in live:
                key = (at[i], seqs[i][depth])
                node = index.get(key)
                if node is None:
                    node = index[key] = len(parent)
                    parent.append(key[0])
                    frame.append(key[1])
                    children.append([])
                    children[key[0]].append(node)
                at[i] = node
            depth += 1
            live = [i for i in live if len(seqs[i]) > depth]
        own = [0.0] * len(parent)
        for node, weight in zip(at, weights, strict=True):
            own[node] += weight
        return cls(numbered.frames, parent, frame, own, len(seqs), children=children)

    @classmethod
    def of_layout(cls, drawn: ViewLayout) -> NodeTable:
        """From a layout's blocks (a big profile thinned): each block a node, merged narrow
        frames a `[narrow frames]` node, each node's own weight what its children do not cover."""
        frames: list[Frame] = []
        number: dict[Frame, int] = {}
        parent, frame, own, weight = [-1], [-1], [0.0], [0.0]
        path: list[tuple[int, int]] = []  # (node, depth) from the root to the last block
        for block in sorted(drawn.blocks, key=lambda b: (b.start, b.depth)):
            if block.depth == 0:
                own[ROOT] = weight[ROOT] = block.weight
                path = [(ROOT, 0)]
                continue
            while path and path[-1][1] >= block.depth:
                path.pop()
            f = block.frame or NARROW
            known = number.get(f)
            if known is None:
                known = number[f] = len(frames)
                frames.append(f)
            node = len(parent)
            up = path[-1][0] if path else ROOT
            parent.append(up)
            frame.append(known)
            own.append(block.weight)
            weight.append(block.weight)
            own[up] -= block.weight
            path.append((node, block.depth))
        # what is left of a block after its children is its own, unless it is rounding
        own = [o if o > 1e-9 * w else 0.0 for o, w in zip(own, weight, strict=True)]
        return cls(frames, parent, frame, own, sum(1 for o in own if o > 0))

    def prepare(self) -> None:
        """Each node's subtree weight, and the children that weigh something: a pass each."""
        parent = self.parent
        sub = list(self.own)
        for node in range(len(sub) - 1, ROOT, -1):
            sub[parent[node]] += sub[node]
        self.sub = sub
        if not self.children:
            children: list[list[int]] = [[] for _ in sub]
            for node in range(1, len(sub)):
                if sub[node] > 0:
                    children[parent[node]].append(node)
            self.children = children


class Walker:
    """The views of one node table: `forward` and `backward` walks, collapsed or not."""

    def __init__(self, table: NodeTable) -> None:
        table.prepare()
        self.t = table
        frames = table.frames
        # the package of each library frame the nodes use (the unit of collapsing), looked up
        # once per file
        by_file: dict[tuple[str, FrameKind], str] = {}
        pkf: dict[int, str] = {}
        library = (FrameKind.THIRD_PARTY, FrameKind.STDLIB)
        for number in set(table.frame):
            if number < 0:
                continue
            f = frames[number]
            kind = f.kind
            if kind in library:
                key = (f.file, kind)
                name = by_file.get(key) if f.file else None
                if name is None:
                    name = by_file[key] = package(f)
                if name:
                    pkf[number] = name
        # a marker per package, numbered after the frames
        self.frames: list[Frame] = list(frames)
        self.marker_of: dict[str, int] = {}
        for number in sorted(pkf):
            name = pkf[number]
            if name not in self.marker_of:
                self.marker_of[name] = len(self.frames)
                marker = Frame(f"frames hidden ({name})", "", HIDDEN_LINE, frames[number].kind)
                self.frames.append(marker)
        # per node: its package, whether it continues its caller's run (its caller is of the
        # same package: never a stack's first frame, whose caller is the root, of package ""),
        # and for those, the run's first node
        parent, n = table.parent, len(table.parent)
        if pkf:
            pk = [pkf.get(f, "") for f in table.frame]
            cont = [bool(name) and name == pk[up] for name, up in zip(pk, parent, strict=True)]
            cont[ROOT] = False
        else:  # no library frame: nothing to collapse
            pk, cont = [""] * n, [False] * n
        start = [0] * n
        for node in compress(range(n), cont):
            up = parent[node]
            start[node] = start[up] if cont[up] else up
        self.pk, self.cont, self.start = pk, cont, start
        self.collapsible = True in cont
        self._orders: dict[int, tuple[bool, str, str, int, str]] = {}

    def _order(self, key: int) -> tuple[bool, str, str, int, str]:
        """The order of a frame's blocks among its siblings (by number, computed once)."""
        found = self._orders.get(key)
        if found is None:
            found = self._orders[key] = sibling_order(self.frames[key])
        return found

    @property
    def total(self) -> float:
        return self.t.sub[ROOT] if self.t.sub else 0.0

    # ---- naming markers ------------------------------------------------------------------

    def _marker(self, key: int, hidden: set[int]) -> Frame:
        marker = self.frames[key]
        name = marker.function.rsplit("(", 1)[-1].rstrip(")")
        count = max(1, len(hidden))
        label = f"{count:,} frame{'' if count == 1 else 's'} hidden ({name})"
        return Frame(label, "", HIDDEN_LINE, marker.kind)

    # ---- forward: the call tree, a merged view's callees ----------------------------------

    def forward(self, starts: list[int] | None, collapse: bool, min_share: float) -> ViewLayout:
        """The call tree below the root (`starts` None) or below the nodes `starts` (one
        function's outermost calls, drawn as one block at depth 1, never hidden)."""
        t, cont, pk, frame = self.t, self.cont, self.pk, self.t.frame
        sub, children, marker_of = t.sub, t.children, self.marker_of
        collapse = collapse and self.collapsible
        if starts is None:
            weight, kids, depth = sub[ROOT], list(children[ROOT]), 0
        else:
            weight = sum(sub[s] for s in starts)
            kids, depth = [c for s in starts for c in children[s]], 1
        if weight <= 0:
            return ViewLayout([], 0.0, 0, 0)
        threshold = weight * min_share
        blocks = [ViewBlock(0, 0.0, weight, None)]
        if starts is not None:
            blocks.append(ViewBlock(1, 0.0, weight, self.frames[frame[starts[0]]]))
        narrow = markers = 0
        todo: list[tuple[list[int], int, float]] = [(kids, depth, 0.0)]
        while todo:
            kids, depth, x = todo.pop()
            while len(kids) == 1 and not (collapse and cont[kids[0]]):  # a chain of one callee
                c = kids[0]
                if sub[c] < threshold:
                    narrow += 1
                    kids = []
                    break
                depth += 1
                blocks.append(ViewBlock(depth, x, sub[c], self.frames[frame[c]]))
                kids = children[c]
            if not kids:
                continue
            groups: dict[int, list[int]] = {}
            for c in kids:
                key = marker_of[pk[c]] if collapse and cont[c] else frame[c]
                found = groups.get(key)
                if found is None:
                    groups[key] = [c]
                else:
                    found.append(c)
            wide: list[tuple[Frame, int, float, list[int]]] = []
            thin = 0.0
            for key, members in groups.items():
                w = sum(sub[m] for m in members) if len(members) > 1 else sub[members[0]]
                if w >= threshold:
                    wide.append((self.frames[key], key, w, members))
                else:
                    thin += w
            wide.sort(key=lambda item: self._order(item[1]))
            for f, key, w, members in wide:
                if collapse and cont[members[0]]:
                    # a marker: the runs' hidden nodes, and what they call that is not hidden
                    hidden: set[int] = set()
                    below: list[int] = []
                    run = list(members)
                    while run:
                        m = run.pop()
                        hidden.add(frame[m])
                        for c in children[m]:
                            (run if cont[c] else below).append(c)
                    f = self._marker(key, hidden)
                    markers += 1
                    todo.append((below, depth + 1, x))
                else:
                    todo.append(([c for m in members for c in children[m]], depth + 1, x))
                blocks.append(ViewBlock(depth + 1, x, w, f))
                x += w
            narrow += _narrow(blocks, depth + 1, x, len(groups) - len(wide), thin, threshold)
        blocks.sort(key=lambda b: (b.depth, b.start))
        return ViewLayout(blocks, weight, markers, narrow)

    # ---- backward: the inverted view, a merged view's callers -----------------------------

    def inverted(self, collapse: bool, min_share: float) -> ViewLayout:
        collapse = collapse and self.collapsible
        cont, own = self.cont, self.t.own
        states = {
            (~node if collapse and cont[node] else node): w
            for node, w in enumerate(own)
            if w > 0 and node != ROOT
        }
        return self.backward(states, collapse, min_share, self.total)

    def callers(self, starts: list[int], collapse: bool, min_share: float) -> ViewLayout:
        """Who called the nodes `starts` (one function's outermost calls), each weighing its
        subtree, the function first (never hidden)."""
        sub = self.t.sub
        return self.backward({s: sub[s] for s in starts}, collapse, min_share)

    def backward(
        self, states: dict[int, float], collapse: bool, min_share: float, total: float = 0.0
    ) -> ViewLayout:
        """Paths read from their end to the root, weighing `total` (at least their weights).
        A state is a node shown next (n >= 0) or a marker (~n: n the deepest hidden node of a
        run on the path, whose first node comes after the marker)."""
        cont, pk, frame, parent = self.cont, self.pk, self.t.frame, self.t.parent
        marker_of, frames = self.marker_of, self.frames
        collapse = collapse and self.collapsible
        weight = max(total, sum(states.values()))
        if weight <= 0:
            return ViewLayout([], 0.0, 0, 0)
        threshold = weight * min_share
        blocks = [ViewBlock(0, 0.0, weight, None)]
        narrow = markers = 0
        todo: list[tuple[dict[int, float], int, float]] = [(states, 0, 0.0)]
        while todo:
            states, depth, x = todo.pop()
            if len(states) == 1:  # one path on its own: its blocks, one after another
                ((s, w),) = states.items()
                if w < threshold:
                    narrow += 1
                    continue
                while True:
                    depth += 1
                    if s < 0:
                        hidden: set[int] = set()
                        nxt: int | None = self._run(~s, hidden)
                        blocks.append(
                            ViewBlock(depth, x, w, self._marker(marker_of[pk[~s]], hidden))
                        )
                        markers += 1
                    else:
                        blocks.append(ViewBlock(depth, x, w, frames[frame[s]]))
                        up = parent[s]
                        nxt = None if up <= ROOT else (~up if collapse and cont[up] else up)
                    if nxt is None:
                        break
                    s = nxt
                continue
            groups: dict[int, dict[int, float]] = {}
            for s, w in states.items():
                key = frame[s] if s >= 0 else marker_of[pk[~s]]
                found = groups.get(key)
                if found is None:
                    groups[key] = {s: w}
                else:
                    found[s] = w
            wide: list[tuple[Frame, int, float, dict[int, float]]] = []
            thin = 0.0
            for key, members in groups.items():
                w = sum(members.values())
                if w >= threshold:
                    wide.append((frames[key], key, w, members))
                else:
                    thin += w
            wide.sort(key=lambda item: self._order(item[1]))
            for f, key, w, members in wide:
                following: dict[int, float] = {}
                hidden = set()
                for s, sw in members.items():
                    if s < 0:  # a marker: next, the run's first node
                        after = self._run(~s, hidden)
                    else:
                        up = parent[s]
                        if up <= ROOT:
                            continue  # the path ends here
                        after = ~up if collapse and cont[up] else up
                    following[after] = following.get(after, 0.0) + sw
                if hidden:
                    f = self._marker(key, hidden)
                    markers += 1
                blocks.append(ViewBlock(depth + 1, x, w, f))
                if following:
                    todo.append((following, depth + 1, x))
                x += w
            narrow += _narrow(blocks, depth + 1, x, len(groups) - len(wide), thin, threshold)
        blocks.sort(key=lambda b: (b.depth, b.start))
        return ViewLayout(blocks, weight, markers, narrow)

    def _run(self, node: int, hidden: set[int]) -> int:
        """The first node of the run that hidden `node` belongs to; the functions hidden on
        the way up to it are added to `hidden`."""
        frame, parent, first = self.t.frame, self.t.parent, self.start[node]
        while node != first:
            hidden.add(frame[node])
            node = parent[node]
        return first

    # ---- merged views ----------------------------------------------------------------------

    def calls(self, numbers: set[int]) -> dict[int, list[int]]:
        """For each frame number, the nodes of its calls (that weigh something), in order."""
        frame, sub = self.t.frame, self.t.sub
        found: dict[int, list[int]] = {n: [] for n in numbers}
        for node in [n for n, number in enumerate(frame) if number in numbers]:
            if sub[node] > 0:
                found[frame[node]].append(node)
        return found

    def outermost(self, number: int, calls: list[int]) -> list[int]:
        """The outermost of a function's calls: those with no call of it above them."""
        frame, parent = self.t.frame, self.t.parent
        out = []
        for node in calls:
            up = parent[node]
            while up > ROOT and frame[up] != number:
                up = parent[up]
            if up <= ROOT:
                out.append(node)
        return out


def _narrow(
    blocks: list[ViewBlock], depth: int, x: float, count: int, thin: float, threshold: float
) -> int:
    """The `count` children of a block too narrow to draw: one `[N narrow frames]` block at
    `depth` when together they are wide enough. Returns how many were merged."""
    if count and thin >= threshold:
        blocks.append(ViewBlock(depth, x, thin, None, count))
    return count
