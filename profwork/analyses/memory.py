"""The memory analysis: allocation sites, RSS figures and the leak check (DESIGN §5 Memory).

Reads the figures the memory method put in `profile.metadata["memory"]`
(`profwork.readers.tracemalloc`); a profile without them has no memory section.

Leak check (`--repeat N`: the body runs N times after one unmeasured warm-up, with a tracemalloc
snapshot and an RSS reading after each iteration). Per allocation site, the bytes it retained in
each iteration are the differences between consecutive snapshots (the first against the start of
tracing, which begins after the warm-up). The body is flagged as a probable leak when
- the traced memory retained over the repeats reaches the threshold (default 50 MB, the seeds'
  rule), or
- the RSS grew in every iteration and by the threshold in all (memory tracemalloc does not see:
  a C extension's own allocations), or
- an allocation site retained memory in every iteration (at least two), `SITE_FLOOR` bytes or
  more each time on average: steady growth whatever its size.
The sites responsible are those that retained memory over the repeats, the steadiest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from profwork.model import Frame, FrameKind, Profile

DEFAULT_THRESHOLD = 50 * 1000 * 1000  # the seeds' "growth < 50 MB over repeats"
SITE_FLOOR = 1024  # bytes per iteration, on average, for a site's steady growth to count


@dataclass(frozen=True, slots=True)
class AllocationSite:
    """One line that allocated: its function, the line, and what it held."""

    frame: Frame
    line: int
    end_bytes: int
    end_count: int
    peak_bytes: int
    peak_count: int
    # bytes retained in each measured iteration (--repeat), first to last
    retained: tuple[int, ...] = ()

    @property
    def location(self) -> str:
        return f"{self.frame.file}:{self.line}" if self.frame.file else ""

    @property
    def growth(self) -> int:
        return sum(self.retained)

    @property
    def grew_every_iteration(self) -> bool:
        return len(self.retained) >= 2 and all(r > 0 for r in self.retained)


@dataclass(frozen=True, slots=True)
class LeakCheck:
    repeat: int
    threshold: float
    traced_growth: int
    rss_growth: int | None
    rss_per_iteration: tuple[int, ...]
    leaking: bool
    reasons: tuple[str, ...]
    sites: tuple[AllocationSite, ...]


@dataclass(frozen=True, slots=True)
class MemoryReport:
    frame_depth: int
    traced_peak: int
    traced_end: int
    peak_snapshot_size: int
    truncated_bytes: int
    rss_start: int | None
    rss_end: int | None
    rss_peak: int | None
    interval: float | None
    timeline: tuple[tuple[float, int], ...]
    marks: Mapping[str, float]
    by_end: tuple[AllocationSite, ...]
    by_peak: tuple[AllocationSite, ...]
    leak: LeakCheck | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`memory.json`, and the `memory` key of `summary.json`)."""
        leak = self.leak
        return {
            "frame_depth": self.frame_depth,
            "traced_peak_bytes": self.traced_peak,
            "traced_end_bytes": self.traced_end,
            "peak_snapshot_bytes": self.peak_snapshot_size,
            "rss_start_bytes": self.rss_start,
            "rss_end_bytes": self.rss_end,
            "rss_peak_bytes": self.rss_peak,
            "rss_interval": self.interval,
            "rss_timeline": [{"t": t, "bytes": b} for t, b in self.timeline],
            "marks": dict(self.marks),
            "sites_by_end": [_site(s) for s in self.by_end],
            "sites_by_peak": [_site(s) for s in self.by_peak],
            "leak_check": None
            if leak is None
            else {
                "repeat": leak.repeat,
                "threshold_bytes": leak.threshold,
                "traced_growth_bytes": leak.traced_growth,
                "rss_growth_bytes": leak.rss_growth,
                "rss_after_each_iteration": list(leak.rss_per_iteration),
                "probable_leak": leak.leaking,
                "reasons": list(leak.reasons),
                "sites": [_site(s) for s in leak.sites],
            },
        }


def _site(site: AllocationSite) -> dict[str, Any]:
    return {
        "function": site.frame.function,
        "file": site.frame.file,
        "line": site.line,
        "function_line": site.frame.line,
        "kind": site.frame.kind.value,
        "end_bytes": site.end_bytes,
        "end_count": site.end_count,
        "peak_bytes": site.peak_bytes,
        "peak_count": site.peak_count,
        "retained_per_iteration": list(site.retained),
    }


