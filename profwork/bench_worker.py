"""`profwork bench --processes P`: the timed iterations spread over P fresh worker processes.

Two processes of the same code can differ systematically (memory layout, a sibling hyperthread's
load) by more than the iterations inside one process do; a bench whose iterations all come from
one process then carries that offset whole, and two benches of identical code look different to
the gate's rank test. pyperf's remedy: several processes per bench, so the between-process spread
is inside each bench's sample.

The parent runs the workers one after another: `python -m profwork.bench_worker REQUEST`, each
importing the target, running its setup once, the warm-up, its share of the iterations and the
teardown (`bench.measure`). A worker writes one JSON line per timed iteration to a pipe it
inherits (not stdout, which stays the body's), then an `end` line with its peak RSS — or one
`error` line. A worker ignores SIGINT: on Ctrl-C the parent stops it with SIGTERM, keeps every
iteration it read so far, and waits for the worker's teardown, so no process is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType
from typing import IO, Any

from profwork import bench as benching
from profwork import targets
from profwork.errors import ProfworkError, TargetSetupError

STOP_TIMEOUT = 30.0  # seconds a stopped worker gets for its teardown before it is killed


def shares(iterations: int, processes: int) -> list[int]:
    """`iterations` split over `processes` as evenly as whole numbers allow, larger shares first."""
    return [iterations // processes + (i < iterations % processes) for i in range(processes)]


def run(
    bound: targets.BoundTarget,
    spec: str,
    module: bool,
    argv: Sequence[str],
    warmup: int,
    iterations: int,
    processes: int,
    measured: benching.Measured,
    on_progress: benching.Progress,
) -> None:
    request = {
        "spec": spec,
        "module": module,
        "argv": list(argv),
        "params": dict(bound.given),
        "size": bound.size,
        "warmup": warmup,
    }
    try:
        for index, share in enumerate(shares(iterations, processes)):
            _one(index, request | {"iterations": share}, measured, on_progress, iterations)
            if measured.status != "ok":
                return
    except KeyboardInterrupt:  # between two workers
        measured.status, measured.error = "interrupted", "interrupted by the user (Ctrl-C)"


def _one(
    index: int,
    request: dict[str, Any],
    measured: benching.Measured,
    on_progress: benching.Progress,
    of: int,
) -> None:
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "profwork.bench_worker",
                json.dumps(request | {"fd": write_end}),
            ],
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "r", encoding="utf-8") as pipe:
        try:
            ended = _read(index, pipe, proc.pid, measured, on_progress, of)
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGTERM)
            measured.status, measured.error = "interrupted", "interrupted by the user (Ctrl-C)"
            ended = _read(index, pipe, proc.pid, measured, on_progress, of)
        finally:
            _reap(proc)
    if not ended:
        raise ProfworkError(
            f"bench worker process {index + 1} (pid {proc.pid}) exited with code "
            f"{proc.returncode} before it finished",
            remedy="see its output above; --processes 1 benches in profwork's own process",
            exit_code=1,
        )


def _read(
    index: int,
    pipe: IO[str],
    pid: int,
    measured: benching.Measured,
    on_progress: benching.Progress,
    of: int,
) -> bool:
    """The worker's lines until its `end`: True then, False when it ended without one."""
    for line in pipe:
        message = json.loads(line)
        kind = message["kind"]
        if kind == "timing":
            measured.add(index, message["wall"], message["cpu"], message.get("metrics"))
            on_progress(len(measured.timings), of)
        elif kind == "error":
            error = TargetSetupError if message["setup"] else ProfworkError
            raise error(message["message"], message["remedy"], message["exit_code"])
        elif kind == "end":
            measured.workers.append(
                {
                    "index": index,
                    "pid": pid,
                    "iterations": message["done"],
                    "peak_rss": message["peak_rss"],
                }
            )
            if message["status"] != "ok":
                measured.status, measured.error = message["status"], message["error"]
            return True
    return False


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


# ---- the worker ---------------------------------------------------------------------------------


def _stop(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the teardown runs undisturbed
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (see the module's docs)
    signal.signal(signal.SIGTERM, _stop)
    request = json.loads(argv[0])
    with os.fdopen(request["fd"], "w", encoding="utf-8") as out:

        def send(**message: Any) -> None:
            out.write(json.dumps(message) + "\n")
            out.flush()

        done = 0

        def record(wall: float, cpu: float, result: Any) -> None:
            nonlocal done
            metrics = None
            if isinstance(result, targets.Metrics):
                metrics = {k: dict(v) for k, v in result.items()}
            send(kind="timing", wall=wall, cpu=cpu, metrics=metrics)
            done += 1

        status = "interrupted"
        error: str | None = "interrupted by the user (Ctrl-C)"
        try:
            from profwork import specs

            target = specs.resolve(request["spec"], module=request["module"], argv=request["argv"])
            bound = target.bind(request["params"], request["size"])
            with bound.environment():
                status, error = benching.measure(
                    bound, request["warmup"], request["iterations"], record
                )
        except KeyboardInterrupt:
            pass
        except ProfworkError as exc:
            send(
                kind="error",
                message=exc.message,
                remedy=exc.remedy,
                exit_code=exc.exit_code,
                setup=isinstance(exc, TargetSetupError),
            )
            return 1
        send(kind="end", status=status, error=error, done=done, peak_rss=benching._peak_rss())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
