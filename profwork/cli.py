"""The command line: parse arguments, call the library, print through `console`.

No profiling, formats or analyses here, and no heavy imports at module level, so that
`profwork --help` starts fast. `main` catches `ProfworkError` once and prints one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from profwork.errors import ProfworkError

EXIT_FOR_STATUS = {"ok": 0, "error": 1, "interrupted": 130}
METHOD_NAMES = ("cprofile", "pyinstrument", "pyspy")  # kept in step with methods.METHODS by a test
FORMATS = ("pstats", "speedscope", "folded", "svg", "html", "md", "json")


def _check_rate(rate: float | None) -> None:
    if rate is not None and rate <= 0:
        raise ProfworkError(f"--rate must be positive, got {rate:g}", remedy="e.g. --rate 100")


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProfworkError(f"-p expects name=value, got {item!r}", remedy="e.g. -p size=10")
        params[key.strip()] = value
    return params


# Options shared by the commands that run a target (`run`, `serve`).
param_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A target parameter (repeatable), typed from the target's signature.",
)
db_url_option = click.option(
    "--db-url",
    metavar="URL",
    help="Shorthand for -p db_url=URL (database targets; default: embedded SQLite).",
)


threads_option = click.option("--threads", is_flag=True, help="Root every stack in its thread.")


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where a run goes and how much of its ranking is shown (`run`, `attach`)."""
    fn = click.option("--top", default=15, show_default=True, help="Rows in the ranked summary.")(
        fn
    )
    return click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path),
        metavar="DIR",
        help="Write the run under DIR instead of ./profiling_results.",
    )(fn)


def sampling_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """py-spy's options, shared by `run -m pyspy` and `attach`."""
    for option in reversed(
        [
            click.option("--native", is_flag=True, help="pyspy: native (C/C++/Cython) frames too."),
            click.option("--subprocesses", is_flag=True, help="pyspy: follow subprocesses."),
            click.option("--idle", is_flag=True, help="pyspy: keep samples of idle threads."),
            click.option("--gil", is_flag=True, help="pyspy: only samples holding the GIL."),
        ]
    ):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="profwork")
def cli() -> None:
    """profwork: profile a Python target under any profiler and get every artefact."""


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


@cli.command()
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "-m",
    "--method",
    default="cprofile",
    show_default=True,
    help=f"Profiler: {', '.join(METHOD_NAMES)}.",
)
@click.option(
    "--module",
    "module_name",
    metavar="MODULE",
    help="Run a module as `python -m MODULE` would (instead of TARGET).",
)
@click.option(
    "--size", type=click.Choice(["small", "medium", "large"]), help="A size preset of the target."
)
@param_option
@click.option(
    "--rate",
    type=float,
    metavar="HZ",
    help="Sampling rate (default: the tool's own; cprofile refuses it).",
)
@sampling_options
@threads_option
@db_url_option
@output_options
@click.option("--open", "open_report", is_flag=True, help="Open report.html when done.")
def run(
    target: str | None,
    args: tuple[str, ...],
    method: str,
    module_name: str | None,
    size: str | None,
    params: tuple[str, ...],
    rate: float | None,
    native: bool,
    subprocesses: bool,
    idle: bool,
    gil: bool,
    threads: bool,
    db_url: str | None,
    output: Path | None,
    top: int,
    open_report: bool,
) -> None:
    """Profile TARGET: a registered target, script.py, file.py:function, package.module:function
    (or --module MODULE). Arguments after `--` go to the script."""
    from profwork import console, pipeline
    from profwork.methods import MethodOptions

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
    _check_rate(rate)
    result = pipeline.run(
        spec,
        module=module_name is not None,
        argv=args,
        method=method,
        params=_parse_params(params) | ({"db_url": db_url} if db_url else {}),
        size=size,
        options=MethodOptions(
            rate=rate, threads=threads, native=native, subprocesses=subprocesses, idle=idle, gil=gil
        ),
        output=output,
        top=top,
        command=["profwork", *sys.argv[1:]],
        on_stage=console.stage,
    )
    console.summary(result.summary, title=result.manifest.target)
    console.run_done(result.path, result.manifest.status, result.manifest.error)
    if open_report:
        import webbrowser

        webbrowser.open((result.path / "report.html").resolve().as_uri())
    sys.exit(EXIT_FOR_STATUS.get(result.manifest.status, 1))


