"""The verdict: what a run found, in one or two sentences, chosen once for every output.

The terminal, `summary.md`, `report.html` and a notebook's display all open with it (issue 21:
the answer on the first screen). It names

1. the top hotspot: the user function with the most own time (its self time plus the library
   time below it up to the next user frame: the function doing the work, not the entry point
   that contains it), with its location, its share of the total and its calls; a profile with
   no user code names the function with the most self time instead;
2. when one is known, the pattern behind the cost: the worst N+1 finding (`nplusone`), a probable
   leak (`memory`'s leak check). A scale analysis adds its super-linear function here.

The figures are formatted here (through `units`), the names and locations are kept as frames so
that each output writes them its own way (a relative path on the terminal, a code span in
Markdown, escaped markup in HTML).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from profwork.model import Frame, FunctionRow, Unit
from profwork.units import format_calls, format_quantity, format_share

if TYPE_CHECKING:
    from profwork.analyses import Summary


@dataclass(frozen=True, slots=True)
class Cause:
    """The pattern behind the cost: a kind, a short label and what was found (formatted)."""

    kind: Literal["nplusone", "leak", "superlinear"]
    label: str  # `N+1 SQL`, `probable leak`
    detail: str  # the finding, one clause


@dataclass(frozen=True, slots=True)
class Verdict:
    """The top hotspot and the pattern behind it. `hotspot` is None when nothing was recorded."""

    unit: Unit
    total: float
    hotspot: Frame | None = None
    share: float = 0.0  # of the total (own time's share for a user function)
    amount: float = 0.0  # the time (bytes, samples) the share is of
    calls: str = ""  # pstats' ncalls, blank when a sampler counted none
    scope: Literal["own", "self"] = "own"  # own: with the library code it calls
    causes: tuple[Cause, ...] = ()

    @property
    def headline(self) -> str:
        """The first sentence, with locations as they are recorded."""
        return self.sentences()[0]

    @property
    def share_text(self) -> str:
        """The hotspot's share, `95.5%`."""
        return format_share(self.share)

    def of_total(self) -> str:
        """What follows the share: `of 4.05 s with the library code it calls, 68,100 calls`."""
        total = format_quantity(self.total, self.unit)
        covers = "with the library code it calls" if self.scope == "own" else "in itself"
        text = f"of {total} {covers}"
        if self.calls:
            text += f", {self.calls} call" + ("" if self.calls == "1" else "s")
        return text

    def pattern(self) -> str | None:
        """The second sentence's text, without its label: `N+1 SQL — SELECT … at f (x.py:3)`."""
        if not self.causes:
            return None
        cause = self.causes[0]
        return f"{cause.label} — {cause.detail}"

    def sentences(self, where: Callable[[Frame], str] = lambda f: f.location) -> tuple[str, ...]:
        """One or two sentences: the hotspot, then the pattern behind it when one is known.
        `where(frame)`: a frame's location as the output writes it."""
        if self.hotspot is None:
            total = format_quantity(self.total, self.unit)
            return (f"Nothing was recorded (total {total}).",)
        location = where(self.hotspot)
        name = self.hotspot.function + (f" ({location})" if location else "")
        out = [f"Hotspot: {name} — {self.share_text} {self.of_total()}."]
        pattern = self.pattern()
        if pattern is not None:
            out.append(f"Pattern: {pattern}.")
        return tuple(out)

    def to_dict(self) -> dict[str, object]:
        frame = self.hotspot
        return {
            "text": " ".join(self.sentences()),
            "hotspot": None
            if frame is None
            else {"function": frame.function, "file": frame.file, "line": frame.line},
            "share": self.share,
            "amount": self.amount,
            "calls": self.calls,
            "scope": self.scope,
            "causes": [{"kind": c.kind, "label": c.label, "detail": c.detail} for c in self.causes],
        }


def decide(summary: Summary) -> Verdict:
    """The verdict of a summary (`Summary.verdict`)."""
    unit, total = summary.unit, summary.total
    causes = _causes(summary)
    if summary.hotspots:
        hot = summary.hotspots[0]
        return Verdict(
            unit,
            total,
            hot.frame,
            summary.own_share(hot),
            hot.own,
            _calls(hot),
            "own",
            causes,
        )
    rows = [r for r in summary.bottlenecks if r.self > 0]
    if not rows:
        return Verdict(unit, total, causes=causes)
    top = max(rows, key=lambda r: r.self)
    share = top.self / total if total > 0 else 0.0
    return Verdict(unit, total, top.frame, share, top.self, _calls(top), "self", causes)


def _calls(row: FunctionRow) -> str:
    return format_calls(row.calls, row.primitive_calls)


def _causes(summary: Summary) -> tuple[Cause, ...]:
    causes: list[Cause] = []
    worst = summary.nplusone.worst
    if worst is not None:
        label = "N+1 SQL" if worst.kind == "sql" else "N+1 calls"
        causes.append(Cause("nplusone", label, worst.verdict))
    memory = summary.memory
    leak = memory.leak if memory is not None else None
    if leak is not None and leak.leaking:
        retained = format_quantity(leak.traced_growth, "bytes")
        detail = f"{retained} retained over {leak.repeat} iterations"
        if leak.sites:
            site = leak.sites[0]
            where = f" ({site.location})" if site.location else ""
            detail += f", most by {site.frame.function}{where}"
        causes.append(Cause("leak", "probable leak", detail))
    return tuple(causes)
