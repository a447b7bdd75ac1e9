"""Bottlenecks, hotspots and heaviest paths (DESIGN §5).

- Bottlenecks: functions by cumulative time, user code first (a backend engineer acts on their own
  code; library and stdlib functions follow, still ranked by cumulative time).
- Hotspots: user functions by *own* time (self plus the library time below them up to the next
  user frame), so the function doing the work ranks above the entry point that contains it.
- Hot paths: the heaviest distinct call paths.
"""

from __future__ import annotations

from profwork.analyses import HotPath
from profwork.model import FrameKind, FunctionRow, Profile


def rank(profile: Profile, top: int) -> list[FunctionRow]:
    """The top functions by cumulative time, user code first."""
    rows = profile.rows()
    rows.sort(key=lambda r: (r.frame.kind is not FrameKind.USER, -r.cumulative, r.frame.function))
    return rows[:top]


def hotspots(profile: Profile, top: int) -> list[FunctionRow]:
    """User functions by own time; functions with no own time are left out."""
    rows = [r for r in profile.rows() if r.frame.kind is FrameKind.USER and r.own > 0]
    rows.sort(key=lambda r: (-r.own, -r.self, r.frame.function))
    return rows[:top]


def hot_paths(profile: Profile, n: int) -> list[HotPath]:
    total = profile.stack_total or 1.0
    return [HotPath(stack, weight, weight / total) for stack, weight in profile.heaviest_paths(n)]
