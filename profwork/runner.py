"""Executing a bound target: setup, then the measured body, then teardown, with status and timing.

The runner knows nothing about profilers: a method hands it a `Hook` whose `start`/`stop` bracket
the body alone, so setup and teardown are never measured. Teardown runs even if the body fails.
The body's exception or a Ctrl-C becomes the run's status; the caller still writes what was
measured.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

from profwork.targets import Metrics

if TYPE_CHECKING:
    from profwork.methods import Status
    from profwork.targets import BoundTarget


class Hook(Protocol):
    """Brackets the body: `start` right before it, `stop` right after (both inside the timed
    window, so keep them cheap). A hook may also define `before_body`/`after_body`, called
    outside the timed window: the py-spy child's handshake with its parent."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class NoHook:
    """Runs the body unmeasured (bench, serve)."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class RunFacts:
    status: Status = "ok"
    duration: float | None = None
    error: str | None = None
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def execute(bound: BoundTarget, hook: Hook) -> RunFacts:
    """Run setup, the body between `hook.start()` and `hook.stop()`, and teardown."""
    facts = RunFacts()
    with bound.environment():
        try:
            state = bound.run_setup()
        except KeyboardInterrupt:
            return RunFacts(status="interrupted", error="interrupted during setup")
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is a status
            return RunFacts(status="error", error=f"setup failed:\n{_describe(exc)}")
        call = bound.body_call(state)
        result: Any = None
        before, after = getattr(hook, "before_body", None), getattr(hook, "after_body", None)
        try:
            if before is not None:
                before()
            # timed outside the hook, so that the clock calls are not part of the profile
            started = time.perf_counter()
            hook.start()
            try:
                result = call()
            finally:
                hook.stop()
                facts.duration = time.perf_counter() - started
                if after is not None:
                    after()
        except KeyboardInterrupt:
            facts.status, facts.error = "interrupted", "interrupted by the user (Ctrl-C)"
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


# ---- the py-spy child ---------------------------------------------------------------------------


# The words of the handshake, one a line: the child says READY after its setup and DONE after
# the body; the parent says GO once py-spy samples and TEARDOWN once py-spy has stopped.
READY, GO, DONE, TEARDOWN = "ready", "go", "done", "teardown"


class _Handshake:
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

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def after_body(self) -> None:
        self._say(DONE)
        self.incoming.readline()  # TEARDOWN


def _lingering_threads() -> list[str]:
    """Non-daemon threads still running, which would keep the interpreter from exiting."""
    import threading

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
        except ProfworkError as exc:
            facts = RunFacts(status="error", error=str(exc))
        else:
            facts = execute(bound, handshake)
    lingering = _lingering_threads()
    notes = []
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
                "notes": notes,
            }
        ),
        encoding="utf-8",
    )
    if lingering:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # closed, or nowhere to write
                stream.flush()
        os._exit(0)
