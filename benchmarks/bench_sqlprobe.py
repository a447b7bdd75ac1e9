"""The SQL probe's cost (issue 17): the `db` target's body with and without SQL capture.

    .venv/bin/python benchmarks/bench_sqlprobe.py [--pairs 15] [--size medium] [-p loading=lazy]
        [--control]

One process, two seeded databases (the target's setup, run twice): one set up as a run with SQL
capture has it (the probe installed before the setup, so that the setup's engine and `sqlite3`
connection are made under it), one as a run with `--no-sql` has it (no probe installed: SQLAlchemy
and `sqlite3` untouched). Then pairs of bodies, the order rotating from pair to pair: one on the
first database with a probe installed and recording around the body, one on the second without
any probe. One process, because two processes running the same code differ by ±5% on this
machine (their heaps and hash seeds differ); after each probe is removed, SQLAlchemy's event
switches are put back as they were before any probe (`Engine._has_events`,
`Dialect._has_events`: a probe that left them on would slow the bodies without it, and flatter
itself). Times are the process's CPU time (the body is single-threaded and waits for nothing:
SQLite is in memory), which the other processes of a shared machine disturb far less than the
wall clock. The lazy variant executes one statement per appointment, so it is the probe's worst
case among the built-ins. `--control` runs the first database's bodies without recording (its
connection stays wrapped, no probe is installed around the body): the bench's own bias, from the
two databases' different places in memory and the idle wrappers, to read the ratio against.

Reports the median of the per-pair ratios (target ≤ 1.10×) with their min–max and interquartile
range, the ratio of the fastest bodies beside it, and the probe's cost per statement; writes
`benchmarks/out/bench_sqlprobe.json`. Timing targets are reported as PASS/MISS, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine, rotated, verdict, write_json  # noqa: E402 - scripts, not a package

from profwork.sqlprobe import SqlProbe  # noqa: E402
from profwork.targets import resolve  # noqa: E402

TARGET_RATIO = 1.10
WITHOUT, WITH = "without", "with"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--size", default="medium")
    parser.add_argument("-p", dest="params", action="append", default=[])
    parser.add_argument("--control", action="store_true", help="no probe around either body")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.params)
    params.setdefault("rounds", "3")
    target = resolve("db")
    bound = target.bind(params, args.size)
    from sqlalchemy.engine import Dialect, Engine

    switches = {cls: cls._has_events for cls in (Engine, Dialect)}  # noqa: SLF001

    def removed(probe: SqlProbe) -> None:
        probe.uninstall()
        for cls, value in switches.items():
            cls._has_events = value  # noqa: SLF001

    setup_probe = SqlProbe(target.user_paths)
    setup_probe.install()
    try:
        probed_state = bound.run_setup()
    finally:
        removed(setup_probe)
    plain_state = bound.run_setup()
    probed_call, plain_call = bound.body_call(probed_state), bound.body_call(plain_state)
    statements = 0

    def without() -> float:
        started = time.process_time()
        plain_call()
        return time.process_time() - started

    def captured() -> float:
        nonlocal statements
        probe = SqlProbe(target.user_paths)
        try:
            if not args.control:
                probe.install()
                probe.start()
            started = time.process_time()
            probed_call()
            elapsed = time.process_time() - started
        finally:
            removed(probe)
        statements = len(probe.log().queries)
        return elapsed

    # warm-up round: imports, compiled statements, the SQLite page caches
    comparison = rotated(args.pairs, {WITHOUT: without, WITH: captured}, warmup=1)
    bound.run_teardown(probed_state)
    bound.run_teardown(plain_state)
    ratio = comparison.ratio(WITH, WITHOUT)
    plain, probed = comparison.spread(WITHOUT), comparison.spread(WITH)
    fastest = probed.low / plain.low
    per_statement = (probed.median - plain.median) / max(statements, 1)
    outcome = verdict(ratio.median, TARGET_RATIO)
    control = " (control: no probe installed)" if args.control else ""
    print(f"db {args.size} {params}: {statements} statements per body, {args.pairs} pairs{control}")
    print(f"  body without capture: {plain.median:.3f} s (median; fastest {plain.low:.3f} s)")
    print(f"  body with capture:    {probed.median:.3f} s (median; fastest {probed.low:.3f} s)")
    print(
        f"  ratio (median of the pairs): {ratio.median:.3f}×  pairs {ratio.low:.3f}–"
        f"{ratio.high:.3f}, IQR {ratio.q1:.3f}–{ratio.q3:.3f}  target ≤ {TARGET_RATIO}×  "
        f"{outcome}"
    )
    print(f"  ratio of the fastest bodies: {fastest:.3f}×")
    if statements:
        print(f"  probe cost per statement: {per_statement * 1e6:.1f} µs")
    path = write_json(
        "bench_sqlprobe.json",
        {
            "machine": machine(),
            "size": args.size,
            "params": params,
            "control": args.control,
            "statements": statements,
            "comparison": comparison.to_json(),
            "ratio": ratio.to_json(),
            "fastest_ratio": fastest,
            "per_statement_seconds": per_statement,
            "target": TARGET_RATIO,
            "verdict": outcome,
        },
    )
    print(f"  figures: {path}")


if __name__ == "__main__":
    main()
