"""Big-profile benchmark of issue 22, side by side in one run: every artefact vs one tool's one.

    .venv/bin/python benchmarks/bench_big.py [--rounds 3] [--samples 1000000] [--quick]

1. **A big py-spy recording → every artefact.** The recording of `bench_pyspy.py`
   (`deep_workload.py` under `py-spy record -r 1000 -f raw --function --full-filenames
   --threads`, replicated under distinct `process N:"…"` roots up to `--samples`; `--quick`:
   200,000) given to `profwork import FILE -o DIR` (a whole process: start-up, reading, analysing,
   writing seven artefacts and the manifest) and to `pyinferno` drawing its SVG from the same file
   (`_artefacts.py pyinferno`: a whole process too, start-up, reading the lines, drawing, writing).
   Rounds rotate the order; figures are medians; peak resident memory is the child's
   (`wait4`'s `ru_maxrss`). Targets: profwork's time below pyinferno's, its peak at most a third.
2. **The `api` target under each method**: in a fresh process, `pipeline.run("api", method=…)`;
   the time from the first stage after the method returned (`normalising`) to the finished run
   directory, the whole run, the body's own duration, and the run directory's size (raw included).
3. **A run's fixed cost on a trivial script**: `profwork run trivial.py -m cprofile` against
   `python -m cProfile -o x.pstats trivial.py`, and `profwork run trivial.py -m pyspy` against
   `py-spy record -o x.svg -- python trivial.py` (whole processes, rotating rounds; bytecode
   cached for both). Target: profwork at most 0.3 s more (median of per-round differences).
   CPU (user + system of each whole process and the children it waited for) is reported too.

Prints tables and writes every figure to `benchmarks/out/bench_big.json`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    ARTEFACTS,
    BIN,
    OUT,
    PYTHON,
    ROOT,
    BenchError,
    Printer,
    Spread,
    bytecode_env,
    child_json,
    machine,
    rotated,
    seconds,
    verdict,
    write_json,
)
from bench_pyspy import RECORDING, read_recording, record_deep  # noqa: E402

TARGET_MEMORY_SHARE = 1 / 3
TARGET_FIXED = 0.3
METHODS = ("cprofile", "pyinstrument", "pyspy", "memory", "line")
# ~0.2 s of work: py-spy's own SVG needs a few samples (with none it fails to write it)
TRIVIAL = "total = sum(i * i for i in range(1_500_000))\nprint(total)\n"


# ---- processes with their peak memory -----------------------------------------------------------


def measured(command: Sequence[str], *, timeout: float = 1800) -> tuple[float, float]:
    """Wall seconds and peak resident MB of a whole process (bytecode cached)."""
    elapsed, peak, _ = measured_usage(command, timeout=timeout)
    return elapsed, peak


def measured_usage(command: Sequence[str], *, timeout: float = 1800) -> tuple[float, float, float]:
    """Wall seconds, peak resident MB and CPU seconds (user + system, of the process and of
    the children it waited for: the target's process and py-spy) of a whole process."""
    env = {**os.environ, **bytecode_env()}
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(command),
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(command[:4])}… exited {proc.returncode}: {tail}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


# ---- 1. the big recording ---------------------------------------------------------------------


def big_file(printer: Printer, samples: int) -> tuple[Path, dict[str, Any]]:
    """The recording replicated under process roots up to `samples` (kept in benchmarks/out/)."""
    if not RECORDING.exists():
        record_deep(printer)
    lines = read_recording(RECORDING)
    recorded = sum(weight for _, weight in lines)
    copies = max(1, round(samples / recorded))
    path = OUT / f"pyspy-{copies}x{len(lines)}.txt"
    if not path.exists():
        command = "python benchmarks/deep_workload.py"
        with path.open("w", encoding="utf-8") as out:
            for copy in range(copies):
                root = f'process {100_000 + copy}:"{command}"'
                out.writelines(f"{root};{stack} {weight}\n" for stack, weight in lines)
    depth = max(stack.count(";") + 2 for stack, _ in lines)
    meta = {
        "samples": recorded * copies,
        "lines": len(lines) * copies,
        "copies": copies,
        "max_depth": depth,
        "bytes": path.stat().st_size,
    }
    return path, meta


