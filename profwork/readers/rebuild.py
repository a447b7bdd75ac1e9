"""Call stacks rebuilt from an exact profile's caller graph (pstats records none).

The standard approach of pstats-to-flame-graph tools (DESIGN §1): each function's time is split
among its callees in proportion to their edges' times, a path stops at its first repeated
function, and paths below a stated minimum weight are merged into their caller. Only the stack
views (flame graph, folded, speedscope, heaviest paths) use these stacks; every per-function
figure stays the profiler's exact one.
"""

from __future__ import annotations

from collections.abc import Mapping

from profwork.model import Frame, FunctionStats
from profwork.stacktree import ROOT, StackTree


def rebuild_stacks(stats: Mapping[Frame, FunctionStats], min_weight: float) -> StackTree:
    """Stacks from the caller graph by proportional split (see `readers.pstats.read_pstats`).

    Paths start at the functions the profiler saw called with nothing of the profile below them
    (more calls than its callers account for, or no callers at all). Walking down, a callee gets
    its edge's cumulative time scaled by the share of the function's cumulative time the path
    carries, and a callee below `min_weight` is merged: its time stays with the path as self time.

    A callee already on the path is cut (no path repeats a function), but the time of that call
    is passed on to the repeated function's own callees that are not on the path yet, in
    proportion to their edges (what is left, its self time, stays with the caller). Without that,
    a function entered at two levels (a middleware wrapper around both the router and the
    endpoint) would leave everything below its inner call as its caller's self time.

    Each path's weights add up to its start's time, so the stacks add up to the starts' times,
    which `root_budgets` makes the total.

    The stacks are built as a prefix tree (`StackTree`): each step down a path is one tree node,
    so the work is linear in the number of call-path nodes, however deep (a path held as a tuple
    per stack would cost its depth again at every node: quadratic in a deep chain).
    """
    frames = list(stats)
    index = {frame: i for i, frame in enumerate(frames)}
    count = len(frames)
    cumulative = [max(stats[f].cumulative, 0.0) for f in frames]
    self_time = [max(stats[f].self, 0.0) for f in frames]
    callees: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    incoming = [0.0] * count
    root_calls = [stats[f].calls for f in frames]
    for j, frame in enumerate(frames):
        for caller, edge in stats[frame].callers.items():
            i = index[caller]
            root_calls[j] -= edge.calls
            if i != j and edge.cumulative > 0:
                callees[i].append((j, edge.cumulative))
                incoming[j] += edge.cumulative
    for children in callees:
        children.sort(key=lambda item: -item[1])
    total = sum(max(s.self, 0.0) for s in stats.values())
    budgets = root_budgets(
        [
            (i, cumulative[i], incoming[i])
            for i, frame in enumerate(frames)
            if root_calls[i] > 0 or not stats[frame].callers
        ],
        total,
    )

    noise = total * 1e-9
    tree = StackTree(frames)
    child, add = tree.child, tree.add
    path: list[int] = []  # the functions on the path
    nodes: list[int] = [ROOT]  # the tree node of each prefix of the path
    on_path: set[int] = set()
    for root, budget in budgets:
        if budget <= noise:
            continue
        todo: list[tuple[int, float] | None] = [(root, budget)]
        while todo:
            item = todo.pop()
            if item is None:
                on_path.discard(path.pop())
                nodes.pop()
                continue
            function, weight = item
            path.append(function)
            nodes.append(child(nodes[-1], function))
            on_path.add(function)
            todo.append(None)
            remainder = weight
            cum = cumulative[function]
            if cum > 0:
                fraction = weight / cum
                kept: list[tuple[int, float]] = []
                spent = 0.0
                for callee, edge_time in callees[function]:
                    share = edge_time * fraction
                    if share < min_weight:
                        continue
                    if callee not in on_path:
                        kept.append((callee, share))
                        spent += share
                        continue
                    inner = [(c, e) for c, e in callees[callee] if c not in on_path]
                    base = self_time[callee] + sum(e for _, e in inner)
                    for below, edge_below in inner:
                        passed = share * edge_below / base
                        if passed >= min_weight:
                            kept.append((below, passed))
                            spent += passed
                if spent > weight:  # overlapping recursive edges: never more than the path has
                    scale = weight / spent
                    kept = [(callee, share * scale) for callee, share in kept]
                    spent = weight
                remainder = weight - spent
                todo.extend(reversed(kept))
            if remainder > noise:
                add(nodes[-1], remainder)
    return tree


def root_budgets(
    candidates: list[tuple[int, float, float]], total: float
) -> list[tuple[int, float]]:
    """How much time each path start carries: (function, cumulative, time its callers account
    for) → (function, budget).

    A function called from the profile's bottom has at least the time its callers do not account
    for. Its recursive calls can hide the rest (an `exec` that imports modules which exec again:
    the inner calls' edges overlap the outer call's time), so the time still missing from the
    total is shared among the starts in proportion to what they could still take, never more
    than their cumulative time."""
    low = [max(cum - incoming, 0.0) for _, cum, incoming in candidates]
    slack = [max(cum - lo, 0.0) for (_, cum, _), lo in zip(candidates, low, strict=True)]
    missing = total - sum(low)
    room = sum(slack)
    if missing > 0 and room > 0:
        share = min(missing / room, 1.0)
        low = [lo + extra * share for lo, extra in zip(low, slack, strict=True)]
    return [(i, lo) for (i, _, _), lo in zip(candidates, low, strict=True)]
