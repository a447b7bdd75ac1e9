"""Two installs of profwork side by side: start-up and small conversions (issue 16).

    .venv/bin/python benchmarks/bench_ab.py OLD_PROFWORK NEW_PROFWORK --run RUN_DIR --pstats FILE
        [--rounds 15]

OLD_PROFWORK and NEW_PROFWORK are the `profwork` console scripts of two installs (e.g. a venv
with an older commit installed, and this one). Each command runs in fresh processes, the two
installs interleaved round by round (the order alternating), with bytecode cached in a prefix
of its own; the figure is the CPU time (user + system) of each process, less disturbed by other
processes on a shared machine than the wall clock. Printed: the medians, the median of the
per-round ratios new/old, their spread (min–max, interquartile range) and the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile


def cpu_seconds(command: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-800:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--run", required=True, help="a run directory both can report")
    parser.add_argument("--pstats", required=True, help="a pstats file to convert to html")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-ab-pyc-")
    out = os.path.join(tempfile.mkdtemp(prefix="bench-ab-"), "report.html")
    cases = [
        ("--help", ["--help"]),
        ("report RUN", ["report", args.run]),
        ("pstats -> html", ["convert", args.pstats, "--to", "html", "-o", out]),
    ]
    for name, rest in cases:
        for exe in (args.old, args.new):  # warm-up: bytecode written
            cpu_seconds([exe, *rest], env)
        old: list[float] = []
        new: list[float] = []
        for i in range(args.rounds):
            pairs = [(args.old, old), (args.new, new)]
            for exe, sink in pairs if i % 2 == 0 else pairs[::-1]:
                sink.append(cpu_seconds([exe, *rest], env))
        ratios = sorted(b / a for a, b in zip(old, new, strict=True))
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"{name:16} old {statistics.median(old) * 1000:6.0f} ms  "
            f"new {statistics.median(new) * 1000:6.0f} ms  new/old {statistics.median(ratios):.3f}"
            f"  (rounds {ratios[0]:.3f}–{ratios[-1]:.3f}, IQR {low:.3f}–{high:.3f}, "
            f"n={len(ratios)}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
            flush=True,
        )


if __name__ == "__main__":
    main()
