"""The command line: parse arguments, call the library, print through `console`.

No profiling, formats or analyses here, and no heavy imports at module level, so that
`profwork --help` starts fast. `main` catches `ProfworkError` once and prints one line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import click

from profwork.cli_params import (
    METHOD,
    PATH,
    SQL_OPTIONS,
    LazyCommand,
    LazyGroup,
    MethodOptionsCommand,
    PositiveNumber,
    RegistryChoice,
    db_url_option,
    given_method_options,
    output_options,
    param_option,
    parse_params,
    save_baseline_option,
    size_option,
    top_option,
    unit_option,
)
from profwork.errors import CTRL_C_EXIT, OutputError, ProfworkError

if TYPE_CHECKING:
    from pathlib import Path

    from profwork.methods import Method
    from profwork.pipeline import RunResult
    from profwork.readers.source import InputUnit
    from profwork.signals import Received

EXIT_FOR_STATUS = {"ok": 0, "error": 1, "interrupted": CTRL_C_EXIT}


class Invocation(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect`, 10 ms
    """What `main` was given, for the commands: the command line a run records is the `argv`
    actually passed to `main` (`sys.argv` only when `main` is the console script)."""

    command: tuple[str, ...]
    # the termination signal a command received (`signals.Received`), once one runs
    received: list[Received]


# Commands kept in modules of their own, imported when used (`LazyGroup`); each with its help's
# first paragraph for `profwork --help` (tests/test_cli_edges.py checks it against the command's).
LAZY_COMMANDS = {
    "bench": LazyCommand(
        "profwork.cli_compare:bench",
        "Run TARGET's body N times unprofiled after a warm-up (setup once) and write bench.json "
        "and a histogram in a `bench` run directory.",
    ),
    "compare": LazyCommand(
        "profwork.cli_compare:compare",
        "Compare two runs (run directories, bench runs or profile files): per-function deltas, a "
        "differential flame graph and report in a `compare` run directory, and a regression gate.",
    ),
    "import": LazyCommand(
        "profwork.cli_import:import_profile",
        "Turn FILE, any profile profwork reads (pstats, speedscope, folded, pyinstrument), into a "
        "complete run directory: every artefact, the summary and a manifest saying where it came "
        "from.",
    ),
    "scale": LazyCommand(
        "profwork.cli_scale:scale",
        "Profile TARGET at several sizes (--sizes, or one parameter as a list: -p n=100,200,400) "
        "and fit how each function's time and calls, and each SQL statement's executions, grow "
        "with the data: super-linear functions and N+1 statements, a log-log chart, a report.",
    ),
    "view": LazyCommand(
        "profwork.view:view",
        "Look at RUN in a browser: its report, its flame graph, or snakeviz on its pstats.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.version_option(package_name="profwork")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """profwork: profile a Python target under any profiler and get every artefact."""
    if ctx.invoked_subcommand is None:  # bare `profwork`: the help is the answer, not an error
        click.echo(ctx.get_help())
        return
    # SIGTERM and SIGHUP end the command as Ctrl-C does, from here until the group's context
    # closes (after the command, whatever it raised); `--help` never gets here, nor pays for it
    from profwork.signals import ending_as_interrupt

    received = ctx.with_resource(ending_as_interrupt())
    invocation = ctx.find_object(Invocation)
    if invocation is not None:
        invocation.received.append(received)


def _command(ctx: click.Context) -> list[str]:
    invocation = ctx.find_object(Invocation)
    return list(invocation.command if invocation else ["profwork", *sys.argv[1:]])


def show_run(result: RunResult) -> None:
    """A finished run's summary and directory; stdout failing now costs nothing: the run is
    saved, and the error line says where."""
    from profwork import console

    try:
        console.summary(result.summary, title=result.manifest.target)
        console.run_done(result.path, result.manifest.status, result.manifest.error)
        console.flush()
    except OutputError as exc:
        raise OutputError(
            exc.message, remedy=f"the run is saved in {result.path}", closed=exc.closed
        ) from None


@cli.command()
def targets() -> None:
    """List the registered targets with their parameters and sizes."""
    from profwork import console
    from profwork import targets as targets_mod

    rows: list[tuple[str, targets_mod.Target | None, str | None]] = []
    for name in sorted(targets_mod.registered()):
        try:
            rows.append((name, targets_mod.load_registered(name), None))
        except ProfworkError as exc:
            rows.append((name, None, exc.message))
    console.targets(rows)


def _registered_methods() -> list[Method]:
    from profwork.methods import registered_methods

    return registered_methods()


def _attaching_methods() -> list[Method]:
    from profwork.methods import Attachable, registered_methods

    return [method for method in registered_methods() if isinstance(method, Attachable)]


@cli.command(cls=MethodOptionsCommand, methods=_registered_methods)
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "-m", "--method", type=METHOD, default="cprofile", show_default=True, help="The profiler."
)
@click.option(
    "--module",
    "module_name",
    metavar="MODULE",
    help="Run a module as `python -m MODULE` would (instead of TARGET).",
)
@size_option
@param_option
@db_url_option
@output_options
@click.option("--open", "open_report", is_flag=True, help="Open the HTML report when done.")
@save_baseline_option
@click.pass_context
def run(
    ctx: click.Context,
    target: str | None,
    args: tuple[str, ...],
    method: str,
    module_name: str | None,
    size: str | None,
    params: tuple[str, ...],
    db_url: str | None,
    output: Path | None,
    top: int,
    open_report: bool,
    save_baseline: str | None,
) -> None:
    """Profile TARGET: a registered target, script.py, file.py:function, package.module:function
    (or --module MODULE). Arguments after `--` go to the script. The options of the methods
    follow (each names the methods that take it)."""
    from profwork import console, pipeline

    if module_name and target:
        args = (target, *args)
    spec = module_name or target
    if not spec:
        raise click.UsageError("give a TARGET or --module MODULE")
    if args and not (module_name or spec.endswith(".py")):
        raise ProfworkError(
            f"unexpected arguments {' '.join(args)!r} for {spec}",
            remedy="arguments after -- go to a script or --module; use -p name=value for targets",
        )
    with console.progress() as on_stage:
        result = pipeline.run(
            spec,
            module=module_name is not None,
            argv=args,
            method=method,
            params=parse_params(params) | ({"db_url": db_url} if db_url else {}),
            size=size,
            options=given_method_options(ctx),
            output=output,
            top=top,
            command=_command(ctx),
            on_stage=on_stage,
        )
    show_run(result)
    if result.manifest.status == "ok" and save_baseline:
        from profwork.cli_compare import keep_baseline

        keep_baseline(result.path, save_baseline, output)
    if open_report:
        from profwork.renderers import get_renderer
        from profwork.view import open_in_browser

        page = result.path / get_renderer("html").filename
        if not open_in_browser(page):  # as `profwork view` says it
            console.text(f"no browser to open it here; the report is {page}")
    if result.exit_code is not None:  # the body called os._exit(N): exit as it would have
        sys.exit(result.exit_code)
    sys.exit(EXIT_FOR_STATUS.get(result.manifest.status, 1))


attach_method_option = click.option(
    "-m",
    "--method",
    type=METHOD,
    default="pyspy",
    show_default=True,
    help="The profiler; one that can attach to a running process.",
)


@cli.command(cls=MethodOptionsCommand, methods=_attaching_methods, without=SQL_OPTIONS)
@click.argument("pid", type=int)
@attach_method_option
@click.option(
    "-d",
    "--duration",
    type=PositiveNumber("-d 10"),
    metavar="SECONDS",
    help="Record this long (default: until Ctrl-C or the process exits).",
)
@output_options
@click.pass_context
def attach(
    ctx: click.Context,
    pid: int,
    method: str,
    duration: float | None,
    output: Path | None,
    top: int,
) -> None:
    """Record a running Python process PID (with py-spy unless -m says otherwise) until -d runs
    out, Ctrl-C or its exit."""
    from profwork import console, pipeline

    with console.progress() as on_stage:
        result = pipeline.attach(
            pid,
            method=method,
            duration=duration,
            options=given_method_options(ctx),
            output=output,
            top=top,
            command=_command(ctx),
            on_stage=on_stage,
        )
    if result.process_exited:
        from profwork.units import format_quantity

        window = result.manifest.duration
        recorded = f" after {format_quantity(window, 'seconds')}" if window is not None else ""
        console.text(f"process {pid} exited{recorded} of recording")
    show_run(result)
    sys.exit(EXIT_FOR_STATUS.get(result.manifest.status, 1))


@cli.command()
@click.argument("pid", type=int)
@attach_method_option
def dump(pid: int, method: str) -> None:
    """Print the current stack of every thread of a running Python process."""
    from profwork import console
    from profwork.methods import get_attachable

    console.dump(pid, get_attachable(method).dump(pid))


@cli.command()
@click.argument("path", type=PATH)
@click.option(
    "--format",
    "fmt",
    type=RegistryChoice("profwork.renderers:RENDERERS", extra=["text"]),
    default="text",
    show_default=True,
    help="text: tables for the terminal; any output format: that artefact on stdout.",
)
@top_option
@unit_option
def report(path: Path, fmt: str, top: int, unit: InputUnit | None) -> None:
    """Summarise a run directory or a profile file (pstats, speedscope, folded, pyinstrument)."""
    from profwork import console, loading

    profile, summary = loading.summarise(path, top=top, unit=unit)
    if fmt == "text":
        console.summary(summary, title=str(profile.metadata.get("target") or path))
        return
    from profwork.renderers import get_renderer

    console.write_bytes(get_renderer(fmt).render(profile, summary))


@cli.command()
@click.argument("path", type=PATH)
@click.option("--to", "to", type=RegistryChoice("profwork.renderers:RENDERERS"), required=True)
@click.option(
    "-o",
    "--output",
    type=PATH,
    metavar="OUT",
    help="The file (or an existing directory) to write; required for a run directory.",
)
@unit_option
def convert(path: Path, to: str, output: Path | None, unit: InputUnit | None) -> None:
    """Convert a run or profile file to another format.

    A finished run is never modified: converting a run directory needs -o. A profile file's
    conversion goes beside it (`x.pstats` → `x.speedscope.json`) unless that name is taken."""
    from profwork import console, loading

    written = loading.convert(
        path,
        to,
        output,
        unit=unit,
        on_note=console.text,
    )
    console.text(f"wrote {written}")


@cli.command(name="ls")
@click.argument("directory", required=False, type=PATH, default="profiling_results")
def ls(directory: Path) -> None:
    """List runs, newest first."""
    from profwork import console
    from profwork.rundir import list_runs

    if not directory.exists():
        raise ProfworkError(f"{directory} does not exist", remedy="run `profwork run` first")
    console.runs(list_runs(directory))


@cli.command()
@click.argument("target")
@size_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@param_option
@db_url_option
def serve(
    target: str, size: str | None, port: int, params: tuple[str, ...], db_url: str | None
) -> None:
    """Serve TARGET's ASGI app under uvicorn on 127.0.0.1, unprofiled (e.g. for `attach`),
    until Ctrl-C or SIGTERM."""
    from profwork import console
    from profwork import serve as serving

    def ready(url: str, pid: int) -> None:
        console.text(f"serving {target} at {url} (pid {pid})")
        console.text("Ctrl-C or SIGTERM stops it")

    serving.serve(
        target,
        params=parse_params(params) | ({"db_url": db_url} if db_url else {}),
        size=size,
        port=port,
        on_ready=ready,
        on_stage=console.stage,
    )
    console.text(f"{target} stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: one line and a non-zero exit for every error, never a traceback.
    SIGTERM and SIGHUP end a command as Ctrl-C does, with exit code 128 + the signal."""
    received: list[Received] = []
    code: int | str | None = 0
    try:
        _main(argv, received)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # a signal after the command's own handlers, before ours ended
        code = CTRL_C_EXIT
    if received and isinstance(code, int):
        code = received[0].exit_code(code)
    sys.exit(code)


