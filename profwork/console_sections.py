"""The terminal's memory and line-timing sections, kept apart from `console.py`'s core tables.

Each function gives rich renderables for `console.summary` to print; profiled text (function
names, paths, source lines) goes in as `Text`, never as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from profwork.console_fit import Justify, Named, fitted_table
from profwork.units import format_quantity, format_share, visible

if TYPE_CHECKING:
    from rich.console import RenderableType

    from profwork.analyses.lines import LineReport
    from profwork.analyses.memory import AllocationSite, MemoryReport


def _short(location: str) -> str:
    """A location relative to the working directory when it is under it."""
    from pathlib import Path

    try:
        return str(Path(location).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return location


def mb(value: float) -> str:
    """A threshold as it is given (`--leak-threshold` is in MB, 10^6 bytes)."""
    return f"{value / 1e6:g} MB"


def _b(value: float | None) -> str:
    return "" if value is None else format_quantity(value, "bytes")


def _s(value: float | None) -> str:
    return "" if value is None else format_quantity(value, "seconds")


def memory(report: MemoryReport | None, top: int = 10, width: int = 80) -> list[RenderableType]:
    if report is None:
        return []
    figures = (
        f"memory: traced peak {_b(report.traced_peak)} · traced at the end "
        f"{_b(report.traced_end)} · RSS {_b(report.rss_start)} → {_b(report.rss_end)}, "
        f"peak {_b(report.rss_peak)} · frame depth {report.frame_depth}"
    )
    out: list[RenderableType] = [Text(figures, style="bold")]

    def sites(title: str, rows: tuple[AllocationSite, ...]) -> None:
        if not rows:
            return
        cells: list[list[str | Text | Named]] = [
            [
                str(i),
                Named(visible(s.frame.function), visible(s.location), "bold"),
                _b(s.end_bytes),
                f"{s.end_count:,}",
                _b(s.peak_bytes),
                f"{s.peak_count:,}",
            ]
            for i, s in enumerate(rows[:top], 1)
        ]
        columns: tuple[tuple[str, Justify], ...] = (
            ("#", "right"),
            ("function · line", "left"),
            ("at the end", "right"),
            ("count", "right"),
            ("at the peak", "right"),
            ("count", "right"),
        )
        out.append(fitted_table(Text(title), columns, cells, width=width))

    sites("Allocation sites by bytes at the peak", report.by_peak)
    sites("Allocation sites by bytes still allocated at the end", report.by_end)
    leak = report.leak
    if leak is not None:
        verdict = "probable leak" if leak.leaking else "no leak found"
        out.append(
            Text(
                f"leak check ({leak.repeat} iterations after one warm-up): {verdict} · "
                f"retained {_b(leak.traced_growth)} (threshold {mb(leak.threshold)}) · "
                f"RSS growth {_b(leak.rss_growth) or 'unknown'}",
                style="bold red" if leak.leaking else "bold green",
            )
        )
        out.extend(Text(f"  {visible(reason)}") for reason in leak.reasons)
        for s in leak.sites[:5]:
            per = ", ".join(_b(r) for r in s.retained)
            where = f"{visible(s.frame.function)} {visible(_short(s.location))}"
            out.append(Text(f"  {where}: {per} per iteration"))
    return out


def lines(report: LineReport | None, top: int = 10, width: int = 80) -> list[RenderableType]:
    if report is None:
        return []
    cells: list[list[str | Text | Named]] = [
        [
            str(i),
            Named(
                visible(h.function.frame.function),
                visible(f"{h.function.frame.file}:{h.row.line}"),
                "bold",
                visible(h.row.source.strip()),
            ),
            f"{h.row.hits:,}",
            _s(h.row.per_hit),
            _s(h.row.time),
            format_share(h.share),
        ]
        for i, h in enumerate(report.hottest[:top], 1)
    ]
    columns: tuple[tuple[str, Justify], ...] = (
        ("#", "right"),
        ("function · line · source", "left"),
        ("hits", "right"),
        ("per hit", "right"),
        ("time", "right"),
        ("share", "right"),
    )
    table = fitted_table(Text("Hottest lines"), columns, cells, width=width)
    chosen = ", ".join(f.frame.function for f in report.functions)
    how = "the hottest of a cProfile pass" if report.chosen_by == "hottest" else "named"
    return [Text(f"line timing of {chosen} ({how})", style="bold"), table]
