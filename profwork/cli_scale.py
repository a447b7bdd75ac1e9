"""`profwork scale`: parse, call `scaling`, print the growth tables. Added to the click group by
`cli.py`; nothing heavy imported at module level."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from profwork.cli_params import (
    METHOD,
    MethodOptionsCommand,
    db_url_option,
    given_method_options,
    param_option,
)
from profwork.errors import ProfworkError

if TYPE_CHECKING:
    from rich.table import Table

    from profwork.analyses.scale import Scaling
    from profwork.methods import Method


def _registered_methods() -> list[Method]:
    from profwork.methods import registered_methods

    return registered_methods()


def _pairs(values: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProfworkError(
                f"-p expects name=value, got {item!r}", remedy="e.g. -p n=100,200,400"
            )
        pairs.append((key.strip(), value))
    return pairs


@click.command(cls=MethodOptionsCommand, methods=_registered_methods)
@click.argument("target")
@click.option(
    "--sizes",
    metavar="S1,S2,...",
    help="Size presets to run, e.g. small,medium,large (default: every size of the target).",
)
@click.option(
    "--by",
    metavar="NAME",
    help="The parameter that is the data size n of the presets (default: the product of the "
    "numeric parameters they vary).",
)
@param_option
@db_url_option
@click.option(
    "-m", "--method", type=METHOD, default="cprofile", show_default=True, help="The profiler."
)
@click.option(
    "--runs",
    "runs_per_size",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Profile each size this many times; each function's fastest time is kept (other "
    "processes only ever add time).",
)
@click.option(
    "--wall-clock",
    is_flag=True,
    help="Time by the wall clock under -m cprofile (default there: each thread's CPU time, "
    "which other processes do not disturb, but which leaves out waits such as a database "
    "server's).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Write the runs under DIR instead of ./profiling_results.",
)
@click.pass_context
def scale(
    ctx: click.Context,
    target: str,
    sizes: str | None,
    by: str | None,
    params: tuple[str, ...],
    db_url: str | None,
    method: str,
    runs_per_size: int,
    wall_clock: bool,
    output: Path | None,
) -> None:
    """Profile TARGET at several sizes (--sizes, or one parameter as a list: -p n=100,200,400)
    and fit how each function's time and calls, and each SQL statement's executions, grow
    with the data: super-linear functions and N+1 statements, a log-log chart, a report."""
    from profwork import console, scaling
    from profwork.cli_compare import _command

    pairs = _pairs(params) + ([("db_url", db_url)] if db_url else [])
    chosen = [s.strip() for s in sizes.split(",") if s.strip()] if sizes is not None else []
    if sizes is not None and not chosen:
        raise ProfworkError("--sizes is empty", remedy="e.g. --sizes small,medium,large")
    plan = scaling.plan(target, sizes=chosen, params=pairs, by=by)
    result = scaling.scale(
        target,
        plan,
        method=method,
        runs_per_size=runs_per_size,
        wall_clock=wall_clock,
        options=given_method_options(ctx),
        output=output,
        command=_command(ctx),
        on_stage=console.stage,
    )
    show(result.scaling)
    console.text(f"scale run: {result.path}")
    console.flush()
    sys.exit(0)


def show(result: Scaling) -> None:
    """The verdict, then a table of super-linear functions and one of N+1 statements."""
    from rich.text import Text

    from profwork.analyses.scale import N1_GROWTH, SUPERLINEAR
    from profwork.console import out
    from profwork.renderers.scalereport import _exp, _figures
    from profwork.units import visible

    out.print(Text(visible(result.verdict), style="bold"))
    sizes = ", ".join(f"{s} (n={n:g})" for s, n in zip(result.sizes, result.ns, strict=True))
    out.print(
        Text(
            f"sizes {sizes} · n = {visible(result.measure)} · method {result.method} "
            f"({result.clock}) · total {_figures(result.totals, 's')} "
            f"(n^{_exp(result.total_exponent)})"
        )
    )
    if result.superlinear:
        table = _table(f"Super-linear functions (time exponent ≥ {SUPERLINEAR})", "function")
        for f in result.superlinear:
            name = Text(visible(f.function), style="bold")
            name.append(f"\n{visible(f.location)}", style="dim")
            table.add_row(
                name,
                _exp(f.time_exponent),
                f"{_figures(f.times, 's')}\ncalls n^{_exp(f.calls_exponent)}",
            )
        out.print(table)
    else:
        out.print(Text(f"Super-linear functions (time exponent ≥ {SUPERLINEAR}): none"))
    if result.nplusone:
        table = _table(
            f"N+1 statements (executions per call of the caller grow ≥ n^{N1_GROWTH})",
            "statement · caller",
        )
        for s in result.nplusone:
            what = Text(visible(s.statement))
            what.append(f"\nissued by {visible(s.caller)}", style="dim")
            table.add_row(
                what,
                _exp(s.per_caller_exponent),
                f"{_figures(s.counts, 'count')} executions\n"
                f"{_figures(s.caller_counts, 'count')} {s.caller_measure}",
            )
        out.print(table)
    else:
        none = "none" if result.statements else "none (no SQL captured)"
        out.print(Text(f"N+1 statements: {none}"))


def _table(title: str, what: str) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    table.add_column(what, overflow="fold", ratio=1)
    table.add_column("exponent", justify="right", no_wrap=True)
    table.add_column("at each size", justify="right", no_wrap=True)
    return table
