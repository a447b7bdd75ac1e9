"""Profiling a block of code in this process: `with profwork.profile(method=...) as p:`, and the
IPython magics on top of it.

A target's body is a call, which `runner.execute` brackets; a `with` block is not, so a method
that can profile a block gives a `Recorder` instead: `start()` and `stop()` around the block, then
`artefact(raw_dir, facts)`, the same raw artefact (format and `meta`) its `run` writes, so that the
method's own `normalise` reads it and the rest of the pipeline is the one a target run takes.

Which methods can (`recorder_for`):
- a method that implements `BlockMethod` (`recorder(options, caller)`): the way a plug-in, or
  the memory method (tracemalloc over the block, normalised as a memory run: bytes), takes part;
- the built-ins `cprofile` and `pyinstrument`, through the adapters below, and `pyspy`, which
  samples this very process from a py-spy child where tracing it is permitted (root, or
  `kernel.yama.ptrace_scope` 0; NOTES.md "py-spy").

Frames above the block (the notebook's kernel, the test runner, profwork's own `__enter__`) are
not part of the profile: pyinstrument trims the stem above the caller frame, py-spy's recording
and tracemalloc's stacks are cut at the caller frame, and cProfile only sees calls made inside
the block.

SQL is captured as in a target run (`profwork.sqlprobe`, recording while the block runs, the
log written to the run's `queries.json` for the N+1 analysis) unless `sql=False`; inside a run
or another block, the outer probe records it. A `sqlite3` connection opened before the block
is not seen (the probe wraps `sqlite3.connect`); SQLAlchemy engines are, whenever made.

Whatever the recorder, the run directory is finished by `pipeline.complete`, as a target
run's is.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from profwork.errors import MethodError
from profwork.facts import RunFacts

if TYPE_CHECKING:
    from profwork.api import Run
    from profwork.display import NotebookProfile
    from profwork.methods import Method, MethodOptions, RawArtefact
    from profwork.model import Status
    from profwork.sqlprobe import QueryLog, SqlProbe


class Recorder(Protocol):
    """Records a block of code in this process: `start` right before it, `stop` right after,
    then `artefact` writes what was recorded into `raw_dir` as the method's raw artefact."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def artefact(self, raw_dir: Path, facts: RunFacts) -> RawArtefact: ...


@runtime_checkable
class BlockMethod(Protocol):
    """A method that can profile a block of code in the calling process. `caller` is the frame
    of the code that contains the block: frames above it are not part of the profile."""

    name: str

    def recorder(self, options: MethodOptions, caller: FrameType) -> Recorder: ...


# ---- the built-in methods' recorders ---------------------------------------------------------


def _raw(
    raw_dir: Path, format: str, files: tuple[str, ...], facts: RunFacts, meta: dict[str, Any]
) -> RawArtefact:
    from profwork.methods import RawArtefact

    raw = RawArtefact(
        directory=raw_dir,
        format=format,
        files=files,
        facts=facts,
        meta=meta,
    )
    raw.save()
    return raw


def caller_paths(caller: FrameType) -> tuple[str, ...]:
    """The user paths of a block: the file of the code around it (unless it is profwork's own
    magic, whose frame is then trimmed as everything above a body is)."""
    file = caller.f_code.co_filename
    own = Path(file).resolve().is_relative_to(Path(__file__).resolve().parent)
    return () if own else (file,)


def sys_paths(caller: FrameType) -> dict[str, Any]:
    """`raw.meta["sys_paths"]` for a block: the code around it is the user's own, wherever it
    lives."""
    from profwork.frames import SysPaths

    return SysPaths.current(caller_paths(caller)).to_json()


