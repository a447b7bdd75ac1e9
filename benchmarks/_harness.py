"""Shared machinery of the benchmarks: paired runs, spreads, tables, verdicts and the JSON record.

The machine is small (2 cores) and shared, so a single timing means little. Every comparison is
made of *paired* runs of the commands being compared, taken back to back in an order that
rotates from one pair to the next (A B, B A, …), so that drift in the machine's load falls on both
sides alike. The figure reported is the median of the per-pair ratios, with their min–max and
interquartile range as the spread. Targets are reported as PASS or MISS text, never asserted.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
BIN = Path(sys.executable).parent
PYTHON = sys.executable
WORKLOAD = HERE / "workload.py"
BODY_ENV = "PROFWORK_BENCH_OUT"
SCALE_ENV = "PROFWORK_BENCH_SCALE"


# ---- statistics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median, min–max and interquartile range of a sample."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))

    def to_json(self) -> dict[str, float]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "q1": self.q1,
            "q3": self.q3,
            "n": self.n,
        }


@dataclass
class Comparison:
    """Paired timings of several commands; ratios are taken pair by pair."""

    names: tuple[str, ...]
    times: dict[str, list[float]] = field(default_factory=dict)
    orders: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ratio(self, numerator: str, denominator: str) -> Spread:
        pairs = zip(self.times[numerator], self.times[denominator], strict=True)
        return Spread.of([a / b for a, b in pairs])

    def spread(self, name: str) -> Spread:
        return Spread.of(self.times[name])

    def to_json(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "orders": self.orders,
            "medians": {name: self.spread(name).to_json() for name in self.names},
            "notes": self.notes,
        }


def rotated(
    runs: int,
    commands: Mapping[str, Callable[[], float]],
    *,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Run every command once per round, the starting command rotating from round to round
    (two commands: A B, B A, A B, …). `warmup` rounds first, not recorded."""
    names = tuple(commands)
    result = Comparison(names, {name: [] for name in names})
    for round_ in range(-warmup, runs):
        shift = round_ % len(names)
        order = list(names[shift:] + names[:shift])
        for name in order:
            value = commands[name]()
            if round_ >= 0:
                result.times[name].append(value)
        if round_ >= 0:
            result.orders.append(order)
        if progress is not None:
            label = "warm-up" if round_ < 0 else f"{round_ + 1}/{runs}"
            last = ", ".join(
                f"{name} {result.times[name][-1]:.3f}s" for name in names if result.times[name]
            )
            progress(f"  round {label}: {last if round_ >= 0 else 'done'}")
    return result


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


# ---- processes ---------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def run_quiet(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        list(command),
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def body_time(
    command: Sequence[str], *, scale: float = 1.0, notes: list[str] | None = None
) -> float:
    """Run `command` (which runs the workload) and return the body time the workload measured.

    A non-zero exit is a note, not a failure, as long as the workload wrote its time: a
    profwork run that measured the body but could not write every artefact still compares."""
    with tempfile.TemporaryDirectory(prefix="profwork-bench-") as tmp:
        out = Path(tmp) / "body.txt"
        env = {BODY_ENV: str(out), SCALE_ENV: repr(scale)}
        done = run_quiet([part.replace("{tmp}", tmp) for part in command], env=env)
        if not out.exists():
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise BenchError(
                f"{' '.join(command[:4])}… wrote no body time (exit {done.returncode}): "
                + " | ".join(tail)
            )
        if done.returncode != 0 and notes is not None:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            note = f"{' '.join(command[:4])}… exited {done.returncode}: {' '.join(last)}"
            if note not in notes:
                notes.append(note)
        return float(out.read_text(encoding="utf-8"))


