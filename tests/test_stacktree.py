"""Stacks held as a prefix tree (`profwork.stacktree`, issue 22): the same views as before, in time
linear in the call-tree's nodes.

- Every view of the committed test profiles is exactly what the code before the tree gave
  (tests/data/golden-views.json, from `tests/golden_views.py`).
- The pstats rebuild gives exactly the stacks, in the same order, that the rebuild holding a
  tuple per path gave (kept below as the reference), on real cProfile recordings with recursion,
  mutual recursion and shared callees.
- A deep chain rebuilds into one node per function, and a cycle is cut at its first repeat.
- The stack rules (thread roots, the trim above the body) give the same stacks on a tree as on
  tuples.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest

from profwork import readers, runner
from profwork.model import Frame, FrameKind, FunctionStats, Stack
from profwork.readers.rebuild import rebuild_stacks, root_budgets
from profwork.stacks import finish
from profwork.stacktree import StackTree
from tests.fixtures_profiles import DATA
from tests.golden_views import PROFILES, views

GOLDEN = json.loads((DATA / "golden-views.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", PROFILES)
def test_every_view_of_a_committed_profile_is_what_it_was_before_the_tree(name: str) -> None:
    assert views(readers.read(DATA / name)) == GOLDEN[name]


def test_a_pstats_profile_holds_its_rebuilt_stacks_as_a_tree() -> None:
    profile = readers.read(DATA / "cprofile.pstats")

    assert isinstance(profile.stacks, StackTree)
    # still a mapping of stacks to weights, as every caller of `Profile.stacks` reads it
    stack, weight = next(iter(profile.stacks.items()))
    assert profile.stacks[stack] == weight
    assert dict(profile.stacks) == dict(profile.stacks.items())
    assert sum(profile.stacks.values()) == profile.stack_total


# ---- the rebuild, against the rebuild that held a tuple per path ---------------------------------


def tuple_rebuild(stats: Mapping[Frame, FunctionStats], min_weight: float) -> dict[Stack, float]:
    """The rebuild as it was before the tree (quadratic in depth: a tuple per path node)."""
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
    out: dict[tuple[int, ...], float] = defaultdict(float)
    path: list[int] = []
    on_path: set[int] = set()
    for root, budget in budgets:
        if budget <= noise:
            continue
        todo: list[tuple[int, float] | None] = [(root, budget)]
        while todo:
            item = todo.pop()
            if item is None:
                on_path.discard(path.pop())
                continue
            function, weight = item
            path.append(function)
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
                out[tuple(path)] += remainder
    return {tuple(frames[i] for i in key): weight for key, weight in out.items()}


RECORD = """
import cProfile, sys, threading
sys.path.insert(0, {directory!r})
import {module} as work
sys.setrecursionlimit(200_000)
threading.stack_size(256 * 1024 * 1024)  # a deep chain's Python frames


def record():
    profiler = cProfile.Profile()
    profiler.enable()
    work.main()
    profiler.disable()
    profiler.dump_stats({out!r})


thread = threading.Thread(target=record)
thread.start()
thread.join()
"""


def record(tmp_path: Path, name: str, source: str) -> Path:
    """A real cProfile recording of `main()` in the module `source` (in its own process)."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    out = tmp_path / f"{name}.pstats"
    script = RECORD.format(directory=str(tmp_path), module=name, out=str(out))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    return out


BRANCHY = """
def leaf(n):
    return sum(range(n))

def shared(n):  # called from two places: a diamond
    return leaf(n) + leaf(n // 2)

def ping(n):  # mutual recursion: ping → pong → ping …
    return shared(n) if n <= 0 else pong(n - 1) + leaf(50)

def pong(n):
    return ping(n - 1) + shared(30)

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def wrap(f, *args):  # entered at two levels, as a middleware around router and endpoint
    return f(*args)

def main():
    for i in range(40):
        wrap(ping, 12 + i % 5)
        wrap(wrap, fib, 12)
        shared(300)
"""


def chain(depth: int) -> str:
    """Functions f0 → f1 → … → f{depth-1}, each distinct, the last one doing the work."""
    calls = "".join(f"def f{i}():\n    return f{i + 1}() + 1\n\n" for i in range(depth - 1))
    return calls + f"def f{depth - 1}():\n    return sum(range(3000))\n\ndef main():\n    f0()\n"


