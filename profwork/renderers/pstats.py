"""`profile.pstats`: the marshalled statistics dict of the stdlib's `pstats` module.

Spec: what `cProfile.Profile.snapshot_stats` builds and `pstats.Stats.dump_stats` marshals
(CPython Lib/cProfile.py, Lib/pstats.py): `{(file, line, name): (primitive calls, calls, self
time, cumulative time, {caller key: (calls, primitive calls, self time, cumulative time)})}`.
Built-in functions are keyed `("~", 0, "<built-in method NAME>")`, as cProfile keys them.
Loadable by `pstats.Stats` and by snakeviz, which needs every caller to be a key too.

An exact profile (cProfile) is written with its own numbers. A sampled one is derived from its
stacks: self and cumulative time (recursion counted once per stack), caller edges from adjacent
frames, and call counts that are sample counts (the weight times the rate when the rate is known,
the weight itself for a count of samples, else the number of distinct stacks), never 0 and never
-1 (pyinstrument's -1 breaks tools that divide by it). Thread and process pseudo-frames are not
functions: they are left out, with their edges. An empty profile gets one placeholder entry,
since `pstats.Stats` refuses an empty dict.
"""

from __future__ import annotations

import marshal
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import groupby, repeat
from operator import lshift, or_
from typing import TYPE_CHECKING, Any

from profwork.flatstacks import stack_table
from profwork.model import Frame, FrameKind, Profile

if TYPE_CHECKING:
    from profwork.analyses import Summary

Key = tuple[str, int, str]
EdgeValue = tuple[int, int, float, float]

# What the reader drops again; see `profwork.readers.EMPTY_PSTATS_KEY`.
EMPTY_KEY: Key = ("~", 0, "<empty profile>")
_LOCATIONLESS = frozenset({"", "~", "<built-in>", "<native>"})


def frame_key(frame: Frame) -> Key:
    """The pstats key of a frame: `(file, line, name)`, cProfile's `("~", 0, "<...>")` for
    built-ins."""
    if frame.kind is FrameKind.NATIVE and frame.file in _LOCATIONLESS:
        name = frame.function
        if not (name.startswith("<") and name.endswith(">")):
            name = f"<built-in method {name}>"
        return ("~", 0, name)
    return (frame.file, frame.line, frame.function)


class PstatsRenderer:
    name = "pstats"
    filename = "profile.pstats"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        stats = _from_stats(profile) if profile.stats is not None else _from_stacks(profile)
        if not stats:
            stats = {EMPTY_KEY: (1, 1, 0.0, 0.0, {})}
        return marshal.dumps(stats)


def _from_stats(profile: Profile) -> dict[Key, Any]:
    assert profile.stats is not None
    entries: dict[Key, list[Any]] = {}
    for frame, s in profile.stats.items():
        if frame.is_pseudo:
            continue
        key = frame_key(frame)
        callers: dict[Key, EdgeValue] = {}
        for caller, edge in s.callers.items():
            if caller.is_pseudo or caller not in profile.stats:
                continue
            value = (edge.calls, edge.primitive_calls, edge.self, edge.cumulative)
            caller_key = frame_key(caller)
            if caller_key in callers:
                value = _add(callers[caller_key], value)
            callers[caller_key] = value
        entry = [s.primitive_calls, s.calls, s.self, s.cumulative, callers]
        if key in entries:  # two frames with one key (a built-in spelt two ways): add them up
            old = entries[key]
            for index in range(4):
                old[index] += entry[index]
            for caller_key, value in callers.items():
                old[4][caller_key] = (
                    _add(old[4][caller_key], value) if caller_key in old[4] else value
                )
        else:
            entries[key] = entry
    return {key: tuple(entry) for key, entry in entries.items()}


def _add(a: EdgeValue, b: EdgeValue) -> EdgeValue:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def _from_stacks(profile: Profile) -> dict[Key, Any]:
    # Self and cumulative time are the model's own views (cached: the analyses computed them
    # already). Edges are counted here on frame numbers, from the stack table: once per distinct
    # body (the stack below its thread and process roots), since pairs of frames hash slowly
    # and a long recording has millions of them.
    cums = profile.cumulative()
    selfs = profile.self_times()
    count, per_stack = _counter(profile)
    table = stack_table(profile)
    frames = table.frames
    shift = max(len(frames), 1).bit_length()
    # An edge (caller, callee) is the number `caller << shift | callee`, counted once per stack
    # (recursion), stacks grouped by weight as they always were, so the sums are the same.
    # each body's last edge (-1: none), then the weights of the stacks ending in each edge
    # added up in the profile's order (a stable sort, in C, rather than a loop over stacks)
    last = [ids[-2] << shift | ids[-1] if len(ids) >= 2 else -1 for ids in table.bodies]
    ends = list(map(last.__getitem__, table.body))
    weigh = table.weight.__getitem__
    edge_self: dict[int, float] = {
        pair: sum(map(weigh, entries))
        for pair, entries in groupby(
            sorted(range(len(ends)), key=ends.__getitem__), ends.__getitem__
        )
        if pair >= 0
    }

    def edges_of(ids: tuple[int, ...]) -> set[int]:
        return set(map(or_, map(lshift, ids, repeat(shift)), ids[1:]))

    edge_cum = table.weighted_counts(edges_of, empty=True)
    edge_stacks: Counter[int] = table.stack_counts(edges_of) if per_stack else Counter()
    frame_stacks: Counter[int] = table.stack_counts(set) if per_stack else Counter()

    keys = [frame_key(frame) for frame in frames]
    mask = (1 << shift) - 1
    callers_of: dict[Key, dict[Key, EdgeValue]] = defaultdict(dict)
    for pair, cum in edge_cum.items():
        calls = count(cum, edge_stacks.get(pair, 0))
        value = (calls, calls, edge_self.get(pair, 0.0), cum)
        known = callers_of[keys[pair & mask]]
        caller_key = keys[pair >> shift]
        known[caller_key] = _add(known[caller_key], value) if caller_key in known else value
    out: dict[Key, Any] = {}
    for number, frame in enumerate(frames):
        if frame.is_pseudo or frame not in cums:
            continue
        key, cum = keys[number], cums[frame]
        calls = count(cum, frame_stacks.get(number, 0))
        if key in out:  # two frames with one key (a built-in spelt two ways): add them up
            cc, nc, tt, ct, callers = out[key]
            out[key] = (cc + calls, nc + calls, tt + selfs.get(frame, 0.0), ct + cum, callers)
        else:
            out[key] = (calls, calls, selfs.get(frame, 0.0), cum, callers_of.get(key, {}))
    return out


def _counter(profile: Profile) -> tuple[Callable[[float, int], int], bool]:
    """Call counts for a sampled profile: its samples, never fewer than one; without a rate, the
    number of distinct stacks holding the function (or edge). And whether those are needed."""
    rate = profile.metadata.get("rate")
    if profile.unit == "samples":
        return (lambda weight, stacks: max(1, round(weight))), False
    if (
        profile.unit == "seconds"
        and isinstance(rate, int | float)
        and not isinstance(rate, bool)
        and rate > 0
    ):
        hertz = float(rate)
        return (lambda weight, stacks: max(1, round(weight * hertz))), False
    return (lambda weight, stacks: max(1, stacks)), True


RENDERER = PstatsRenderer()
