"""Executing a bound target: setup, then the measured body, then teardown, with status and timing.

The runner knows nothing about profilers: a method hands it a `Hook` whose `start`/`stop` bracket
the body alone, so setup and teardown are never measured. Teardown runs even if the body fails.
The body's exception or a Ctrl-C becomes the run's status; the caller still writes what was
measured.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from profwork.targets import Metrics

if TYPE_CHECKING:
    from profwork.methods import Status
    from profwork.targets import BoundTarget


class Hook(Protocol):
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
        try:
            # timed outside the hook, so that the clock calls are not part of the profile
            started = time.perf_counter()
            hook.start()
            try:
                result = call()
            finally:
                hook.stop()
                facts.duration = time.perf_counter() - started
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