def test_the_tree_rebuild_gives_the_stacks_the_tuple_rebuild_gave(tmp_path: Path) -> None:
    # GIVEN real recordings with recursion, mutual recursion, a diamond and a deep chain,
    # and the committed ones (cProfile's and the `profile` module's)
    files = [
        record(tmp_path, "branchy", BRANCHY),
        record(tmp_path, "chain300", chain(300)),
        DATA / "cprofile.pstats",
        DATA / "profile-module.pstats",
    ]
    for path in files:
        stats = readers.read_pstats(path).stats
        assert stats is not None
        graph = dict(stats)
        for min_weight in (0.0, sum(s.self for s in stats.values()) / 20000):
            # WHEN both rebuild the stacks
            tree = rebuild_stacks(graph, min_weight)
            # THEN the stacks, their weights and their order are the same, to the last bit
            assert list(tree.items()) == list(tuple_rebuild(graph, min_weight).items()), path
            # and the tree has no node that is not on a stack's path
            assert tree.nodes <= sum(len(stack) for stack in tree)


def test_a_deep_chain_rebuilds_into_one_node_per_function(tmp_path: Path) -> None:
    depth = 10_000
    profile = readers.read_pstats(record(tmp_path, "deep", chain(depth)))

    tree = profile.stacks
    assert isinstance(tree, StackTree)
    # one path: main, every function below its caller once, and the builtin sum, nothing else
    assert tree.nodes == depth + 2
    deepest = max(tree, key=len)
    chained = ["main", *(f"f{i}" for i in range(depth)), "<built-in method builtins.sum>"]
    assert [frame.function for frame in deepest] == chained
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-9)
    # the views read the tree and give what they give on tuples: the heaviest path, and own
    # time at the deepest user function of each stack (the builtin's at the last one)
    heaviest = max(tree.items(), key=lambda item: item[1])
    assert profile.heaviest_paths(1) == [heaviest]
    own: dict[Frame, float] = defaultdict(float)
    for stack, weight in tree.items():
        own[stack[-2] if stack[-1].kind is FrameKind.NATIVE else stack[-1]] += weight
    assert profile.own_times() == own


def test_a_cycle_is_cut_at_its_first_repeat_and_keeps_its_time(tmp_path: Path) -> None:
    profile = readers.read_pstats(record(tmp_path, "branchy", BRANCHY))

    names = {f.function: f for f in profile.stats or {}}
    for stack in profile.stacks:
        assert len(set(stack)) == len(stack), [f.function for f in stack]
    # ping and pong meet on one path (ping → pong, and the time of pong's calls to ping goes on
    # to ping's other callees), and no time is lost in the cut
    assert any(names["ping"] in stack and names["pong"] in stack for stack in profile.stacks)
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-9)


# ---- the stack rules on a tree ---------------------------------------------------------------


def _body_caller() -> Frame:
    code = runner.BODY_CALLERS[0].__code__
    return Frame(code.co_qualname, code.co_filename, code.co_firstlineno, FrameKind.PROFWORK)


def _random_stacks(seed: int) -> dict[Stack, float]:
    """Stacks mixing thread and process roots (a thread seen with and without its name),
    profwork's frames around the body caller, and the target's own code."""
    rng = random.Random(seed)
    ours = [Frame(f"pw{i}", "/x/profwork/cli.py", i, FrameKind.PROFWORK) for i in range(3)]
    pool = [*ours, _body_caller(), *(Frame(f"u{i}", "/app/a.py", i) for i in range(6))]
    roots = [
        Frame("process 1", "", 0, FrameKind.PROCESS),
        Frame("thread (7)", "", 0, FrameKind.THREAD),
        Frame("thread (7): MainThread", "", 0, FrameKind.THREAD),
        Frame("thread (9): worker", "", 0, FrameKind.THREAD),
    ]
    stacks: dict[Stack, float] = defaultdict(float)
    for _ in range(300):
        lead = tuple(rng.sample(roots[rng.randrange(2) :], rng.randrange(3)))
        lead = tuple(sorted(lead, key=lambda f: f.kind is FrameKind.THREAD))  # process first
        body = tuple(rng.choice(pool) for _ in range(rng.randrange(7)))
        stacks[lead + body] += rng.choice((1.0, 2.0, 0.25))
    return dict(stacks)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("threads", [None, False, True])
def test_the_stack_rules_give_the_same_stacks_on_a_tree(seed: int, threads: bool | None) -> None:
    stacks = _random_stacks(seed)
    on_tuples = finish(stacks, threads=threads)
    on_tree = finish(StackTree.of(stacks), threads=threads)

    assert isinstance(on_tree, StackTree)
    assert list(on_tree.items()) == list(on_tuples.items())


def test_root_budgets_are_unchanged_by_the_tree() -> None:
    # the budgets are shared code: a start with no callers carries its cumulative time
    assert root_budgets([(0, 2.0, 0.0), (1, 1.0, 1.0)], 2.0) == [(0, 2.0), (1, 0.0)]
