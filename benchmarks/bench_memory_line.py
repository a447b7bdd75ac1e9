"""Benchmark of issue 18: the memory and line methods against the raw tools, in one run.

    .venv/bin/python benchmarks/bench_memory_line.py [--pairs 5] [--depth 32] [--quick]

1. Body time of `benchmarks/memory_workload.py` (allocation-heavy) under `profwork run -m memory
   --frame-depth D` vs the same script as a plain tracemalloc runner with the same depth
   (`PROFWORK_BENCH_TRACEMALLOC=D`: tracing starts before the timed body, a snapshot after it).
   Target ≤ 1.10×.
2. Body time of `benchmarks/line_workload.py` under `profwork run -m line --function
   _line_hot.py:hot` vs `kernprof -l -p _line_hot.hot` on the same function. Target ≤ 1.10×.

Paired runs in alternating order; each workload times its own body, so start-up, profwork's
artefacts and the tools' output are outside the compared region. It writes the body's wall
time and, beside it, the process's CPU time over the body (every thread's: the memory method's
sampler thread counts): on this shared 2-core machine the wall clock of a run moves by ±50%
with the other sessions' load while the CPU time moves by a few percent, so the CPU ratio is
the figure to read, and the wall ratio is shown beside it. Prints a table and writes the
figures to `benchmarks/out/bench_memory_line.json`. Targets are reported as PASS/MISS, never
asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    BIN,
    BODY_ENV,
    HERE,
    PYTHON,
    SCALE_ENV,
    BenchError,
    Comparison,
    Printer,
    machine,
    ratio_text,
    rotated,
    run_quiet,
    seconds,
    spread_text,
    verdict,
    write_json,
)

TARGET = 1.10
MEMORY_WORKLOAD = HERE / "memory_workload.py"
LINE_WORKLOAD = HERE / "line_workload.py"


def body_times(command: list[str], scale: float, cpu: list[float], notes: list[str]) -> float:
    """Run `command`; the body's wall time the workload wrote (its CPU time appended to `cpu`)."""
    with tempfile.TemporaryDirectory(prefix="profwork-bench-") as tmp:
        out = Path(tmp) / "body.txt"
        done = run_quiet(
            [part.replace("{tmp}", tmp) for part in command],
            env={BODY_ENV: str(out), SCALE_ENV: repr(scale)},
        )
        if not out.exists():
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise BenchError(f"{' '.join(command[:4])}… wrote no body time: {' | '.join(tail)}")
        if done.returncode != 0:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            note = f"{' '.join(command[:4])}… exited {done.returncode}: {' '.join(last)}"
            if note not in notes:
                notes.append(note)
        cpu.append(float(Path(f"{out}.cpu").read_text(encoding="utf-8")))
        return float(out.read_text(encoding="utf-8"))


def pairs(
    printer: Printer, name: str, raw: list[str], ours: list[str], runs: int, scale: float
) -> tuple[Comparison, Comparison]:
    """Wall-time and CPU-time comparisons of the same paired runs."""
    notes: list[str] = []
    cpu: dict[str, list[float]] = {"raw": [], "profwork": []}
    printer.line(f"{name}: {runs} pairs, alternating order")
    wall = rotated(
        runs,
        {
            "raw": lambda: body_times(raw, scale, cpu["raw"], notes),
            "profwork": lambda: body_times(ours, scale, cpu["profwork"], notes),
        },
        progress=printer.line,
    )
    wall.notes = notes
    # the warm-up round's CPU times are not recorded, like its wall times
    kept = {key: values[-runs:] for key, values in cpu.items()}
    return wall, Comparison(wall.names, kept, wall.orders, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="paired runs per comparison")
    parser.add_argument("--depth", type=int, default=32, help="tracemalloc frame depth")
    parser.add_argument("--scale", type=float, default=1.0, help="workload size")
    parser.add_argument("--quick", action="store_true", help="3 pairs")
    args = parser.parse_args()
    if args.quick:
        args.pairs = 3
    printer = Printer()
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    printer.heading("profwork memory and line methods vs the raw tools (issue 18)")

    memory, memory_cpu = pairs(
        printer,
        f"memory (frame depth {args.depth})",
        ["env", f"PROFWORK_BENCH_TRACEMALLOC={args.depth}", PYTHON, str(MEMORY_WORKLOAD)],
        [
            str(BIN / "profwork"),
            "run",
            str(MEMORY_WORKLOAD),
            "-m",
            "memory",
            "--frame-depth",
            str(args.depth),
            "-o",
            "{tmp}/runs",
        ],
        args.pairs,
        args.scale,
    )
    line, line_cpu = pairs(
        printer,
        "line",
        [
            str(BIN / "kernprof"),
            "-l",
            "-p",
            "_line_hot.hot",
            "-o",
            "{tmp}/x.lprof",
            str(LINE_WORKLOAD),
        ],
        [
            str(BIN / "profwork"),
            "run",
            str(LINE_WORKLOAD),
            "-m",
            "line",
            "--function",
            f"{HERE / '_line_hot.py'}:hot",
            "-o",
            "{tmp}/runs",
        ],
        args.pairs,
        args.scale,
    )
    rows = []
    for label, comparison, cpu in (
        (f"-m memory / plain tracemalloc ({args.depth} frames)", memory, memory_cpu),
        ("-m line / kernprof -l", line, line_cpu),
    ):
        ratio = comparison.ratio("profwork", "raw")
        cpu_ratio = cpu.ratio("profwork", "raw")
        for clock, data, spread in (("CPU", cpu, cpu_ratio), ("wall", comparison, ratio)):
            rows.append(
                [
                    f"{label}, {clock}",
                    seconds(data.spread("profwork").median),
                    seconds(data.spread("raw").median),
                    ratio_text(spread),
                    spread_text(spread),
                    verdict(spread.median, TARGET),
                ]
            )
        results[label] = {
            **comparison.to_json(),
            "ratio": ratio.to_json(),
            "cpu": cpu.to_json(),
            "cpu_ratio": cpu_ratio.to_json(),
        }
    printer.table(
        f"body time (CPU, then wall clock), target ≤ {TARGET:.2f}×",
        ["comparison", "profwork", "raw tool", "ratio", "spread", "verdict"],
        rows,
    )
    path = write_json("bench_memory_line.json", results)
    printer.line(f"figures: {path}")


if __name__ == "__main__":
    main()
