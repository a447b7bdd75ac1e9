"""The SQL probe's cost (issue 17): the `db` target's body with and without SQL capture.

    .venv/bin/python benchmarks/bench_sqlprobe.py [--pairs 9] [--size medium] [-p loading=lazy]

One process, one seeded database (the target's setup, run once); then pairs of body runs in
alternating order, one with the probe installed and recording, one without any probe. Times are
the process's CPU time (the body is single-threaded and waits for nothing: SQLite is in memory),
which the other processes of a shared machine disturb far less than the wall clock. The lazy
variant executes one statement per appointment, so it is the probe's worst case among the
built-ins. Reports the ratio of the fastest bodies (noise from other processes only ever adds
time, so the minimum is the steadiest estimate; target ≤ 1.10×), the median ratio of the pairs
beside it, and the probe's cost per statement;
writes `benchmarks/out/bench_sqlprobe.json`. Timing targets are reported as PASS/MISS, never
asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine, verdict, write_json  # noqa: E402 - scripts, not a package

from profwork.sqlprobe import SqlProbe  # noqa: E402
from profwork.targets import resolve  # noqa: E402

TARGET_RATIO = 1.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--size", default="medium")
    parser.add_argument("-p", dest="params", action="append", default=[])
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.params)
    params.setdefault("rounds", "3")
    target = resolve("db")
    bound = target.bind(params, args.size)
    state = bound.run_setup()
    call = bound.body_call(state)
    call()  # warm-up: imports, compiled statements, the SQLite page cache

    def without() -> float:
        started = time.process_time()
        call()
        return time.process_time() - started

    statements = 0

    def captured() -> float:
        nonlocal statements
        probe = SqlProbe(target.user_paths)
        probe.install()
        try:
            probe.start()
            started = time.process_time()
            call()
            elapsed = time.process_time() - started
        finally:
            probe.uninstall()
        statements = len(probe.log().queries)
        return elapsed

    ratios, plain, probed = [], [], []
    for i in range(args.pairs):
        first, second = (without, captured) if i % 2 == 0 else (captured, without)
        a, b = first(), second()
        base, with_probe = (a, b) if first is without else (b, a)
        plain.append(base)
        probed.append(with_probe)
        ratios.append(with_probe / base)
    bound.run_teardown(state)
    ratio = min(probed) / min(plain)
    per_statement = (min(probed) - min(plain)) / max(statements, 1)
    print(f"db {args.size} {params}: {statements} statements per body")
    print(f"  body without capture: {min(plain):.3f} s (fastest of {args.pairs})")
    print(f"  body with capture:    {min(probed):.3f} s")
    print(f"  median ratio of the pairs: {statistics.median(ratios):.3f}×")
    outcome = verdict(ratio, TARGET_RATIO)
    print(f"  ratio (fastest bodies): {ratio:.3f}×  target ≤ {TARGET_RATIO}×  {outcome}")
    print(f"  probe cost per statement: {per_statement * 1e6:.1f} µs")
    path = write_json(
        "bench_sqlprobe.json",
        {
            "machine": machine(),
            "size": args.size,
            "params": params,
            "statements": statements,
            "without": plain,
            "with": probed,
            "ratios": ratios,
            "ratio": ratio,
            "median_pair_ratio": statistics.median(ratios),
            "per_statement_seconds": per_statement,
            "target": TARGET_RATIO,
            "verdict": verdict(ratio, TARGET_RATIO),
        },
    )
    print(f"  figures: {path}")


if __name__ == "__main__":
    main()
