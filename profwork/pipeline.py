"""The pipeline: the only module that knows the order of the arrows.

    spec ─resolve→ Target ─bind→ BoundTarget ─METHOD.run→ RawArtefact (raw/)
      ─METHOD.normalise→ Profile ─analyse→ Summary ─renderers→ files ─finish→ run directory

`complete` is the part from the `RawArtefact` on: `run`, `attach` and a profiled block
(`profwork.block`, which records with the method's `Recorder` instead of `METHOD.run`) all end
through it.

SQL is captured around `METHOD.run` into `queries.json` in the run directory (`sqlcapture`:
`runner.execute` installs the probe, whatever the method) unless `--no-sql`; the analysis reads
it back with the run's `--n1-threshold`, as `profwork report` does later.

A body that raises or is interrupted still yields every artefact of what was measured, with its
status in the manifest; the caller turns the status into an exit code.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from profwork import sqlcapture
from profwork.analyses import Summary, analyse
from profwork.errors import ProfworkError
from profwork.methods import (
    N1_THRESHOLD,
    NO_SQL,
    Method,
    MethodOptions,
    RawArtefact,
    get_method,
    method_options,
)
from profwork.model import Profile, Status, Unit
from profwork.renderers import RENDERERS, OptionalRenderer, StreamingRenderer, get_renderer
from profwork.rundir import DEFAULT_BASE, Manifest, RunDir, RunInfo, git_commit

Stage = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    path: Path
    manifest: Manifest
    profile: Profile
    summary: Summary
    # the exit code the target's process would have had (its body called os._exit), if any
    exit_code: int | None = None
    # attach only: the process exited before the recording was meant to end
    process_exited: bool = False


def quiet(_: str) -> None:
    pass


def run(
    spec: str,
    *,
    module: bool = False,
    argv: Sequence[str] = (),
    method: str = "cprofile",
    params: Mapping[str, str] | None = None,
    size: str | None = None,
    options: Mapping[str, Any] | None = None,
    output: Path | None = None,
    top: int = 15,
    command: Sequence[str] | None = None,
    on_stage: Stage = quiet,
) -> RunResult:
    """Profile a target and write its run directory. `options`: the method's options that are
    given, by name (`{"rate": 250, "threads": True}`); each is checked against the options the
    method declares before anything runs."""
    profiler = get_method(method)
    chosen = method_options(profiler, options)
    from profwork import specs  # a run's only: `report` and `convert` never resolve a target

    target = specs.resolve(spec, module=module, argv=argv)
    bound = target.bind(params, size)
    method = profiler.name  # the registered spelling (`-m cProfile` is cprofile)
    started = datetime.now().astimezone()
    name = specs.slug(target.spec or target.name, module) if target.spec else target.name
    # an output base that cannot hold a run is refused here, before the target runs; every
    # path is absolute from now on, and the facts of the working directory are taken now,
    # since the target may change it
    run_dir = RunDir(output or DEFAULT_BASE, name, method, started)
    commit = git_commit()
    command_line = list(command if command is not None else sys.argv)
    on_stage(f"profiling {target.name} with {method}")
    queries = None if NO_SQL.of(chosen) else run_dir.temp / sqlcapture.QUERIES_FILE
    try:
        with sqlcapture.capturing(queries):
            raw = profiler.run(bound, run_dir.raw, chosen)
        if queries is not None and queries.exists():
            run_dir.written.append(queries.name)  # an artefact of the run, listed as one
    except OSError as exc:  # writing the raw data failed (a full disk); the body has run
        raise _not_written(run_dir, exc, None) from None
    except BaseException:  # a setup that failed, a refused option: no run
        run_dir.discard()
        raise
    info = RunInfo(
        target=target.name,
        spec=spec,
        method=method,
        params={k: _plain(v) for k, v in bound.params.items()},
        options=_recorded(chosen, raw),
        size=size,
        started_at=started.isoformat(timespec="seconds"),
        command=tuple(command_line),
        git_commit=commit,
    )
    result = complete(profiler, raw, run_dir, info, top=top, on_stage=on_stage)
    return dataclasses.replace(result, exit_code=raw.facts.exit_code)


def attach(
    pid: int,
    *,
    method: str = "pyspy",
    duration: float | None = None,
    options: Mapping[str, Any] | None = None,
    output: Path | None = None,
    top: int = 15,
    command: Sequence[str] | None = None,
    on_stage: Stage = quiet,
) -> RunResult:
    """Record a running Python process with a method that can attach (`methods.Attachable`;
    py-spy by default) and write its run directory.

    Nothing is created under the output directory until the method has recorded: a PID that is
    not there, not Python or not permitted leaves no trace."""
    from profwork.methods import get_attachable
    from profwork.processes import process_facts

    attacher = get_attachable(method)
    profiler = get_method(attacher.name)
    for option in (NO_SQL, N1_THRESHOLD):
        if option.name in (options or {}):
            raise ProfworkError(
                f"attach takes no --{option.name}: SQL is captured only in a process profwork "
                "starts",
                remedy=f"drop it, or profile the target with `profwork run ... --{option.name}`",
            )
    chosen = method_options(profiler, options)
    name, argv = process_facts(pid)
    started = datetime.now().astimezone()
    from profwork import specs

    label = f"pid-{pid}-{specs.slug(name, module=True)}"
    run_dir: RunDir | None = None

    def raw_dir() -> Path:
        nonlocal run_dir
        run_dir = RunDir(output or DEFAULT_BASE, label, profiler.name, started)
        return run_dir.raw

    on_stage(f"attaching to process {pid} ({name})" + (f" for {duration:g} s" if duration else ""))
    try:
        raw = attacher.attach(pid, raw_dir, chosen, duration)
    except BaseException:
        if run_dir is not None:
            import shutil

            shutil.rmtree(run_dir.temp, ignore_errors=True)
        raise
    assert run_dir is not None
    info = RunInfo(
        target=label,
        spec=f"pid {pid}",
        method=profiler.name,
        params={"pid": pid, "process": name, "cmdline": argv, "requested_duration": duration},
        options=_recorded(chosen, raw),
        started_at=started.isoformat(timespec="seconds"),
        command=tuple(command if command is not None else sys.argv),
        git_commit=git_commit(),
    )
    result = complete(profiler, raw, run_dir, info, top=top, on_stage=on_stage)
    return dataclasses.replace(result, process_exited=bool(raw.meta.get("process_exited")))


def _plain(value: Any) -> Any:
    """A parameter's value as the manifest records it (`nan` and `inf` as text: JSON has no
    such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, int | float | bool | None) else str(value)


