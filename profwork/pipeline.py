"""The pipeline: the only module that knows the order of the arrows.

    spec ─resolve→ Target ─bind→ BoundTarget ─METHOD.run→ RawArtefact (raw/)
      ─METHOD.normalise→ Profile ─analyse→ Summary ─renderers→ files ─finish→ run directory

A body that raises or is interrupted still yields every artefact of what was measured, with its
status in the manifest; the caller turns the status into an exit code.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from profwork import targets
from profwork.analyses import Summary, analyse
from profwork.errors import ProfworkError
from profwork.methods import Method, MethodOptions, RawArtefact, get_method
from profwork.model import Profile
from profwork.renderers import RENDERERS, get_renderer
from profwork.rundir import DEFAULT_BASE, Manifest, RunDir, git_commit, is_run

Stage = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    path: Path
    manifest: Manifest
    profile: Profile
    summary: Summary


def _quiet(_: str) -> None:
    pass


def run(
    spec: str,
    *,
    module: bool = False,
    argv: Sequence[str] = (),
    method: str = "cprofile",
    params: Mapping[str, str] | None = None,
    size: str | None = None,
    options: MethodOptions | None = None,
    output: Path | None = None,
    top: int = 15,
    command: Sequence[str] | None = None,
    on_stage: Stage = _quiet,
) -> RunResult:
    """Profile a target and write its run directory."""
    options = options or MethodOptions()
    target = targets.resolve(spec, module=module, argv=argv)
    bound = target.bind(params, size)
    profiler = get_method(method)
    method = profiler.name  # the registered spelling (`-m cProfile` is cprofile)
    started = datetime.now().astimezone()
    name = targets.slug(target.spec or target.name, module) if target.spec else target.name
    run_dir = RunDir(output or DEFAULT_BASE, name, method, started)
    on_stage(f"profiling {target.name} with {method}")
    try:
        raw = profiler.run(bound, run_dir.raw, options)
    except BaseException:
        shutil.rmtree(run_dir.temp, ignore_errors=True)
        raise
    manifest = Manifest(
        target=target.name,
        spec=spec,
        method=method,
        params={k: _plain(v) for k, v in bound.params.items()},
        options={**dataclasses.asdict(options), "rate": raw.meta.get("rate")},
        size=size,
        started_at=started.isoformat(timespec="seconds"),
        duration=raw.duration,
        status=raw.status,
        error=raw.error,
        target_metrics=dict(raw.meta.get("target_metrics") or {}),
        command=list(command if command is not None else sys.argv),
        git_commit=git_commit(),
    )
    return _complete(profiler, raw, run_dir, manifest, top, on_stage)


def attach(
    pid: int,
    *,
    duration: float | None = None,
    options: MethodOptions | None = None,
    output: Path | None = None,
    top: int = 15,
    command: Sequence[str] | None = None,
    on_stage: Stage = _quiet,
) -> RunResult:
    """Record a running Python process with py-spy and write its run directory.

    Nothing is created under the output directory until py-spy has recorded: a PID that is not
    there, not Python or not permitted leaves no trace."""
    from profwork.methods import pyspy

    options = options or MethodOptions()
    pyspy.rate_argument(options.rate)
    name, argv = pyspy.process_facts(pid)
    started = datetime.now().astimezone()
    label = f"pid-{pid}-{targets.slug(name, module=True)}"
    run_dir: RunDir | None = None

    def raw_dir() -> Path:
        nonlocal run_dir
        run_dir = RunDir(output or DEFAULT_BASE, label, "pyspy", started)
        return run_dir.raw

    on_stage(f"attaching to process {pid} ({name})" + (f" for {duration:g} s" if duration else ""))
    try:
        raw = pyspy.METHOD.attach(pid, options, duration, raw_dir)
    except BaseException:
        if run_dir is not None:
            shutil.rmtree(run_dir.temp, ignore_errors=True)
        raise
    assert run_dir is not None
    manifest = Manifest(
        target=label,
        spec=f"pid {pid}",
        method="pyspy",
        params={"pid": pid, "process": name, "cmdline": argv, "requested_duration": duration},
        options={**dataclasses.asdict(options), "rate": raw.meta.get("rate")},
        started_at=started.isoformat(timespec="seconds"),
        duration=raw.duration,
        status=raw.status,
        error=raw.error,
        command=list(command if command is not None else sys.argv),
        git_commit=git_commit(),
    )
    return _complete(pyspy.METHOD, raw, run_dir, manifest, top, on_stage)


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | bool | None) else str(value)


def _complete(
    profiler: Method,
    raw: RawArtefact,
    run_dir: RunDir,
    manifest: Manifest,
    top: int,
    on_stage: Stage,
) -> RunResult:
    """normalise → analyse → render → finish, keeping what was measured if any step fails."""
    try:
        on_stage("normalising")
        profile = profiler.normalise(raw)
        profile = dataclasses.replace(
            profile, metadata={**profile.metadata, "target": manifest.target}
        )
        summary = analyse(profile, top=top, target_metrics=manifest.target_metrics)
        manifest.unit = profile.unit
        manifest.notes = list(summary.notes)
        write_artefacts(profile, summary, run_dir.open, on_stage)
    except BaseException as exc:
        manifest.status = "error" if manifest.status == "ok" else manifest.status
        manifest.error = (manifest.error or "") + f"\nprofwork could not finish the run: {exc!r}"
        path = run_dir.finish(manifest)
        if isinstance(exc, ProfworkError | KeyboardInterrupt):
            raise
        raise ProfworkError(
            f"writing the artefacts failed: {type(exc).__name__}: {exc}",
            remedy=f"what was measured is kept in {path}; please report this as a bug",
            exit_code=1,
        ) from exc
    path = run_dir.finish(manifest)
    return RunResult(path, manifest, profile, summary)


def write_artefacts(
    profile: Profile,
    summary: Summary,
    open_artefact: Callable[[str], AbstractContextManager[BinaryIO]],
    on_stage: Stage = _quiet,
    names: Iterable[str] = RENDERERS,
) -> None:
    """Render every artefact into the binary file `open_artefact(filename)` gives, streaming
    where the renderer can (see `renderers.Renderer`)."""
    for name in names:
        renderer = get_renderer(name)
        on_stage(f"writing {renderer.filename}")
        stream = getattr(renderer, "stream", None)
        if stream is not None:
            with open_artefact(renderer.filename) as out:
                stream(profile, summary, out)
        else:
            data = renderer.render(profile, summary)
            with open_artefact(renderer.filename) as out:
                out.write(data)


def load(path: Path) -> Profile:
    """Any run directory or profile file profwork reads, as a `Profile`."""
    from profwork import readers

    return readers.read(path)


def summarise(path: Path, *, top: int = 15) -> tuple[Profile, Summary]:
    """Read a run or a profile file and analyse it, as a fresh run would be."""
    profile = load(path)
    metrics: Mapping[str, Mapping[str, float]] = {}
    if is_run(path):
        manifest = Manifest.load(path)
        metrics = manifest.target_metrics
        profile = dataclasses.replace(
            profile, metadata={**profile.metadata, "target": manifest.target}
        )
    return profile, analyse(profile, top=top, target_metrics=metrics)


def convert(path: Path, to: str, output: Path | None = None, *, top: int = 15) -> Path:
    """Write one artefact of `path` in the format `to`; returns where it went."""
    renderer = get_renderer(to)
    profile, summary = summarise(path, top=top)
    if output is None:
        if is_run(path):
            output = path / renderer.filename
        else:
            suffix = "".join(Path(renderer.filename).suffixes)
            output = path.with_name(path.name.split(".")[0] + suffix)
    if output.is_dir():
        output = output / renderer.filename
    if output.resolve() == path.resolve():
        raise ProfworkError(
            f"converting {path} to {to} would overwrite it", remedy="name the output with -o OUT"
        )
    write_artefacts(profile, summary, lambda _: output.open("wb"), names=[to])
    return output
