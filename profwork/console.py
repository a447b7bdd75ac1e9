"""Everything the terminal shows: rich tables, stage lines, the one-line error.

Profiled text (function names, paths) is passed to rich as `Text`, never as markup, so a name
like `[bold]` or `[/]` is shown as written.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from profwork.analyses import elide
from profwork.console_fit import Justify, Named, fitted_table, short_location, shorten_paths
from profwork.errors import OutputError
from profwork.model import Frame, FrameKind
from profwork.units import (
    format_calls,
    format_count,
    format_fact,
    format_metric,
    format_quantity,
    format_share,
    metric_columns,
    visible,
)

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.errors import ProfworkError
    from profwork.processes import ThreadDump
    from profwork.rundir import Manifest
    from profwork.targets import Target


class _Stdout(io.TextIOBase):
    """`sys.stdout` as the console's file. A write that fails (`> /dev/full`, a pipe whose
    reader has gone) raises `OutputError` for `cli.main` to report in one line, and stdout is
    pointed at /dev/null, so that what is still buffered cannot fail again at exit with a
    traceback of the interpreter's own."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as exc:
            raise stdout_failed(exc) from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as exc:
            raise stdout_failed(exc) from None

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return sys.stdout.encoding


def stdout_failed(exc: OSError) -> OutputError:
    """The error for a failed write to stdout, which is pointed at /dev/null from now on."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    return OutputError(
        f"cannot write to standard output: {exc.strerror or exc}",
        remedy="free some space or send the output somewhere else",
        closed=isinstance(exc, BrokenPipeError),
    )


out = Console(file=cast(IO[str], _Stdout()), highlight=False)
err = Console(stderr=True, highlight=False)

_KIND_STYLE = {
    FrameKind.USER: "bold",
    FrameKind.STDLIB: "cyan",
    FrameKind.THIRD_PARTY: "magenta",
    FrameKind.NATIVE: "yellow",
    FrameKind.PROFWORK: "dim",
}


def flush() -> None:
    """Everything printed so far reaches stdout (or its failure is an `OutputError`)."""
    out.file.flush()


def write_bytes(data: bytes) -> None:
    """An artefact's bytes on stdout as they are (`report --format json`)."""
    flush()
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as exc:
        raise stdout_failed(exc) from None


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


def progress() -> AbstractContextManager[Callable[[str], None]]:
    """Transient progress on stderr while a command works (`console_progress.progress`): the
    `on_stage` callback, drawn and erased on a terminal only."""
    from profwork.console_progress import progress as shown

    return shown(err)


def _name(frame: Frame) -> str:
    return visible(frame.function)


def verdict(summary: Summary) -> None:
    """The verdict, first of all: the top hotspot and the pattern behind it (one or two
    sentences, wrapped at words), locations shortened as the tables show them."""
    for sentence in summary.verdict().sentences(lambda f: short_location(f.location)):
        out.print(Text(visible(shorten_paths(sentence)), style="bold"))


