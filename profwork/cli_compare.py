"""`profwork compare` and `profwork bench`: parse, call `comparison` / `bench`, print through
`console_compare`. Added to the click group by `cli.py`; nothing heavy imported at module level.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from profwork.cli_params import parse_params, save_baseline_option

DEFAULT_PROCESSES = 3  # bench worker processes, when -n allows (see bench_worker)


def _command(ctx: click.Context) -> list[str]:
    """The command line as given to `cli.main` (what a run records)."""
    from profwork.cli import Invocation

    invocation = ctx.find_object(Invocation)
    return list(invocation.command if invocation else ["profwork", *sys.argv[1:]])


def keep_baseline(run: Path, name: str | None, output: Path | None) -> None:
    """`--save-baseline NAME` on `run` and `bench`: the finished run copied as the baseline."""
    if not name:
        return
    from profwork import comparison as comparing
    from profwork import console_compare

    console_compare.written_baseline(comparing.save_baseline(run, name, output))


output_option = click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Runs (and baselines) live under DIR instead of ./profiling_results.",
)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path), metavar="[BASE] [NEW]")
@click.option(
    "--threshold",
    default="15%",
    show_default=True,
    metavar="PCT",
    help="A growth past this fails --fail-on-regression (15%, 15 or 0.15).",
)
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when the total or a top function regressed past the threshold.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Compare runs of different units, methods, rates or clocks (with a warning).",
)
@click.option(
    "--baseline",
    metavar="NAME",
    help="Compare the saved baseline NAME with NEW (default: the latest run like it).",
)
@click.option(
    "--last",
    type=click.IntRange(min=2),
    metavar="N",
    help="Print the trend of the last N runs under the directory given.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Functions in each table; the gate checks this many of the heaviest.",
)
@output_option
@click.pass_context
def compare(
    ctx: click.Context,
    paths: tuple[Path, ...],
    threshold: str,
    fail_on_regression: bool,
    force: bool,
    baseline: str | None,
    last: int | None,
    top: int,
    output: Path | None,
) -> None:
    """Compare two runs (run directories, bench runs or profile files): per-function deltas, a
    differential flame graph and report in a `compare` run directory, and a regression gate.

    `compare DIR --last 7` prints the trend of the last runs under DIR instead."""
    from profwork import comparison as comparing
    from profwork import console_compare
    from profwork.analyses.compare import parse_threshold

    fraction = parse_threshold(threshold)
    if last is not None:
        if len(paths) != 1 or baseline:
            raise click.UsageError("--last takes one directory of runs (and no --baseline)")
        console_compare.trend(comparing.trend(paths[0], last))
        return
    if baseline is not None:
        if len(paths) > 1:
            raise click.UsageError("--baseline NAME takes at most one run to compare with it")
        base = comparing.baseline(baseline, output)
        new = paths[0] if paths else comparing.latest_like(base, output)
    elif len(paths) == 2:
        base, new = paths
    else:
        raise click.UsageError("give BASE and NEW, or --baseline NAME, or DIR --last N")
    result, verdict, path = comparing.run_compare(
        base, new, force=force, threshold=fraction, output=output, top=top, command=_command(ctx)
    )
    console_compare.comparison(result, top)
    console_compare.gate(verdict)
    console_compare.written(path)
    if fail_on_regression and verdict.failed:
        sys.exit(1)


@click.command()
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--module", "module_name", metavar="MODULE", help="Bench `python -m MODULE`.")
@click.option(
    "-n",
    "--iterations",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Timed runs of the body.",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Untimed runs of the body first.",
)
@click.option(
    "--processes",
    type=int,
    metavar="P",
    help="Fresh worker processes the timed runs are split over, one after another "
    "(default 3, or -n if smaller; 1 runs them in profwork's own process).",
)
@click.option("--size", metavar="SIZE", help="A size preset of the target.")
@click.option(
    "-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A target parameter."
)
@click.option("--db-url", metavar="URL", help="Shorthand for -p db_url=URL.")
@save_baseline_option
@output_option
@click.pass_context
def bench(
    ctx: click.Context,
    target: str | None,
    args: tuple[str, ...],
    module_name: str | None,
    iterations: int,
    warmup: int,
    processes: int | None,
    size: str | None,
    params: tuple[str, ...],
    db_url: str | None,
    save_baseline: str | None,
    output: Path | None,
) -> None:
    """Run TARGET's body N times unprofiled after a warm-up (setup once) and write bench.json
    and a histogram in a `bench` run directory."""
    from profwork import bench as benching
    from profwork import console_compare

    if module_name and target:
        args = (target, *args)
    spec = module_name or target
    if not spec:
        raise click.UsageError("give a TARGET or --module MODULE")
    with console_compare.progress() as progress:
        task = progress.add_task(f"bench {spec}", total=iterations)
        result = benching.bench(
            spec,
            module=module_name is not None,
            argv=args,
            params=parse_params(params) | ({"db_url": db_url} if db_url else {}),
            size=size,
            iterations=iterations,
            warmup=warmup,
            output=output,
            command=_command(ctx),
            on_progress=lambda done, _: progress.update(task, completed=done),
            processes=min(DEFAULT_PROCESSES, iterations) if processes is None else processes,
        )
    console_compare.bench(result.stats, result.target_metrics)
    console_compare.written(result.path)
    keep_baseline(result.path, save_baseline, output)
    if result.manifest.status != "ok":
        sys.exit(130)
