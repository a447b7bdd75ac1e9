"""An allocation-heavy workload for the memory-method benchmark (about 0.2 s unprofiled here):
strings, lists, dicts and objects made and mostly dropped, some kept. It times its own body,
like `workload.py`. `PROFWORK_BENCH_TRACEMALLOC=N` makes it the plain tracemalloc runner the
benchmark compares with: tracing starts (N frames) before the timed body, and a snapshot is
taken after it, outside the timed region."""

from __future__ import annotations

import os
import time
import tracemalloc


class Record:
    def __init__(self, key: str, values: list[int]) -> None:
        self.key = key
        self.values = values


def make(n: int) -> list[Record]:
    return [Record(f"key-{i}", list(range(i % 20))) for i in range(n)]


def index(records: list[Record]) -> dict[str, Record]:
    return {r.key: r for r in records}


def body(scale: float) -> int:
    kept: list[dict[str, Record]] = []
    total = 0
    for round_ in range(max(1, round(20 * scale))):
        records = make(5_000)
        table = index(records)
        total += sum(len(r.values) for r in table.values())
        if round_ % 5 == 0:
            kept.append(table)
    return total + len(kept)


def main() -> None:
    scale = float(os.environ.get("PROFWORK_BENCH_SCALE", "1"))
    depth = os.environ.get("PROFWORK_BENCH_TRACEMALLOC")
    if depth:
        tracemalloc.start(int(depth))
    started, cpu = time.perf_counter(), time.process_time()
    body(scale)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if depth:
        tracemalloc.take_snapshot()
        tracemalloc.stop()
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
