"""The line analysis: each timed function's source with hits, time per hit, time and share per
line, and the hottest lines ranked across functions (DESIGN §1, the `line` method).

Reads the figures the line method put in `profile.metadata["lines"]`
(`profwork.readers.lines`); a profile without them has no line section. A line's time includes
the calls made on it (line_profiler's rule); its share is of its function's total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from profwork.model import Frame, FrameKind, Profile
from profwork.units import share


@dataclass(frozen=True, slots=True)
class LineRow:
    """One source line of a timed function; `hits` 0 and `time` 0 for lines never run."""

    line: int
    source: str
    hits: int
    time: float
    share: float

    @property
    def per_hit(self) -> float | None:
        return self.time / self.hits if self.hits else None


@dataclass(frozen=True, slots=True)
class TimedFunction:
    name: str  # as it was named (`--function`) or chosen
    frame: Frame
    total: float
    rows: tuple[LineRow, ...]


@dataclass(frozen=True, slots=True)
class HotLine:
    function: TimedFunction
    row: LineRow
    share: float  # of the time of every timed function


@dataclass(frozen=True, slots=True)
class LineReport:
    functions: tuple[TimedFunction, ...]
    hottest: tuple[HotLine, ...]
    chosen_by: str  # "named" (--function) or "hottest" (a quick cProfile pass)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen_by": self.chosen_by,
            "functions": [
                {
                    "name": f.name,
                    "function": f.frame.function,
                    "file": f.frame.file,
                    "line": f.frame.line,
                    "total": f.total,
                    "lines": [
                        {
                            "line": r.line,
                            "source": r.source,
                            "hits": r.hits,
                            "time": r.time,
                            "per_hit": r.per_hit,
                            "share": r.share,
                        }
                        for r in f.rows
                    ],
                }
                for f in self.functions
            ],
            "hottest_lines": [
                {
                    "function": h.function.frame.function,
                    "file": h.function.frame.file,
                    "line": h.row.line,
                    "source": h.row.source.strip(),
                    "hits": h.row.hits,
                    "time": h.row.time,
                    "share": h.share,
                }
                for h in self.hottest
            ],
        }


def _function(item: Mapping[str, Any]) -> TimedFunction:
    frame = Frame(
        str(item["function"]), str(item["file"]), int(item["line"]), FrameKind(item["kind"])
    )
    timed = {int(n): (int(h), float(t)) for n, h, t in item["lines"]}
    total = sum(t for _, t in timed.values())
    start = int(item.get("source_start", frame.line))
    source = list(item.get("source", ()))
    numbers = range(start, start + len(source)) if source else sorted(timed)
    rows = []
    for number in numbers:
        hits, time = timed.get(number, (0, 0.0))
        text = source[number - start] if source else ""
        rows.append(LineRow(number, text, hits, time, share(time, total)))
    return TimedFunction(str(item.get("name") or frame.function), frame, total, tuple(rows))


def analyse_lines(profile: Profile, top: int = 15) -> LineReport | None:
    """The line section of a summary, when the profile carries line timings."""
    lines = profile.metadata.get("lines")
    if not isinstance(lines, Mapping):
        return None
    functions = tuple(_function(item) for item in lines.get("functions", ()))
    grand = sum(f.total for f in functions)
    ranked = sorted(
        (HotLine(f, r, share(r.time, grand)) for f in functions for r in f.rows if r.time > 0),
        key=lambda h: (-h.row.time, h.function.frame.function, h.row.line),
    )
    return LineReport(functions, tuple(ranked[:top]), str(lines.get("chosen_by") or "named"))
