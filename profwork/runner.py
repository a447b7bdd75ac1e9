"""Executing a bound target: setup, then the measured body, then teardown, with status and timing.

The runner knows nothing about profilers: a method hands it a `Hook` whose `start`/`stop` bracket
the body alone, so setup and teardown are never measured. Teardown runs even if the body fails.
The body's exception or a Ctrl-C becomes the run's status; the caller still writes what was
measured. A setup that fails is not a run: `execute` raises `TargetSetupError` (one line: the
exception and the target's own frames), and nothing is written.

What a target may do to the process, the runner undoes or contains, so that the run survives:
- `os._exit(n)` called by the body raises `TargetExit(n)` in the process (and thread) that runs
  it, while the body runs: the measurement is kept, the target's `finally` blocks run (a real
  `_exit` skips them), and the caller exits with `n` afterwards. In any other process (a fork)
  it is the real `os._exit`.
- A fork that returns out of the body (or raises) is ended there (`os._exit`, after flushing
  stdio): only the process that started the run finishes it.
- `sys.stdout`/`sys.stderr` closed or replaced, and the working directory changed, are put back
  after teardown.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from profwork import signals, sqlcapture, targets
from profwork.errors import TargetSetupError
from profwork.facts import RunFacts
from profwork.targets import Metrics

if TYPE_CHECKING:
    from profwork.targets import BoundTarget, Target

__all__ = ["BODY_CALLERS", "SETUP_REMEDY", "Hook", "RunFacts", "TargetExit", "execute"]

SETUP_REMEDY = (
    "fix what the setup needs (its parameters, a database, a service); nothing was profiled"
)


class Hook:
    """Brackets the body: `start` right before it, `stop` right after (both inside the timed
    window, so keep them cheap); `before_body` after the setup and `after_body` once the body is
    over, however it ended (both outside the timed window: the py-spy child's handshake with its
    parent). Each does nothing unless overridden, so `Hook()` runs the body unmeasured; a
    method's hook subclasses it and overrides what it needs."""

    def before_body(self) -> None:
        """After the setup, before the timed window."""

    def start(self) -> None:
        """Right before the body, inside the timed window."""

    def stop(self) -> None:
        """Right after the body, however it ended, inside the timed window."""

    def after_body(self) -> None:
        """After the timed window, however the body ended, before the teardown."""

    def iteration_done(self, index: int) -> None:
        """Under `--repeat`, after each measured iteration (0 first), inside the timed window:
        the memory method's snapshots for the leak check."""

    # Whether the body runs on a stack of its own (`_on_fresh_stack`) rather than below the
    # CLI, the pipeline and the runner: for a profiler whose cost grows with the depth of the
    # stack (tracemalloc walks up to its frame limit on every allocation).
    fresh_stack: bool = False


