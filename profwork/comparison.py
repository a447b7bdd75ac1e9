"""`profwork compare`: read both sides, compare them, write the `compare` run directory.

A side is a run directory (a profiling run or a `bench` run) or any profile file profwork reads.
Profiling runs give per-function deltas and the diff flame graph; bench runs give repeats, which
the gate's rank test reads, and so do runs taken with `--repeat` (each iteration's time, and for
cprofile each heavy function's time per iteration). Analyses live in `analyses.compare`; this
module only does I/O:

    BASE, NEW ─load_side→ Side (+ Profile) ─compare→ Comparison ─render→ diff.svg, report.html,
    compare.json ─finish→ profiling_results/<target>/<stamp>-compare/

Baselines (`--save-baseline NAME`) are copies of a run under `<output>/baselines/NAME/`, so that
a CI job can cache or commit them; `compare --baseline NAME` compares a baseline with the
latest run of the same target and method.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from profwork import specs
from profwork.analyses.compare import (
    Comparison,
    GateResult,
    Key,
    Side,
    compare,
    function_key,
    gate,
)
from profwork.errors import InputError, ProfworkError
from profwork.model import Frame, FrameKind, Profile
from profwork.rundir import DEFAULT_BASE, Manifest, RunDir, git_commit, is_run, list_runs

BASELINES = "baselines"
BENCH_FILE = "bench.json"
NOT_PROFILES = ("compare",)  # run directories that hold no profile of their own


@dataclass(frozen=True)
class Loaded:
    side: Side
    profile: Profile | None
    path: Path


def clock_of(method: str | None, options: dict[str, Any]) -> str | None:
    """Which clock a method's figures follow: py-spy samples CPU time unless told `--idle`
    (wall time) or `--gil`; the in-process profilers time the wall clock."""
    if method == "pyspy":
        return "gil" if options.get("gil") else "wall" if options.get("idle") else "cpu"
    if method in ("cprofile", "pyinstrument", "line"):
        return "wall"
    return None


def load_side(path: Path) -> Loaded:
    """One side of a comparison, from a run directory or a profile file."""
    from profwork import loading

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist", remedy="give a run directory or a profile file")
    if not is_run(path):
        profile = loading.load(path)
        return Loaded(_side_of(profile, str(path), None, {}, None), profile, path)
    manifest = Manifest.load(path)
    if manifest.method == "bench":
        return Loaded(bench_side(path, manifest), None, path)
    if manifest.method in NOT_PROFILES:
        raise InputError(
            f"{path} is a {manifest.method} run, which holds no profile",
            remedy="give a profiling run, a bench run or a profile file",
        )
    profile = loading.load(path)
    options = dict(manifest.options)
    return Loaded(
        _side_of(profile, str(path), manifest.method, options, manifest.target), profile, path
    )


def _side_of(
    profile: Profile, label: str, method: str | None, options: dict[str, Any], target: str | None
) -> Side:
    meta = profile.metadata
    method = method or _text(meta.get("method"))
    rate = options.get("rate", meta.get("rate"))
    # each iteration's seconds (--repeat): they judge a total in seconds, never one in bytes
    repeats = meta.get("repeats") if profile.unit == "seconds" else None
    return Side(
        label=label,
        unit=profile.unit,
        total=profile.total,
        method=method,
        rate=float(rate) if isinstance(rate, int | float) and rate > 0 else None,
        clock=clock_of(method, options),
        target=target or _text(meta.get("target")),
        repeats=tuple(float(r) for r in repeats) if isinstance(repeats, list) else (),
        function_repeats=_function_repeats(meta.get("function_repeats")),
    )


def _function_repeats(items: object) -> dict[Key, tuple[float, ...]]:
    """A profile's per-function repeats (`metadata["function_repeats"]`, the cprofile method
    under `--repeat`) by the key functions are matched on."""
    out: dict[Key, tuple[float, ...]] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        try:
            frame = Frame(
                item["function"], item["file"], int(item["line"]), FrameKind(item["kind"])
            )
            out[function_key(frame)] = tuple(float(v) for v in item["cumulative"])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def bench_side(path: Path, manifest: Manifest) -> Side:
    try:
        data = json.loads((path / BENCH_FILE).read_text(encoding="utf-8"))
        # Two bench runs are compared on the body's CPU time, not its wall clock: on a shared
        # machine (a CI runner) another process's burst lengthens every iteration of one run
        # alike, which the rank test rightly calls a real difference. The wall clock stays in
        # bench.json and the reports; a body that mostly waits (I/O) is compared on it.
        timings = tuple(float(t) for t in data["timings"])
        cpu = tuple(float(t) for t in data.get("cpu_timings") or ())
        if len(cpu) == len(timings) and math.fsum(cpu) >= 0.5 * math.fsum(timings):
            timings = cpu
        median = statistics.median(timings)
    except (OSError, ValueError, KeyError, TypeError, statistics.StatisticsError) as exc:
        raise InputError(
            f"{path}: no readable {BENCH_FILE} ({type(exc).__name__}: {exc})",
            remedy="give a complete bench run directory",
        ) from None
    return Side(
        label=str(path),
        unit="seconds",
        total=median,
        method="bench",
        target=manifest.target,
        repeats=timings,
    )


def run_compare(
    base: Path,
    new: Path,
    *,
    force: bool = False,
    threshold: float = 0.15,
    output: Path | None = None,
    top: int = 10,
    command: Sequence[str] | None = None,
) -> tuple[Comparison, GateResult, Path]:
    """Compare two sides, judge the change (`gate`) and write the `compare` run directory."""
    first, second = load_side(base), load_side(new)
    comparison = compare(first.side, second.side, first.profile, second.profile, force=force)
    verdict = gate(comparison, threshold, top=top)
    path = write_run(comparison, verdict, first.profile, second.profile, output, top, command)
    return comparison, verdict, path


def write_run(
    comparison: Comparison,
    verdict: GateResult,
    base_profile: Profile | None,
    new_profile: Profile | None,
    output: Path | None,
    top: int,
    command: Sequence[str] | None,
) -> Path:
    from profwork.renderers.diffhtml import DiffReport
    from profwork.renderers.diffsvg import DiffSvg

    started = datetime.now().astimezone()
    target = comparison.new.target or comparison.base.target or "compare"
    # a target given as a file (`/src/etl.py:main`) is named by its slug, as its runs are:
    # never an absolute path that would take the comparison out of the output directory
    run_dir = RunDir(output or DEFAULT_BASE, specs.slug(target), "compare", started)
    try:
        svg = None
        if base_profile is not None and new_profile is not None:
            svg = DiffSvg().svg(comparison, base_profile, new_profile)
            with run_dir.open("diff.svg") as out:
                out.write(DiffSvg.document(svg).encode("utf-8"))
        with run_dir.open("report.html") as out:
            out.write(DiffReport().render(comparison, svg, top))
        with run_dir.open("compare.json") as out:
            data = {**comparison.to_dict(top), "gate": verdict.to_dict()}
            out.write(json.dumps(data, indent=2).encode("utf-8"))
    except BaseException:
        run_dir.discard()
        raise
    fields: dict[str, Any] = {
        "target": target,
        "spec": f"{comparison.base.label} vs {comparison.new.label}",
        "method": "compare",
        "params": {"base": comparison.base.label, "new": comparison.new.label},
        "started_at": started.isoformat(timespec="seconds"),
        "unit": comparison.unit,
        "notes": list(comparison.warnings),
        "artefacts": list(run_dir.written),
        "command": list(command if command is not None else sys.argv),
        "git_commit": git_commit(),
    }
    return run_dir.finish(Manifest(**fields))


# ---- baselines and trends -----------------------------------------------------------------------


def save_baseline(run: Path, name: str, base: Path | None = None) -> Path:
    """Copy `run` to `<base>/baselines/NAME` (replacing an older baseline of that name)."""
    if not name or "/" in name or name.startswith("."):
        raise ProfworkError(f"{name!r} cannot name a baseline", remedy="e.g. --save-baseline main")
    home = (base or DEFAULT_BASE) / BASELINES
    home.mkdir(parents=True, exist_ok=True)
    target = home / name
    temp = home / f".{name}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    shutil.copytree(run, temp)
    old = home / f".{name}.old"
    if target.exists():
        target.rename(old)
    temp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def baseline(name: str, base: Path | None = None) -> Path:
    path = (base or DEFAULT_BASE) / BASELINES / name
    if not is_run(path):
        known = sorted(p.name for p in path.parent.glob("*") if is_run(p))
        raise ProfworkError(
            f"no baseline named {name!r} under {path.parent}",
            remedy=f"saved ones: {', '.join(known)}"
            if known
            else "save one with --save-baseline NAME on run or bench",
        )
    return path


def latest_like(reference: Path, base: Path | None = None) -> Path:
    """The newest run (outside the baselines) of the same target and method as `reference`."""
    wanted = Manifest.load(reference)
    for path, manifest in list_runs(base or DEFAULT_BASE):
        if BASELINES in path.parts or path.resolve() == reference.resolve():
            continue
        if manifest.target == wanted.target and manifest.method == wanted.method:
            return path
    raise ProfworkError(
        f"no {wanted.method} run of {wanted.target} to compare with the baseline",
        remedy=f"run `profwork {'bench' if wanted.method == 'bench' else 'run'} "
        f"{wanted.target}` first, or name the run to compare",
    )


@dataclass(frozen=True)
class TrendPoint:
    path: Path
    started_at: str
    method: str
    target: str
    value: float | None  # the bench median, or the profile's duration
    spread: float | None  # the bench p95 when a bench run


def trend(directory: Path, last: int) -> list[TrendPoint]:
    """The last `last` runs under `directory`, oldest first: bench medians, or profiled
    durations (compare runs and baselines left out)."""
    if not directory.exists():
        raise ProfworkError(f"{directory} does not exist", remedy="give a directory of runs")
    points = []
    for path, manifest in list_runs(directory):
        if manifest.method in NOT_PROFILES or BASELINES in path.relative_to(directory).parts:
            continue
        value, spread = manifest.duration, None
        if manifest.method == "bench":
            try:
                stats = json.loads((path / BENCH_FILE).read_text(encoding="utf-8"))["stats"]
                value, spread = float(stats["median"]), float(stats["p95"])
            except (OSError, ValueError, KeyError, TypeError):
                value = None
        points.append(
            TrendPoint(path, manifest.started_at, manifest.method, manifest.target, value, spread)
        )
        if len(points) == last:
            break
    if not points:
        raise ProfworkError(f"no runs under {directory}", remedy="run or bench a target first")
    return points[::-1]
