"""Analyses: pure functions from a `Profile` (and later the captured queries) to findings.

`analyse` builds the `Summary` every renderer formats. It has one section per analysis: the
verdict (verdict.py: the top hotspot and the pattern behind it, which every output opens with),
bottlenecks and hotspots (bottlenecks.py), heaviest paths, target metrics, notes, N+1 findings
(nplusone.py, from the captured queries and exact call counts); memory figures plug in here when
their issue lands.

Which facts of a run a summary shows, and in which order, is chosen here once (`Summary.facts`),
for the terminal, `summary.md` and `report.html` alike; how a fact is written is `units`' job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from profwork.analyses.nplusone import DEFAULT_THRESHOLD, Findings
from profwork.model import Frame, FunctionRow, Profile, Stack, Unit
from profwork.units import json_safe, share

if TYPE_CHECKING:
    from profwork.analyses.lines import LineReport
    from profwork.analyses.memory import MemoryReport
    from profwork.analyses.verdict import Verdict
    from profwork.sqlprobe import QueryLog


@dataclass(frozen=True, slots=True)
class HotPath:
    """One heavy call path, root first."""

    stack: Stack
    weight: float
    share: float


@dataclass(frozen=True, slots=True)
class Fact:
    """One headline fact of a run: a label and a value, with the unit its figure is in
    (`None`: the value is text, shown as it is)."""

    key: str
    label: str
    value: str | float
    unit: Unit | Literal["hertz"] | None = None


# The run facts a summary shows, in reading order; the metadata keys they come from.
_TEXT_FACTS = (("target", "Target"), ("method", "Method"), ("status", "Status"))
_LATER_FACTS = (("threads", "Threads"), ("stacks", "Stacks"))
SHOWN_METADATA = ("method", "target", "rate", "duration", "threads", "stacks", "status")


@dataclass(frozen=True)
class Summary:
    """What a run found, as plain data for renderers."""

    unit: Unit
    total: float
    exact: bool
    bottlenecks: tuple[FunctionRow, ...]
    hotspots: tuple[FunctionRow, ...]
    hot_paths: tuple[HotPath, ...]
    target_metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # what hotspots' own times are shares of (0: the total); see `bottlenecks.own_total`
    own_total: float = 0.0
    # the memory method's figures (analyses.memory), and the line method's (analyses.lines)
    memory: MemoryReport | None = None
    lines: LineReport | None = None
    # N+1 patterns, heaviest first (nplusone.py)
    nplusone: Findings = field(default_factory=Findings)
    # functions every path runs through, or library dispatch into user code, left out of
    # `bottlenecks` (bottlenecks.wrappers)
    wrappers: tuple[Frame, ...] = ()

    def verdict(self) -> Verdict:
        """The top hotspot and the pattern behind it (verdict.py): what every output says
        first."""
        from profwork.analyses.verdict import decide

        return decide(self)

    def facts(self) -> tuple[Fact, ...]:
        """The run's headline facts in reading order, absent ones left out: target, method,
        status, total, body duration, unit, rate, threads, how stacks were obtained, and
        whether the statistics are exact. (The worst N+1 pattern is the verdict's, which comes
        before the facts.)"""
        meta = self.metadata
        out = [Fact(k, label, str(meta[k])) for k, label in _TEXT_FACTS if _given(meta.get(k))]
        out.append(Fact("total", "Total", self.total, self.unit))
        duration = meta.get("duration")
        if _number(duration):
            out.append(Fact("duration", "Duration", float(duration), "seconds"))
        out.append(Fact("unit", "Unit", self.unit))
        rate = meta.get("rate")
        if _number(rate) and rate > 0:
            out.append(Fact("rate", "Rate", float(rate), "hertz"))
        out += [Fact(k, label, str(meta[k])) for k, label in _LATER_FACTS if _given(meta.get(k))]
        statistics = "exact (call counts)" if self.exact else "sampled"
        out.append(Fact("statistics", "Statistics", statistics))
        return tuple(out)

    def own_share(self, row: FunctionRow) -> float:
        """A hotspot's own time as a share of all own time measured; these shares add up to at
        most 100% over every user function."""
        return share(row.own, self.own_total or self.total)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`summary.json`): only finite numbers (a NaN or an infinity becomes
        null), so that any strict JSON parser reads it."""

        data: dict[str, Any] = json_safe(
            {
                "verdict": self.verdict().to_dict(),
                "unit": self.unit,
                "total": self.total,
                "exact": self.exact,
                "metadata": dict(self.metadata),
                "bottlenecks": [r.to_dict() for r in self.bottlenecks],
                "wrappers": [
                    {"function": f.function, "file": f.file, "line": f.line} for f in self.wrappers
                ],
                "hotspots": [r.to_dict() | {"own_share": self.own_share(r)} for r in self.hotspots],
                "hot_paths": [
                    {
                        "frames": [f.label for f in p.stack],
                        "weight": p.weight,
                        "share": p.share,
                    }
                    for p in self.hot_paths
                ],
                "target_metrics": {k: dict(v) for k, v in self.target_metrics.items()},
                "notes": list(self.notes),
                "nplusone": self.nplusone.to_dict(),
            }
        )
        if self.memory is not None:
            data["memory"] = json_safe(self.memory.to_dict())
        if self.lines is not None:
            data["lines"] = json_safe(self.lines.to_dict())
        return data