def summary(summary: Summary, *, title: str = "") -> None:
    unit = summary.unit
    width = out.width

    def q(value: float) -> str:
        return format_count(value, unit)

    verdict(summary)
    facts = summary.facts()
    line = " · ".join(f"{f.label.lower()} {format_fact(f)}" for f in facts)
    if title and not any(f.key == "target" and f.value == title for f in facts):
        line = f"{title}: {line}"
    out.print(Text(visible(line), style="dim"))
    counted = " (samples)" if unit == "samples" else ""
    rows: list[list[str | Text | Named]] = []
    for i, r in enumerate(summary.bottlenecks, 1):
        user = r.frame.kind is FrameKind.USER
        rows.append(
            [
                str(i),
                _named(r.frame, _KIND_STYLE.get(r.frame.kind, "")),
                format_calls(r.calls, r.primitive_calls),
                q(r.self),
                q(r.own) if user else "",  # own time is defined for user functions only
                q(r.cumulative),
                format_share(r.share),
            ]
        )
    out.print(
        fitted_table(
            Text(f"Bottlenecks{counted} — functions by cumulative time, your code first"),
            BOTTLENECK_COLUMNS,
            rows,
            width=width,
        )
    )
    wrappers(summary)

    if summary.hotspots:
        hot: list[list[str | Text | Named]] = [
            [
                str(i),
                _named(r.frame, "bold"),
                q(r.self),
                q(r.own),
                format_share(summary.own_share(r)),
            ]
            for i, r in enumerate(summary.hotspots[:10], 1)
        ]
        out.print(
            fitted_table(
                Text(f"Hotspots{counted} — your functions by own time"),
                HOTSPOT_COLUMNS,
                hot,
                width=width,
            )
        )

    nplusone(summary)
    heaviest_paths(summary)

    if summary.target_metrics:
        metrics = Table(title=Text("Target metrics"), title_justify="left")
        keys = metric_columns(summary.target_metrics)
        metrics.add_column("name", overflow="ellipsis", no_wrap=True)
        for k in keys:
            metrics.add_column(Text(visible(k)), justify="right")
        for name, values in summary.target_metrics.items():
            metrics.add_row(
                Text(visible(name)),
                *(format_metric(k, values[k]) if k in values else "" for k in keys),
            )
        out.print(metrics)
    from profwork import console_sections

    sections = console_sections.memory(summary.memory, width=width) + console_sections.lines(
        summary.lines, width=width
    )
    for section in sections:
        out.print(section)
    for note in summary.notes:
        out.print(Text(f"note: {visible(note)}", style="dim"))


# The terminal's tables: short headers, so that the figures keep their room at 80 columns.
BOTTLENECK_COLUMNS: tuple[tuple[str, Justify], ...] = (
    ("#", "right"),
    ("function · location", "left"),
    ("calls", "right"),
    ("self", "right"),
    ("own", "right"),
    ("cum", "right"),
    ("share", "right"),
)
HOTSPOT_COLUMNS: tuple[tuple[str, Justify], ...] = (
    ("#", "right"),
    ("function · location", "left"),
    ("self", "right"),
    ("own", "right"),
    ("share", "right"),
)
WRAPPERS_NAMED = 4  # wrappers named by the line under the bottlenecks; the rest are counted


def _named(frame: Frame, style: str) -> Named:
    return Named(_name(frame), visible(frame.location), style)


def wrappers(summary: Summary) -> None:
    """One dim line naming the wrappers the bottleneck table leaves out."""
    if not summary.wrappers:
        return
    names = [_name(f) for f in summary.wrappers[:WRAPPERS_NAMED]]
    more = len(summary.wrappers) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    out.print(
        Text(
            f"  not ranked (wrappers every path runs through, or dispatch into your code): "
            f"{listed}",
            style="dim",
        )
    )


def heaviest_paths(summary: Summary) -> None:
    """The three heaviest paths, each shortened to what tells it apart from the others."""
    if not summary.hot_paths:
        return
    counted = " (samples)" if summary.unit == "samples" else ""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    paths = summary.hot_paths[:3]
    for p, shown in zip(paths, elide([p.stack for p in paths]), strict=True):
        chain = " → ".join("…" if f is None else _name(f) for f in shown)
        grid.add_row(format_count(p.weight, summary.unit), format_share(p.share), Text(chain))
    out.print(Text(f"Heaviest paths{counted}", style="bold"))
    out.print(grid)


