"""The `report.html` of a `compare` run: totals, the top regressions and improvements, and the
differential flame graph inline — one self-contained page.

Escaping as `renderers.html`: jinja2 with autoescaping; only our CSS and the diff flame graph
(escaped by `diffsvg`) are marked safe; the comparison is embedded as JSON through `tojson`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from profwork.renderers.flamesvg import asset
from profwork.renderers.html import _environment
from profwork.units import format_quantity, visible

if TYPE_CHECKING:
    from profwork.analyses.compare import Comparison, FunctionDelta, Side
    from profwork.model import Unit


def _relative(value: float | None) -> str:
    return "new" if value is None else f"{value:+.1%}"


def _cls(delta: float) -> str:
    return "up" if delta > 0 else "down" if delta < 0 else ""


def _signed(value: float, unit: Unit) -> str:
    text = format_quantity(abs(value), unit)
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def _calls(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def row(f: FunctionDelta, unit: Unit) -> dict[str, Any]:
    q = format_quantity
    return {
        "function": f.function,
        "module": f.module,
        "location": f.location,
        "cum_base": q(f.base.cumulative, unit) if f.base else "—",
        "cum_new": q(f.new.cumulative, unit) if f.new else "—",
        "cum_delta": _signed(f.cumulative_delta, unit),
        "cum_relative": _relative(f.cumulative_relative),
        "self_base": q(f.base.self, unit) if f.base else "—",
        "self_new": q(f.new.self, unit) if f.new else "—",
        "self_delta": _signed(f.self_delta, unit),
        "calls_base": _calls(f.base.calls) if f.base else "—",
        "calls_new": _calls(f.new.calls) if f.new else "—",
        "cls": _cls(f.cumulative_delta),
    }


def _side(role: str, side: Side) -> dict[str, str]:
    return {
        "role": role,
        "label": side.label,
        "method": side.method or "",
        "total": format_quantity(side.total, side.unit),
        "repeats": str(len(side.repeats)) if side.repeats else "",
    }


@dataclass(frozen=True)
class DiffReport:
    def render(self, comparison: Comparison, diff_svg: str | None, top: int = 10) -> bytes:
        from markupsafe import Markup

        unit = comparison.unit
        verdict = comparison.total_verdict
        target = comparison.new.target or comparison.base.target
        page = (
            _environment()
            .get_template("compare.html.j2")
            .render(
                title="profwork compare" + (f" — {target}" if target else ""),
                css=Markup(asset("report.css")),
                warnings=list(comparison.warnings),
                sides=[_side("base", comparison.base), _side("new", comparison.new)],
                total={
                    "delta": _signed(comparison.total_delta, unit),
                    "relative": _relative(comparison.total_relative),
                    "cls": _cls(comparison.total_delta),
                    "verdict": verdict.test if verdict else "",
                },
                tables=[
                    {
                        "id": "regressions",
                        "heading": "Top regressions",
                        "rows": [row(f, unit) for f in comparison.regressions(top)],
                        "empty": "No function got slower.",
                    },
                    {
                        "id": "improvements",
                        "heading": "Top improvements",
                        "rows": [row(f, unit) for f in comparison.improvements(top)],
                        "empty": "No function got faster.",
                    },
                ],
                diff_svg=Markup(diff_svg) if diff_svg else None,
                data=comparison.to_dict(top),
            )
        )
        return visible(page).encode("utf-8")
