"""py-spy benchmark of issue 12: overhead of `-m pyspy`, and turning a big recording into artefacts.

    .venv/bin/python benchmarks/bench_pyspy.py [--rounds 11] [--conversions 3] [--rebuild]

1. Body wall time of `benchmarks/workload.py` (timed by the workload itself) unprofiled, under
   `profwork run -m pyspy` (100 Hz, py-spy's default) and under plain
   `py-spy record -r 100 -f raw -o x -- python workload.py` (and, for context, plain py-spy with
   the flags `-m pyspy` uses), in rounds whose order rotates. Targets: profwork ≤ 1.05×
   unprofiled and ≤ 1.02× plain py-spy.
2. A 1,000,000-sample py-spy recording (~180,000 distinct stacks, depth up to ~110), built once
   from a fixed seed and kept in `benchmarks/out/` (never committed): `deep_workload.py` recorded
   with `py-spy record -r 1000 -f raw --function --full-filenames --threads`, then replicated
   under distinct `process N:"…"` roots (as `--subprocesses` writes them) up to a million samples.
3. Turning it into every artefact as `-m pyspy` does (the method's `normalise` → `read_folded`
   with unit seconds, scale 1/rate → `analyse` → `write_artefacts`), in fresh processes: time per
   stage and peak resident memory. Targets ≤ 4 s and ≤ 400 MB. The `pyinferno` package's
   folded → SVG conversion of the same file is timed alongside when it is installed.

Prints tables and writes every figure to `benchmarks/out/bench_pyspy.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    BIN,
    HERE,
    OUT,
    PYTHON,
    ROOT,
    STAGE_COLUMNS,
    WORKLOAD,
    BenchError,
    Conversion,
    Printer,
    body_time,
    convert,
    explain,
    machine,
    ratio_text,
    rotated,
    seconds,
    spread_text,
    stage_rows,
    verdict,
    write_json,
)

TARGET_UNPROFILED = 1.05
TARGET_PLAIN = 1.02
TARGET_SECONDS = 4.0
TARGET_MB = 400.0

DEEP = HERE / "deep_workload.py"
DEEP_PATHS = 3600  # → ~3,700 distinct stacks and ~21,000 samples per recording here
DEEP_RATE = 1000
SAMPLES = 1_000_000
BIG = OUT / "pyspy-1M.txt"
BIG_META = OUT / "pyspy-1M.json"
RECORDING = OUT / "deep-recording.txt"


def py_spy() -> str:
    return str(BIN / "py-spy")


# ---- the big recording -------------------------------------------------------------------------


def record_deep(printer: Printer) -> None:
    printer.line(
        f"recording {DEEP.name} ({DEEP_PATHS} paths) with py-spy at {DEEP_RATE} Hz (~20 s)…"
    )
    RECORDING.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no benchmarks/out/
    command = [py_spy(), "record", "-r", str(DEEP_RATE), "-f", "raw", "--function"]
    command += ["--full-filenames", "--threads", "-o", str(RECORDING), "--"]
    command += [PYTHON, str(DEEP), str(DEEP_PATHS)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0 or not RECORDING.exists():
        raise BenchError(f"py-spy record of {DEEP.name} failed: {done.stderr.strip()[-300:]}")


def read_recording(path: Path) -> list[tuple[str, int]]:
    lines = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            stack, _, weight = line.rstrip("\n").rpartition(" ")
            lines.append((stack, int(weight)))
    return lines


def build_big(printer: Printer, rebuild: bool) -> dict[str, Any]:
    """The 1M-sample file, from the cached recording when there is one (and the workload that
    made it is unchanged)."""
    source = hashlib.sha256(DEEP.read_bytes()).hexdigest()[:16]
    meta: dict[str, Any] = {}
    if BIG_META.exists():
        meta = json.loads(BIG_META.read_text(encoding="utf-8"))
    same = meta.get("workload_sha") == source and meta.get("paths") == DEEP_PATHS
    if not rebuild and same and meta.get("target_samples") == SAMPLES and BIG.exists():
        printer.line(f"reusing {BIG.relative_to(ROOT)} (--rebuild to record it again)")
        return meta
    OUT.mkdir(parents=True, exist_ok=True)
    if rebuild or not same or not RECORDING.exists():
        record_deep(printer)
    lines = read_recording(RECORDING)
    recorded = sum(weight for _, weight in lines)
    copies = max(1, round(SAMPLES / recorded))
    depth = 0
    command = f"python benchmarks/{DEEP.name} {DEEP_PATHS}"
    with BIG.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            root = f'process {100_000 + copy}:"{command}"'
            out.writelines(f"{root};{stack} {weight}\n" for stack, weight in lines)
    for stack, _ in lines:
        depth = max(depth, stack.count(";") + 2)  # + the process root
    meta = {
        "workload_sha": source,
        "paths": DEEP_PATHS,
        "rate": DEEP_RATE,
        "target_samples": SAMPLES,
        "recording_samples": recorded,
        "recording_lines": len(lines),
        "copies": copies,
        "samples": recorded * copies,
        "lines": len(lines) * copies,
        "max_depth": depth,
        "bytes": BIG.stat().st_size,
    }
    BIG_META.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def has_pyinferno() -> bool:
    done = subprocess.run([PYTHON, "-c", "import pyinferno"], capture_output=True, check=False)
    return done.returncode == 0


# ---- the run -----------------------------------------------------------------------------------


def overhead(printer: Printer, rounds: int, scale: float) -> tuple[dict[str, Any], list[list[str]]]:
    notes: list[str] = []
    commands = {
        "unprofiled": [PYTHON, str(WORKLOAD)],
        "profwork -m pyspy": [str(BIN / "profwork"), "run", str(WORKLOAD), "-m", "pyspy"]
        + ["-o", "{tmp}/runs"],
        "py-spy record": [py_spy(), "record", "-r", "100", "-f", "raw", "-o", "{tmp}/x.txt"]
        + ["--", PYTHON, str(WORKLOAD)],
        # the flags -m pyspy records with: tells their cost apart from profwork's own
        "py-spy record, profwork's flags": [py_spy(), "record", "-r", "100", "-f", "raw"]
        + ["--function", "--full-filenames", "--threads", "-o", "{tmp}/x.txt"]
        + ["--", PYTHON, str(WORKLOAD)],
    }
    printer.line(f"{rounds} rounds of four, rotating order")
    comparison = rotated(
        rounds,
        {
            name: partial(body_time, command, scale=scale, notes=notes)
            for name, command in commands.items()
        },
        progress=printer.line,
    )
    comparison.notes = notes
    for note in notes:
        printer.line(f"note: {note}")
    printer.table(
        "Body wall time (timed by the workload)",
        ["command", "median", "range"],
        [
            [name, seconds(s.median), f"{seconds(s.low)}–{seconds(s.high)}"]
            for name in comparison.names
            for s in [comparison.spread(name)]
        ],
    )
    verdicts = []
    for numerator, other, target in (
        ("profwork -m pyspy", "unprofiled", TARGET_UNPROFILED),
        ("profwork -m pyspy", "py-spy record", TARGET_PLAIN),
        ("profwork -m pyspy", "py-spy record, profwork's flags", None),
        ("py-spy record", "unprofiled", None),
    ):
        ratio = comparison.ratio(numerator, other)
        verdicts.append(
            [
                f"{numerator} / {other}",
                ratio_text(ratio),
                spread_text(ratio),
                f"≤ {target}" if target else "(context)",
                verdict(ratio.median, target) if target else "",
            ]
        )
    printer.table(
        "Ratios (median of per-round ratios)",
        ["comparison", "ratio", "spread (min–max, IQR)", "target", ""],
        verdicts,
    )
    data = {
        **comparison.to_json(),
        "ratio_unprofiled": comparison.ratio("profwork -m pyspy", "unprofiled").to_json(),
        "ratio_plain": comparison.ratio("profwork -m pyspy", "py-spy record").to_json(),
        "ratio_same_flags": comparison.ratio(
            "profwork -m pyspy", "py-spy record, profwork's flags"
        ).to_json(),
        "commands": commands,
    }
    return data, verdicts


def conversion_summary(printer: Printer, label: str, conversion: Conversion) -> None:
    total = conversion.total()
    printer.line(
        f"{label}: {seconds(total.median)} (range {seconds(total.low)}–{seconds(total.high)}), "
        f"peak RSS {conversion.peak_mb.median:.0f} MB (max {conversion.peak_mb.high:.0f} MB; "
        f"{conversion.baseline_mb.median:.0f} MB of it is the interpreter and imports)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds of the overhead runs")
    parser.add_argument("--conversions", type=int, default=3, help="fresh-process repeats")
    parser.add_argument("--scale", type=float, default=1.0, help="workload size (1 ≈ 1 s)")
    parser.add_argument("--rebuild", action="store_true", help="record the big file again")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 1 conversion")
    parser.add_argument("--explain", action="store_true", help="profile one conversion")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.conversions = 3, 1

    printer = Printer()
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    info = results["machine"]
    printer.heading("profwork py-spy benchmark (issue 12)")
    printer.line(
        f"{info['date']}  Python {info['python']}  {info['cpus']} CPUs  "
        f"load {' '.join(f'{x:.2f}' for x in info['load_average'])}  git {info['git_commit']}"
    )

    printer.heading("1. body wall time: -m pyspy vs unprofiled vs plain py-spy record")
    results["overhead"], verdicts = overhead(printer, args.rounds, args.scale)

    printer.heading("2. a 1,000,000-sample py-spy recording")
    meta = build_big(printer, args.rebuild)
    results["recording"] = meta
    printer.line(
        f"{BIG.relative_to(ROOT)}: {meta['samples']:,} samples, {meta['lines']:,} distinct "
        f"stacks ({meta['copies']} process roots × {meta['recording_lines']:,}), depth up to "
        f"{meta['max_depth']}, {meta['bytes'] / 1e6:.0f} MB"
    )

    printer.heading("3. the recording → every artefact (fresh processes)")
    conversion = convert(
        "pyspy",
        BIG,
        args.conversions,
        rate=float(DEEP_RATE),
        warmup=RECORDING,
        progress=printer.line,
    )
    results["conversion"] = conversion.to_json()
    printer.table(
        f"profwork: stages (median of {args.conversions})",
        STAGE_COLUMNS,
        stage_rows(conversion),
    )
    for artefact, error in conversion.errors.items():
        printer.line(f"{artefact} failed: {error}")
    conversion_summary(printer, "profwork, all artefacts", conversion)
    svg_only = conversion.total(
        only=("normalise", "analyse", "import flame.svg", "render flame.svg", "write flame.svg")
    )
    total = conversion.total()
    peak = conversion.peak_mb
    verdicts.append(
        [
            "1M samples → all artefacts, time",
            seconds(total.median),
            f"{seconds(total.low)}–{seconds(total.high)}",
            f"≤ {TARGET_SECONDS:g} s",
            verdict(total.median, TARGET_SECONDS),
        ]
    )
    verdicts.append(
        [
            "1M samples → all artefacts, peak RSS",
            f"{peak.median:.0f} MB",
            f"{peak.low:.0f}–{peak.high:.0f} MB",
            f"≤ {TARGET_MB:g} MB",
            verdict(peak.high, TARGET_MB),
        ]
    )
    verdicts.append(
        [
            "  of which normalise + analyse + flame.svg",
            seconds(svg_only.median),
            f"{seconds(svg_only.low)}–{seconds(svg_only.high)}",
            "(vs pyinferno)",
            "",
        ]
    )

    if has_pyinferno():
        inferno = convert(
            "pyinferno", BIG, args.conversions, warmup=RECORDING, progress=printer.line
        )
        results["pyinferno"] = inferno.to_json()
        printer.table(
            f"pyinferno folded → SVG: stages (median of {args.conversions})",
            STAGE_COLUMNS,
            stage_rows(inferno),
        )
        conversion_summary(printer, "pyinferno, flame.svg", inferno)
        total = inferno.total()
        verdicts.append(
            [
                "pyinferno folded → SVG (same file)",
                seconds(total.median),
                f"{seconds(total.low)}–{seconds(total.high)}, peak RSS "
                f"{inferno.peak_mb.median:.0f} MB",
                "(reference)",
                "",
            ]
        )
    else:
        results["pyinferno"] = None
        printer.line("pyinferno is not installed (pip install pyinferno): its column is skipped")
        verdicts.append(["pyinferno folded → SVG", "not installed", "", "(reference)", ""])

    if args.explain:
        rows = explain("pyspy", BIG, 20, rate=float(DEEP_RATE))
        results["explain"] = rows
        printer.table(
            "Where the time goes (cProfile of one conversion, by self time; cProfile inflates "
            "call-heavy code)",
            ["function", "self", "cumulative", "calls"],
            [
                [r["function"], seconds(r["self"]), seconds(r["cumulative"]), str(r["calls"])]
                for r in rows
            ],
        )

    printer.heading("Targets")
    printer.table("Summary", ["measure", "value", "spread", "target", ""], verdicts)
    results["verdicts"] = verdicts
    path = write_json("bench_pyspy.json", results)
    printer.line(f"figures written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.stderr.write(f"bench_pyspy: {error}\n")
        sys.exit(1)