def nplusone(summary: Summary) -> None:
    """The N+1 findings, heaviest first, one block each (the statement, then its figures,
    call site and fix, wrapped at words); one dim line when SQL was captured and none was
    found."""
    section = summary.nplusone
    if not section.findings:
        if section.statements is not None:
            out.print(Text(f"N+1 patterns: none found ({section.scope})", style="dim"))
        return
    out.print(Text("N+1 patterns — by time spent", style="bold"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for i, f in enumerate(section.findings, 1):
        block = Text()
        block.append(f"{f.io}: ", style="dim")
        block.append(visible(f.what), style="bold")
        block.append(f"\n{f.per_unit} · {visible(f.spread)} · {f.time}")
        block.append(f"\nat {visible(shorten_paths(f.site))}", style="dim")
        if f.loop:
            block.append(f" · loop: {visible(shorten_paths(f.loop))}", style="dim")
        block.append(f"\nfix: {f.fix}")
        grid.add_row(f"{i}.", block)
    out.print(grid)
    out.print(Text(f"  {section.scope}", style="dim"))


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
        err.print(Text(f"run {status}: {visible(last)}", style="bold red"))
    out.print(Text(f"run directory: {path}", style="bold green" if status == "ok" else "bold"))


def runs(items: Iterable[tuple[Path, Manifest]]) -> None:
    """The runs, newest first, with what tells two runs of one target apart: the parameters
    and the `--size` preset they ran with. One block per run: a line of columns (started,
    target, method, size, status, duration), its parameters, its path; long parameters wrap
    between their `name=value` pairs."""
    rows = []
    for path, m in items:
        duration = format_quantity(m.duration, "seconds") if m.duration is not None else ""
        rows.append(
            (
                (
                    m.started_at.replace("T", " ")[:19],  # local time, to the second
                    visible(m.target),
                    m.method,
                    visible(m.size or "—"),
                    m.status,
                    duration,
                ),
                visible(run_params(m.params)),
                visible(_short(str(path))),
            )
        )
    if not rows:
        out.print("no runs found")
        return
    widths = [max(len(cells[i]) for cells, _, _ in rows) for i in range(len(RUN_COLUMNS))]
    widths = [max(w, len(name)) for w, name in zip(widths, RUN_COLUMNS, strict=True)]
    out.print(Text("Runs, newest first", style="bold"))
    out.print(Text(_columns(RUN_COLUMNS, widths), style="bold"))
    for cells, params, where in rows:
        line = Text(_columns(cells, widths))
        status = cells[RUN_COLUMNS.index("status")]
        line.highlight_words(
            [status], {"ok": "green", "error": "red", "interrupted": "yellow"}.get(status, "")
        )
        out.print(line)
        from rich.padding import Padding

        out.print(Padding(Text(f"params: {params or '—'}"), (0, 0, 0, 2)))
        out.print(Padding(Text(where, style="dim"), (0, 0, 0, 2)))


RUN_COLUMNS = ("started", "target", "method", "size", "status", "duration")


def _columns(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Cells padded to their column's width, two spaces apart; the last one right-aligned."""
    *left, last = cells
    return "  ".join(
        [c.ljust(w) for c, w in zip(left, widths, strict=False)] + [last.rjust(widths[-1])]
    )


def run_params(params: Mapping[str, Any]) -> str:
    """`name=value` pairs, as `-p` takes them."""
    return " ".join(f"{k}={v}" for k, v in params.items())


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
    """Every thread's current stack, outermost call first, as `py-spy dump` shows it.

    A location too long for the terminal loses the middle of its path, never its end: the
    file name and the line number are what a reader looks for."""
    for thread in threads:
        state = "active" if thread.active else "idle"
        if thread.owns_gil:
            state += ", holds the GIL"
        title = f"process {pid} · thread {visible(thread.thread)} ({thread.native_id}) · {state}"
        names = [visible(function) for function, _, _ in thread.frames]
        name_width = min(max((len(n) for n in names), default=8), max(12, out.width // 3))
        # borders and padding of three columns, the depth column, the function column
        room = max(16, out.width - 10 - len(str(len(names))) - name_width)
        table = Table(title=Text(title), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("function", overflow="fold", max_width=name_width)
        table.add_column("location", no_wrap=True)
        for depth, (name, (_, file, line)) in enumerate(zip(names, thread.frames, strict=True)):
            location = shorten_middle(f"{visible(_short(file))}:{line}", room)
            table.add_row(str(depth), Text(name, style="bold"), Text(location))
        out.print(table)
    if not threads:
        out.print("no Python threads")


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle (`/usr/…/pkg/mod.py:42`)."""
    if len(text) <= width:
        return text
    tail = (2 * (width - 1)) // 3
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]


def text(message: Any) -> None:
    out.print(Text(visible(str(message))))