def _retained(sizes: list[int]) -> tuple[int, ...]:
    """Per-iteration differences of a site's size after each iteration (0 before the first)."""
    return tuple(b - a for a, b in zip([0, *sizes], sizes, strict=False))


def _sites(rows: list[Mapping[str, Any]]) -> list[AllocationSite]:
    out = []
    for row in rows:
        frame = Frame(row["function"], row["file"], int(row["line"]), FrameKind(row["kind"]))
        out.append(
            AllocationSite(
                frame=frame,
                line=int(row["site_line"]),
                end_bytes=int(row["end_bytes"]),
                end_count=int(row["end_count"]),
                peak_bytes=int(row["peak_bytes"]),
                peak_count=int(row["peak_count"]),
                retained=_retained([int(b) for b in row.get("iteration_bytes", ())]),
            )
        )
    return out


def _leak_check(
    memory: Mapping[str, Any], sites: list[AllocationSite], threshold: float, top: int
) -> LeakCheck | None:
    repeat = int(memory.get("repeat") or 0)
    if repeat < 1:
        return None
    traced = [int(b) for b in memory.get("iteration_traced", ())]
    traced_growth = traced[-1] if traced else sum(s.growth for s in sites)
    rss = [int(b) for b in memory.get("iteration_rss", ())]
    before = memory.get("rss_start")
    rss_growth = rss[-1] - int(before) if rss and before is not None else None
    reasons = []
    if traced_growth >= threshold:
        reasons.append(f"traced memory retained over {repeat} iterations reached the threshold")
    steps = [b - a for a, b in zip([before, *rss], rss, strict=False)] if before is not None else []
    if rss_growth is not None and rss_growth >= threshold and steps and all(d > 0 for d in steps):
        reasons.append(f"RSS grew in every one of {repeat} iterations, past the threshold")
    steady = [
        s for s in sites if s.grew_every_iteration and s.growth >= SITE_FLOOR * len(s.retained)
    ]
    if steady:
        reasons.append(
            f"{len(steady)} allocation site(s) retained memory in every one of {repeat} iterations"
        )
    growing = [s for s in sites if s.growth > 0]
    responsible = sorted(
        growing, key=lambda s: (s not in steady, -s.growth, s.frame.function, s.line)
    )
    return LeakCheck(
        repeat=repeat,
        threshold=threshold,
        traced_growth=traced_growth,
        rss_growth=rss_growth,
        rss_per_iteration=tuple(rss),
        leaking=bool(reasons),
        reasons=tuple(reasons),
        sites=tuple(responsible[:top]),
    )


def analyse_memory(profile: Profile, top: int = 15) -> MemoryReport | None:
    """The memory section of a summary, when the profile carries memory figures."""
    memory = profile.metadata.get("memory")
    if not isinstance(memory, Mapping):
        return None
    sites = _sites(list(memory.get("sites", ())))
    threshold = float(memory.get("leak_threshold") or DEFAULT_THRESHOLD)
    by_end = sorted(
        (s for s in sites if s.end_bytes > 0), key=lambda s: (-s.end_bytes, s.frame.function)
    )
    by_peak = sorted(
        (s for s in sites if s.peak_bytes > 0), key=lambda s: (-s.peak_bytes, s.frame.function)
    )
    return MemoryReport(
        frame_depth=int(memory["frame_depth"]),
        traced_peak=int(memory["traced_peak"]),
        traced_end=int(memory["traced_end"]),
        peak_snapshot_size=int(memory.get("peak_snapshot_size") or 0),
        truncated_bytes=int(memory.get("truncated_bytes") or 0),
        rss_start=_int(memory.get("rss_start")),
        rss_end=_int(memory.get("rss_end")),
        rss_peak=_int(memory.get("rss_peak")),
        interval=memory.get("interval"),
        timeline=tuple((float(t), int(b)) for t, b in memory.get("timeline", ())),
        marks={str(k): float(v) for k, v in dict(memory.get("marks", {})).items()},
        by_end=tuple(by_end[:top]),
        by_peak=tuple(by_peak[:top]),
        leak=_leak_check(memory, sites, threshold, top),
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
