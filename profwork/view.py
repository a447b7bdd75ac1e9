"""`profwork view RUN [--viewer html|svg|snakeviz]`: look at a run in a browser.

`html` (the default) and `svg` open the run's `report.html` or `flame.svg` in the default browser
(Python's `webbrowser`, which honours `$BROWSER`), and always say where the file is, so that on a
machine without a browser the path is there to copy. `snakeviz` serves the run's `profile.pstats`
with snakeviz's own web application, in this process, bound to 127.0.0.1 only (a profile holds
paths and names of your code), prints the URL and opens it unless `--no-browser`; Ctrl-C or
SIGTERM stops it (exit 0).

A click command of its own, added to the CLI group in `cli.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import click

from profwork.errors import ProfworkError

VIEWERS = ("html", "svg", "snakeviz")
HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # snakeviz's own default


def run_directory(path: Path) -> Path:
    """The run directory `path` is (or is in)."""
    from profwork.rundir import is_run

    resolved = path.resolve()
    for candidate in (resolved, *resolved.parents):
        if is_run(candidate):
            return candidate
    if not path.exists():
        raise ProfworkError(f"{path} does not exist", remedy="list the runs with `profwork ls`")
    raise ProfworkError(
        f"{path} is not a run directory", remedy="give one that `profwork ls` lists"
    )


def artefact(run: Path, viewer: str) -> Path:
    """The file the viewer shows, or one line saying it is missing and how to make it."""
    from profwork.renderers import get_renderer

    name = {"html": "html", "svg": "svg", "snakeviz": "pstats"}[viewer]
    filename = get_renderer(name).filename
    path = run / filename
    if not path.is_file():
        raise ProfworkError(
            f"{run} has no {filename}",
            remedy=f"write one elsewhere with `profwork convert {run} --to {name} -o OUT`",
        )
    return path


def open_in_browser(target: Path | str) -> bool:
    """Open a file (or URL) in the default browser; False when there is none to open it."""
    import webbrowser

    uri = target.resolve().as_uri() if isinstance(target, Path) else target
    try:
        return webbrowser.open(uri)
    except webbrowser.Error:
        return False


def serve_snakeviz(pstats_file: Path, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve snakeviz on 127.0.0.1:`port` (0: any free port) until Ctrl-C or SIGTERM."""
    import asyncio

    try:
        from snakeviz.main import app
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets
    except ImportError:
        raise ProfworkError("snakeviz is not installed", remedy="pip install snakeviz") from None
    try:
        sockets = bind_sockets(port, address=HOST)
    except OSError as exc:
        raise ProfworkError(
            f"cannot listen on {HOST}:{port}: {exc.strerror or exc}",
            remedy="choose another --port (0: any free port)",
        ) from None
    bound = sockets[0].getsockname()[1]
    url = f"http://{HOST}:{bound}/snakeviz/{quote(str(pstats_file.resolve()), safe='')}"

    async def serve() -> None:
        server = HTTPServer(app)
        server.add_sockets(sockets)
        on_ready(url)
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: how a server normally ends
        pass
    finally:
        for sock in sockets:
            sock.close()


@click.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--viewer",
    type=click.Choice(VIEWERS),
    default="html",
    show_default=True,
    help="html: report.html; svg: flame.svg; snakeviz: serve profile.pstats with snakeviz.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser (print where to look).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="snakeviz: the port on 127.0.0.1 (0: any free port).",
)
def view(run: Path, viewer: str, no_browser: bool, port: int) -> None:
    """Look at RUN in a browser: its report, its flame graph, or snakeviz on its pstats."""
    from profwork import console

    def say(line: str) -> None:
        """One line, never folded: a path or URL must stay copyable."""
        from rich.text import Text

        from profwork.units import visible

        console.out.print(Text(visible(line)), soft_wrap=True)
        console.flush()

    directory = run_directory(run)
    path = artefact(directory, viewer)
    if viewer != "snakeviz":
        if no_browser:
            say(f"{path}")
        elif open_in_browser(path):
            say(f"opened {path}")
        else:
            say(f"no browser to open it here; the file is {path}")
        return

    def ready(url: str) -> None:
        say(f"snakeviz is serving {path} at")
        say(url)
        say("Ctrl-C or SIGTERM stops it")
        if not no_browser and not open_in_browser(url):
            say("no browser to open it here: open the URL above")

    serve_snakeviz(path, port, ready)
    say("snakeviz stopped")
