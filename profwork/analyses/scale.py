"""Scaling (DESIGN §5, `profwork scale`): how time and counts grow with the data.

The target has run at several sizes, each with a data size `n` (the value of the parameter given
as a list, `-p n=100,200,400`; for `--sizes`, the product of the numeric parameters that differ
between the sizes, e.g. residents × weeks). For every function of the target's code and every
normalised SQL statement, the **growth exponent** `k` of `figure ≈ c·n^k` is fitted by least
squares on log-log axes (the slope of log figure over log n), for time and for counts:

- a function whose own time (its self time plus the library time below it up to the next
  function of the target's code) grows with `k ≥ 1.5` is **super-linear** — when it matters (at
  least `SIGNIFICANT` of the largest run's total) and every step from one size to the next
  grows faster than linear too (`k ≥ 1.2` between neighbours: on a shared machine one run
  slowed by another process bends the fit, not every step). Each size may be profiled several
  times (`--runs`); a function's time at a size is its fastest, as other processes only ever
  add time;
- a statement is an **N+1** when its executions per call of its caller grow with the data
  (`k ≥ N1_GROWTH`): its count grows while its caller's does not (or grows more slowly). The
  caller is the function whose loop issues it (else its call site's function), its calls counted
  by an exact profile (cprofile); under a sampler, the units of work it ran in stand in for them.

A figure that is zero or missing at a size is left out of the fit; with fewer than two sizes left
there is no exponent. Pure functions of their input: the runs are made by `profwork.scaling`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profwork.analyses.bottlenecks import _rows
from profwork.model import Frame, FrameKind, Profile

if TYPE_CHECKING:
    from profwork.sqlprobe import QueryLog, Site

SUPERLINEAR = 1.5  # a time exponent at or above this is super-linear...
STEADY = 1.2  # ...when every step from one size to the next grows at least this fast
N1_GROWTH = 0.3  # executions per call of the caller growing at least this fast: an N+1
SIGNIFICANT = 0.02  # share of the largest run's total below which growth is not reported
SHOWN = 10


@dataclass(frozen=True)
class SizeRun:
    """One size's run, as the analysis needs it."""

    label: str  # `small`, or `n=200`
    n: float  # the data size
    paths: tuple[Path, ...]  # its run directories: the size profiled once or more
    profiles: tuple[Profile, ...]  # their profiles, in the same order
    queries: QueryLog | None  # the first run's statements (the same in every run)

    @property
    def profile(self) -> Profile:
        return self.profiles[0]

    @property
    def total(self) -> float:
        """The fastest run's total: other processes only ever add time."""
        return min(p.total for p in self.profiles)


def exponent(ns: Sequence[float], values: Sequence[float | None]) -> float | None:
    """The least-squares slope of log(value) over log(n), over the sizes where the value is
    positive; None with fewer than two such sizes (or a single n)."""
    points = [
        (math.log(n), math.log(v)) for n, v in zip(ns, values, strict=True) if v and v > 0 and n > 0
    ]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


@dataclass(frozen=True)
class FunctionGrowth:
    function: str
    file: str
    line: int
    times: tuple[float | None, ...]  # own time at each size (None: not seen)
    calls: tuple[int | None, ...]  # calls at each size (None: not counted)
    time_exponent: float | None
    calls_exponent: float | None
    largest_share: float  # of the largest run's total

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    steps: tuple[float | None, ...] = ()  # the exponent from each size to the next

    @property
    def superlinear(self) -> bool:
        return (
            self.time_exponent is not None
            and self.time_exponent >= SUPERLINEAR
            and all(step is not None and step >= STEADY for step in self.steps)
            and self.largest_share >= SIGNIFICANT
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "file": self.file,
            "line": self.line,
            "times": list(self.times),
            "calls": list(self.calls),
            "time_exponent": self.time_exponent,
            "calls_exponent": self.calls_exponent,
            "steps": list(self.steps),
            "largest_share": self.largest_share,
            "superlinear": self.superlinear,
        }


@dataclass(frozen=True)
class StatementGrowth:
    statement: str  # normalised
    caller: str  # `function (file:line)`: the loop's function, else the call site's
    site: str | None  # the call site, `function (file:line)`
    caller_measure: str  # "calls" (exact profile) or "units of work"
    counts: tuple[int, ...]  # executions at each size
    seconds: tuple[float, ...]
    caller_counts: tuple[int | None, ...]  # the caller's calls (units of work) at each size
    count_exponent: float | None
    caller_exponent: float | None
    per_caller_exponent: float | None  # of executions per call of the caller
    time_exponent: float | None

    @property
    def nplusone(self) -> bool:
        return self.per_caller_exponent is not None and self.per_caller_exponent >= N1_GROWTH

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "caller": self.caller,
            "site": self.site,
            "caller_measure": self.caller_measure,
            "counts": list(self.counts),
            "seconds": list(self.seconds),
            "caller_counts": list(self.caller_counts),
            "count_exponent": self.count_exponent,
            "caller_exponent": self.caller_exponent,
            "per_caller_exponent": self.per_caller_exponent,
            "time_exponent": self.time_exponent,
            "nplusone": self.nplusone,
        }