class _CProfileRecorder:
    """cProfile on the calling thread (threads the block starts are not followed: that needs
    the hook a target run installs before its body starts)."""

    def __init__(self, options: MethodOptions, caller: FrameType) -> None:
        # (cprofile declares no rate: `method_options` refused one already)
        self.caller = caller
        self.profiler = cProfile.Profile()

    def start(self) -> None:
        self.profiler.enable()

    def stop(self) -> None:
        self.profiler.disable()

    def artefact(self, raw_dir: Path, facts: RunFacts) -> RawArtefact:
        from profwork.methods.cprofile import QUALNAMES, _qualnames

        stats = pstats.Stats(self.profiler)
        _drop_own_entries(stats)
        stats.dump_stats(str(raw_dir / "cprofile.pstats"))
        names: dict[str, str] = {}
        _qualnames(self.profiler, names)
        (raw_dir / QUALNAMES).write_text(json.dumps(names), encoding="utf-8")
        thread = threading.current_thread()
        return _raw(
            raw_dir,
            "pstats",
            ("cprofile.pstats", QUALNAMES),
            facts,
            {
                "sys_paths": sys_paths(self.caller),
                "threads": [
                    {"file": "cprofile.pstats", "name": thread.name, "native_id": thread.native_id}
                ],
                "options": {"threads": False},
                "rate": None,
                "notes": [
                    "a block profiled with cprofile: threads it starts are not profiled "
                    "(profile a target, or use method='pyspy', for those)"
                ],
            },
        )


def _drop_own_entries(stats: pstats.Stats) -> None:
    """Leave out profwork's own calls at the block's edges (`__exit__`, the profiler's
    `disable`), which cProfile sees because they run while it is enabled."""
    own = {
        key
        for key in stats.stats  # type: ignore[attr-defined]
        if key[0] == __file__ or key[2] == "<method 'disable' of '_lsprof.Profiler' objects>"
    }
    for key in own:
        del stats.stats[key]  # type: ignore[attr-defined]
    for value in stats.stats.values():  # type: ignore[attr-defined]
        callers = value[4]
        for key in own & callers.keys():
            del callers[key]


class _PyinstrumentRecorder:
    def __init__(self, options: MethodOptions, caller: FrameType) -> None:
        from pyinstrument import Profiler

        from profwork.methods.pyinstrument import DEFAULT_INTERVAL, RATE

        rate = RATE.of(options)
        self.caller = caller
        self.interval = 1.0 / rate if rate else DEFAULT_INTERVAL
        self.profiler = Profiler(interval=self.interval, async_mode="enabled")

    def start(self) -> None:
        self.profiler.start(caller_frame=self.caller)

    def stop(self) -> None:
        if self.profiler.is_running:
            self.profiler.stop()

    def artefact(self, raw_dir: Path, facts: RunFacts) -> RawArtefact:
        from profwork.methods.pyinstrument import SESSION, save_session

        files: tuple[str, ...] = ()
        if self.profiler.last_session is not None:
            save_session(self.profiler.last_session, raw_dir / SESSION)
            files = (SESSION,)
        return _raw(
            raw_dir,
            "pyinstrument",
            files,
            facts,
            {
                "sys_paths": sys_paths(self.caller),
                "options": {"threads": False},
                "rate": 1.0 / self.interval,
                "interval": self.interval,
                "notes": [],
            },
        )


class _PyspyRecorder:
    """py-spy sampling this process from a child process (it reads our memory through ptrace,
    which must be permitted); the recording is cut at the frame that contains the block."""

    def __init__(self, options: MethodOptions, caller: FrameType) -> None:
        from profwork.methods import pyspy, pyspy_tool

        self.options = options
        self.caller = caller
        self.rate = pyspy_tool.rate_argument(pyspy_tool.RATE.of(options))
        self.staging = Path(_temporary_directory())
        self.recording = self.staging / pyspy.RECORDING
        self.recorder: Any = None

    def start(self) -> None:
        from profwork.methods import pyspy_tool

        pid = os.getpid()
        self.recorder = pyspy_tool.Recorder.start(
            pyspy_tool.record_command(pid, self.recording, self.options, None), pid
        )
        self.recorder.wait_sampling()

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
            for stream in (self.recorder.process.stdout, self.recorder.process.stderr):
                if stream is not None:
                    stream.close()

    def artefact(self, raw_dir: Path, facts: RunFacts) -> RawArtefact:
        import shutil

        from profwork.methods import pyspy

        files: tuple[str, ...] = ()
        if self.recording.exists():
            _cut_at_caller(self.recording, raw_dir / pyspy.RECORDING, self.caller)
            files = (pyspy.RECORDING,)
        shutil.rmtree(self.staging, ignore_errors=True)
        return _raw(
            raw_dir,
            "pyspy-raw",
            files,
            facts,
            {
                "sys_paths": sys_paths(self.caller),
                "rate": self.rate,
                "options": {"threads": self.options.threads},
                "notes": [],
            },
        )


