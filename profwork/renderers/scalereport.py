"""What `profwork scale` writes beside the size runs: `scale.svg` (log-log chart), `summary.md`
and `report.html`. Self-contained (no script, no external resource); every name, path and
statement comes from profiled code and is escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from profwork.analyses.scale import (
    N1_GROWTH,
    SHOWN,
    SUPERLINEAR,
    FunctionGrowth,
    Scaling,
    StatementGrowth,
)
from profwork.renderers.flamesvg import escape
from profwork.renderers.summary import md_code, md_text
from profwork.units import format_quantity

PANEL_W, PANEL_H = 440, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 64, 44
LEGEND_LINE = 16
SERIES = 6  # lines per panel
# Okabe–Ito: colour-blind-safe
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


def _exp(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- the chart -----------------------------------------------------------------------------------


def _series_time(scaling: Scaling) -> list[tuple[str, Sequence[float | None], float | None]]:
    out: list[tuple[str, Sequence[float | None], float | None]] = [
        ("total", scaling.totals, scaling.total_exponent)
    ]
    chosen: list[FunctionGrowth] = list(scaling.superlinear)
    chosen += [f for f in scaling.functions if f not in chosen and f.time_exponent is not None]
    out += [(f.function, f.times, f.time_exponent) for f in chosen[: SERIES - 1]]
    return out


def _series_count(scaling: Scaling) -> list[tuple[str, Sequence[float | None], float | None]]:
    chosen: list[StatementGrowth] = list(scaling.nplusone)
    chosen += [s for s in scaling.statements if s not in chosen]
    out: list[tuple[str, Sequence[float | None], float | None]] = [
        (s.statement, [float(c) for c in s.counts], s.count_exponent) for s in chosen[:SERIES]
    ]
    if not out:  # no SQL: the call counts of the functions that grow most
        counted = [f for f in scaling.functions if f.calls_exponent is not None]
        counted.sort(key=lambda f: -(f.calls_exponent or 0.0))
        out += [
            (f.function, [None if c is None else float(c) for c in f.calls], f.calls_exponent)
            for f in counted[:SERIES]
        ]
    return out


def _panel(
    x0: float,
    title: str,
    unit: str,
    ns: Sequence[float],
    series: list[tuple[str, Sequence[float | None], float | None]],
) -> list[str]:
    plot_w, plot_h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
    out = [f'<g class="panel" transform="translate({x0},0)">']
    out.append(f'<text x="{LEFT}" y="20" font-size="13" font-weight="600">{escape(title)}</text>')
    values = [v for _, vs, _ in series for v in vs if v is not None and v > 0]
    if not values:
        out.append(f'<text x="{LEFT}" y="{TOP + 20}" fill="#4b5563">nothing to plot</text></g>')
        return out
    lo_x, hi_x = math.log10(min(ns)), math.log10(max(ns))
    lo_y, hi_y = math.log10(min(values)), math.log10(max(values))
    if hi_y - lo_y < 1e-9:
        lo_y, hi_y = lo_y - 0.5, hi_y + 0.5
    pad = (hi_y - lo_y) * 0.05
    lo_y, hi_y = lo_y - pad, hi_y + pad

    def x_of(n: float) -> float:
        return LEFT + (math.log10(n) - lo_x) / ((hi_x - lo_x) or 1.0) * plot_w

    def y_of(v: float) -> float:
        return TOP + plot_h - (math.log10(v) - lo_y) / (hi_y - lo_y) * plot_h

    base = TOP + plot_h
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#f9fafb" '
        'stroke="#9ca3af"/>'
    )
    for n in ns:
        x = x_of(n)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{base}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">{n:g}</text>')
    for decade in range(math.ceil(lo_y), math.floor(hi_y) + 1):
        y = y_of(10.0**decade)
        label = format_quantity(10.0**decade, "seconds") if unit == "s" else f"{10.0**decade:g}"
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e5e7eb"/>'
        )
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{base + 32}" text-anchor="middle" '
        'fill="#4b5563">n (log scale)</text>'
    )
    for i, (name, vs, k) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = [(x_of(n), y_of(v), n, v) for n, v in zip(ns, vs, strict=True) if v and v > 0]
        label = f"{_short(name, 48)} · n^{_exp(k)}"
        out.append(f'<g class="series"><title>{escape(name)} — exponent {_exp(k)}</title>')
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for x, y, n, v in points:
            shown = format_quantity(v, "seconds") if unit == "s" else f"{v:,.0f}"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)}: {escape(shown)} at n = {n:g}</title></circle>"
            )
        out.append("</g>")
        legend_y = base + 48 + i * LEGEND_LINE
        out.append(f'<rect x="{LEFT}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text class="legend" x="{LEFT + 14}" y="{legend_y}">{escape(label)}</text>')
    out.append("</g>")
    return out


def chart(scaling: Scaling) -> str:
    """Two log-log panels over n: time (the total and the functions), and counts (each
    statement's executions; without SQL, the calls of the functions whose calls grow most)."""
    time_series, count_series = _series_time(scaling), _series_count(scaling)
    rows = max(len(time_series), len(count_series))
    width, height = 2 * PANEL_W, PANEL_H + 48 + rows * LEGEND_LINE
    counts_title = "executions per statement" if scaling.statements else "calls per function"
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Scaling chart" '
        'font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="40" fill="#4b5563">{escape(scaling.target)} · n = '
        f"{escape(scaling.measure)} · log-log; the slope of a line is its growth exponent</text>",
        *_panel(0, "time (own time per function)", "s", scaling.ns, time_series),
        *_panel(PANEL_W, counts_title, "count", scaling.ns, count_series),
        "</svg>",
    ]
    return "\n".join(out) + "\n"


