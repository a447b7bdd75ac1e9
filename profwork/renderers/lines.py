"""The line-timing section of `summary.md` and `report.html` (the `line` method).

Each timed function is shown as its source with hits, time per hit, time and share per line,
and the hottest lines are ranked across functions. Source text is profiled text: in Markdown it
goes into a fenced code block whose fence is longer than any backtick run inside, and in HTML
the template escapes it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from profwork.units import format_quantity, format_share, visible

if TYPE_CHECKING:
    from profwork.analyses.lines import LineReport, LineRow


def _s(value: float | None) -> str:
    return "" if value is None else format_quantity(value, "seconds")


def chosen_text(report: LineReport) -> str:
    if report.chosen_by == "hottest":
        return (
            "Functions chosen: the hottest user functions of a quick cProfile pass "
            "(name others with --function)."
        )
    return "Functions chosen with --function."


def _cells(row: LineRow) -> dict[str, Any]:
    return {
        "line": row.line,
        "source": row.source,
        "hits": f"{row.hits:,}" if row.hits else "",
        "per_hit": _s(row.per_hit) if row.hits else "",
        "time": _s(row.time) if row.hits else "",
        "share": format_share(row.share) if row.hits else "",
        "bar": f"{max(0.0, min(1.0, row.share)) * 100:.1f}",
        "hot": row.share >= 0.2,
    }


def html(report: LineReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "chosen": chosen_text(report),
        "functions": [
            {
                "name": f.name,
                "function": f.frame.function,
                "location": f.frame.location,
                "total": _s(f.total),
                "rows": [_cells(r) for r in f.rows],
            }
            for f in report.functions
        ],
        "hottest": [
            {
                "function": h.function.frame.function,
                "location": f"{h.function.frame.file}:{h.row.line}",
                "source": h.row.source.strip(),
                "hits": f"{h.row.hits:,}",
                "per_hit": _s(h.row.per_hit),
                "time": _s(h.row.time),
                "share": format_share(h.share),
            }
            for h in report.hottest
        ],
    }


def markdown(report: LineReport | None) -> list[str]:
    if report is None:
        return []
    from profwork.renderers.summary import md_code, md_text

    lines = ["", "## Line timing", "", md_text(chosen_text(report)), ""]
    lines += ["### Hottest lines", ""]
    if report.hottest:
        lines += [
            "| # | function | line | source | hits | per hit | time | share |",
            "|--:|---|---|---|--:|--:|--:|--:|",
        ]
        for i, h in enumerate(report.hottest, 1):
            lines.append(
                f"| {i} | {md_code(h.function.frame.function, in_table=True)} | "
                f"{md_code(f'{h.function.frame.file}:{h.row.line}', in_table=True)} | "
                f"{md_code(h.row.source.strip(), in_table=True)} | {h.row.hits:,} | "
                f"{_s(h.row.per_hit)} | {_s(h.row.time)} | {format_share(h.share)} |"
            )
    else:
        lines.append("No timed line ran.")
    for f in report.functions:
        lines += [
            "",
            f"### {md_code(f.frame.function)} ({md_code(f.frame.location)}), {_s(f.total)}",
            "",
        ]
        body = []
        for r in f.rows:
            cells = _cells(r)
            body.append(
                f"{r.line:>6} {cells['hits']:>10} {cells['per_hit']:>10} {cells['time']:>10} "
                f"{cells['share']:>6}  {visible(r.source)}"
            )
        longest = max((len(run) for run in re.findall(r"`+", "\n".join(body))), default=0)
        fence = "`" * max(3, longest + 1)
        header = f"{'line':>6} {'hits':>10} {'per hit':>10} {'time':>10} {'share':>6}  source"
        lines += [fence, header, *body, fence]
    return lines