def _temporary_directory() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="profwork-block-")


def _cut_at_caller(source: Path, target: Path, caller: FrameType) -> None:
    """py-spy's raw lines (`thread;frame;frame weight`) with the frames above the caller's
    left out; samples of the caller's thread taken outside the block (profwork's own edges)
    are dropped, other threads' are kept whole."""
    code = caller.f_code
    label = f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
    out = []
    for line in source.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        frames, _, weight = line.rpartition(" ")
        parts = frames.split(";")
        if label in parts:
            at = parts.index(label)
            root = parts[:1] if parts[0].startswith("thread (") else []
            out.append(";".join(root + parts[at:]) + " " + weight)
        elif not any(str(Path(__file__).parent) in part for part in parts):
            out.append(line)
    target.write_text(
        "\n".join(out) + ("\n" if out else ""), encoding="utf-8", errors="surrogateescape"
    )


_BUILT_IN: dict[str, Callable[[MethodOptions, FrameType], Recorder]] = {
    "cprofile": _CProfileRecorder,
    "pyinstrument": _PyinstrumentRecorder,
    "pyspy": _PyspyRecorder,
}


def recorder_for(method: Method, options: MethodOptions, caller: FrameType) -> Recorder:
    """The recorder of `method` for a block in this process, or one line naming the methods
    that can."""
    if isinstance(method, BlockMethod):
        return method.recorder(options, caller)
    make = _BUILT_IN.get(method.name)
    if make is None:
        from profwork.methods import registered_methods

        able = [
            m.name
            for m in registered_methods()
            if m.name in _BUILT_IN or isinstance(m, BlockMethod)
        ]
        raise MethodError(
            f"method {method.name!r} cannot profile a block of code in this process",
            remedy=f"use one of: {', '.join(able)}, or profwork.run() a target",
        )
    return make(options, caller)


# ---- the context manager ---------------------------------------------------------------------