@cli.command()
@click.argument("pid", type=int)
@click.option(
    "-d",
    "--duration",
    type=float,
    metavar="SECONDS",
    help="Record this long (default: until Ctrl-C or the process exits).",
)
@click.option("--rate", type=float, metavar="HZ", help="Samples per second (default 100).")
@sampling_options
@threads_option
@output_options
def attach(
    pid: int,
    duration: float | None,
    rate: float | None,
    native: bool,
    subprocesses: bool,
    idle: bool,
    gil: bool,
    threads: bool,
    output: Path | None,
    top: int,
) -> None:
    """Record a running Python process PID with py-spy (until -d runs out, Ctrl-C or its exit)."""
    from profwork import console, pipeline
    from profwork.methods import MethodOptions

    _check_rate(rate)
    if duration is not None and duration <= 0:
        raise ProfworkError(f"-d must be positive, got {duration:g}", remedy="e.g. -d 10")
    result = pipeline.attach(
        pid,
        duration=duration,
        options=MethodOptions(
            rate=rate, threads=threads, native=native, subprocesses=subprocesses, idle=idle, gil=gil
        ),
        output=output,
        top=top,
        command=["profwork", *sys.argv[1:]],
        on_stage=console.stage,
    )
    for note in result.summary.notes:
        if "exited" in note:
            console.text(note)
    console.summary(result.summary, title=result.manifest.target)
    console.run_done(result.path, result.manifest.status, result.manifest.error)
    sys.exit(EXIT_FOR_STATUS.get(result.manifest.status, 1))


@cli.command()
@click.argument("pid", type=int)
def dump(pid: int) -> None:
    """Print the current stack of every thread of a running Python process."""
    from profwork import console
    from profwork.methods import pyspy

    console.dump(pid, pyspy.dump(pid))


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True
)
@click.option("--top", default=15, show_default=True)
def report(path: Path, fmt: str, top: int) -> None:
    """Summarise a run directory or a profile file (pstats, speedscope, folded, pyinstrument)."""
    from profwork import console, pipeline

    profile, summary = pipeline.summarise(path, top=top)
    if fmt == "text":
        console.summary(summary, title=str(profile.metadata.get("target") or path))
        return
    from profwork.renderers import get_renderer

    sys.stdout.write(get_renderer(fmt).render(profile, summary).decode("utf-8"))


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "to",
    type=click.Choice(["pstats", "speedscope", "folded", "svg", "html"]),
    required=True,
)
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="OUT")
def convert(path: Path, to: str, output: Path | None) -> None:
    """Convert a run or profile file to another format."""
    from profwork import console, pipeline

    written = pipeline.convert(path, to, output)
    console.text(f"wrote {written}")


@cli.command(name="ls")
@click.argument(
    "directory", required=False, type=click.Path(path_type=Path), default=Path("profiling_results")
)
def ls(directory: Path) -> None:
    """List runs, newest first."""
    from profwork import console
    from profwork.rundir import list_runs

    if not directory.exists():
        raise ProfworkError(f"{directory} does not exist", remedy="run `profwork run` first")
    console.runs(list_runs(directory))


@cli.command()
@click.argument("target")
@click.option(
    "--size", type=click.Choice(["small", "medium", "large"]), help="A size preset of the target."
)
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
        params=_parse_params(params) | ({"db_url": db_url} if db_url else {}),
        size=size,
        port=port,
        on_ready=ready,
        on_stage=console.stage,
    )
    console.text(f"{target} stopped")


def main(argv: list[str] | None = None) -> None:
    """The console script: one line and a non-zero exit for every error, never a traceback.
    SIGTERM and SIGHUP end a command as Ctrl-C does, with exit code 128 + the signal."""
    from profwork.signals import CTRL_C_EXIT, Received, ending_as_interrupt

    code: int | str | None = 0
    received = Received()
    try:
        with ending_as_interrupt() as received:
            _main(argv)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # a signal after the command's own handlers, before ours ended
        code = CTRL_C_EXIT
    sys.exit(received.exit_code(code) if isinstance(code, int) else code)


def _main(argv: list[str] | None) -> None:
    try:
        code = cli.main(args=argv, prog_name="profwork", standalone_mode=False)
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
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