def wall_time(command: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Wall time of a whole process, start-up included."""
    started = time.perf_counter()
    done = run_quiet(command, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited {done.returncode}")
    return elapsed


def bytecode_env() -> dict[str, str]:
    """Python as an installed profwork runs it: bytecode cached. This machine sets
    PYTHONDONTWRITEBYTECODE=1 and the editable checkout has no __pycache__, so every process
    would compile profwork's modules from source; a cache prefix under benchmarks/out/ avoids
    that without writing into the source tree (warm-up runs fill it)."""
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(OUT / "pycache")}


def child_json(command: Sequence[str], *, timeout: float = 900) -> dict[str, Any]:
    """Run a helper script that prints one JSON object as its last stdout line (bytecode
    cached, as for an installed profwork)."""
    done = subprocess.run(
        list(command),
        env={**os.environ, **bytecode_env()},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{' '.join(command[:4])}… failed (exit {done.returncode}): {tail}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


# ---- output ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "", False
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "git_commit": commit + ("-dirty" if dirty else ""),
    }


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    return path


class Printer:
    """Tables through rich when it is installed (it is a profwork dependency), else plain text."""

    def __init__(self) -> None:
        try:
            from rich.console import Console
        except ImportError:
            self.console: Any = None
        else:
            # wide enough for the tables when the output is a pipe or a file (rich's default: 80)
            self.console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)

    def line(self, text: str = "") -> None:
        if self.console is not None:
            self.console.print(text, markup=False)
        else:
            print(text, flush=True)

    def heading(self, text: str) -> None:
        if self.console is not None:
            self.console.rule(text)
        else:
            print(f"\n== {text} ==", flush=True)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.console is not None:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for index, column in enumerate(columns):
                table.add_column(column, justify="left" if index == 0 else "right")
            for row in rows:
                styled = [
                    f"[green]{cell}[/]"
                    if cell == "PASS"
                    else f"[red]{cell}[/]"
                    if cell == "MISS"
                    else cell.replace("[", r"\[")
                    for cell in row
                ]
                table.add_row(*styled)
            self.console.print(table)
            return
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        print(f"\n{title}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), flush=True)


def seconds(value: float) -> str:
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratio_text(spread: Spread) -> str:
    return f"{spread.median:.3f}×"


def spread_text(spread: Spread) -> str:
    return f"{spread.low:.3f}–{spread.high:.3f} (IQR {spread.q1:.3f}–{spread.q3:.3f}, n={spread.n})"


# ---- conversions in fresh processes (benchmarks/_artefacts.py) ----------------------------------

ARTEFACTS = HERE / "_artefacts.py"
# Stages that are not part of turning a profile into artefacts: the interpreter's own imports.
SETUP_STAGES = ("import profwork", "import pyinferno")


@dataclass
class Conversion:
    """Several fresh-process runs of one conversion, stage by stage."""

    kind: str
    reps: list[dict[str, Any]]

    @property
    def stage_names(self) -> list[str]:
        names: list[str] = []
        for rep in self.reps:
            for stage in rep["stages"]:
                if stage["stage"] not in names:
                    names.append(stage["stage"])
        return names

    def stage(self, name: str) -> Spread:
        return Spread.of(
            [s["seconds"] for rep in self.reps for s in rep["stages"] if s["stage"] == name]
        )

    def memory(self, name: str, key: str) -> Spread:
        return Spread.of(
            [s.get(key, 0.0) for rep in self.reps for s in rep["stages"] if s["stage"] == name]
        )

    def stage_extra(self, name: str, key: str) -> Any:
        for rep in self.reps:
            for s in rep["stages"]:
                if s["stage"] == name and key in s:
                    return s[key]
        return None

    def total(self, *, only: Collection[str] = ()) -> Spread:
        """Per run, the seconds of every stage (or of those in `only`), set-up imports left
        out."""
        return Spread.of(
            [
                sum(
                    s["seconds"]
                    for s in rep["stages"]
                    if s["stage"] not in SETUP_STAGES and (not only or s["stage"] in only)
                )
                for rep in self.reps
            ]
        )

    @property
    def peak_mb(self) -> Spread:
        return Spread.of([rep["peak_mb"] for rep in self.reps])

    @property
    def baseline_mb(self) -> Spread:
        """Resident memory once the interpreter and profwork (or pyinferno) are imported."""
        return Spread.of(
            [
                next((s["peak_mb"] for s in rep["stages"] if s["stage"] in SETUP_STAGES), 0.0)
                for rep in self.reps
            ]
        )

    @property
    def errors(self) -> dict[str, str]:
        return {
            s["stage"].removeprefix("failed "): s["error"]
            for rep in self.reps
            for s in rep["stages"]
            if s["stage"].startswith("failed ")
        }

    def renderers(self) -> list[tuple[str, Spread, Spread, int | None]]:
        """(artefact, import, render + write, bytes) for each renderer that ran."""
        rows = []
        for name in self.stage_names:
            if not name.startswith("render "):
                continue
            artefact = name.removeprefix("render ")
            rendered = Spread.of(
                [
                    sum(
                        s["seconds"]
                        for s in rep["stages"]
                        if s["stage"] in (f"render {artefact}", f"write {artefact}")
                    )
                    for rep in self.reps
                ]
            )
            rows.append(
                (
                    artefact,
                    self.stage(f"import {artefact}"),
                    rendered,
                    self.stage_extra(name, "bytes"),
                )
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stages": {name: self.stage(name).to_json() for name in self.stage_names},
            "total": self.total().to_json(),
            "peak_mb": self.peak_mb.to_json(),
            "baseline_mb": self.baseline_mb.to_json(),
            "errors": self.errors,
            "reps": self.reps,
        }


def convert(
    kind: str,
    path: Path,
    runs: int,
    *,
    rate: float | None = None,
    warmup: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Conversion:
    """`runs` fresh-process conversions of `path`, after one of `warmup` (default: `path`
    itself; a small file of the same kind will do) that fills the bytecode cache."""
    command = [PYTHON, str(ARTEFACTS), kind, str(path)]
    if rate is not None:
        command += ["--rate", repr(rate)]
    reps = []
    child_json([*command[:3], str(warmup or path), *command[4:]])
    for index in range(runs):
        reps.append(child_json(command))
        if progress is not None:
            progress(f"  {kind} {index + 1}/{runs}: {reps[-1]['total']:.2f} s")
    return Conversion(kind, reps)


def explain(kind: str, path: Path, top: int = 15, *, rate: float | None = None) -> list[Any]:
    """The functions with the most self time in one conversion, under cProfile."""
    command = [PYTHON, str(ARTEFACTS), kind, str(path), "--explain", str(top)]
    if rate is not None:
        command += ["--rate", repr(rate)]
    rows: list[Any] = child_json(command)["explain"]
    return rows


def stage_rows(conversion: Conversion) -> list[list[str]]:
    """Table rows: every stage's median and range, what it made, and memory (the peak so far
    and what is resident after it, medians)."""
    rows = []
    for name in conversion.stage_names:
        spread = conversion.stage(name)
        extra = ""
        if conversion.stage_extra(name, "bytes") is not None:
            extra = f"{conversion.stage_extra(name, 'bytes') / 1e6:.2f} MB"
        elif conversion.stage_extra(name, "stacks") is not None:
            extra = (
                f"{conversion.stage_extra(name, 'stacks')} stacks, "
                f"{conversion.stage_extra(name, 'functions')} functions"
            )
        peak = conversion.memory(name, "peak_mb").median
        now = conversion.memory(name, "rss_mb").median
        rows.append(
            [
                name,
                seconds(spread.median),
                f"{seconds(spread.low)}–{seconds(spread.high)}",
                extra,
                f"{peak:.0f} / {now:.0f} MB",
            ]
        )
    return rows


STAGE_COLUMNS = ["stage", "median", "range", "made", "peak / resident"]
