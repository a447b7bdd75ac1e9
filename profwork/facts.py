"""The facts of one run: how the body ended, how long it took, what it reported.

`RunFacts` is the one type these facts travel in: the runner returns it, the py-spy child sends
it back to its parent (`profwork.child`), a method's `RawArtefact` carries it (`raw.facts`, saved
in `raw/meta.json`), and the pipeline builds the manifest from it. `to_json`/`from_json` are its
one serialisation, used by every file that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from profwork.model import Status

STATUSES: tuple[Status, ...] = get_args(Status)

Metrics = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """How a run's body went.

    `duration`: seconds of the profiled body (or of the window recorded, under attach), None
    when it never ran to an end anyone could time. `metrics`: figures the body reported
    (`targets.Metrics`). `exit_code`: the exit code the process would have had (the body
    called `os._exit`), when it matters. `setup_failed`: the setup failed, so there is no run
    (`error` then holds the one line that says why)."""

    status: Status = "ok"
    duration: float | None = None
    error: str | None = None
    metrics: Metrics = field(default_factory=dict)
    exit_code: int | None = None
    notes: tuple[str, ...] = ()
    setup_failed: bool = False
    # under `--repeat N`: the seconds each measured iteration took (the gate's repeats)
    iterations: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "duration": self.duration,
            "error": self.error,
            "metrics": {name: dict(figures) for name, figures in self.metrics.items()},
            "exit_code": self.exit_code,
            "notes": list(self.notes),
            "setup_failed": self.setup_failed,
            "iterations": list(self.iterations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunFacts:
        """The facts `to_json` wrote; a missing or mistyped field takes its default, so that a
        file written by an older profwork (or a child that died half-way) still reads."""
        status = data.get("status", "ok")
        duration = data.get("duration")
        error = data.get("error")
        metrics = data.get("metrics")
        exit_code = data.get("exit_code")
        notes = data.get("notes")
        iterations = data.get("iterations")
        return cls(
            status=status if status in STATUSES else "error",
            duration=float(duration) if isinstance(duration, int | float) else None,
            error=str(error) if error is not None else None,
            metrics={
                str(name): {str(k): float(v) for k, v in figures.items()}
                for name, figures in metrics.items()
                if isinstance(figures, Mapping)
            }
            if isinstance(metrics, Mapping)
            else {},
            exit_code=exit_code if isinstance(exit_code, int) else None,
            notes=tuple(str(n) for n in notes) if isinstance(notes, list | tuple) else (),
            setup_failed=bool(data.get("setup_failed", False)),
            iterations=tuple(float(t) for t in iterations if isinstance(t, int | float))
            if isinstance(iterations, list | tuple)
            else (),
        )
