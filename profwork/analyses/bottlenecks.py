"""Bottlenecks, hotspots and heaviest paths (DESIGN §5).

- Bottlenecks: functions by cumulative time, user code first (a backend engineer acts on their own
  code; library and stdlib functions follow, still ranked by cumulative time).
- Hotspots: user functions by *own* time (self plus the library time below them up to the next
  user frame), so the function doing the work ranks above the entry point that contains it.
- Hot paths: the heaviest distinct call paths.
- Wrappers are not ranked as bottlenecks (issue 21): a function every path runs through that
  does next to nothing itself (the target's body, a script's `<module>`, the entry point that
  only calls the rest) and library code that mostly dispatches into user code (an event loop's
  `run_until_complete`, starlette's routing, an HTTP client's transport calling the app). Their
  cumulative time is the whole run, or the user code below them, so they say nothing about
  where the time goes; the summary names them instead.

Shares are of the profile's total and never above 100% (`units.share`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from profwork.analyses import HotPath
from profwork.model import Frame, FrameKind, FunctionRow, Profile
from profwork.units import share

# A function is a wrapper when at least this share of the total passes through it while its own
# self time is at most `WRAPPER_SELF` of the total …
WRAPPER_CUMULATIVE = 0.99
WRAPPER_SELF = 0.01
# … or, for library code, when at least this share of its cumulative time is in user code
# below it (it dispatches into the user's functions rather than doing work of its own).
DISPATCH_SHARE = 0.5


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
        for r in profile.view(Profile.rows)  # the rows `Profile.top` reads too
    )


def rank(profile: Profile, top: int, wrappers: Collection[Frame] = ()) -> list[FunctionRow]:
    """The top functions by cumulative time, user code first, `wrappers` and profwork's own
    code (the SQL probe's wrappers around a driver's calls) left out."""
    ours = profile.view(profworks)
    rows = [r for r in _rows(profile) if r.frame not in wrappers and r.frame not in ours]
    rows.sort(key=lambda r: (r.frame.kind is not FrameKind.USER, -r.cumulative, r.frame.function))
    return rows[:top]


def wrappers(profile: Profile, top: int) -> set[Frame]:
    """The functions `rank` leaves out: those every path runs through that do next to nothing
    themselves, and library functions that mostly dispatch into user code. Library functions
    are only looked at as far as a ranking of `top` can reach them (user code comes first, so
    when `top` user functions are ranked, none is), heaviest first: finding dispatch reads
    every stack, which a big profile should not pay for rows it never shows."""
    total = profile.total
    if total <= 0:
        return set()
    through, own = WRAPPER_CUMULATIVE * total, WRAPPER_SELF * total
    out: set[Frame] = set()
    user = 0
    library: list[FunctionRow] = []
    for r in profile.view(_consistent_rows):
        if r.cumulative >= through and r.self <= own:
            out.add(r.frame)
        elif r.frame.kind is FrameKind.USER:
            user += 1
        else:
            library.append(r)
    wanted, start = top - user, 0
    if wanted > 0:
        library.sort(key=_heaviest)
    while wanted > 0 and start < len(library):
        batch = [r.frame for r in library[start : start + 2 * wanted]]
        dispatching = _dispatchers(set(batch), profile)
        out |= dispatching
        wanted -= len(batch) - len(dispatching)
        start += len(batch)
    return out


def _heaviest(row: FunctionRow) -> float:
    return -row.cumulative


def _dispatchers(candidates: set[Frame], profile: Profile) -> set[Frame]:
    """The `candidates` at least `DISPATCH_SHARE` of whose weight in the stacks has a user frame
    below them (each stack counted once per frame, as cumulative time is)."""
    if not candidates:
        return set()
    seen: dict[Frame, float] = defaultdict(float)
    above_user: dict[Frame, float] = defaultdict(float)
    for stack, weight in profile.stacks.items():
        present = candidates.intersection(stack)
        if not present:
            continue
        for frame in present:
            seen[frame] += weight
        deepest = next(
            (i for i in range(len(stack) - 1, -1, -1) if stack[i].kind is FrameKind.USER), -1
        )
        if deepest > 0:
            for frame in present.intersection(stack[:deepest]):
                above_user[frame] += weight
    return {f for f, w in seen.items() if w > 0 and above_user[f] >= DISPATCH_SHARE * w}


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


def profworks(profile: Profile) -> frozenset[Frame]:
    """profwork's own functions in the profile, and the Python functions only they call (the
    SQL probe's `dis` of a loop): never ranked. Native code the probe calls stays: that is the
    driver's own work (`sqlite3.Cursor.execute`)."""
    stats = profile.stats
    frames = stats.keys() if stats else profile.functions()
    ours = {frame for frame in frames if frame.kind is FrameKind.PROFWORK}
    if not ours or not stats:
        return frozenset(ours)
    changed = True
    while changed:
        changed = False
        for frame, s in stats.items():
            if (
                frame not in ours
                and frame.kind is not FrameKind.NATIVE
                and s.callers
                and all(caller in ours for caller in s.callers)
            ):
                ours.add(frame)
                changed = True
    return frozenset(ours)


def instrumentation(profile: Profile) -> float:
    """The time profwork's own code took inside the body, by exact statistics: the cumulative
    time of its outermost functions there (the SQL probe's wrappers, called by the user's code).
    Under cProfile every Python call of the probe is measured and slowed; 0 without stats."""
    if not profile.stats or not profile.view(profworks):
        return 0.0
    return sum(
        s.cumulative
        for frame, s in profile.stats.items()
        if frame.kind is FrameKind.PROFWORK
        and any(caller.kind is not FrameKind.PROFWORK for caller in s.callers)
    )


def hot_paths(profile: Profile, n: int) -> list[HotPath]:
    total = profile.stack_total
    return [
        HotPath(stack, weight, share(weight, total)) for stack, weight in profile.heaviest_paths(n)
    ]
