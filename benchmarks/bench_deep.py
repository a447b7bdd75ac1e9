"""Deep pstats benchmark of issue 22: rebuilding the stacks of a deep call chain in linear time.

    .venv/bin/python benchmarks/bench_deep.py [--rounds 5] [--depths 100,1000,10000,50000]

1. Chains of distinct functions `f0 → f1 → … → f{N-1}` (the last one sums a range), generated as
   a module and recorded by **real cProfile** (`cProfile.Profile` around `main()`, run in a thread
   with a 512 MB stack and a raised recursion limit, so that even 50,000 nested Python frames are
   real calls), once per depth, kept in `benchmarks/out/deep/` (never committed).
2. Each file read in a fresh process, as `profwork report` or `-m cprofile`'s normalise reads it:
   `readers.read_pstats` (marshal check, exact statistics, the stack rebuild, the stack rules)
   then `analyses.analyse` (the summary: rankings, own time, heaviest paths, N+1 calls). A warm-up
   on the shallowest file first, in the same process, so that what is timed is the work on the
   file, not imports. Depths are taken in rounds whose order rotates; figures are medians.
3. Reported per frame (a frame: one function of the chain). Target: the deepest chain's time per
   frame at most 2× the shallowest's, and the 50,000-deep chain in seconds.

Not timed: writing the artefacts. A deep chain's folded, speedscope and pprof files spell every
stack in full, and every function of a cProfile chain has self time, so those files are quadratic
in depth by their format (a 5,000-deep chain's folded file is ~340 MB); the artefacts of a chain
are listed for the shallow depths only.

Prints tables and writes every figure to `benchmarks/out/bench_deep.json`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402 - the benchmarks are scripts, not a package
    OUT,
    PYTHON,
    BenchError,
    Printer,
    Spread,
    child_json,
    machine,
    seconds,
    verdict,
    write_json,
)

DEPTHS = (100, 1_000, 10_000, 50_000)
TARGET_FLAT = 2.0  # deepest / shallowest, time per frame
DEEP = OUT / "deep"

RECORD = """
import cProfile, sys, threading
depth, out = int(sys.argv[1]), sys.argv[2]
calls = "".join(f"def f{i}():\\n    return f{i + 1}() + 1\\n\\n" for i in range(depth - 1))
source = calls + f"def f{depth - 1}():\\n    return sum(range(3000))\\n\\ndef main():\\n    f0()\\n"
namespace = {"__name__": "chain"}
exec(compile(source, f"/bench/deep/chain{depth}.py", "exec"), namespace)
sys.setrecursionlimit(depth * 2 + 1000)
threading.stack_size(512 * 1024 * 1024)


def record():
    profiler = cProfile.Profile()
    profiler.enable()
    namespace["main"]()
    profiler.disable()
    profiler.dump_stats(out)


thread = threading.Thread(target=record)
thread.start()
thread.join()
"""

READ = """
import json, resource, sys, time
from profwork import readers
from profwork.analyses import analyse

warm, path = sys.argv[1], sys.argv[2]
analyse(readers.read_pstats(warm), top=15)  # imports, lazy ones included
started = time.perf_counter()
profile = readers.read_pstats(path)
read = time.perf_counter()
analyse(profile, top=15)
done = time.perf_counter()
print(json.dumps({
    "functions": len(profile.stats or ()),
    "stacks": len(profile.stacks),
    "nodes": getattr(profile.stacks, "nodes", None),
    "read": read - started,
    "analyse": done - read,
    "total": done - started,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def chain_file(depth: int) -> Path:
    """The recorded chain of `depth` functions (recorded on first use)."""
    path = DEEP / f"chain{depth}.pstats"
    if not path.exists():
        DEEP.mkdir(parents=True, exist_ok=True)
        subprocess.run([PYTHON, "-c", RECORD, str(depth), str(path)], check=True, timeout=600)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--timeout", type=float, default=300, help="seconds per read")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    out = Printer()
    out.heading("issue 22: deep pstats chains, read and analysed in fresh processes")
    files = {depth: chain_file(depth) for depth in depths}
    warm = files[min(depths)]

    reps: dict[int, list[dict[str, Any]]] = {depth: [] for depth in depths}
    for round_ in range(args.rounds):
        shift = round_ % len(depths)
        for depth in depths[shift:] + depths[:shift]:
            try:
                rep = child_json(
                    [PYTHON, "-c", READ, str(warm), str(files[depth])], timeout=args.timeout
                )
            except (BenchError, subprocess.TimeoutExpired) as error:
                rep = {"error": str(error)[:300]}
            reps[depth].append(rep)
            shown = f"{rep['total']:.3f}s" if "total" in rep else rep["error"]
            out.line(f"  round {round_ + 1}/{args.rounds}: depth {depth:,}: {shown}")

    rows: list[list[str]] = []
    per_frame: dict[int, Spread] = {}
    figures: dict[str, Any] = {}
    for depth in depths:
        good = [rep for rep in reps[depth] if "total" in rep]
        if not good:
            rows.append([f"{depth:,}", "failed", "", "", "", "", ""])
            continue
        total = Spread.of([rep["total"] for rep in good])
        per_frame[depth] = Spread.of([rep["total"] / rep["functions"] * 1e6 for rep in good])
        read = Spread.of([rep["read"] for rep in good])
        analysed = Spread.of([rep["analyse"] for rep in good])
        peak = Spread.of([rep["peak_mb"] for rep in good])
        rows.append(
            [
                f"{depth:,}",
                f"{good[0]['functions']:,}",
                seconds(read.median),
                seconds(analysed.median),
                f"{seconds(total.median)} ({seconds(total.low)}–{seconds(total.high)})",
                f"{per_frame[depth].median:.1f} µs",
                f"{peak.median:.0f} MB",
            ]
        )
        figures[str(depth)] = {
            "functions": good[0]["functions"],
            "stacks": good[0]["stacks"],
            "nodes": good[0]["nodes"],
            "read": read.to_json(),
            "analyse": analysed.to_json(),
            "total": total.to_json(),
            "per_frame_us": per_frame[depth].to_json(),
            "peak_mb": peak.to_json(),
        }
    out.table(
        f"read_pstats + analyse, medians of {args.rounds} fresh processes",
        ["depth", "functions", "read", "analyse", "total (min–max)", "per frame", "peak RSS"],
        rows,
    )
    verdicts: dict[str, Any] = {}
    if len(per_frame) >= 2:
        low, high = min(per_frame), max(per_frame)
        ratio = per_frame[high].median / per_frame[low].median
        verdicts["flat"] = {"ratio": ratio, "target": TARGET_FLAT}
        out.line(
            f"time per frame, {high:,}-deep / {low:,}-deep: {ratio:.2f}× "
            f"(target ≤ {TARGET_FLAT}×): {verdict(ratio, TARGET_FLAT)}"
        )
    write_json(
        "bench_deep.json",
        {"machine": machine(), "rounds": args.rounds, "depths": figures, "verdicts": verdicts},
    )
    out.line(json.dumps(verdicts))


if __name__ == "__main__":
    main()