def big(printer: Printer, path: Path, rounds: int) -> dict[str, Any]:
    peaks: dict[str, list[float]] = {"profwork import": [], "pyinferno": []}

    def timed(name: str, command: Callable[[str], list[str]]) -> Callable[[], float]:
        def run() -> float:
            with tempfile.TemporaryDirectory(prefix="profwork-bench-") as tmp:
                elapsed, peak = measured(command(tmp))
            peaks[name].append(peak)
            return elapsed

        return run

    commands = {
        "profwork import": timed(
            "profwork import",
            lambda tmp: [str(BIN / "profwork"), "import", str(path), "-o", tmp],
        ),
        "pyinferno": timed(
            "pyinferno", lambda tmp: [PYTHON, str(ARTEFACTS), "pyinferno", str(path)]
        ),
    }
    comparison = rotated(rounds, commands, warmup=0, progress=printer.line)
    time_ratio = comparison.ratio("profwork import", "pyinferno")
    memory_ratio = Spread.of(
        [a / b for a, b in zip(peaks["profwork import"], peaks["pyinferno"], strict=True)]
    )
    rows = []
    for name in comparison.names:
        spread, peak = comparison.spread(name), Spread.of(peaks[name])
        rows.append(
            [
                name,
                f"{seconds(spread.median)} ({seconds(spread.low)}–{seconds(spread.high)})",
                f"{peak.median:.0f} MB ({peak.low:.0f}–{peak.high:.0f})",
            ]
        )
    printer.table(f"whole processes, medians of {rounds}", ["command", "time", "peak RSS"], rows)
    printer.line(
        f"profwork / pyinferno: time {time_ratio.median:.2f}× (target < 1: "
        f"{verdict(time_ratio.median, 1.0)}), peak memory {memory_ratio.median:.2f}× "
        f"(target ≤ {TARGET_MEMORY_SHARE:.2f}: "
        f"{verdict(memory_ratio.median, TARGET_MEMORY_SHARE)})"
    )
    return {
        **comparison.to_json(),
        "peak_mb": {name: Spread.of(values).to_json() for name, values in peaks.items()},
        "time_ratio": time_ratio.to_json(),
        "memory_ratio": memory_ratio.to_json(),
    }


# ---- 2. the api target under each method --------------------------------------------------------

API_RUN = """
import json, sys, tempfile, time
from pathlib import Path
from profwork import pipeline

marks = {}
def stage(message):
    marks.setdefault(message.split()[0], time.perf_counter())

with tempfile.TemporaryDirectory() as tmp:
    started = time.perf_counter()
    result = pipeline.run("api", method=sys.argv[1], output=Path(tmp), on_stage=stage)
    done = time.perf_counter()
    files = [p for p in result.path.rglob("*") if p.is_file()]
    sizes = {str(p.relative_to(result.path)): p.stat().st_size for p in files}
print(json.dumps({
    "total": done - started,
    "after_body": done - marks["normalising"],
    "body": result.manifest.duration,
    "bytes": sum(sizes.values()),
    "largest": sorted(sizes.items(), key=lambda item: -item[1])[:3],
    "status": result.manifest.status,
}))
"""


def api(printer: Printer, rounds: int, methods: Sequence[str]) -> dict[str, Any]:
    reps: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for round_ in range(rounds):
        shift = round_ % len(methods)
        for method in [*methods[shift:], *methods[:shift]]:
            try:
                rep = child_json([PYTHON, "-c", API_RUN, method], timeout=900)
            except (BenchError, subprocess.TimeoutExpired) as error:
                rep = {"error": str(error)[:300]}
            reps[method].append(rep)
            shown = f"{rep['after_body']:.2f}s after the body" if "total" in rep else rep["error"]
            printer.line(f"  round {round_ + 1}/{rounds}: {method}: {shown}")
    rows, figures = [], {}
    for method in methods:
        good = [rep for rep in reps[method] if "total" in rep]
        if not good:
            rows.append([method, "failed", "", "", "", ""])
            continue
        after = Spread.of([rep["after_body"] for rep in good])
        total = Spread.of([rep["total"] for rep in good])
        body = Spread.of([rep["body"] or 0.0 for rep in good])
        size = Spread.of([rep["bytes"] / 1e6 for rep in good])
        largest = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in good[-1]["largest"])
        rows.append(
            [
                method,
                f"{seconds(after.median)} ({seconds(after.low)}–{seconds(after.high)})",
                seconds(body.median),
                seconds(total.median),
                f"{size.median:.1f} MB",
                largest,
            ]
        )
        figures[method] = {
            "after_body": after.to_json(),
            "total": total.to_json(),
            "body": body.to_json(),
            "megabytes": size.to_json(),
            "largest": good[-1]["largest"],
        }
    printer.table(
        f"`api` target, default size: medians of {rounds} fresh processes",
        ["method", "body end → run dir", "body", "whole run", "run dir", "largest files (MB)"],
        rows,
    )
    return figures