class TargetExit(BaseException):
    """The body called `os._exit(code)`: raised in its place so that the run is kept."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _describe(exc: BaseException) -> str:
    import traceback  # only a failure needs it

    return "".join(traceback.format_exception(exc)).rstrip()


def execute(bound: BoundTarget, hook: Hook, *, repeat: int | None = None) -> RunFacts:
    """Run setup, the body between `hook.start()` and `hook.stop()`, and teardown.

    A signal whose interrupt CPython swallowed (raised inside a `__del__` or a weakref
    callback, it only prints "Exception ignored in: …") is raised again before the body and
    after it (`signals.check`), so that the run still ends as interrupted.

    `repeat` (`--repeat N`): the body runs once unmeasured (a warm-up, before `before_body`, so
    that no hook sees it), then N times in the timed window, `hook.iteration_done(i)` after
    each; an iteration's return value is dropped before the hook looks (the last `Metrics`
    returned are kept), so that what the body returns is not counted as retained.

    When the run was asked to capture SQL (`profwork.sqlcapture`), the probe is installed
    before the setup, records the body only and writes its log after the teardown."""
    facts = RunFacts()
    started_by = os.getpid()
    with sqlcapture.around(bound.target.user_paths) as sql, _process_kept(), bound.environment():
        try:
            state = bound.run_setup()
            signals.check()
        except KeyboardInterrupt:
            return RunFacts(status="interrupted", error="interrupted during setup")
        except BaseException as exc:  # noqa: BLE001 - any failure of user code
            raise _setup_failed(exc, bound.target) from None
        call = bound.body_call(state)
        result: Any = None
        try:
            if repeat is not None:
                with _body_process(started_by):
                    call()  # the warm-up

            sql.start()
            hook.before_body()
            try:
                with _body_process(started_by):
                    # timed outside the hook, so that the clock calls are not profiled
                    started = time.perf_counter()
                    hook.start()
                    stamps = [started]
                    try:
                        if hook.fresh_stack:
                            result = _on_fresh_stack(bound.direct_call(state), hook, repeat, stamps)
                        else:
                            result = _iterations(call, hook, repeat, stamps)
                    finally:
                        hook.stop()
                        facts = replace(
                            facts,
                            duration=time.perf_counter() - started,
                            iterations=_durations(stamps),
                        )
            finally:
                # however the body ended: under py-spy, the sampling stops before the teardown
                sql.stop()
                hook.after_body()
            signals.check()
        except KeyboardInterrupt as exc:
            facts = replace(facts, status="interrupted", error=signals.describe(exc))
        except TargetExit as exc:
            facts = replace(facts, exit_code=exc.code)
            if exc.code != 0:
                facts = replace(
                    facts,
                    status="error",
                    error=f"the body called os._exit({exc.code}) (exit code {exc.code})",
                )
            else:
                facts = replace(
                    facts,
                    notes=(
                        *facts.notes,
                        "the body called os._exit(0): the run ends there, with what was "
                        "measured until then",
                    ),
                )
        except SystemExit as exc:
            # as `python script.py` would exit: 0 for None, the number, or 1 (a message)
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            if code != 0:
                facts = replace(
                    facts,
                    status="error",
                    exit_code=code,
                    error=f"the body called sys.exit({exc.code!r}) (exit code {code})",
                )
        except BaseException as exc:  # noqa: BLE001
            facts = replace(facts, status="error", error=_describe(exc))
        if isinstance(result, Metrics):
            facts = replace(facts, metrics={k: dict(v) for k, v in result.items()})
        try:
            bound.run_teardown(state)
        except KeyboardInterrupt:
            facts = replace(facts, status="interrupted")
        except BaseException as exc:  # noqa: BLE001
            failed = f"teardown failed:\n{_describe(exc)}"
            facts = replace(
                facts,
                status="error" if facts.status == "ok" else facts.status,
                error=(facts.error + "\n" if facts.error else "") + failed,
            )
    return facts


def _iterations(
    call: Callable[[], Any], hook: Hook, repeat: int | None, stamps: list[float]
) -> Any:
    if repeat is None:
        return call()
    metrics: Any = None
    for index in range(repeat):
        result = call()
        # no built-in function call here: a profiler would show it as a root beside the body
        if Metrics in type(result).__mro__:
            metrics = result
        del result
        _iteration_done(hook, index, stamps)
    return metrics


def _iteration_done(hook: Hook, index: int, stamps: list[float]) -> None:
    """Between two iterations: the time the one that ended took (`stamps`: when each began and
    ended), then the hook's look (kept out of both)."""
    stamps.append(time.perf_counter())
    hook.iteration_done(index)
    stamps.append(time.perf_counter())


def _durations(stamps: list[float]) -> tuple[float, ...]:
    """Each iteration's seconds, from `[start, end, start, end, …, start]`."""
    return tuple(end - start for start, end in zip(stamps[0::2], stamps[1::2], strict=False))


def _on_fresh_stack(
    call: Callable[[], Any], hook: Hook, repeat: int | None, stamps: list[float]
) -> Any:
    """The body (`_iterations` under `--repeat`) in a greenlet: on the same thread (signals,
    thread-bound objects such as a sqlite connection made in the setup, thread-locals all
    behave as under the runner) but on a Python stack of its own, whose first frame is the
    body's (a script's `<module>`: see `BoundTarget.direct_call`).

    Below the CLI, click, the pipeline and the runner, the body starts ~15 frames deep, in long
    functions: tracemalloc walks up to its frame limit on every allocation and finds each
    frame's line by scanning its code's line table, which made `-m memory` ~10× slower than a
    plain tracemalloc runner (benchmarks/README.md). What the body raises, a Ctrl-C included,
    comes out of `switch` here. The greenlet runs in a copy of the caller's context variables
    (a new greenlet would start in an empty one); what the body sets in them is set back in
    the caller's afterwards, for the teardown."""
    import contextvars

    from greenlet import greenlet  # type: ignore[import-untyped]

    context = contextvars.copy_context()
    body = greenlet(call if repeat is None else _iterations)
    body.gr_context = context
    try:
        return body.switch() if repeat is None else body.switch(call, hook, repeat, stamps)
    finally:
        for variable, value in context.items():
            variable.set(value)


