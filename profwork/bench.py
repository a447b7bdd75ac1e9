"""`profwork bench`: the target's body, unprofiled, N times after a warm-up (DESIGN §5, Bench).

Setup runs once, then `warmup` untimed calls of the body, then `iterations` timed ones (wall
clock, `time.perf_counter`, and the thread's CPU time beside it), then teardown. The figures —
mean, median, p95, p99, stdev, min, max, iterations per second, peak RSS — and every timing go to
`bench.json` in a run directory (`<target>/<stamp>-bench/`) with a histogram (`histogram.svg`).
A body that reports target metrics (the `api` target's per-endpoint percentiles) has each figure
summarised as its median over the iterations, and every iteration's figures kept.

Ctrl-C keeps the timings measured so far (status `interrupted`); a body that raises ends the
bench with its error and keeps nothing, since a partial loop of a failing body measures nothing.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from profwork import specs, targets
from profwork.errors import ProfworkError, TargetSetupError
from profwork.rundir import DEFAULT_BASE, Manifest, RunDir, git_commit
from profwork.units import json_safe

BENCH_FILE = "bench.json"
HISTOGRAM_FILE = "histogram.svg"
SCHEMA = 1

Progress = Callable[[int, int], None]  # (done, of): called after each timed iteration


def _quiet(done: int, of: int) -> None:
    pass


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (as the targets' own latency figures)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures(timings: Sequence[float], peak_rss: float) -> dict[str, float]:
    ordered = sorted(timings)
    mean = statistics.fmean(ordered)
    return {
        "iterations": float(len(ordered)),
        "mean": mean,
        "median": statistics.median(ordered),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "stdev": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        "min": ordered[0],
        "max": ordered[-1],
        "per_second": 1 / mean if mean > 0 else math.inf,
        "peak_rss": peak_rss,
    }


def summarise_metrics(
    per_iteration: Sequence[Mapping[str, Mapping[str, float]]],
) -> dict[str, dict[str, float]]:
    """Each reported figure's median over the iterations that reported it."""
    values: dict[str, dict[str, list[float]]] = {}
    for metrics in per_iteration:
        for name, numbers in metrics.items():
            for key, value in numbers.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    values.setdefault(name, {}).setdefault(key, []).append(float(value))
    return {
        name: {key: statistics.median(v) for key, v in numbers.items()}
        for name, numbers in values.items()
    }


