"""What `compare` and `bench` show on the terminal: the comparison table, the gate's verdict, a
trend, bench figures. Profiled text goes to rich as `Text`, never as markup (as in `console`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from profwork.console import err, out
from profwork.console_fit import Justify, Named, fitted_table
from profwork.units import format_metric, format_quantity, metric_columns, visible

if TYPE_CHECKING:
    from profwork.analyses.compare import Comparison, FunctionDelta, GateResult
    from profwork.comparison import TrendPoint
    from profwork.model import Unit


SHOWN_FINDINGS = 5


def _signed(value: float, unit: Unit) -> str:
    return ("+" if value > 0 else "−" if value < 0 else "±") + format_quantity(abs(value), unit)


def _relative(value: float | None) -> str:
    return "new" if value is None else f"{value:+.1%}".replace("-", "−")  # the sign _signed uses


def _style(value: float) -> str:
    return "red" if value > 0 else "blue" if value < 0 else ""


def comparison(result: Comparison, top: int = 10) -> None:
    unit = result.unit
    for warning in result.warnings:
        err.print(Text(f"warning: {visible(warning)}", style="bold yellow"))
    base, new = result.base, result.new
    line = Text(f"total {format_quantity(base.total, unit)} → {format_quantity(new.total, unit)} ")
    line.append(
        f"{_signed(result.total_delta, unit)} ({_relative(result.total_relative)})",
        style=_style(result.total_delta),
    )
    if result.total_verdict is not None:
        line.append(f" · {result.total_verdict.test}")
    out.print(line)
    if not result.functions:
        return
    for title, rows in (
        ("Top regressions — cumulative time grown most", result.regressions(top)),
        ("Top improvements — cumulative time shrunk most", result.improvements(top)),
    ):
        if rows:
            out.print(_table(title, rows, unit))
        else:
            out.print(Text(f"{title.split(' — ')[0]}: none"))


COMPARE_COLUMNS: tuple[tuple[str, Justify], ...] = (
    ("function · location", "left"),
    ("base", "right"),
    ("new", "right"),
    ("Δ", "right"),
    ("Δ %", "right"),
    ("self Δ", "right"),
    ("calls Δ", "right"),
)


def _table(title: str, rows: Sequence[FunctionDelta], unit: Unit) -> Table:
    """Each function over its location (its module when the run has none), figures never cut:
    the table fits the terminal as the run's own tables do (`console_fit`)."""
    q = format_quantity
    cells: list[list[str | Text | Named]] = []
    for f in rows:
        style = _style(f.cumulative_delta)
        cells.append(
            [
                Named(visible(f.function), visible(f.location or f.module), "bold"),
                q(f.base.cumulative, unit) if f.base else "—",
                q(f.new.cumulative, unit) if f.new else "—",
                Text(_signed(f.cumulative_delta, unit), style=style),
                Text(_relative(f.cumulative_relative), style=style),
                _signed(f.self_delta, unit),
                "" if f.calls_delta is None else f"{f.calls_delta:+,}",
            ]
        )
    return fitted_table(Text(title), COMPARE_COLUMNS, cells, width=out.width)


def gate(result: GateResult) -> None:
    threshold = (
        f"{result.threshold:.0%}" if result.threshold * 100 % 1 == 0 else f"{result.threshold:.1%}"
    )
    for finding in result.findings[:SHOWN_FINDINGS]:
        verdict = "REGRESSION" if finding.counted else "noise"
        style = "bold red" if finding.counted else "yellow"
        out.print(
            Text(
                f"{verdict}: {visible(finding.subject)} {finding.relative:+.1%} ({finding.why})",
                style=style,
            )
        )
    if len(result.findings) > SHOWN_FINDINGS:
        out.print(Text(f"… and {len(result.findings) - SHOWN_FINDINGS} more (compare.json)"))
    if result.failed:
        out.print(Text(f"gate: failed (threshold {threshold})", style="bold red"))
    else:
        out.print(Text(f"gate: passed (threshold {threshold})", style="bold green"))


def written(path: Path) -> None:
    out.print(Text(f"run directory: {path}", style="bold green"))


def trend(points: Sequence[TrendPoint]) -> None:
    groups: dict[tuple[str, str], list[TrendPoint]] = {}
    for point in points:
        groups.setdefault((point.target, point.method), []).append(point)
    for (target, method), items in groups.items():
        what = "median of the bench" if method == "bench" else "body duration"
        table = Table(
            title=Text(f"Trend — {target} · {method} ({what}), oldest first"), title_justify="left"
        )
        for name in ("started", "value", "Δ previous", "Δ first", "run"):
            table.add_column(name, justify="right" if name != "run" else "left", overflow="fold")
        first = items[0].value
        previous: float | None = None
        for point in items:
            value = point.value
            change = _change(previous, value)
            overall = _change(first, value)
            table.add_row(
                point.started_at.replace("T", " ")[:19],
                format_quantity(value, "seconds") if value is not None else "",
                Text(change[0], style=change[1]),
                Text(overall[0], style=overall[1]),
                Text(str(point.path)),
            )
            previous = value
        out.print(table)


def _change(before: float | None, after: float | None) -> tuple[str, str]:
    if before is None or after is None or before <= 0:
        return "", ""
    relative = (after - before) / before
    return f"{relative:+.1%}", _style(relative)


def bench(stats: Mapping[str, float], metrics: Mapping[str, Mapping[str, float]]) -> None:
    table = Table(title=Text("Bench — the body, unprofiled"), title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    q = format_quantity
    table.add_row("iterations", f"{int(stats['iterations']):,}")
    for key in ("mean", "median", "p95", "p99", "stdev", "min", "max"):
        table.add_row(key, q(stats[key], "seconds"))
    table.add_row("iterations/s", f"{stats['per_second']:,.2f}")
    table.add_row("peak RSS", q(stats["peak_rss"], "bytes"))
    out.print(table)
    if metrics:
        columns = metric_columns(metrics)
        figures = Table(
            title=Text("Target metrics — the median over the iterations"), title_justify="left"
        )
        figures.add_column("name", overflow="fold")
        for column in columns:
            figures.add_column(column, justify="right")
        for name, values in metrics.items():
            figures.add_row(
                Text(visible(str(name))),
                *(format_metric(c, values[c]) if c in values else "" for c in columns),
            )
        out.print(figures)


def progress() -> Any:
    """A rich progress bar on stderr (shown only on a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def written_baseline(path: Path) -> None:
    out.print(Text(f"baseline saved: {path}", style="bold green"))