def _main(argv: Sequence[str] | None, received: list[Received]) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(
            args=args,
            prog_name="profwork",
            standalone_mode=False,
            obj=Invocation(("profwork", *args), received),
        )
        _flush_stdout()
    except OutputError as exc:  # stdout is full or gone; a closed pipe needs no words
        if not exc.closed:
            from profwork import console

            console.error(exc)
        sys.exit(exc.exit_code)
    except ProfworkError as exc:
        from profwork import console

        console.error(exc)
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        sys.stderr.write(f"profwork: error: {exc.format_message()}{hint}\n")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        sys.stderr.write(f"profwork: error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        sys.stderr.write("profwork: interrupted\n")
        sys.exit(CTRL_C_EXIT)
    except OSError as exc:
        if not _echo_failed(exc):
            raise
        from profwork.console import error, stdout_failed

        failure = stdout_failed(exc)
        if not failure.closed:
            error(failure)
        sys.exit(failure.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _echo_failed(exc: OSError) -> bool:
    """Whether `exc` is click's own `echo` (help, version) failing to write to stdout; our
    output goes through `console`, which raises `OutputError` instead."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code if tb is not None else None
    return code is not None and code.co_name == "echo" and "click" in code.co_filename


def _flush_stdout() -> None:
    """Whatever click printed directly (help, version) reaches stdout now, inside `main`,
    rather than failing at exit with the interpreter's own traceback."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        from profwork.console import stdout_failed

        raise stdout_failed(exc) from None