def _given(value: object) -> bool:
    return value not in (None, "")


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def elide(stacks: Sequence[Stack], tail: int = 4) -> list[tuple[Frame | None, ...]]:
    """Shorten call paths for one line each, keeping them distinct: the frames every path
    shares at its start (the body, the entry point) give way to a `None` but for the last of
    them (the caller where the paths part), and of the rest the first and the last `tail`
    frames are kept, and so is, for every other path with the same
    tail, the first frame in which the two differ (a thread root, a different caller); `None`
    stands for the frames left out between kept ones. Paths that differ only in their middle
    (worker threads running the same code) therefore never print as identical rows."""
    common = 0
    if len(stacks) > 1:
        shortest = min(len(s) for s in stacks)
        while common < shortest and all(s[common] == stacks[0][common] for s in stacks):
            common += 1
    out: list[tuple[Frame | None, ...]] = []
    for i, stack in enumerate(stacks):
        first = max(0, min(common - 1, len(stack) - 1))
        keep = {first, *range(max(first, len(stack) - tail), len(stack))}
        for j, other in enumerate(stacks):
            if j == i or other[-tail:] != stack[-tail:]:
                continue
            differ = 0
            while differ < min(len(stack), len(other)) and stack[differ] == other[differ]:
                differ += 1
            if first <= differ < len(stack):
                keep.add(differ)
        shown: list[Frame | None] = [None] if first > 0 else []
        for index, frame in enumerate(stack):
            if index in keep:
                shown.append(frame)
            elif index > first and shown and shown[-1] is not None:
                shown.append(None)
        out.append(tuple(shown))
    return out


def analyse(
    profile: Profile,
    *,
    top: int = 15,
    target_metrics: Mapping[str, Mapping[str, float]] | None = None,
    queries: QueryLog | None = None,
    n1_threshold: int = DEFAULT_THRESHOLD,
) -> Summary:
    """Run every analysis that applies to `profile` (and to the SQL captured, `queries`)."""
    from profwork.analyses import bottlenecks, nplusone

    wrappers = bottlenecks.wrappers(profile, top)
    return Summary(
        unit=profile.unit,
        total=profile.total,
        exact=profile.is_exact,
        bottlenecks=tuple(bottlenecks.rank(profile, top, wrappers)),
        wrappers=tuple(sorted(wrappers, key=lambda f: -profile.cumulative().get(f, 0.0))),
        hotspots=tuple(bottlenecks.hotspots(profile, top)),
        hot_paths=tuple(bottlenecks.hot_paths(profile, 5)),
        own_total=bottlenecks.own_total(profile),
        target_metrics=dict(target_metrics or {}),
        notes=(*profile.metadata.get("notes", ()), *_instrumentation_note(profile)),
        metadata={k: v for k, v in profile.metadata.items() if k in SHOWN_METADATA},
        memory=_memory(profile, top),
        lines=_lines(profile, top),
        nplusone=nplusone.analyse(profile, queries, n1_threshold),
    )


# profwork's own time inside the body worth a note: its share of the total
INSTRUMENTATION_NOTE = 0.01


def _instrumentation_note(profile: Profile) -> tuple[str, ...]:
    from profwork.analyses import bottlenecks
    from profwork.units import format_quantity

    spent = bottlenecks.instrumentation(profile)
    if not profile.total or spent < INSTRUMENTATION_NOTE * profile.total:
        return ()
    return (
        f"profwork's own code in the body (its SQL probe) took "
        f"{format_quantity(spent, profile.unit)} ({spent / profile.total:.0%}) of this profile: "
        "cProfile measures (and slows) each of its calls around a statement. It is left out "
        "of the rankings but counted in its callers' cumulative time and drawn (dimmed) in the "
        "flame graph; --no-sql runs without it.",
    )


def _memory(profile: Profile, top: int) -> MemoryReport | None:
    """The memory section, its module imported only for a profile that carries memory figures."""
    if "memory" not in profile.metadata:
        return None
    from profwork.analyses.memory import analyse_memory

    return analyse_memory(profile, top)


def _lines(profile: Profile, top: int) -> LineReport | None:
    """The line section, its module imported only for a profile that carries line timings."""
    if "lines" not in profile.metadata:
        return None
    from profwork.analyses.lines import analyse_lines

    return analyse_lines(profile, top)
