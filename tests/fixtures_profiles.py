"""Small `Profile`s built by hand, and paths to the recorded ones in tests/data/.

Imported by the format tests (the lead owns conftest.py); no pytest fixtures here, just builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from profwork.analyses import Summary, analyse
from profwork.model import EdgeStats, Frame, FrameKind, FunctionStats, Profile, Stack, Unit

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = DATA / "speedscope-schema.json"

APP = "/srv/app/service.py"


def frame(name: str, file: str = APP, line: int = 1, kind: FrameKind = FrameKind.USER) -> Frame:
    return Frame(name, file, line, kind)


def native(name: str) -> Frame:
    return Frame(name, "", 0, FrameKind.NATIVE)


def thread(tid: int, name: str) -> Frame:
    return Frame(f"thread ({tid}): {name}", "", 0, FrameKind.THREAD)


def build(
    stacks: Mapping[Sequence[Frame], float],
    unit: Unit = "seconds",
    **metadata: Any,
) -> Profile:
    return Profile(unit=unit, stacks={tuple(s): w for s, w in stacks.items()}, metadata=metadata)


def summary(profile: Profile) -> Summary:
    return analyse(profile)


# ---- the profiles every renderer must handle ----------------------------------------------------

MAIN = frame("main", line=10)
HANDLER = frame("Handler.get", line=20)
QUERY = frame("Repository.query", "/srv/app/db.py", 5)
LEN = native("<built-in method builtins.len>")


def simple() -> Profile:
    """main → Handler.get → Repository.query, with a built-in below."""
    return build(
        {
            (MAIN,): 0.25,
            (MAIN, HANDLER): 0.5,
            (MAIN, HANDLER, QUERY): 1.25,
            (MAIN, HANDLER, QUERY, LEN): 0.125,
        },
        target="app",
        method="pyspy",
    )


def empty() -> Profile:
    return build({})


def nasty() -> Profile:
    """Names and paths that break formats which do not escape: markup, quotes, `;`, spaces,
    non-ASCII text, a newline."""
    script = frame("<script>alert('x')</script>", '/srv/"quoted" dir/<b>.py', 3)
    semicolon = frame("with;semicolon", "/srv/a;b/c.py", 7)
    spaced = frame("name with spaces", "/srv/my app/x.py", 9)
    unicode = frame("grüße.日本語", "/srv/ünï/côdé.py", 11)
    newline = frame("line\nbreak", "/srv/app/nl.py", 13)
    return build(
        {
            (MAIN, script): 1.0,
            (MAIN, script, semicolon): 2.0,
            (MAIN, spaced, unicode): 3.0,
            (MAIN, newline): 0.5,
        },
        target='<img src=x onerror="alert(1)">',
        method="pyspy",
    )


def threaded() -> Profile:
    """Two threads, each root a pseudo-frame, and a sample in no Python code."""
    main, worker = thread(101, "MainThread"), thread(202, "worker-1")
    return build(
        {
            (main, MAIN): 1.0,
            (main, MAIN, HANDLER): 2.0,
            (worker, frame("Worker.run", line=40)): 0.5,
            (worker, frame("Worker.run", line=40), QUERY): 1.5,
            (): 0.25,
        },
        rate=100,
        method="pyspy",
        threads=2,
    )


def recursive() -> Profile:
    """A function that calls itself: cumulative time counts it once per stack."""
    fib = frame("fib", line=30)
    return build({(MAIN, fib): 1.0, (MAIN, fib, fib): 2.0, (MAIN, fib, fib, fib): 3.0})


def samples() -> Profile:
    """A count of samples whose rate is unknown (a foreign folded file)."""
    return build({(MAIN,): 3, (MAIN, HANDLER): 7}, unit="samples")


def memory() -> Profile:
    return build({(MAIN,): 4096, (MAIN, HANDLER): 1 << 20}, unit="bytes")


def exact() -> Profile:
    """An exact (cProfile-like) profile: the statistics drive the numbers, stacks are views."""
    stats = {
        MAIN: FunctionStats(1, 1, 0.25, 2.0, {}),
        HANDLER: FunctionStats(3, 3, 0.5, 1.75, {MAIN: EdgeStats(3, 3, 0.5, 1.75)}),
        QUERY: FunctionStats(
            12,
            10,
            1.125,
            1.25,
            {HANDLER: EdgeStats(10, 10, 1.0, 1.25), QUERY: EdgeStats(2, 0, 0.125, 0.125)},
        ),
        LEN: FunctionStats(40, 40, 0.125, 0.125, {QUERY: EdgeStats(40, 40, 0.125, 0.125)}),
    }
    stacks: dict[Stack, float] = {
        (MAIN,): 0.25,
        (MAIN, HANDLER): 0.5,
        (MAIN, HANDLER, QUERY): 1.125,
        (MAIN, HANDLER, QUERY, LEN): 0.125,
    }
    return Profile("seconds", stacks, stats, {"method": "cprofile", "target": "app"})


EVERY_PROFILE = {
    "simple": simple,
    "empty": empty,
    "nasty": nasty,
    "threaded": threaded,
    "recursive": recursive,
    "samples": samples,
    "memory": memory,
    "exact": exact,
}