def _recorded(options: MethodOptions, raw: RawArtefact) -> dict[str, Any]:
    """The options the manifest records: the method's, with the rate actually used and what a
    method chose for an option left unset (`options_used`: the functions `-m line` picked)."""
    used = raw.meta.get("options_used") or {}
    return {**options.to_json(), **used, "rate": raw.meta.get("rate")}


def complete(
    profiler: Method,
    raw: RawArtefact,
    run_dir: RunDir,
    info: RunInfo,
    *,
    top: int = 15,
    on_stage: Stage = quiet,
) -> RunResult:
    """Turn what a method recorded into a finished run directory: the second half of every
    run, shared by `run`, `attach` and a profiled block (`profwork.block`), which each record
    `raw` (the method's `RawArtefact`, with its `RunFacts`) into `run_dir.raw` their own way
    (and `profwork import`, whose raw artefact is a copy of a profile file).
    SQL captured during the recording is read from `run_dir`'s `queries.json` when the
    recorder wrote it there (`sqlcapture`).

    normalise → analyse → render → finish, keeping what was measured if any step fails:
    Ctrl-C finishes the run as `interrupted` with what was written; a failure to write (a
    full disk) leaves the temporary directory with its raw data and says where. The manifest
    is built once, when its facts are known: the artefacts written and the summary's notes."""
    with fewer_collections():
        return _complete(profiler, raw, run_dir, info, top=top, on_stage=on_stage)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector run less often while profwork reads, analyses and
    renders a profile (not while a target runs): reading a big profile makes millions of
    objects, none of them garbage, and the default thresholds scan the whole growing heap again
    and again (a tenth of a 1M-sample import's time). The thresholds are put back after."""
    import gc

    before = gc.get_threshold()
    gc.set_threshold(*(max(now, bulk) for now, bulk in zip(before, BULK_THRESHOLDS, strict=False)))
    try:
        yield
    finally:
        gc.set_threshold(*before)


# gc thresholds while a profile is processed (generation 0 allocations, then collections of
# the younger generation before the next older one is collected): the defaults are 700, 10, 10
BULK_THRESHOLDS = (20_000, 50, 100)


def _complete(
    profiler: Method,
    raw: RawArtefact,
    run_dir: RunDir,
    info: RunInfo,
    *,
    top: int,
    on_stage: Stage,
) -> RunResult:
    status, error = raw.facts.status, raw.facts.error
    unit: Unit = profiler.unit
    notes: tuple[str, ...] = ()
    metrics = {name: dict(figures) for name, figures in raw.facts.metrics.items()}

    def manifest(status: Status, error: str | None) -> Manifest:
        return Manifest.build(
            info,
            duration=raw.facts.duration,
            status=status,
            error=error,
            unit=unit,
            target_metrics=metrics,
            notes=notes,
            artefacts=run_dir.artefacts(),
        )

    try:
        on_stage("normalising")
        profile = profiler.normalise(raw)
        profile = dataclasses.replace(profile, metadata={**profile.metadata, "target": info.target})
        unit = profile.unit
        summary = analyse(
            profile,
            top=top,
            target_metrics=metrics,
            queries=sqlcapture.load(run_dir.temp),
            n1_threshold=n1_threshold_of(info.options),
        )
        notes = tuple(summary.notes)
        write_artefacts(profile, summary, run_dir.open, on_stage)
        done = manifest(status, error)
        path = run_dir.finish(done)
    except KeyboardInterrupt:
        interrupted = manifest(
            "interrupted" if status == "ok" else status,
            _also(error, "interrupted by the user (Ctrl-C) while the artefacts were written"),
        )
        try:
            run_dir.finish(interrupted)
        except OSError:
            run_dir.keep(interrupted)
        raise
    except OSError as exc:
        raise _not_written(
            run_dir, exc, lambda line: manifest("error", _also(error, line))
        ) from None
    except BaseException as exc:
        failed = manifest(
            "error" if status == "ok" else status,
            _also(error, f"profwork could not finish the run: {exc!r}"),
        )
        path = run_dir.finish(failed)
        if isinstance(exc, ProfworkError):
            raise
        raise ProfworkError(
            f"writing the artefacts failed: {type(exc).__name__}: {exc}",
            remedy=f"what was measured is kept in {path}; please report this as a bug",
            exit_code=1,
        ) from exc
    return RunResult(path, done, profile, summary)


def n1_threshold_of(options: Mapping[str, Any]) -> int:
    """The N+1 threshold a run was recorded with (the default for a run from before it was)."""
    value = options.get(N1_THRESHOLD.name)
    return value if isinstance(value, int) and not isinstance(value, bool) else N1_THRESHOLD.default


def _also(error: str | None, line: str) -> str:
    return f"{error}\n{line}" if error else line


def _not_written(
    run_dir: RunDir, exc: OSError, manifest: Callable[[str], Manifest] | None
) -> ProfworkError:
    """One line for a run that could not be written (ENOSPC, EFBIG, EROFS, …): the temporary
    directory stays, with the raw data and, when it fits, a manifest saying what happened
    (`manifest(line)`: the run's manifest with status `error` and `line` added to its error)."""
    reason = exc.strerror or str(exc)
    if exc.filename:
        reason += f" ({Path(str(exc.filename)).name})"
    raw_files = run_dir.raw.is_dir() and any(run_dir.raw.iterdir())
    if not raw_files:
        run_dir.discard()
        return ProfworkError(
            f"could not write the run: {reason}; nothing was kept",
            remedy="free some space, or give -o a directory on another file system",
            exit_code=1,
        )
    described = manifest is not None and run_dir.keep(
        manifest(f"profwork could not write the run: {reason}")
    )
    return ProfworkError(
        f"could not write the run: {reason}; the raw data is kept in {run_dir.raw}"
        + (" (with its manifest)" if described else ""),
        remedy="free some space, then `profwork report` the raw files, "
        "or run again with -o on another file system",
        exit_code=1,
    )


def write_artefacts(
    profile: Profile,
    summary: Summary,
    open_artefact: Callable[[str], AbstractContextManager[BinaryIO]],
    on_stage: Stage = quiet,
    names: Iterable[str] = RENDERERS,
) -> None:
    """Render every artefact into the binary file `open_artefact(filename)` gives, streaming
    where the renderer can (see `renderers.Renderer`)."""
    for name in names:
        renderer = get_renderer(name)
        if isinstance(renderer, OptionalRenderer) and not renderer.applies(profile, summary):
            continue
        on_stage(f"writing {renderer.filename}")
        if isinstance(renderer, StreamingRenderer):
            with open_artefact(renderer.filename) as out:
                renderer.stream(profile, summary, out)
        else:
            data = renderer.render(profile, summary)
            with open_artefact(renderer.filename) as out:
                out.write(data)