# The functions that call a target's body, innermost last on every stack: `execute`, its
# `--repeat` loop and the target's own callers. The stack rules trim everything down to the
# last of them (`profwork.stacks.calls_body`), so a new place that calls the body must be
# added here.
BODY_CALLERS: tuple[Callable[..., Any], ...] = (execute, _iterations, *targets.BODY_CALLERS)


@contextmanager
def _body_process(pid: int) -> Iterator[None]:
    """Around a call of the body: `os._exit` raises (`_exit_raises`), and a fork of the body
    that comes back out of it, returning or raising, is ended there."""
    try:
        with _exit_raises(pid):
            yield
    except BaseException as exc:
        if os.getpid() != pid:  # a fork of the body, raising out of it
            _end_fork(exc)
        raise
    if os.getpid() != pid:  # a fork of the body, returning out of it
        _end_fork(None)


@contextmanager
def _exit_raises(pid: int) -> Iterator[None]:
    """`os._exit` raises `TargetExit` in this process's calling thread while the body runs."""
    real = os._exit
    body_thread = threading.current_thread()

    def _exit(status: int) -> NoReturn:
        if os.getpid() == pid and threading.current_thread() is body_thread:
            raise TargetExit(status)
        real(status)

    os._exit = _exit
    try:
        yield
    finally:
        os._exit = real


def _end_fork(exc: BaseException | None) -> NoReturn:
    """End a process the body forked that came back out of it, as it would have ended at the
    end of the script, without finishing the run (its parent does)."""
    code = 0
    if isinstance(exc, SystemExit):
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
            code = 1
    elif exc is not None:
        import traceback

        traceback.print_exception(exc)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


@dataclass
class _Stream:
    name: str
    stream: TextIO | None

    def restore(self) -> None:
        """Put the process's stream back if the target closed or replaced it."""
        saved = self.stream
        if saved is None:
            return
        closed = bool(getattr(saved, "closed", False))
        if getattr(sys, self.name) is saved and not closed:
            return
        if not closed:
            setattr(sys, self.name, saved)
            return
        try:
            fd = saved.fileno()
        except (OSError, ValueError, AttributeError):
            fd = 1 if self.name == "stdout" else 2
        reopened = io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False),
            encoding=getattr(saved, "encoding", None) or "utf-8",
            errors=getattr(saved, "errors", None) or "strict",
            line_buffering=bool(getattr(saved, "line_buffering", False)),
            write_through=True,
        )
        setattr(sys, self.name, reopened)


@contextmanager
def _process_kept() -> Iterator[None]:
    """The working directory and sys.stdout/sys.stderr as they were before the target ran."""
    streams = [_Stream("stdout", sys.stdout), _Stream("stderr", sys.stderr)]
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    try:
        yield
    finally:
        for stream in streams:
            stream.restore()
        if cwd is not None:
            with suppress(OSError):
                os.chdir(cwd)


def _setup_failed(exc: BaseException, target: Target) -> TargetSetupError:
    """One line for a failed setup: the exception and the target's own frames."""
    from profwork.frames import Classifier, SysPaths
    from profwork.model import FrameKind

    if isinstance(exc, SystemExit):
        what = f"called sys.exit({exc.code!r})"
    else:
        kind = type(exc)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        what = f"failed: {name}: {message}" if message else f"failed: {name}"
    import traceback

    classifier = Classifier(SysPaths.current(target.user_paths))
    frames = [
        f"{_shown(f.filename)}:{f.lineno} in {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
        if classifier.kind(f.filename) is FrameKind.USER
    ]
    where = f" (at {' → '.join(frames)})" if frames else ""
    return TargetSetupError(f"the setup of {target.name} {what}{where}", remedy=SETUP_REMEDY)


def _shown(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return path
