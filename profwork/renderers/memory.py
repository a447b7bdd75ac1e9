"""The memory section of every output, the RSS timeline chart, and `memory.json`.

- `timeline_svg`: RSS over time as an inline `<svg>` (no script, no external file), with the
  body's start and end marked and, under `--repeat`, the end of each iteration. Only numbers
  and our own labels go into it.
- `markdown`: the section of `summary.md`; names and paths as code spans (`summary.md_code`).
- `html`: the template context of `report.html`'s memory section (autoescaped by the template;
  only the chart is marked safe, and it holds no profiled text).
- `MEMORY_JSON`: `memory.json`, written for runs that have memory figures (`applies`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from profwork.units import format_quantity

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.analyses.memory import AllocationSite, MemoryReport
    from profwork.model import Profile

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 36


def mb(value: float) -> str:
    """A threshold as it is given (`--leak-threshold` is in MB, 10^6 bytes)."""
    return f"{value / 1e6:g} MB"


def b(value: float | None) -> str:
    return "" if value is None else format_quantity(value, "bytes")


def timeline_svg(report: MemoryReport) -> str:
    """RSS over time: a line, the body's start and end as dashed verticals, iterations dotted."""
    points = list(report.timeline)
    if not points:
        return ""
    t_max = max([t for t, _ in points] + list(report.marks.values()) + [1e-9])
    low = float(min(v for _, v in points))
    high = float(max(v for _, v in points))
    span = (high - low) or max(high, 1)
    low = max(0, low - span * 0.1)
    high = high + span * 0.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / t_max

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / (high - low))

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts = [
        f'<svg class="rss-timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="RSS over time">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = low + (high - low) * fraction
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{b(value)}</text>"
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11">0 s</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">'
        f"{format_quantity(t_max, 'seconds')}</text>"
    )
    for name, at in sorted(report.marks.items(), key=lambda kv: kv[1]):
        body = name in ("body_start", "body_end")
        label = {"body_start": "body start", "body_end": "body end"}.get(name, "")
        parts.append(
            f'<line class="mark mark-{name.replace("_", "-")}" x1="{x(at):.1f}" y1="{TOP}" '
            f'x2="{x(at):.1f}" y2="{TOP + plot_h}" stroke="{"#c0392b" if body else "#999"}" '
            f'stroke-dasharray="{"6,3" if body else "2,3"}"/>'
        )
        if label:
            anchor = "start" if name == "body_start" else "end"
            shift = 4 if name == "body_start" else -4
            parts.append(
                f'<text x="{x(at) + shift:.1f}" y="{TOP + 12}" font-size="11" fill="#c0392b" '
                f'text-anchor="{anchor}">{label}</text>'
            )
    parts.append(f'<polyline fill="none" stroke="#2c7fb8" stroke-width="2" points="{line}"/>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" font-size="11" '
        'text-anchor="middle">RSS over time</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _figures(report: MemoryReport) -> list[tuple[str, str]]:
    figures = [
        ("Traced peak (tracemalloc)", b(report.traced_peak)),
        ("Traced at the end", b(report.traced_end)),
        ("RSS at the start", b(report.rss_start)),
        ("RSS at the end", b(report.rss_end)),
        ("Peak RSS", b(report.rss_peak)),
        ("Frame depth", str(report.frame_depth)),
    ]
    if report.traced_peak and report.peak_snapshot_size:
        figures.append(
            (
                "Peak snapshot",
                f"{b(report.peak_snapshot_size)} "
                f"({min(1.0, report.peak_snapshot_size / report.traced_peak):.0%} of the peak)",
            )
        )
    return figures


def _site_cells(site: AllocationSite) -> dict[str, Any]:
    return {
        "function": site.frame.function,
        "location": site.location,
        "kind": site.frame.kind.value,
        "end": b(site.end_bytes),
        "end_count": f"{site.end_count:,}",
        "peak": b(site.peak_bytes),
        "peak_count": f"{site.peak_count:,}",
        "retained": [b(r) for r in site.retained],
        "growth": b(site.growth),
        "steady": site.grew_every_iteration,
    }


def html(report: MemoryReport | None) -> dict[str, Any] | None:
    """The context of `report.html`'s memory section."""
    if report is None:
        return None
    from markupsafe import Markup

    leak = report.leak
    return {
        "figures": _figures(report),
        "chart": Markup(timeline_svg(report)),
        "by_end": [_site_cells(s) for s in report.by_end],
        "by_peak": [_site_cells(s) for s in report.by_peak],
        "leak": None
        if leak is None
        else {
            "repeat": leak.repeat,
            "leaking": leak.leaking,
            "reasons": list(leak.reasons),
            "threshold": mb(leak.threshold),
            "traced_growth": b(leak.traced_growth),
            "rss_growth": b(leak.rss_growth),
            "sites": [_site_cells(s) for s in leak.sites],
        },
    }


def markdown(report: MemoryReport | None) -> list[str]:
    """The memory section of `summary.md` (no lines when the run has no memory figures)."""
    if report is None:
        return []
    from profwork.renderers.summary import md_code, md_text

    lines = ["", "## Memory", ""]
    lines += [f"- **{label}**: {md_text(value)}" for label, value in _figures(report)]

    def table(title: str, sites: tuple[AllocationSite, ...]) -> None:
        lines.extend(["", f"### {title}", ""])
        if not sites:
            lines.append("None.")
            return
        lines.extend(
            [
                "| # | function | line | at the end | count | at the peak | count |",
                "|--:|---|---|--:|--:|--:|--:|",
            ]
        )
        for i, s in enumerate(sites, 1):
            lines.append(
                f"| {i} | {md_code(s.frame.function, in_table=True)} | "
                f"{md_code(s.location, in_table=True)} | {b(s.end_bytes)} | {s.end_count:,} | "
                f"{b(s.peak_bytes)} | {s.peak_count:,} |"
            )

    table("Allocation sites by bytes still allocated at the end", report.by_end)
    table("Allocation sites by bytes at the peak", report.by_peak)
    leak = report.leak
    if leak is not None:
        verdict = "**probable leak**" if leak.leaking else "no leak found"
        lines += [
            "",
            f"### Leak check ({leak.repeat} iterations after one warm-up): {verdict}",
            "",
            f"- traced memory retained over the repeats: {b(leak.traced_growth)} "
            f"(threshold {mb(leak.threshold)})",
            f"- RSS growth over the repeats: {b(leak.rss_growth) or 'unknown'}",
        ]
        lines += [f"- {md_text(reason)}" for reason in leak.reasons]
        if leak.sites:
            lines += [
                "",
                "| # | function | line | retained per iteration | total | every iteration |",
                "|--:|---|---|---|--:|---|",
            ]
            for i, s in enumerate(leak.sites, 1):
                per = ", ".join(b(r) for r in s.retained)
                lines.append(
                    f"| {i} | {md_code(s.frame.function, in_table=True)} | "
                    f"{md_code(s.location, in_table=True)} | {per} | {b(s.growth)} | "
                    f"{'yes' if s.grew_every_iteration else 'no'} |"
                )
    return lines


class MemoryJson:
    """`memory.json`: the memory figures of a run (`MemoryReport.to_dict`)."""

    name = "memory"
    filename = "memory.json"
    # what `profwork convert --to memory` says of a run without memory figures
    needs = "only runs of -m memory have memory figures"
    remedy = "profile with `profwork run TARGET -m memory`, then convert that run"

    def applies(self, profile: Profile, summary: Summary) -> bool:
        return summary.memory is not None

    def render(self, profile: Profile, summary: Summary) -> bytes:
        data = summary.memory.to_dict() if summary.memory is not None else {}
        return json.dumps(data, indent=1, allow_nan=False).encode("utf-8")


MEMORY_JSON = MemoryJson()