# ---- 3. a run's fixed cost ----------------------------------------------------------------------


def fixed_cost(printer: Printer, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="profwork-bench-trivial-"))
    script = work / "trivial.py"
    script.write_text(TRIVIAL, encoding="utf-8")
    py_spy = str(BIN / "py-spy")

    cpu: dict[str, list[float]] = {}

    def whole(name: str, command: Callable[[Path], list[str]]) -> Callable[[], float]:
        def run() -> float:
            out = Path(tempfile.mkdtemp(dir=work))
            try:
                wall, _, used = measured_usage(command(out))
                cpu.setdefault(name, []).append(used)
                return wall
            finally:
                shutil.rmtree(out, ignore_errors=True)

        return run

    profwork = [str(BIN / "profwork"), "run", str(script), "-m"]
    pairs = {
        "cprofile": (
            lambda out: [*profwork, "cprofile", "-o", str(out)],
            lambda out: [PYTHON, "-m", "cProfile", "-o", str(out / "x.pstats"), str(script)],
        ),
        "pyspy": (
            lambda out: [*profwork, "pyspy", "-o", str(out)],
            lambda out: [py_spy, "record", "-o", str(out / "x.svg"), "--", PYTHON, str(script)],
        ),
    }
    figures, rows = {}, []
    try:
        for method, (ours, raw) in pairs.items():
            cpu.clear()
            ours_name, raw_name = f"profwork -m {method}", "raw tool"
            comparison = rotated(
                rounds,
                {ours_name: whole(ours_name, ours), raw_name: whole(raw_name, raw)},
                progress=printer.line,
            )
            ours_t = comparison.times[ours_name]
            raw_t = comparison.times[raw_name]
            extra = Spread.of([a - b for a, b in zip(ours_t, raw_t, strict=True)])
            # the warm-up round's CPU is dropped, as its wall time is
            ours_cpu, raw_cpu = cpu[ours_name][-rounds:], cpu[raw_name][-rounds:]
            extra_cpu = Spread.of([a - b for a, b in zip(ours_cpu, raw_cpu, strict=True)])
            rows.append(
                [
                    method,
                    seconds(Spread.of(ours_t).median),
                    seconds(Spread.of(raw_t).median),
                    f"{extra.median:+.3f} s ({extra.low:+.3f}–{extra.high:+.3f})",
                    f"{extra_cpu.median:+.3f} s ({extra_cpu.low:+.3f}–{extra_cpu.high:+.3f})",
                    verdict(extra.median, TARGET_FIXED),
                ]
            )
            figures[method] = {
                **comparison.to_json(),
                "extra": extra.to_json(),
                "cpu": {ours_name: ours_cpu, raw_name: raw_cpu},
                "extra_cpu": extra_cpu.to_json(),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    printer.table(
        f"trivial script, whole processes, medians of {rounds} rotating rounds",
        [
            "method",
            "profwork run",
            "raw tool",
            "profwork − raw (range)",
            "CPU: profwork − raw",
            "≤ 0.3 s",
        ],
        rows,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 samples")
    parser.add_argument(
        "--only", default="big,api,fixed", help="sections to run: big, api, fixed (comma-separated)"
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="methods for the api section")
    args = parser.parse_args()
    if args.quick:
        args.samples = 200_000
    sections = set(args.only.split(","))
    printer = Printer()
    results: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    info = results["machine"]
    printer.heading("profwork big-profile benchmark (issue 22)")
    printer.line(
        f"{info['date']}  Python {info['python']}  {info['cpus']} CPUs  "
        f"load {' '.join(f'{x:.2f}' for x in info['load_average'])}  git {info['git_commit']}"
    )
    if "big" in sections:
        path, meta = big_file(printer, args.samples)
        printer.heading(
            f"1. {meta['samples']:,} samples ({meta['lines']:,} stacks, depth ≤ "
            f"{meta['max_depth']}, {meta['bytes'] / 1e6:.0f} MB) → every artefact vs pyinferno"
        )
        results["recording"] = meta
        results["big"] = big(printer, path, args.rounds)
    if "api" in sections:
        printer.heading("2. the api target: body end → finished run directory, and its size")
        results["api"] = api(printer, args.rounds, args.methods.split(","))
    if "fixed" in sections:
        printer.heading("3. a run's fixed cost on a trivial script vs the raw tool")
        results["fixed"] = fixed_cost(printer, max(args.rounds, 5))
    path = write_json("bench_big.json", results)
    printer.line(f"figures written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.stderr.write(f"bench_big: {error}\n")
        sys.exit(1)
