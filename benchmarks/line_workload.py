"""A line-heavy workload for the line-method benchmark (about 0.25 s unprofiled here): one
function of short lines run many times, in a module (`_line_hot.py`) both tools can reach. It
times its own body, like `workload.py`:
`PROFWORK_BENCH_OUT=body.txt python benchmarks/line_workload.py`."""

from __future__ import annotations

import os
import time

import _line_hot


def main() -> None:
    scale = float(os.environ.get("PROFWORK_BENCH_SCALE", "1"))
    started, cpu = time.perf_counter(), time.process_time()
    _line_hot.hot(max(1, round(30_000 * scale)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    out = os.environ.get("PROFWORK_BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(f"{elapsed!r}\n")
        # the process's CPU time over the body (every thread's), beside it for the benchmark
        with open(out + ".cpu", "w", encoding="utf-8") as handle:
            handle.write(f"{cpu!r}\n")
    else:
        print(f"body: {elapsed:.3f} s (CPU {cpu:.3f} s)")


main()