@dataclass(frozen=True)
class Scaling:
    """What `profwork scale` found."""

    target: str
    method: str
    measure: str  # what n is: `orders`, `residents × weeks`
    clock: str  # what the times are: "CPU time" or "wall clock"
    sizes: tuple[str, ...]
    ns: tuple[float, ...]
    runs: tuple[tuple[str, ...], ...]  # each size's run directories, relative to the scale one
    totals: tuple[float, ...]  # each run's total (seconds)
    total_exponent: float | None
    functions: tuple[FunctionGrowth, ...]  # by time at the largest size
    statements: tuple[StatementGrowth, ...]  # by time at the largest size

    @property
    def superlinear(self) -> list[FunctionGrowth]:
        found = [f for f in self.functions if f.superlinear]
        found.sort(key=lambda f: -(f.times[-1] or 0.0))
        return found

    @property
    def nplusone(self) -> list[StatementGrowth]:
        return [s for s in self.statements if s.nplusone]

    @property
    def verdict(self) -> str:
        """One line: the worst finding, or that nothing grew faster than linear."""
        if self.nplusone:
            s = self.nplusone[0]
            return (
                f"N+1: {s.statement} — executions per call of {s.caller} grow as "
                f"n^{s.per_caller_exponent:.2f}"
            )
        if self.superlinear:
            f = self.superlinear[0]
            return (
                f"super-linear: {f.function} ({f.location}) — time grows as n^{f.time_exponent:.2f}"
            )
        return "nothing grows faster than linear (no super-linear function, no N+1)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "method": self.method,
            "verdict": self.verdict,
            "measure": self.measure,
            "clock": self.clock,
            "sizes": [
                {"size": s, "n": n, "runs": list(r), "total": t}
                for s, n, r, t in zip(self.sizes, self.ns, self.runs, self.totals, strict=True)
            ],
            "total_exponent": self.total_exponent,
            "thresholds": {
                "superlinear": SUPERLINEAR,
                "nplusone_growth": N1_GROWTH,
                "significant_share": SIGNIFICANT,
            },
            "superlinear": [f.to_dict() for f in self.superlinear],
            "nplusone": [s.to_dict() for s in self.nplusone],
            "functions": [f.to_dict() for f in self.functions],
            "statements": [s.to_dict() for s in self.statements],
        }


def analyse(
    target: str,
    method: str,
    measure: str,
    clock: str,
    runs: Sequence[SizeRun],
    links: Sequence[Sequence[str]],
) -> Scaling:
    """The growth of every user function and every statement over `runs` (smallest first)."""
    ns = [r.n for r in runs]
    totals = [r.total for r in runs]
    return Scaling(
        target=target,
        method=method,
        measure=measure,
        clock=clock,
        sizes=tuple(r.label for r in runs),
        ns=tuple(ns),
        runs=tuple(tuple(group) for group in links),
        totals=tuple(totals),
        total_exponent=exponent(ns, totals),
        functions=tuple(_functions(runs, ns)),
        statements=tuple(_statements(runs, ns)),
    )


def _functions(runs: Sequence[SizeRun], ns: Sequence[float]) -> list[FunctionGrowth]:
    """User functions, matched across runs by file and qualified name."""
    times: dict[tuple[str, str], list[float | None]] = {}
    calls: dict[tuple[str, str], list[int | None]] = {}
    lines: dict[tuple[str, str], int] = {}
    for i, run in enumerate(runs):
        for profile in run.profiles:
            exact = _exact_own(profile)
            seen: set[tuple[str, str]] = set()
            for row in _rows(profile):
                if row.frame.kind is not FrameKind.USER:
                    continue
                key = (row.frame.file, row.frame.function)
                lines.setdefault(key, row.frame.line)
                t = times.setdefault(key, [None] * len(runs))
                c = calls.setdefault(key, [None] * len(runs))
                own = row.own if exact is None else exact.get(row.frame, row.self)
                if key in seen:  # one name, two functions (redefined): their sum
                    t[i] = (t[i] or 0.0) + own
                else:  # the fastest of the size's runs: other processes only ever add time
                    t[i] = own if t[i] is None else min(t[i] or 0.0, own)
                if row.calls is not None and (profile is run.profile):
                    c[i] = (c[i] or 0) + row.calls
                seen.add(key)
    largest = runs[-1].total or 1.0
    found = [
        FunctionGrowth(
            function=function,
            file=file,
            line=lines[(file, function)],
            times=tuple(times[(file, function)]),
            calls=tuple(calls[(file, function)]),
            time_exponent=exponent(ns, times[(file, function)]),
            calls_exponent=exponent(ns, [float(c) if c else None for c in calls[(file, function)]]),
            largest_share=(times[(file, function)][-1] or 0.0) / largest,
            steps=_steps(ns, times[(file, function)]),
        )
        for file, function in times
    ]
    found.sort(key=lambda f: (-(f.times[-1] or 0.0), f.function))
    return found


