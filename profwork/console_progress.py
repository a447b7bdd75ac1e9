"""Transient progress on the terminal while a command works: a spinner, the stage and its
elapsed time, erased when the work is done (issue 21). `console.progress` hands it stderr's
console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

from profwork.units import visible


@contextmanager
def progress(err: Console) -> Iterator[Callable[[str], None]]:
    """Transient progress on stderr while a command works: a spinner, the stage (`profiling
    scheduler with cprofile`, `writing flame.svg`) and how long it has taken so far, redrawn
    in place and erased when the block ends, so that nothing of it is left on screen. Only on
    a terminal: logs and pipes get results and errors only. Yields the `on_stage` callback.

    The body's own output is left alone (stdout and stderr are not redirected, which would put
    rich's code in the profile of a body that prints): a body printing to the same terminal
    shares it with the progress line, which is redrawn below what it printed. The line is
    redrawn by a thread of ours rather than rich's, which pauses while tracemalloc traces (the
    memory method records every thread's allocations: the drawing's would be among them)."""
    if not err.is_terminal:
        yield _quiet
        return
    import threading
    import time
    import tracemalloc

    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    shown = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task: TaskID | None = None
    done = False

    def redraw() -> None:
        while not done:
            time.sleep(REDRAW_INTERVAL)  # sleeping allocates nothing, unlike Event.wait
            if not done and not tracemalloc.is_tracing():
                shown.refresh()

    def stage(message: str) -> None:
        nonlocal task
        description = visible(f"{message}…")
        if task is None:
            task = shown.add_task(description, total=None)
        else:  # the elapsed time is the stage's own
            shown.reset(task, description=description)
        shown.refresh()

    ticker = threading.Thread(target=redraw, name="profwork-progress", daemon=True)
    with shown:
        ticker.start()
        try:
            yield stage
        finally:
            done = True
            ticker.join()


REDRAW_INTERVAL = 0.25  # seconds between two drawings of the progress line


def _quiet(message: str) -> None:
    pass
