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
    started = time.perf_counter()
    _line_hot.hot(max(1, round(30_000 * scale)))
    elapsed = time.perf_counter() - started
    out = os.environ.get("PROFWORK_BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(f"{elapsed!r}\n")
    else:
        print(f"body: {elapsed:.3f} s")


main()
