"""`profwork scale`: the target profiled at several sizes, and how it grows (DESIGN §5, Scaling).

Each size is an ordinary `profwork run` (`pipeline.run`), kept where runs go
(`<base>/<target>/<stamp>-<method>/`); the scale run directory beside them
(`<base>/<target>/<stamp>-scale/`) links to each and holds the fit (`analyses.scale`):
`summary.json`, `summary.md`, `report.html` and the log-log chart `scale.svg`, with a manifest
like every run's (method `scale`; the method the sizes ran with in its options).

The sizes are either the target's presets (`--sizes small,medium,large`; the data size `n` of
each is the product of the numeric parameters that differ between them) or one parameter given
as a list (`-p n=100,200,400`; `n` is the value). Everything is checked before the first run.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from profwork import pipeline, specs, sqlcapture
from profwork.analyses.scale import Scaling, SizeRun, analyse
from profwork.errors import ProfworkError
from profwork.rundir import DEFAULT_BASE, Manifest, RunDir, git_commit
from profwork.units import json_safe

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
REPORT = "report.html"
CHART = "scale.svg"
RUNS_PER_SIZE = 3


@dataclass(frozen=True)
class Plan:
    """The sizes to run, smallest first: label, data size, the `-p` values and preset."""

    measure: str
    sizes: tuple[tuple[str, float, Mapping[str, str], str | None], ...]


@dataclass(frozen=True)
class ScaleResult:
    path: Path
    manifest: Manifest
    scaling: Scaling


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def plan(
    spec: str,
    *,
    sizes: Sequence[str] = (),
    params: Sequence[tuple[str, str]] = (),
    by: str | None = None,
    module: bool = False,
    argv: Sequence[str] = (),
) -> Plan:
    """Check what to run at each size, before anything runs. `params`: every `-p` given, in
    order; one of them may be a comma-separated list (the sizes), unless `sizes` are given.
    `by`: the parameter whose value is the data size of a preset (default: the product of
    the numeric parameters that differ between the presets)."""
    target = specs.resolve(spec, module=module, argv=argv)
    fixed = {k: v for k, v in params if "," not in v}
    lists = [(k, v) for k, v in params if "," in v]
    if sizes and lists:
        raise ProfworkError(
            f"scale takes --sizes or a -p list, not both (-p {lists[0][0]}={lists[0][1]})",
            remedy="drop one of them",
        )
    if len(lists) > 1:
        raise ProfworkError(
            f"scale varies one parameter; -p lists given for {', '.join(k for k, _ in lists)}",
            remedy="give one -p NAME=V1,V2,... and fixed values for the others",
        )
    if lists:
        name, text = lists[0]
        if by is not None and by != name:
            raise ProfworkError(
                f"--by {by} names another parameter than the -p list ({name})",
                remedy="drop --by: the listed parameter is the data size",
            )
        values = [v.strip() for v in text.split(",") if v.strip()]
        runs: list[tuple[str, float, Mapping[str, str], str | None]] = []
        for value in values:
            bound = target.bind({**fixed, name: value})  # types and checks each value
            n = _number(bound.params.get(name))
            if n is None:
                raise ProfworkError(
                    f"-p {name}={text}: {value!r} is not a positive number",
                    remedy="scale needs numeric sizes, e.g. -p n=100,200,400",
                )
            runs.append((f"{name}={value}", n, {**fixed, name: value}, None))
        return _checked(Plan(name, tuple(sorted(runs, key=lambda r: r[1]))))
    chosen = list(sizes) or list(target.sizes)  # by default, every size of the target
    if not chosen:
        given = " ".join(f"-p {k}={v}" for k, v in params)
        raise ProfworkError(
            f"scale needs sizes to compare: {target.name} has no size presets"
            + (f", and {given} gives one value" if given else ""),
            remedy="give one parameter as a list, e.g. -p n=100,200,400",
        )
    for size in chosen:
        if size not in target.sizes:
            raise ProfworkError(
                f"target {target.name!r} has no size {size!r}",
                remedy=f"sizes of {target.name}: {', '.join(target.sizes) or 'none'}",
            )
    if len(set(chosen)) < 2:
        raise ProfworkError(
            f"scale needs at least two different sizes, got {', '.join(chosen)}",
            remedy=f"e.g. --sizes {','.join(target.sizes)}",
        )
    preset = {size: target.bind(fixed, size).params for size in chosen}
    varying = [
        name
        for name in preset[chosen[0]]
        if name not in fixed
        and len({repr(b[name]) for b in preset.values()}) > 1
        and all(_number(b[name]) is not None for b in preset.values())
    ]
    if not varying:
        raise ProfworkError(
            f"the sizes {', '.join(chosen)} of {target.name} set the same numbers",
            remedy="choose sizes that differ, or give a -p list, e.g. -p n=100,200,400",
        )
    if by is not None:
        if by not in varying:
            raise ProfworkError(
                f"--by {by}: the sizes {', '.join(chosen)} of {target.name} do not vary it",
                remedy=f"parameters they vary: {', '.join(varying)}",
            )
        varying = [by]
    sized: list[tuple[str, float, Mapping[str, str], str | None]] = [
        (size, math.prod(_number(preset[size][v]) or 1.0 for v in varying), fixed, size)
        for size in chosen
    ]
    return _checked(Plan(" × ".join(varying), tuple(sorted(sized, key=lambda r: r[1]))))


def _checked(chosen: Plan) -> Plan:
    if len({n for _, n, _, _ in chosen.sizes}) < 2:
        given = ", ".join(label for label, *_ in chosen.sizes)
        raise ProfworkError(
            f"scale needs at least two different sizes, got {given}",
            remedy="e.g. --sizes small,medium,large or -p n=100,200,400",
        )
    return chosen


def scale(
    spec: str,
    chosen: Plan,
    *,
    module: bool = False,
    argv: Sequence[str] = (),
    method: str = "cprofile",
    runs_per_size: int = RUNS_PER_SIZE,
    wall_clock: bool = False,
    options: Mapping[str, Any] | None = None,
    output: Path | None = None,
    command: Sequence[str] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
) -> ScaleResult:
    """Run the plan (each size `runs_per_size` times: the analysis keeps each function's
    fastest time, since other processes only ever add time), then write the scale run
    directory. A method that can time by CPU (cprofile's `--cpu-time`) does, unless
    `wall_clock`."""
    if runs_per_size < 1:
        raise ProfworkError("scale needs --runs of at least 1", remedy="e.g. --runs 3")
    from profwork.methods import get_method

    profiler = get_method(method)
    if profiler.unit != "seconds":
        raise ProfworkError(
            f"scale fits how time grows; -m {profiler.name} measures {profiler.unit}",
            remedy="use a method that measures time: -m cprofile (exact call counts too), "
            "pyinstrument or pyspy",
        )
    options = dict(options or {})
    if not wall_clock and any(o.name == "cpu-time" for o in profiler.options):
        # growth is about what the code computes: a process that took the CPU from one run
        # must not bend the fit (cprofile's --cpu-time; --wall-clock keeps the wall clock)
        options.setdefault("cpu-time", True)
    target = specs.resolve(spec, module=module, argv=argv)
    started = datetime.now().astimezone()
    name = specs.slug(target.spec or target.name, module) if target.spec else target.name
    base = output or DEFAULT_BASE
    commit = git_commit()
    command_line = list(command if command is not None else sys.argv)
    runs: list[SizeRun] = []
    durations: list[float] = []
    for i, (label, n, params, size) in enumerate(chosen.sizes):
        done: list[pipeline.RunResult] = []
        for attempt in range(runs_per_size):
            again = f", run {attempt + 1} of {runs_per_size}" if runs_per_size > 1 else ""
            on_stage(f"size {i + 1} of {len(chosen.sizes)}: {label} (n = {n:g}){again}")
            result = pipeline.run(
                spec,
                module=module,
                argv=argv,
                method=method,
                params=params,
                size=size,
                options=options,
                output=base,
                command=command_line,
            )
            if result.manifest.status != "ok":
                raise ProfworkError(
                    f"the run at {label} ended {result.manifest.status}: {result.manifest.error}",
                    remedy=f"its run directory is {result.path}",
                    exit_code=130 if result.manifest.status == "interrupted" else 1,
                )
            durations.append(result.manifest.duration or 0.0)
            done.append(result)
        runs.append(
            SizeRun(
                label,
                n,
                tuple(r.path for r in done),
                tuple(r.profile for r in done),
                sqlcapture.load(done[0].path),
            )
        )
    run_dir = RunDir(base, name, "scale", started)
    links = [[os.path.relpath(p, run_dir.parent / run_dir.name) for p in r.paths] for r in runs]
    clock = "CPU time" if options.get("cpu-time") else "wall clock"
    scaling = analyse(target.name, method, chosen.measure, clock, runs, links)
    from profwork.renderers import scalereport

    svg = scalereport.chart(scaling)
    for filename, content in (
        (SUMMARY_JSON, json.dumps(json_safe(scaling.to_dict()), indent=2)),
        (SUMMARY_MD, scalereport.markdown(scaling)),
        (CHART, svg),
        (REPORT, scalereport.page(scaling, svg=svg)),
    ):
        with run_dir.open(filename) as out:
            out.write(content.encode("utf-8"))
    run_dir.raw.rmdir()
    manifest = Manifest(
        target=target.name,
        spec=spec,
        method="scale",
        params={"sizes": [label for label, *_ in chosen.sizes], "measure": chosen.measure},
        options={
            "method": method,
            "runs": runs_per_size,
            **{k: _plain(v) for k, v in (options or {}).items()},
        },
        started_at=started.isoformat(timespec="seconds"),
        duration=math.fsum(durations),
        status="ok",
        unit="seconds",
        notes=(f"size runs: {', '.join(p for group in links for p in group)}",),
        artefacts=tuple(run_dir.written),
        command=tuple(command_line),
        git_commit=commit,
    )
    return ScaleResult(run_dir.finish(manifest), manifest, scaling)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value if isinstance(value, int | float | bool | str | None) else str(value)
