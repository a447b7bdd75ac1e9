"""Bottlenecks, hotspots and heaviest paths (DESIGN §5).

- Bottlenecks: functions by cumulative time, user code first (a backend engineer acts on their own
  code; library and stdlib functions follow, still ranked by cumulative time).
- Hotspots: user functions by *own* time (self plus the library time below them up to the next
  user frame), so the function doing the work ranks above the entry point that contains it.
- Hot paths: the heaviest distinct call paths.

Shares are of the profile's total and never above 100% (`units.share`).
"""

from __future__ import annotations

from profwork.analyses import HotPath
from profwork.model import FrameKind, FunctionRow, Profile
from profwork.units import share


def _rows(profile: Profile) -> list[FunctionRow]:
    """Every function's row (computed once per profile: rank, hotspots and own_total all read
    it; a fresh list each time, since callers sort it)."""
    return list(profile.view(_consistent_rows))


def _consistent_rows(profile: Profile) -> tuple[FunctionRow, ...]:
    """Every function's row, with the figures a summary may show side by side made consistent.

    Own time includes self time by definition, so own < self is always an artefact. It happens
    under cProfile: self time is exact, but own time is read from the stacks rebuilt from the
    caller graph, where paths below the rebuild's minimum weight are merged into their caller (so
    `Ledger.__iter__` with 43 µs of exact self time could own 0 µs). We take max(own, self)
    rather than re-deriving own time from the caller graph: self is the one exact part of the
    figure, the rebuilt stacks remain the estimate the summary's note describes, and the
    correction only ever restores time the merge moved to a caller (tiny paths, a few µs).
    Library functions have no own time (DESIGN §5): their rows show it blank."""
    total = profile.total
    return tuple(
        FunctionRow(
            frame=r.frame,
            self=r.self,
            cumulative=r.cumulative,
            own=max(r.own, r.self) if r.frame.kind is FrameKind.USER else r.own,
            calls=r.calls,
            primitive_calls=r.primitive_calls,
            share=share(r.cumulative, total),
        )
        for r in profile.rows()
    )


def rank(profile: Profile, top: int) -> list[FunctionRow]:
    """The top functions by cumulative time, user code first."""
    rows = _rows(profile)
    rows.sort(key=lambda r: (r.frame.kind is not FrameKind.USER, -r.cumulative, r.frame.function))
    return rows[:top]


def hotspots(profile: Profile, top: int) -> list[FunctionRow]:
    """User functions by own time; functions with no own time are left out."""
    rows = [r for r in _rows(profile) if r.frame.kind is FrameKind.USER and r.own > 0]
    rows.sort(key=lambda r: (-r.own, -r.self, r.frame.function))
    return rows[:top]


def own_total(profile: Profile) -> float:
    """What own times are shares of: the profile's total, or more when the own times add up to
    more. They can under cProfile, whose own times come from the rebuilt stacks (whose weights
    need not sum exactly to the exact self times) plus the max(own, self) correction above; the
    hotspots' shares then still add up to at most 100%."""
    owned = sum(r.own for r in _rows(profile) if r.frame.kind is FrameKind.USER)
    return max(profile.total, owned)


def hot_paths(profile: Profile, n: int) -> list[HotPath]:
    total = profile.stack_total
    return [
        HotPath(stack, weight, share(weight, total)) for stack, weight in profile.heaviest_paths(n)
    ]