def _peak_rss() -> float:
    """This process's peak resident set, in bytes (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True)
class BenchResult:
    path: Path
    manifest: Manifest
    stats: Mapping[str, float]
    timings: tuple[float, ...]
    target_metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


Record = Callable[[float, float, Any], None]  # (wall, cpu, what the body returned)


@dataclass
class Measured:
    """Every timed iteration so far, over all worker processes, in the order they ran."""

    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    reported: list[dict[str, dict[str, float]]] = field(default_factory=list)
    process_index: list[int] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None

    def add(self, index: int, wall: float, cpu: float, metrics: Any) -> None:
        self.timings.append(wall)
        self.cpu.append(cpu)
        self.process_index.append(index)
        if metrics:
            self.reported.append({k: dict(v) for k, v in metrics.items()})

    def recorder(self, index: int, on_progress: Progress, of: int) -> Record:
        def record(wall: float, cpu: float, result: Any) -> None:
            self.add(index, wall, cpu, result if isinstance(result, targets.Metrics) else None)
            on_progress(len(self.timings), of)

        return record


def measure(
    bound: targets.BoundTarget, warmup: int, iterations: int, record: Record
) -> tuple[str, str | None]:
    """Setup once, `warmup` untimed calls, `iterations` timed ones (each passed to `record`),
    teardown: `("ok", None)`, or `("interrupted", why)` after Ctrl-C."""
    name = bound.target.name
    try:
        state = bound.run_setup()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of user code
        raise TargetSetupError(
            f"the setup of {name} failed: {specs.describe_exception(exc)}",
            remedy="fix the setup (or its parameters); nothing was measured",
        ) from None
    call = bound.body_call(state)
    done = 0
    try:
        for _ in range(warmup):
            call()
        while done < iterations:
            wall, thread = time.perf_counter(), time.thread_time()
            result = call()
            cpu = time.thread_time() - thread
            record(time.perf_counter() - wall, cpu, result)
            done += 1
    except KeyboardInterrupt:
        return "interrupted", "interrupted by the user (Ctrl-C)"
    except BaseException as exc:  # noqa: BLE001
        raise ProfworkError(
            f"the body of {name} failed in iteration {done + 1}: {specs.describe_exception(exc)}",
            remedy="a bench needs a body that succeeds every time",
            exit_code=1,
        ) from None
    finally:
        bound.run_teardown(state)
    return "ok", None


def bench(
    spec: str,
    *,
    module: bool = False,
    argv: Sequence[str] = (),
    params: Mapping[str, str] | None = None,
    size: str | None = None,
    iterations: int = 20,
    warmup: int = 2,
    output: Path | None = None,
    command: Sequence[str] | None = None,
    on_progress: Progress = _quiet,
    processes: int = 1,
) -> BenchResult:
    if iterations < 1 or warmup < 0:
        raise ProfworkError("bench needs -n of at least 1 and --warmup of at least 0")
    if not 1 <= processes <= iterations:
        raise ProfworkError(
            f"--processes {processes} is not between 1 and the {iterations} iterations (-n)",
            remedy="give --processes from 1 (all in this process) to -n",
        )
    target = specs.resolve(spec, module=module, argv=argv)
    bound = target.bind(params, size)
    started = datetime.now().astimezone()
    name = specs.slug(target.spec or target.name, module) if target.spec else target.name
    run_dir = RunDir(output or DEFAULT_BASE, name, "bench", started)
    commit = git_commit()
    measured = Measured()
    try:
        if processes == 1:
            with bound.environment():
                measured.status, measured.error = measure(
                    bound, warmup, iterations, measured.recorder(0, on_progress, iterations)
                )
            measured.workers.append(
                {
                    "index": 0,
                    "pid": os.getpid(),
                    "iterations": len(measured.timings),
                    "peak_rss": _peak_rss(),
                }
            )
        else:
            from profwork import bench_worker

            bench_worker.run(
                bound, spec, module, argv, warmup, iterations, processes, measured, on_progress
            )
    except BaseException:
        run_dir.discard()
        raise
    timings, cpu, reported = measured.timings, measured.cpu, measured.reported
    status, error = measured.status, measured.error
    if not timings:
        run_dir.discard()
        raise KeyboardInterrupt
    stats = figures(timings, max((w["peak_rss"] for w in measured.workers), default=0.0))
    metrics = summarise_metrics(reported)
    data = {
        "schema": SCHEMA,
        "target": target.name,
        "spec": spec,
        "params": {k: _plain(v) for k, v in bound.params.items()},
        "size": size,
        "warmup": warmup,
        "requested_iterations": iterations,
        "timings": timings,
        "cpu_timings": cpu,
        "processes": processes,
        "process_index": measured.process_index,
        "workers": measured.workers,
        "stats": stats,
        "target_metrics": metrics,
        "iteration_metrics": reported,
    }
    from profwork.renderers.benchsvg import histogram

    with run_dir.open(BENCH_FILE) as out:
        out.write(json.dumps(json_safe(data), indent=2).encode("utf-8"))
    with run_dir.open(HISTOGRAM_FILE) as out:
        out.write(histogram(timings, stats, title=f"{target.name} · bench").encode("utf-8"))
    fields: dict[str, Any] = {
        "target": target.name,
        "spec": spec,
        "method": "bench",
        "params": data["params"],
        "options": {"iterations": iterations, "warmup": warmup, "processes": processes},
        "size": size,
        "started_at": started.isoformat(timespec="seconds"),
        "duration": math.fsum(timings),
        "status": status,
        "error": error,
        "unit": "seconds",
        "target_metrics": metrics,
        "artefacts": list(run_dir.written),
        "command": list(command if command is not None else sys.argv),
        "git_commit": commit,
    }
    manifest = Manifest(**fields)
    path = run_dir.finish(manifest)
    return BenchResult(path, manifest, stats, tuple(timings), metrics)


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | bool | None) else str(value)
