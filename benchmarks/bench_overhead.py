"""Overhead benchmark of issue 10: profwork against the raw tools, in one run.

    .venv/bin/python benchmarks/bench_overhead.py [--pairs 7] [--startup-runs 15] [--quick]

1. Body time of `benchmarks/workload.py` (function-call heavy, ~1 s unprofiled) under
   `profwork run -m cprofile` vs `python -m cProfile -o x`, and under `profwork run -m
   pyinstrument` vs the `pyinstrument` CLI: paired runs in alternating order; the workload times
   its own body, so start-up and writing output are outside the compared region. Target ≤ 1.05×.
2. The time to write every artefact of those two profiles (normalise → analyse → each renderer),
   in fresh processes, per renderer.
3. `profwork --help` start-up vs `python -c "import click"` (whole process). Target ≤ 1.5×.
4. Every artefact from a pstats of about 6,500 functions (cProfile around a large import graph):
   `readers.read_pstats` → `analyse` → `write_artefacts`, per renderer. Target ≤ 1 s.

Prints tables and writes every figure to `benchmarks/out/bench_overhead.json`. Timing targets are
reported as PASS/MISS, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    BIN,
    OUT,
    PYTHON,
    ROOT,
    STAGE_COLUMNS,
    WORKLOAD,
    BenchError,
    Comparison,
    Conversion,
    Printer,
    body_time,
    bytecode_env,
    child_json,
    convert,
    explain,
    machine,
    ratio_text,
    rotated,
    seconds,
    spread_text,
    stage_rows,
    verdict,
    wall_time,
    write_json,
)

TARGET_BODY = 1.05
TARGET_STARTUP = 1.5
TARGET_PSTATS = 1.0
PSTATS_FUNCTIONS = 6500
NO_CACHE = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": ""}


def profwork_run(method: str) -> list[str]:
    return [str(BIN / "profwork"), "run", str(WORKLOAD), "-m", method, "-o", "{tmp}/runs"]


def body_pairs(
    printer: Printer, name: str, raw: list[str], ours: list[str], pairs: int, scale: float
) -> Comparison:
    notes: list[str] = []
    printer.line(f"{name}: {pairs} pairs, alternating order")
    comparison = rotated(
        pairs,
        {
            "raw": lambda: body_time(raw, scale=scale, notes=notes),
            "profwork": lambda: body_time(ours, scale=scale, notes=notes),
        },
        progress=printer.line,
    )
    comparison.notes = notes
    return comparison


def keep_run(method: str, scale: float) -> Path:
    """One more profwork run whose run directory is kept, for the artefact timings."""
    base = OUT / "runs" / method
    shutil.rmtree(base, ignore_errors=True)
    command = [part.replace("{tmp}/runs", str(base)) for part in profwork_run(method)]
    body_time(command, scale=scale, notes=[])
    found = sorted(p for p in base.glob("*/*") if (p / "manifest.json").exists())
    if not found:
        raise BenchError(f"profwork run -m {method} left no run directory under {base}")
    return found[-1]


def startup(printer: Printer, runs: int) -> tuple[Comparison, list[tuple[str, float]]]:
    printer.line(f"start-up: {runs} rounds, rotating order")
    cached = bytecode_env()
    profwork = [str(BIN / "profwork"), "--help"]
    commands: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: wall_time([PYTHON, "-c", "pass"], cached),
        "python -c 'import click'": lambda: wall_time([PYTHON, "-c", "import click"], cached),
        "profwork --help": lambda: wall_time(profwork, cached),
        "profwork --help, no bytecode cache": lambda: wall_time(profwork, NO_CACHE),
    }
    comparison = rotated(runs, commands, warmup=2)
    return comparison, import_times(cached)


def import_times(env: dict[str, str], top: int = 10) -> list[tuple[str, float]]:
    """The slowest imports of `profwork --help` (`-X importtime`, cumulative), top level and
    one level down (what profwork's modules import)."""
    done = subprocess.run(
        [str(BIN / "profwork"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPROFILEIMPORTTIME": "1"},
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(3)) <= 2:
            rows.append((match.group(3) + match.group(4), int(match.group(2)) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:top]


def renderer_table(printer: Printer, title: str, conversion: Conversion) -> None:
    rows = [
        [
            artefact,
            seconds(rendered.median),
            f"{seconds(rendered.low)}–{seconds(rendered.high)}",
            seconds(imported.median),
            f"{size / 1e6:.2f} MB" if size is not None else "",
        ]
        for artefact, imported, rendered, size in conversion.renderers()
    ]
    for artefact, error in conversion.errors.items():
        rows.append([artefact, "failed", "", "", error[:60]])
    printer.table(title, ["artefact", "render+write", "range", "import", "size"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7, help="paired runs per comparison")
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--conversions", type=int, default=5, help="fresh-process repeats")
    parser.add_argument("--scale", type=float, default=1.0, help="workload size (1 ≈ 1 s)")
    parser.add_argument("--quick", action="store_true", help="3 pairs, 5 start-ups, 2 repeats")
    parser.add_argument("--explain", action="store_true", help="profile the slowest conversion")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.startup_runs, args.conversions = 3, 5, 2

    printer = Printer()
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    verdicts: list[list[str]] = []
    printer.heading("profwork overhead benchmark (issue 10)")
    info = results["machine"]
    printer.line(
        f"{info['date']}  Python {info['python']}  {info['cpus']} CPUs  "
        f"load {' '.join(f'{x:.2f}' for x in info['load_average'])}  git {info['git_commit']}"
    )

    # 1. body time under each in-process method
    printer.heading("1. body time: profwork vs the raw tool (same workload, same region)")
    cprofile = body_pairs(
        printer,
        "cprofile",
        [PYTHON, "-m", "cProfile", "-o", "{tmp}/x.pstats", str(WORKLOAD)],
        profwork_run("cprofile"),
        args.pairs,
        args.scale,
    )
    pyinstrument = body_pairs(
        printer,
        "pyinstrument",
        [str(BIN / "pyinstrument"), "-o", os.devnull, "-r", "speedscope", str(WORKLOAD)],
        profwork_run("pyinstrument"),
        args.pairs,
        args.scale,
    )
    rows = []
    for label, raw_label, comparison in (
        ("profwork -m cprofile", "python -m cProfile", cprofile),
        ("profwork -m pyinstrument", "pyinstrument CLI", pyinstrument),
    ):
        ratio = comparison.ratio("profwork", "raw")
        rows.append(
            [
                f"{label} / {raw_label}",
                seconds(comparison.spread("profwork").median),
                seconds(comparison.spread("raw").median),
                ratio_text(ratio),
                spread_text(ratio),
                f"≤ {TARGET_BODY}",
                verdict(ratio.median, TARGET_BODY),
            ]
        )
        verdicts.append([rows[-1][0], rows[-1][3], rows[-1][4], rows[-1][5], rows[-1][6]])
        for note in comparison.notes:
            printer.line(f"note: {note}")
    printer.table(
        "Body time (median of paired runs; ratio = median of per-pair ratios)",
        ["comparison", "profwork", "raw tool", "ratio", "spread (min–max, IQR)", "target", ""],
        rows,
    )
    results["body"] = {"cprofile": cprofile.to_json(), "pyinstrument": pyinstrument.to_json()}

    # 2. artefacts of those profiles
    printer.heading("2. writing every artefact of the workload's profile (fresh processes)")
    results["artefacts"] = {}
    for method in ("cprofile", "pyinstrument"):
        run_dir = keep_run(method, args.scale)
        conversion = convert("run", run_dir, args.conversions, progress=printer.line)
        results["artefacts"][method] = {"run": str(run_dir), **conversion.to_json()}
        printer.table(
            f"{method}: stages (median of {args.conversions})",
            STAGE_COLUMNS,
            stage_rows(conversion),
        )
        renderer_table(printer, f"{method}: per renderer", conversion)
        total = conversion.total()
        printer.line(
            f"{method}: all artefacts (normalise + analyse + render + write) "
            f"{seconds(total.median)} (range {seconds(total.low)}–{seconds(total.high)}), "
            f"peak RSS {conversion.peak_mb.median:.0f} MB"
        )
        verdicts.append(
            [
                f"all artefacts, workload ({method})",
                seconds(total.median),
                f"{seconds(total.low)}–{seconds(total.high)}",
                "(reported)",
                "",
            ]
        )

    # 3. start-up
    printer.heading("3. start-up: profwork --help vs python -c 'import click'")
    started, imports = startup(printer, args.startup_runs)
    printer.table(
        f"Whole-process wall time, {args.startup_runs} rounds",
        ["command", "median", "range"],
        [
            [name, seconds(s.median), f"{seconds(s.low)}–{seconds(s.high)}"]
            for name in started.names
            for s in [started.spread(name)]
        ],
    )
    printer.table(
        "Slowest imports of profwork --help (-X importtime, one run; indented: imported by a "
        "top-level one)",
        ["module", "cumulative"],
        [[name, seconds(value)] for name, value in imports],
    )
    for name, label in (
        ("profwork --help", "profwork --help / python -c 'import click'"),
        ("profwork --help, no bytecode cache", "  the same, profwork's bytecode not cached"),
    ):
        ratio = started.ratio(name, "python -c 'import click'")
        verdicts.append(
            [
                label,
                ratio_text(ratio),
                spread_text(ratio),
                f"≤ {TARGET_STARTUP}",
                verdict(ratio.median, TARGET_STARTUP),
            ]
        )
    results["startup"] = {
        **started.to_json(),
        "ratio": started.ratio("profwork --help", "python -c 'import click'").to_json(),
        "ratio_no_bytecode_cache": started.ratio(
            "profwork --help, no bytecode cache", "python -c 'import click'"
        ).to_json(),
        "imports": imports,
    }

    # 4. a 6,500-function pstats
    printer.heading(f"4. every artefact from a pstats of about {PSTATS_FUNCTIONS:,} functions")
    pstats_file = OUT / "import-graph.pstats"
    OUT.mkdir(parents=True, exist_ok=True)
    graph = child_json(
        [
            PYTHON,
            str(Path(__file__).parent / "_import_graph.py"),
            str(pstats_file),
            "--functions",
            str(PSTATS_FUNCTIONS),
        ]
    )
    printer.line(
        f"pstats of {graph['entries']:,} entries from importing {len(graph['modules'])} packages "
        f"({pstats_file.stat().st_size / 1e6:.1f} MB)"
        + (f"; not installed: {', '.join(graph['failed'])}" if graph["failed"] else "")
    )
    conversion = convert("pstats", pstats_file, args.conversions, progress=printer.line)
    stdlib = convert("pstats-stdlib", pstats_file, args.conversions)
    printer.table(
        f"read_pstats → analyse → write_artefacts: stages (median of {args.conversions})",
        STAGE_COLUMNS,
        stage_rows(conversion),
    )
    renderer_table(printer, "6.5k-function pstats: per renderer", conversion)
    total = conversion.total()
    reference = stdlib.total()
    printer.line(
        f"reference: pstats.Stats load + sort + print_stats(30) {seconds(reference.median)}"
    )
    row = [
        f"all artefacts from a {graph['entries']:,}-entry pstats",
        seconds(total.median),
        f"{seconds(total.low)}–{seconds(total.high)}, peak RSS {conversion.peak_mb.median:.0f} MB",
        f"≤ {TARGET_PSTATS:g} s",
        verdict(total.median, TARGET_PSTATS),
    ]
    verdicts.append(row)
    results["pstats_6500"] = {
        "entries": graph["entries"],
        "modules": graph["modules"],
        "functions": conversion.stage_extra("normalise", "functions"),
        "stacks": conversion.stage_extra("normalise", "stacks"),
        "conversion": conversion.to_json(),
        "stdlib_pstats": stdlib.to_json(),
    }
    if args.explain:
        rows_explained = explain("pstats", pstats_file)
        results["pstats_6500"]["explain"] = rows_explained
        printer.table(
            "Where the time goes (cProfile of one conversion, by self time)",
            ["function", "self", "cumulative", "calls"],
            [
                [r["function"], seconds(r["self"]), seconds(r["cumulative"]), str(r["calls"])]
                for r in rows_explained
            ],
        )

    printer.heading("Targets")
    printer.table("Summary", ["measure", "value", "spread", "target", ""], verdicts)
    results["verdicts"] = verdicts
    path = write_json("bench_overhead.json", results)
    printer.line(f"figures written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.stderr.write(f"bench_overhead: {error}\n")
        sys.exit(1)
