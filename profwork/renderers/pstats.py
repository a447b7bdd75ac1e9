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
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    selfs: dict[Frame, float] = defaultdict(float)
    cums: dict[Frame, float] = defaultdict(float)
    distinct: dict[Frame, int] = defaultdict(int)
    edge_self: dict[tuple[Frame, Frame], float] = defaultdict(float)
    edge_cum: dict[tuple[Frame, Frame], float] = defaultdict(float)
    edge_distinct: dict[tuple[Frame, Frame], int] = defaultdict(int)
    for stack, weight in profile.stacks.items():
        real = [frame for frame in stack if not frame.is_pseudo]
        if not real:
            continue
        selfs[real[-1]] += weight
        for frame in set(real):
            cums[frame] += weight
            distinct[frame] += 1
        pairs = set(zip(real, real[1:], strict=False))
        for pair in pairs:
            edge_cum[pair] += weight
            edge_distinct[pair] += 1
        if len(real) > 1:
            edge_self[(real[-2], real[-1])] += weight

    count = _counter(profile)
    out: dict[Key, Any] = {}
    callers_of: dict[Key, dict[Key, EdgeValue]] = defaultdict(dict)
    for (caller, callee), cum in edge_cum.items():
        calls = count(cum, edge_distinct[(caller, callee)])
        value = (calls, calls, edge_self.get((caller, callee), 0.0), cum)
        callee_key, caller_key = frame_key(callee), frame_key(caller)
        known = callers_of[callee_key]
        known[caller_key] = _add(known[caller_key], value) if caller_key in known else value
    for frame, cum in cums.items():
        key = frame_key(frame)
        calls = count(cum, distinct[frame])
        if key in out:
            cc, nc, tt, ct, callers = out[key]
            out[key] = (cc + calls, nc + calls, tt + selfs.get(frame, 0.0), ct + cum, callers)
        else:
            out[key] = (calls, calls, selfs.get(frame, 0.0), cum, callers_of.get(key, {}))
    return out


def _counter(profile: Profile) -> Callable[[float, int], int]:
    """Call counts for a sampled profile: samples, never fewer than one."""
    rate = profile.metadata.get("rate")
    if profile.unit == "samples":
        return lambda weight, stacks: max(1, round(weight))
    if (
        profile.unit == "seconds"
        and isinstance(rate, int | float)
        and not isinstance(rate, bool)
        and rate > 0
    ):
        hertz = float(rate)
        return lambda weight, stacks: max(1, round(weight * hertz))
    return lambda weight, stacks: max(1, stacks)


RENDERER = PstatsRenderer()
