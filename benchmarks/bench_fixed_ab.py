"""A run's fixed cost, before and after a change, in the same rounds (issue 22).

    git archive REV profwork | tar -x -C /tmp/before     # the code before, as a source tree
    .venv/bin/python benchmarks/bench_fixed_ab.py /tmp/before [--method pyspy] [--rounds 15]

Three commands per round, their order rotating: `profwork run trivial.py -m METHOD` of the code
before (its source tree put first on PYTHONPATH, for the target's process too), the same of this
checkout, and the raw tool (`py-spy record -o x.svg -- python trivial.py`, or `python -m
cProfile -o x.pstats trivial.py`). Whole processes, bytecode cached; a warm-up round first.
Printed: medians of wall and CPU time (user + system of the process and the children it waited
for), and of the per-round differences from the raw tool with their min–max. On a shared
machine the CPU figures move far less with the load than the wall clock.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BIN, PYTHON, Spread, bytecode_env  # noqa: E402

TRIVIAL = "total = sum(i * i for i in range(1_500_000))\nprint(total)\n"


def usage(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of a whole process and the children it waited for."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, used = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:4])}… failed: {err.decode(errors='replace')[-600:]}")
    return wall, used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="a source tree holding the profwork package")
    parser.add_argument("--method", choices=("pyspy", "cprofile"), default="pyspy")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if not (args.before / "profwork" / "__init__.py").exists():
        raise SystemExit(f"{args.before} holds no profwork package")
    work = Path(tempfile.mkdtemp(prefix="profwork-bench-ab-"))
    script = work / "trivial.py"
    script.write_text(TRIVIAL, encoding="utf-8")
    env = {**os.environ, **bytecode_env()}

    def command(name: str, out: Path) -> tuple[list[str], dict[str, str]]:
        if name == "raw tool":
            if args.method == "pyspy":
                raw = [str(BIN / "py-spy"), "record", "-o", str(out / "x.svg"), "--"]
                return [*raw, PYTHON, str(script)], env
            return [PYTHON, "-m", "cProfile", "-o", str(out / "x.pstats"), str(script)], env
        ours = [str(BIN / "profwork"), "run", str(script), "-m", args.method, "-o", str(out)]
        if name == "before":
            return ours, {**env, "PYTHONPATH": str(args.before.resolve())}
        return ours, env

    names = ("before", "after", "raw tool")
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    try:
        for round_ in range(-1, args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                out = Path(tempfile.mkdtemp(dir=work))
                try:
                    took, used = usage(*command(name, out))
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                if round_ >= 0:
                    wall[name].append(took)
                    cpu[name].append(used)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"-m {args.method}, {args.rounds} rounds; load average at the end: {load}")
    for name in names:
        print(
            f"  {name:8} wall {Spread.of(wall[name]).median * 1e3:5.0f} ms   "
            f"CPU {Spread.of(cpu[name]).median * 1e3:5.0f} ms"
        )
    for name in ("before", "after"):
        parts = []
        for label, figures in (("wall", wall), ("CPU", cpu)):
            diff = Spread.of(
                [a - b for a, b in zip(figures[name], figures["raw tool"], strict=True)]
            )
            parts.append(f"{label} {diff.median:+.3f} s ({diff.low:+.3f}–{diff.high:+.3f})")
        print(f"  {name:8} − raw tool: " + ";  ".join(parts))


if __name__ == "__main__":
    main()
