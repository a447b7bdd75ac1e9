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
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

from profwork import targets
from profwork.errors import TargetSetupError
from profwork.targets import Metrics

if TYPE_CHECKING:
    from profwork.methods import Status
    from profwork.targets import BoundTarget, Target


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


class TargetExit(BaseException):
    """The body called `os._exit(code)`: raised in its place so that the run is kept."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class RunFacts:
    status: Status = "ok"
    duration: float | None = None
    error: str | None = None
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # the exit code the process would have had (the body called os._exit), when it matters
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def execute(bound: BoundTarget, hook: Hook) -> RunFacts:
    """Run setup, the body between `hook.start()` and `hook.stop()`, and teardown."""
    facts = RunFacts()
    started_by = os.getpid()
    with _process_kept(), bound.environment():
        try:
            state = bound.run_setup()
        except KeyboardInterrupt:
            return RunFacts(status="interrupted", error="interrupted during setup")
        except BaseException as exc:  # noqa: BLE001 - any failure of user code
            raise _setup_failed(exc, bound.target) from None
        call = bound.body_call(state)
        result: Any = None
        try:
            hook.before_body()
            try:
                try:
                    with _exit_raises(started_by):
                        # timed outside the hook, so that the clock calls are not profiled
                        started = time.perf_counter()
                        hook.start()
                        try:
                            result = call()
                        finally:
                            hook.stop()
                            facts.duration = time.perf_counter() - started
                except BaseException as exc:
                    if os.getpid() != started_by:  # a fork of the body, raising out of it
                        _end_fork(exc)
                    raise
                if os.getpid() != started_by:  # a fork of the body, returning out of it
                    _end_fork(None)
            finally:
                # however the body ended: under py-spy, the sampling stops before the teardown
                hook.after_body()
        except KeyboardInterrupt:
            facts.status, facts.error = "interrupted", "interrupted by the user (Ctrl-C)"
        except TargetExit as exc:
            facts.exit_code = exc.code
            if exc.code != 0:
                facts.status = "error"
                facts.error = f"the body called os._exit({exc.code}) (exit code {exc.code})"
            else:
                facts.notes.append(
                    "the body called os._exit(0): the run ends there, with what was measured "
                    "until then"
                )
        except SystemExit as exc:
            if exc.code not in (None, 0):
                facts.status, facts.error = "error", f"SystemExit({exc.code!r})"
        except BaseException as exc:  # noqa: BLE001
            facts.status, facts.error = "error", _describe(exc)
        if isinstance(result, Metrics):
            facts.metrics = {k: dict(v) for k, v in result.items()}
        try:
            bound.run_teardown(state)
        except KeyboardInterrupt:
            facts.status = "interrupted"
        except BaseException as exc:  # noqa: BLE001
            if facts.status == "ok":
                facts.status = "error"
            facts.error = (facts.error + "\n" if facts.error else "") + (
                f"teardown failed:\n{_describe(exc)}"
            )
    return facts


# The functions that call a target's body, innermost last on every stack: `execute` and the
# target's own callers. The stack rules trim everything down to the last of them
# (`profwork.stacks.calls_body`), so a new place that calls the body must be added here.
BODY_CALLERS: tuple[Callable[..., Any], ...] = (execute, *targets.BODY_CALLERS)


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
    classifier = Classifier(SysPaths.current(target.user_paths))
    frames = [
        f"{_shown(f.filename)}:{f.lineno} in {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
        if classifier.kind(f.filename) is FrameKind.USER
    ]
    where = f" (at {' → '.join(frames)})" if frames else ""
    return TargetSetupError(
        f"the setup of {target.name} {what}{where}",
        remedy="fix what the setup needs (its parameters, a database, a service); "
        "nothing was profiled",
    )


def _shown(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return path


# ---- the py-spy child ---------------------------------------------------------------------------


# The words of the handshake, one a line: the child says READY after its setup and DONE after
# the body; the parent says GO once py-spy samples and TEARDOWN once py-spy has stopped.
READY, GO, DONE, TEARDOWN = "ready", "go", "done", "teardown"


class _Handshake(Hook):
    """The child's side of the py-spy handshake: report ready after setup, wait until py-spy
    samples, report done after the body, wait until py-spy has stopped before teardown."""

    def __init__(self, incoming: IO[str], outgoing: IO[str]) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    def _say(self, word: str) -> None:
        try:
            self.outgoing.write(word + "\n")
            self.outgoing.flush()
        except OSError:  # the parent is gone; carry on alone
            pass

    def before_body(self) -> None:
        self._say(READY)
        self.incoming.readline()  # GO (or EOF: the parent is gone)

    def after_body(self) -> None:
        self._say(DONE)
        self.incoming.readline()  # TEARDOWN


def _lingering_threads() -> list[str]:
    """Non-daemon threads still running, which would keep the interpreter from exiting."""
    main = threading.main_thread()
    return [t.name for t in threading.enumerate() if t is not main and not t.daemon]


def child_main(argv: list[str] | None = None) -> None:
    """Entry point of the child process a sampling method profiles from outside:
    `python -c "from profwork.runner import child_main; child_main()" REQUEST.json`.

    The request names the target, its parameters, two pipe descriptors for the handshake, and
    where to write the run's facts (status, body duration, error, target metrics, notes).

    The facts are written as soon as the teardown is done. Non-daemon threads the target left
    running would then keep the process alive forever (the parent waits for it): the child
    names them in a note and ends at once, as `os._exit` does, after flushing its output.
    SIGTERM and SIGHUP interrupt the body as Ctrl-C does (the parent sends SIGINT)."""
    import json
    import os
    import sys
    from pathlib import Path

    from profwork.errors import ProfworkError
    from profwork.signals import ending_as_interrupt
    from profwork.targets import resolve

    request = json.loads(Path((argv or sys.argv[1:])[0]).read_text(encoding="utf-8"))
    handshake = _Handshake(
        os.fdopen(request["read_fd"], "r", encoding="utf-8"),
        os.fdopen(request["write_fd"], "w", encoding="utf-8"),
    )
    result = Path(request["result"])
    with ending_as_interrupt():
        try:
            target = resolve(request["spec"], module=request["module"], argv=request["argv"])
            bound = target.bind(request["params"], request["size"])
            facts = execute(bound, handshake)
        except ProfworkError as exc:  # a bad spec, or a setup that failed
            facts = RunFacts(status="error", error=str(exc))
    notes = list(facts.notes)
    lingering = _lingering_threads()
    if lingering:
        notes.append(
            f"the target left {len(lingering)} non-daemon thread(s) running after its teardown "
            f"({', '.join(lingering)}); profwork ended the target process without waiting "
            "for them"
        )
    result.write_text(
        json.dumps(
            {
                "status": facts.status,
                "duration": facts.duration,
                "error": facts.error,
                "metrics": facts.metrics,
                "exit_code": facts.exit_code,
                "notes": notes,
            }
        ),
        encoding="utf-8",
    )
    if lingering:
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):  # closed, or nowhere to write
                stream.flush()
        os._exit(0)
