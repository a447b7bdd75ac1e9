"""pstats: the marshalled dict cProfile, `pstats.Stats.dump_stats` and the pure-Python `profile`
module write.

Spec: CPython Lib/pstats.py and Lib/cProfile.py (`snapshot_stats`): `{(file, line, name):
(primitive calls, calls, self time, cumulative time, {caller key: (calls, primitive calls, self,
cumulative)})}` in seconds; the `profile` module stores a call count per caller instead of the
4-tuple. The exact statistics drive every per-function number; stacks are rebuilt from the
caller graph (`profwork.readers.rebuild`) for the stack views only. The bytes are checked
before `marshal` sees them (`profwork.readers.marshal_check`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from profwork import stacks as stack_rules
from profwork.frames import Classifier, default_classifier, native_name, qualname
from profwork.model import EdgeStats, Frame, FrameKind, FunctionStats, Profile
from profwork.readers.rebuild import rebuild_stacks
from profwork.readers.source import (
    InputUnit,
    Source,
    bad_weight,
    corrupt,
    own_unit,
    weight_problem,
)
from profwork.stacks import calls_body
from profwork.units import format_quantity

# The entry the pstats renderer writes for an empty profile (pstats.Stats refuses an empty dict).
EMPTY_PSTATS_KEY = ("~", 0, "<empty profile>")

# cProfile's own entries: the profiler being switched off (and on) inside the profiled window.
_LSPROF_ENTRIES = frozenset(
    {
        "<method 'disable' of '_lsprof.Profiler' objects>",
        "<method 'enable' of '_lsprof.Profiler' objects>",
        # read between iterations under --repeat (the cprofile method's per-function repeats)
        "<method 'getstats' of '_lsprof.Profiler' objects>",
    }
)

_MIN_SHARE = 1 / 20000
# Functions at least this share of the total get their qualified name from the source when
# `names` does not give it: the ones a summary or a readable flame-graph box can show.
_RESOLVE_SHARE = 1 / 1000


class PstatsReader:
    name = "pstats"
    description = "a pstats file"
    strict = True

    def sniff(self, source: Source) -> bool:
        return source.pstats() is not None

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile:
        own_unit(source.path, "seconds", unit)
        data = source.pstats()
        assert data is not None
        return _pstats_profile(source.path, data, None, {}, _MIN_SHARE, _RESOLVE_SHARE)


READER = PstatsReader()


def read_pstats(
    path: Path,
    *,
    classifier: Classifier | None = None,
    names: Mapping[str, str] | None = None,
    min_share: float = _MIN_SHARE,
    resolve_share: float = _RESOLVE_SHARE,
) -> Profile:
    """Read a pstats file (cProfile's, `pstats.Stats.dump_stats`'s or the `profile` module's).

    The exact statistics drive every per-function number. Stacks, which pstats does not record,
    are rebuilt from the caller graph for the stack views (flame graph, folded, speedscope): each
    function's time is split among its callees in proportion to their edge times, a path stops at
    the first repeated function, and paths below `min_share` of the total are merged into their
    caller. `names` maps `file:line:name` to a qualified name (our own runs record `co_qualname`).
    """
    source = Source(Path(path))
    data = source.pstats()
    if data is None:
        raise corrupt(source.path, "not a pstats file", "not a marshalled pstats dict")
    return _pstats_profile(source.path, data, classifier, names or {}, min_share, resolve_share)


def rebuild_note(least: float, most: float | None = None) -> str:
    """The note of a profile whose stacks were rebuilt from cProfile's caller graph; paths below
    `least` were merged into their caller (below `least`–`most` when several threads were rebuilt,
    each at its own share)."""
    below = format_quantity(least, "seconds")
    if most is not None and most > least:
        below = f"{below}–{format_quantity(most, 'seconds')} (a share of each thread's time)"
    return (
        "The flame graph, folded and speedscope stacks are rebuilt from cProfile's caller graph: "
        "each function's time is split among its callees in proportion to the edge times, "
        "recursive cycles are cut at the first repeat (passing the repeated call's time on to "
        f"its callees), and paths below {below} are merged into their caller; every "
        "per-function figure is cProfile's exact one."
    )


def _pstats_profile(
    path: Path,
    data: dict[Any, Any],
    classifier: Classifier | None,
    names: Mapping[str, str],
    min_share: float,
    resolve_share: float,
) -> Profile:
    classifier = default_classifier(classifier)

    def weigh(where: str, what: str, value: Any) -> float:
        number = float(value)
        problem = weight_problem(number)
        if problem is not None:
            raise bad_weight(path, f"{where}: its {what}", value, problem)
        return number

    try:
        stats, graph = _pstats_stats(data, classifier, names, resolve_share, weigh)
    except (TypeError, ValueError, IndexError, AttributeError, OverflowError) as error:
        raise corrupt(path, "corrupt pstats file", f"{type(error).__name__}: {error}") from None
    min_weight = max(min_share, 0.0) * sum(s.self for s in stats.values())
    stacks = stack_rules.finish(rebuild_stacks(graph, min_weight), threads=None, frames=graph)
    note = rebuild_note(min_weight)
    return Profile(
        unit="seconds",
        stacks=stacks,
        stats=stats,
        metadata={
            "source": str(path),
            "format": "pstats",
            "stacks": "rebuilt from the caller graph",
            "min_weight": min_weight,
            "notes": [note],
        },
    )


def _is_profiler_entry(key: tuple[str, int, str]) -> bool:
    """Entries of the profiler itself, not of the profiled code."""
    file, line, name = key
    return (
        (file == "~" and name in _LSPROF_ENTRIES)
        or (file == "profile" and line == 0)  # the `profile` module's fake frames
        or key == EMPTY_PSTATS_KEY
    )


def _pstats_stats(
    data: Mapping[Any, Any],
    classifier: Classifier,
    names: Mapping[str, str],
    resolve_share: float,
    weigh: Callable[[str, str, Any], float],
) -> tuple[dict[Frame, FunctionStats], dict[Frame, FunctionStats]]:
    """The exact statistics without the profiler's entries and profwork's own, and the caller
    graph the stacks are rebuilt from (with profwork's entries, which `_trim` then cuts away just
    as it cuts a sampled stack).

    Qualified names come from `names`, else from the source, looked up only for the functions
    heavy enough to be shown (`resolve_share` of the total): resolving every function of a large
    profile would read and scan every source file it touched (~0.5 ms each)."""
    keys: dict[Any, tuple[str, int, str]] = {}
    kinds: dict[Any, FrameKind] = {}
    dropped: set[Any] = set()
    for raw_key in data:
        file, line, name = raw_key
        key = (str(file), int(line), name if isinstance(name, str) else str(name))
        kind = classifier.kind(key[0], key[2])
        if _is_profiler_entry(key):
            dropped.add(raw_key)
        else:
            keys[raw_key] = key
            kinds[raw_key] = kind
    # The `profile` module switches itself off with a `setprofile` called only by its own frames.
    for raw_key, key in list(keys.items()):
        callers = data[raw_key][4]
        if (
            key[2] in ("setprofile", "<built-in method sys.setprofile>")
            and callers
            and all(caller in dropped for caller in callers)
        ):
            dropped.add(raw_key)
            del keys[raw_key]

    total = sum(float(data[k][2]) for k in keys if kinds[k] is not FrameKind.PROFWORK)
    resolve_above = max(resolve_share, 0.0) * total
    frames: dict[Any, Frame] = {}
    for raw_key, (file, line, name) in keys.items():
        kind = kinds[raw_key]
        qualified = names.get(f"{file}:{line}:{name}")
        if qualified is None:
            heavy = float(data[raw_key][3]) >= resolve_above
            if kind is FrameKind.NATIVE:
                qualified = native_name(name)
            else:
                qualified = qualname(file, line, name) if heavy else name
        frames[raw_key] = Frame(qualified, file, line, kind)

    graph: dict[Frame, FunctionStats] = {}
    for raw_key, frame in frames.items():
        cc, nc, tt, ct, callers = data[raw_key]
        where = f"function {frame.function} ({frame.file}:{frame.line})"
        tt, ct = weigh(where, "self time", tt), weigh(where, "cumulative time", ct)
        edges: dict[Frame, EdgeStats] = {}
        raw_edges = list(callers.items())
        counted = sum(int(v) for _, v in raw_edges if not isinstance(v, tuple)) or 1
        for caller_key, value in raw_edges:
            caller = frames.get(caller_key)
            if caller is None:
                continue  # a dropped profiler entry, or a caller the file does not list
            if isinstance(value, tuple):
                e_nc, e_cc, e_tt, e_ct = value
                e_tt = weigh(where, f"time from {caller.function}", e_tt)
                e_ct = weigh(where, f"cumulative time from {caller.function}", e_ct)
                edge = EdgeStats(int(e_nc), int(e_cc), float(e_tt), float(e_ct))
            else:
                # The `profile` module counts calls per caller but keeps no per-edge time:
                # share the callee's times by call count.
                share = int(value) / counted
                edge = EdgeStats(int(value), int(value), float(tt) * share, float(ct) * share)
            edges[caller] = edges[caller] + edge if caller in edges else edge
        entry = FunctionStats(int(nc), int(cc), float(tt), float(ct), edges)
        graph[frame] = graph[frame] + entry if frame in graph else entry
    above = _above_body(graph)
    stats = {
        frame: FunctionStats(
            s.calls,
            s.primitive_calls,
            s.self,
            s.cumulative,
            {c: e for c, e in s.callers.items() if c not in above},
        )
        for frame, s in graph.items()
        if frame not in above
    }
    return stats, graph


def _above_body(graph: Mapping[Frame, FunctionStats]) -> set[Frame]:
    """profwork's own functions above the body: the runner and target wrapper that call it, its
    roots (the profiler's stop), and what only they call. profwork code that the body itself
    calls is the body's and stays (as `stacks.trim_above_body` keeps it in stacks)."""
    ours = [f for f in graph if f.kind is FrameKind.PROFWORK]
    above = {f for f in ours if calls_body(f) or not graph[f].callers}
    changed = True
    while changed:
        changed = False
        for frame in ours:
            if frame not in above and all(c in above for c in graph[frame].callers):
                above.add(frame)
                changed = True
    return above