class Block:
    """`with profwork.profile(...) as p:` — the block is profiled, and on leaving it the run
    directory is written: `p.run` (its `path`, `manifest`, `profile`, `summary`). An exception
    in the block is recorded as the run's status (`error`, or `interrupted` for Ctrl-C) and
    propagates. The SQL the block executes is captured (`queries.json`, N+1 findings) unless
    `sql=False`, as a target run captures its body's."""

    def __init__(
        self,
        method: str = "cprofile",
        *,
        name: str = "block",
        rate: float | None = None,
        options: Mapping[str, Any] | None = None,
        sql: bool = True,
        output: str | Path | None = None,
        top: int = 15,
        caller: FrameType | None = None,
        spec: str | None = None,
    ) -> None:
        from profwork.methods import NO_SQL, REPEAT, get_method, method_options

        self.method = get_method(method)
        self.name = name
        given = dict(options or {})
        if rate is not None:
            given["rate"] = rate
        if not sql:
            given[NO_SQL.name] = True
        self.options = method_options(self.method, given)
        if REPEAT.of(self.options) is not None:
            raise MethodError(
                "a block runs once: it takes no repeat",
                remedy="loop inside the block, or profwork.run() a target with repeat",
            )
        self.sql = not NO_SQL.of(self.options)
        self.output = Path(output) if output is not None else None
        self.top = top
        self.spec = spec or f"with profwork.profile(method={self.method.name!r})"
        self._caller = caller
        self._recorder: Recorder | None = None
        self._probe: SqlProbe | None = None
        self._run: Run | None = None
        self._started = 0.0
        self._at: datetime | None = None

    @property
    def run(self) -> Run:
        if self._run is None:
            raise RuntimeError("the run is written when the `with` block ends")
        return self._run

    @property
    def profile(self) -> NotebookProfile:
        return self.run.profile

    @property
    def path(self) -> Path:
        return self.run.path

    def _repr_html_(self) -> str:
        return self.run._repr_html_() if self._run is not None else "<p>profiling…</p>"

    def __repr__(self) -> str:
        if self._run is None:
            return f"<profwork.profile {self.name} · {self.method.name} · not finished>"
        return repr(self._run)

    def __enter__(self) -> Block:
        caller = self._caller or sys._getframe(1)
        self._recorder = recorder_for(self.method, self.options, caller)
        self._probe = _sql_probe(caller) if self.sql else None
        self._at = datetime.now().astimezone()
        if self._probe is not None:
            self._probe.start()
        self._started = time.perf_counter()
        try:
            self._recorder.start()
        except BaseException:
            if self._probe is not None:
                self._probe.uninstall()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        recorder = self._recorder
        assert recorder is not None and self._at is not None
        try:
            recorder.stop()
        finally:
            duration = time.perf_counter() - self._started
            queries = None
            if self._probe is not None:
                self._probe.uninstall()
                queries = self._probe.log()
        status: Status = "ok"
        error = None
        if isinstance(exc, KeyboardInterrupt):
            status, error = "interrupted", "interrupted by the user (Ctrl-C)"
        elif exc is not None:
            status = "error"
            error = "".join(traceback.format_exception(exc)).rstrip()
        facts = RunFacts(status=status, duration=duration, error=error)
        self._run = self._write(recorder, facts, queries)

    def _write(self, recorder: Recorder, facts: RunFacts, queries: QueryLog | None) -> Run:
        from profwork.api import Run
        from profwork.pipeline import complete
        from profwork.rundir import DEFAULT_BASE, RunDir, RunInfo, git_commit
        from profwork.sqlcapture import QUERIES_FILE

        assert self._at is not None
        run_dir = RunDir(self.output or DEFAULT_BASE, self.name, self.method.name, self._at)
        try:
            raw = recorder.artefact(run_dir.raw, facts)
            if queries is not None and (queries.queries or queries.notes):
                # where a target run's capture leaves it, for `complete` to analyse
                with run_dir.open(QUERIES_FILE) as out:
                    out.write(json.dumps(queries.to_json()).encode("utf-8"))
        except BaseException:
            run_dir.discard()
            raise
        info = RunInfo(
            target=self.name,
            spec=self.spec,
            method=self.method.name,
            options={**self.options.to_json(), "rate": raw.meta.get("rate")},
            started_at=self._at.isoformat(timespec="seconds"),
            command=tuple(sys.argv),
            git_commit=git_commit(),
        )
        return Run.from_result(complete(self.method, raw, run_dir, info, top=self.top))


def _sql_probe(caller: FrameType) -> SqlProbe | None:
    """The SQL probe for a block, installed (not recording yet); None inside a run or another
    block, whose probe records the block's SQL already."""
    from profwork import sqlprobe

    if sqlprobe.active() is not None:
        return None
    probe = sqlprobe.SqlProbe(caller_paths(caller))
    probe.install()
    return probe


def profile(
    method: str = "cprofile",
    *,
    name: str = "block",
    rate: float | None = None,
    options: Mapping[str, Any] | None = None,
    sql: bool = True,
    output: str | Path | None = None,
    top: int = 15,
) -> Block:
    """Profile the code in a `with` block with `method` (`cprofile`, `pyinstrument`, `memory`,
    `pyspy`, or any method that implements `BlockMethod`); the run directory goes under
    `output` (default `./profiling_results`) as `<name>/<stamp>-<method>/`. `options`: the
    method's options by name (`{"frame-depth": 8}`), as `profwork.run` takes them; `sql=False`
    leaves the block's SQL uncaptured."""
    return Block(
        method,
        name=name,
        rate=rate,
        options=options,
        sql=sql,
        output=output,
        top=top,
        caller=sys._getframe(1),
    )