# ---- summary.md ----------------------------------------------------------------------------------


def _md(text: str) -> str:
    """A table cell's code span that shows `text` as written (`|` escaped, fence widened)."""
    return md_code(text, in_table=True)


def _figures(values: Sequence[float | int | None], unit: str) -> str:
    shown = []
    for v in values:
        if v is None:
            shown.append("—")
        elif unit == "s":
            shown.append(format_quantity(float(v), "seconds"))
        else:
            shown.append(f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")
    return " → ".join(shown)


def markdown(scaling: Scaling) -> str:
    sizes = ", ".join(f"{s} (n = {n:g})" for s, n in zip(scaling.sizes, scaling.ns, strict=True))
    lines = [
        f"# Scaling: {md_text(scaling.target)}",
        "",
        f"- **Verdict**: {md_text(scaling.verdict)}",
        f"- **Method**: {scaling.method} (times: {scaling.clock})",
        f"- **Sizes**: {md_text(sizes)}; n = {md_text(scaling.measure)}",
        f"- **Total**: {_figures(scaling.totals, 's')} (n^{_exp(scaling.total_exponent)})",
        f"- **Runs**: {'; '.join(', '.join(group) for group in scaling.runs)}",
        "",
        f"## Super-linear functions (time exponent ≥ {SUPERLINEAR})",
        "",
    ]
    if scaling.superlinear:
        lines += [
            "| function | time exponent | own time at each size | calls exponent | location |",
            "|---|---|---|---|---|",
        ]
        for f in scaling.superlinear:
            lines.append(
                f"| {_md(f.function)} | {_exp(f.time_exponent)} | {_figures(f.times, 's')} | "
                f"{_exp(f.calls_exponent)} | {_md(f.location)} |"
            )
    else:
        lines.append("None found.")
    lines += ["", f"## N+1 statements (executions per call of the caller grow ≥ n^{N1_GROWTH})", ""]
    if scaling.nplusone:
        lines += [
            "| statement | executions | caller | caller's calls | per call exponent |",
            "|---|---|---|---|---|",
        ]
        for s in scaling.nplusone:
            lines.append(
                f"| {_md(s.statement)} | {_figures(s.counts, 'count')} (n^{_exp(s.count_exponent)})"
                f" | {_md(s.caller)} | {_figures(s.caller_counts, 'count')} ({s.caller_measure},"
                f" n^{_exp(s.caller_exponent)}) | {_exp(s.per_caller_exponent)} |"
            )
    else:
        lines.append("None found." if scaling.statements else "None found (no SQL captured).")
    lines += [
        "",
        "## Functions (by own time at the largest size)",
        "",
        "| function | time exponent | own time at each size | calls exponent |",
        "|---|---|---|---|",
    ]
    for f in scaling.functions[:SHOWN]:
        lines.append(
            f"| {_md(f.function)} | {_exp(f.time_exponent)} | {_figures(f.times, 's')} | "
            f"{_exp(f.calls_exponent)} |"
        )
    lines += ["", "Chart: `scale.svg`. Each size's runs are listed above.", ""]
    return "\n".join(lines)


# ---- report.html ---------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(scaling: Scaling, *, svg: str) -> str:
    """The scale run's page: verdict, the chart (inline: the page is self-contained), the
    findings, and a link to each size's report."""
    inline = svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg
    sizes = "".join(
        f"<li>{_e(s)} (n = {n:g}, total {_e(format_quantity(t, 'seconds'))}): "
        + ", ".join(
            f'<a href="{_e(run)}/report.html">run {i + 1}</a>' for i, run in enumerate(group)
        )
        + "</li>"
        for s, n, group, t in zip(
            scaling.sizes, scaling.ns, scaling.runs, scaling.totals, strict=True
        )
    )

    def table(head: Sequence[str], rows: list[Sequence[str]]) -> str:
        if not rows:
            return "<p>None found.</p>"
        cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
        header = "".join(f"<th>{_e(h)}</th>" for h in head)
        return f"<table><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table>"

    superlinear = table(
        ["function", "time exponent", "own time at each size", "calls exponent", "location"],
        [
            [
                f"<code>{_e(f.function)}</code>",
                _exp(f.time_exponent),
                _e(_figures(f.times, "s")),
                _exp(f.calls_exponent),
                f"<code>{_e(f.location)}</code>",
            ]
            for f in scaling.superlinear
        ],
    )
    nplusone = table(
        ["statement", "executions at each size", "caller", "caller's calls", "per call exponent"],
        [
            [
                f"<code>{_e(s.statement)}</code>",
                _e(f"{_figures(s.counts, 'count')} (n^{_exp(s.count_exponent)})"),
                f"<code>{_e(s.caller)}</code>",
                _e(
                    f"{_figures(s.caller_counts, 'count')} ({s.caller_measure}, "
                    f"n^{_exp(s.caller_exponent)})"
                ),
                _exp(s.per_caller_exponent),
            ]
            for s in scaling.nplusone
        ],
    )
    functions = table(
        ["function", "time exponent", "own time at each size", "calls exponent"],
        [
            [
                f"<code>{_e(f.function)}</code>",
                _exp(f.time_exponent),
                _e(_figures(f.times, "s")),
                _exp(f.calls_exponent),
            ]
            for f in scaling.functions[:SHOWN]
        ],
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Scaling · {_e(scaling.target)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #111827; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #d1d5db; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
code {{ word-break: break-all; }}
.verdict {{ font-size: 1.15em; font-weight: 600; }}
</style></head><body>
<h1>Scaling: {_e(scaling.target)}</h1>
<p class="verdict" id="verdict">{_e(scaling.verdict)}</p>
<p>Method {_e(scaling.method)} (times: {_e(scaling.clock)}); n = {_e(scaling.measure)}; total
time grows as
n^{_exp(scaling.total_exponent)}.</p>
<ul id="sizes">{sizes}</ul>
<figure id="chart">{inline}</figure>
<section id="superlinear"><h2>Super-linear functions (time exponent ≥ {SUPERLINEAR})</h2>
{superlinear}</section>
<section id="nplusone"><h2>N+1 statements (executions per call of the caller grow ≥
n^{N1_GROWTH})</h2>
{nplusone}</section>
<section id="functions"><h2>Functions by own time at the largest size</h2>
{functions}</section>
</body></html>
"""