def _steps(ns: Sequence[float], values: Sequence[float | None]) -> tuple[float | None, ...]:
    """The exponent from each size to the next: one noisy size (another process took the CPU
    during one run) bends the fit over all sizes, but not every step."""
    return tuple(exponent(ns[i : i + 2], values[i : i + 2]) for i in range(len(ns) - 1))


def _exact_own(profile: Profile) -> dict[Frame, float] | None:
    """Own time from exact statistics: self time plus the cumulative time of the calls into
    library code (the caller → callee edges). The summary's own time under cProfile is read
    from stacks rebuilt from the caller graph, an estimate whose error is small beside a run's
    total but not beside one function's change from size to size; None for a sampled profile,
    whose own time comes from real stacks."""
    if profile.stats is None:
        return None
    own = {f: s.self for f, s in profile.stats.items() if f.kind is FrameKind.USER}
    for callee, s in profile.stats.items():
        if callee.kind is FrameKind.USER or callee.is_pseudo:
            continue
        for caller, edge in s.callers.items():
            if caller in own:
                own[caller] += edge.cumulative
    return own


def _label(site: Site) -> str:
    return f"{site.function} ({site.file}:{site.line})"


def _statements(runs: Sequence[SizeRun], ns: Sequence[float]) -> list[StatementGrowth]:
    """Each normalised statement per caller (the function whose loop issues it, else its call
    site's function), with its count and time at each size."""
    size = len(runs)
    counts: dict[tuple[str, tuple[str, str, int]], list[int]] = defaultdict(lambda: [0] * size)
    seconds: dict[tuple[str, tuple[str, str, int]], list[float]] = defaultdict(lambda: [0.0] * size)
    units: dict[tuple[str, tuple[str, str, int]], list[set[int]]] = defaultdict(
        lambda: [set() for _ in range(size)]
    )
    labels: dict[tuple[str, tuple[str, str, int]], tuple[str, str | None]] = {}
    for i, run in enumerate(runs):
        if run.queries is None:
            continue
        for q in run.queries.queries:
            owner = q.loop or q.site
            caller = ("", "(no frame of the target's code)", 0)
            if owner is not None:
                caller = (owner.file, owner.function, owner.first_line)
            key = (q.normalised, caller)
            counts[key][i] += 1
            seconds[key][i] += q.seconds
            units[key][i].add(q.unit)
            if key not in labels:
                where = "(no frame of the target's code)"
                if owner is not None:
                    where = f"{owner.function} ({owner.file}:{owner.first_line})"
                labels[key] = (where, None if q.site is None else _label(q.site))
    found = []
    for key, count in counts.items():
        caller_counts, measure = _caller_counts(runs, key[1], units[key])
        per_call = [c / k if k else None for c, k in zip(count, caller_counts, strict=True) if c]
        ns_seen = [n for n, c in zip(ns, count, strict=True) if c]
        found.append(
            StatementGrowth(
                statement=key[0],
                caller=labels[key][0],
                site=labels[key][1],
                caller_measure=measure,
                counts=tuple(count),
                seconds=tuple(seconds[key]),
                caller_counts=tuple(caller_counts),
                count_exponent=exponent(ns, [float(c) for c in count]),
                caller_exponent=exponent(ns, [float(k) if k else None for k in caller_counts]),
                per_caller_exponent=exponent(ns_seen, per_call),
                time_exponent=exponent(ns, seconds[key]),
            )
        )
    found.sort(key=lambda s: (-s.seconds[-1], s.statement))
    return found


def _caller_counts(
    runs: Sequence[SizeRun], caller: tuple[str, str, int], units: Sequence[set[int]]
) -> tuple[list[int | None], str]:
    """The caller's calls at each size when every run counted calls exactly, else the units of
    work of the kinds the statement ran in (`GET /calendar`, `a day's agenda`)."""
    file, _, first_line = caller  # one function, one identity: (file, first line)
    counted: list[int | None] = []
    for run in runs:
        calls: Mapping[Any, tuple[int, int]] | None = run.profile.calls()
        if calls is None or not file:
            break
        counted.append(
            sum(
                c[0]
                for frame, c in calls.items()
                if frame.line == first_line and frame.file == file
            )
            or None
        )
    else:
        if any(c for c in counted):
            return counted, "calls"
    # every unit of work of the kinds it ran in (a day without appointments is a day too)
    kinds = [
        {run.queries.unit_label(u) for u in seen} if run.queries else set()
        for run, seen in zip(runs, units, strict=True)
    ]
    all_kinds = set().union(*kinds)
    return [
        sum(1 for label in run.queries.units.values() if label in all_kinds) or None
        if run.queries
        else None
        for run in runs
    ], "units of work"
