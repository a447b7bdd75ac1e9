"""Everything the terminal shows: rich tables, stage lines, the one-line error.

Profiled text (function names, paths) is passed to rich as `Text`, never as markup, so a name
like `[bold]` or `[/]` is shown as written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from profwork.model import FrameKind
from profwork.units import format_metric, format_quantity, metric_columns

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.errors import ProfworkError
    from profwork.methods.pyspy import ThreadDump
    from profwork.rundir import Manifest
    from profwork.targets import Target

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_KIND_STYLE = {
    FrameKind.USER: "bold",
    FrameKind.STDLIB: "cyan",
    FrameKind.THIRD_PARTY: "magenta",
    FrameKind.NATIVE: "yellow",
    FrameKind.PROFWORK: "dim",
}


def error(exc: ProfworkError) -> None:
    """One line on stderr: what went wrong and what to do about it."""
    line = f"profwork: error: {exc.message}"
    if exc.remedy:
        line += f" — {exc.remedy}"
    sys.stderr.write(line.replace("\n", " ") + "\n")


def stage(message: str) -> None:
    """Progress, shown only on a terminal (logs and pipes get results and errors only)."""
    if err.is_terminal:
        err.print(Text(f"• {message}…", style="dim"))


def _calls(calls: int | None, primitive: int | None) -> str:
    if calls is None:
        return ""
    return f"{calls}/{primitive}" if primitive is not None and primitive != calls else str(calls)


def summary(summary: Summary, *, title: str = "") -> None:
    unit = summary.unit

    def q(value: float) -> str:
        # sample counts are plain numbers (the unit is in the title), not "N samples" per cell
        return f"{value:,.0f}" if unit == "samples" else format_quantity(value, unit)

    meta = summary.metadata
    head = [f"total {format_quantity(summary.total, unit)}"]
    if meta.get("method"):
        head.insert(0, str(meta["method"]))
    if meta.get("duration"):
        head.append(f"body {meta['duration']:.3f} s")
    if meta.get("status") and meta["status"] != "ok":
        head.append(f"status {meta['status']}")

    table = Table(
        title=Text(f"Bottlenecks — {title}  ({', '.join(head)})" if title else "Bottlenecks"),
        title_justify="left",
        expand=False,
    )
    for name, justify in (
        ("#", "right"),
        ("function", "left"),
        ("location", "left"),
        ("calls", "right"),
        ("self", "right"),
        ("own", "right"),
        ("cumulative", "right"),
        ("share", "right"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for i, r in enumerate(summary.bottlenecks, 1):
        style = _KIND_STYLE.get(r.frame.kind, "")
        table.add_row(
            str(i),
            Text(r.frame.function, style=style),
            Text(_short(r.frame.location), style="dim"),
            _calls(r.calls, r.primitive_calls),
            q(r.self),
            q(r.own),
            q(r.cumulative),
            f"{r.share:.1%}",
        )
    out.print(table)

    if summary.hotspots:
        hot = Table(title=Text("Hotspots — user functions by own time"), title_justify="left")
        hot.add_column("#", justify="right")
        hot.add_column("function", overflow="fold")
        hot.add_column("location", overflow="fold")
        hot.add_column("own", justify="right")
        hot.add_column("share", justify="right")
        total = summary.total or 1.0
        for i, r in enumerate(summary.hotspots[:10], 1):
            hot.add_row(
                str(i),
                Text(r.frame.function, style="bold"),
                Text(_short(r.frame.location), style="dim"),
                q(r.own),
                f"{r.own / total:.1%}",
            )
        out.print(hot)

    if summary.hot_paths:
        out.print(Text("Heaviest paths", style="bold"))
        for p in summary.hot_paths[:3]:
            chain = " → ".join(f.function for f in p.stack[-6:])
            prefix = "… → " if len(p.stack) > 6 else ""
            out.print(Text(f"  {q(p.weight):>10} {p.share:6.1%}  {prefix}{chain}"))

    if summary.target_metrics:
        metrics = Table(title=Text("Target metrics"), title_justify="left")
        keys = metric_columns(summary.target_metrics)
        metrics.add_column("name")
        for k in keys:
            metrics.add_column(k, justify="right")
        for name, values in summary.target_metrics.items():
            metrics.add_row(
                Text(name), *(format_metric(k, values[k]) if k in values else "" for k in keys)
            )
        out.print(metrics)
    for note in summary.notes:
        out.print(Text(f"note: {note}", style="dim"))


def _short(location: str) -> str:
    """Paths relative to the working directory when they are under it."""
    if not location:
        return ""
    try:
        return str(Path(location).relative_to(Path.cwd()))
    except ValueError:
        return location


def run_done(path: Path, status: str, error: str | None) -> None:
    if status != "ok" and error:
        last = error.strip().splitlines()[-1]
        err.print(Text(f"run {status}: {last}", style="bold red"))
    out.print(Text(f"run directory: {path}", style="bold green" if status == "ok" else "bold"))


def runs(items: Iterable[tuple[Path, Manifest]]) -> None:
    table = Table(title=Text("Runs, newest first"), title_justify="left")
    for name in ("started", "target", "method", "status", "duration", "path"):
        justify = "right" if name == "duration" else "left"
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    count = 0
    for path, m in items:
        count += 1
        duration = f"{m.duration:.3f} s" if m.duration is not None else ""
        style = {"ok": "green", "error": "red", "interrupted": "yellow"}.get(m.status, "")
        table.add_row(
            m.started_at.replace("T", " ")[:19],  # local time, to the second
            Text(m.target),
            m.method,
            Text(m.status, style=style),
            duration,
            Text(str(path)),
        )
    if count:
        out.print(table)
    else:
        out.print("no runs found")


def targets(items: Sequence[tuple[str, Target | None, str | None]]) -> None:
    table = Table(title=Text("Targets"), title_justify="left", show_lines=True)
    for name in ("name", "description", "parameters", "sizes"):
        table.add_column(name, overflow="fold")
    for name, target, problem in items:
        if target is None:
            table.add_row(Text(name), Text(f"unavailable: {problem}", style="red"), "", "")
            continue
        params = "\n".join(
            f"{p.name}: {p.type_name}" + ("" if p.required else f" = {p.default!r}")
            for p in target.parameters
        )
        sizes = "\n".join(
            f"{size}: " + ", ".join(f"{k}={v}" for k, v in values.items())
            for size, values in target.sizes.items()
        )
        table.add_row(Text(name, style="bold"), Text(target.description), Text(params), sizes)
    out.print(table)


def dump(pid: int, threads: Sequence[ThreadDump]) -> None:
    """Every thread's current stack, outermost call first, as `py-spy dump` shows it."""
    for thread in threads:
        state = "active" if thread.active else "idle"
        if thread.owns_gil:
            state += ", holds the GIL"
        title = f"process {pid} · thread {thread.thread} ({thread.native_id}) · {state}"
        table = Table(title=Text(title), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("function")
        table.add_column("location")
        for depth, (function, file, line) in enumerate(thread.frames):
            table.add_row(str(depth), Text(function, style="bold"), Text(f"{_short(file)}:{line}"))
        out.print(table)
    if not threads:
        out.print("no Python threads")


def text(message: Any) -> None:
    out.print(Text(str(message)))
