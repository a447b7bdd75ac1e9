"""Benchmark of issue 18: the memory and line methods against the raw tools, in one run.

    .venv/bin/python benchmarks/bench_memory_line.py [--pairs 5] [--depth 32] [--quick]

1. Body time of `benchmarks/memory_workload.py` (allocation-heavy) under `profwork run -m memory
   --frame-depth D` vs the same script as a plain tracemalloc runner with the same depth
   (`PROFWORK_BENCH_TRACEMALLOC=D`: tracing starts before the timed body, a snapshot after it).
   Target ≤ 1.10×.
2. Body time of `benchmarks/line_workload.py` under `profwork run -m line --function
   _line_hot.py:hot` vs `kernprof -l -p _line_hot.hot` on the same function. Target ≤ 1.10×.

Paired runs in alternating order; each workload times its own body, so start-up, profwork's
artefacts and the tools' output are outside the compared region. Prints a table and writes the
figures to `benchmarks/out/bench_memory_line.json`. Targets are reported as PASS/MISS, never
asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    BIN,
    HERE,
    PYTHON,
    Comparison,
    Printer,
    body_time,
    machine,
    ratio_text,
    rotated,
    seconds,
    spread_text,
    verdict,
    write_json,
)

TARGET = 1.10
MEMORY_WORKLOAD = HERE / "memory_workload.py"
LINE_WORKLOAD = HERE / "line_workload.py"


def pairs(
    printer: Printer, name: str, raw: list[str], ours: list[str], runs: int, scale: float
) -> Comparison:
    notes: list[str] = []
    printer.line(f"{name}: {runs} pairs, alternating order")
    comparison = rotated(
        runs,
        {
            "raw": lambda: body_time(raw, scale=scale, notes=notes),
            "profwork": lambda: body_time(ours, scale=scale, notes=notes),
        },
        progress=printer.line,
    )
    comparison.notes = notes
    return comparison


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

    memory = pairs(
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
    line = pairs(
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
    for label, comparison in (
        (f"-m memory / plain tracemalloc ({args.depth} frames)", memory),
        ("-m line / kernprof -l", line),
    ):
        ratio = comparison.ratio("profwork", "raw")
        rows.append(
            [
                label,
                seconds(comparison.spread("profwork").median),
                seconds(comparison.spread("raw").median),
                ratio_text(ratio),
                spread_text(ratio),
                verdict(ratio.median, TARGET),
            ]
        )
        results[label] = {**comparison.to_json(), "ratio": ratio.to_json()}
    printer.table(
        f"body time, target ≤ {TARGET:.2f}×",
        ["comparison", "profwork", "raw tool", "ratio", "spread", "verdict"],
        rows,
    )
    path = write_json("bench_memory_line.json", results)
    printer.line(f"figures: {path}")


if __name__ == "__main__":
    main()
