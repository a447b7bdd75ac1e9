"""The `cprofile` method: deterministic profiling with the stdlib's cProfile.

Exact per-function statistics (calls, self, cumulative, caller edges) drive every per-function
number; the stack views are rebuilt from the caller graph by `readers.read_pstats`.

Threads that the body starts are profiled too: `threading.setprofile` installs a hook that enables
one profiler per new thread (cProfile only hooks the thread that enabled it). Each thread's stats
are written to `raw/` as cProfile's own pstats files and merged at normalise time, each thread's
stacks under its own `thread` root. Qualified names come from the code objects that
`getstats()` returns, written to `raw/qualnames.json`.

Under `--repeat N`, the calling thread's profiler is read (`getstats()`, while it runs) after
each iteration, so that each of the heaviest functions has its cumulative time per iteration
(`raw/repeats.json`, `metadata["function_repeats"]`): what lets `compare`'s rank test judge a
function's change, not only the total's. The reads are left out of the statistics (the reader
drops the profiler's own entries) and of the iterations' times.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from profwork import runner
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOption, MethodOptions, RawArtefact, flag
from profwork.model import Frame, FrameKind, FunctionStats, Profile, Unit
from profwork.stacks import thread_rule
from profwork.stacktree import StackTree
from profwork.targets import BoundTarget

if TYPE_CHECKING:
    import cProfile

QUALNAMES = "qualnames.json"
REPEATS = "repeats.json"
REPEATED_FUNCTIONS = 50  # the heaviest functions whose time per iteration is kept


@dataclass
class _Profilers(runner.Hook):
    """One cProfile profiler for the calling thread and one per thread started meanwhile."""

    cpu_time: bool = False
    main: cProfile.Profile = field(init=False)
    threads: list[tuple[str, int, cProfile.Profile]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.main = self._profiler()

    def _profiler(self) -> cProfile.Profile:
        import cProfile  # here: normalising a run (`report`) needs no profiler

        # each profiler runs in one thread: its thread's CPU clock (`--cpu-time`)
        return cProfile.Profile(time.thread_time) if self.cpu_time else cProfile.Profile()

    def _on_new_thread(self, frame: FrameType, event: str, arg: Any) -> None:
        profiler = self._profiler()
        current = threading.current_thread()
        with self.lock:
            self.threads.append((current.name, current.native_id or 0, profiler))
        profiler.enable()  # replaces this hook for the new thread

    def start(self) -> None:
        threading.setprofile(self._on_new_thread)
        self.main.enable()

    # under --repeat: after each iteration, each function's cumulative seconds so far
    snapshots: list[dict[str, float]] = field(default_factory=list)

    def stop(self) -> None:
        self.main.disable()
        threading.setprofile(None)

    def iteration_done(self, index: int) -> None:
        self.snapshots.append({_entry_key(e.code): e.totaltime for e in self.main.getstats()})

    def repeats(self) -> list[dict[str, Any]]:
        """The heaviest functions' cumulative seconds in each iteration (`raw/repeats.json`)."""
        if not self.snapshots:
            return []
        last = self.snapshots[-1]
        heaviest = sorted(last, key=lambda k: -last[k])[:REPEATED_FUNCTIONS]
        out = []
        for key in heaviest:
            totals = [snapshot.get(key, 0.0) for snapshot in self.snapshots]
            per = [b - a for a, b in zip([0.0, *totals], totals, strict=False)]
            out.append({"key": key, "cumulative": per})
        return out


def _entry_key(code: CodeType | str) -> str:
    """A `getstats()` entry as `qualnames.json` keys it (`file:line:name`; `~:0:name` for
    built-ins, as pstats files them)."""
    if isinstance(code, CodeType):
        return f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}"
    return f"~:0:{code}"


def _qualnames(profiler: cProfile.Profile, into: dict[str, str]) -> None:
    for entry in profiler.getstats():
        for code in (entry.code, *(sub.code for sub in entry.calls or ())):
            if isinstance(code, CodeType):
                key = f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}"
                into[key] = code.co_qualname


CPU_TIME = flag(
    "cpu-time",
    help="Time functions by their thread's CPU time, not the wall clock: what they computed, "
    "not what other processes took from them (nor waits: I/O, a database server).",
)


class CProfileMethod:
    name = "cprofile"
    unit: Unit = "seconds"
    # it records every call: no rate
    options: tuple[MethodOption[Any], ...] = (CPU_TIME,)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        profilers = _Profilers(cpu_time=CPU_TIME.of(options))
        facts = runner.execute(bound, profilers, repeat=options.repeat)
        main_thread = threading.current_thread()
        recorded = [(main_thread.name, main_thread.native_id or 0, profilers.main)]
        recorded += profilers.threads
        names: dict[str, str] = {}
        threads, files = [], []
        for index, (name, native_id, profiler) in enumerate(recorded):
            filename = "cprofile.pstats" if index == 0 else f"cprofile-thread-{index}.pstats"
            profiler.dump_stats(str(raw_dir / filename))
            _qualnames(profiler, names)
            threads.append({"file": filename, "name": name, "native_id": native_id})
            files.append(filename)
        (raw_dir / QUALNAMES).write_text(json.dumps(names), encoding="utf-8")
        repeats = profilers.repeats()
        if repeats:
            (raw_dir / REPEATS).write_text(json.dumps(repeats), encoding="utf-8")
        raw = RawArtefact(
            directory=raw_dir,
            format="pstats",
            files=(*files, QUALNAMES, *((REPEATS,) if repeats else ())),
            facts=facts,
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "threads": threads,
                "options": options.to_json(),
                "rate": None,
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork import readers
        from profwork.readers.pstats import rebuild_note

        classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
        names_file = raw.directory / QUALNAMES
        names = json.loads(names_file.read_text(encoding="utf-8")) if names_file.exists() else {}
        parts = []
        for thread in raw.meta["threads"]:
            part = readers.read_pstats(
                raw.directory / thread["file"], classifier=classifier, names=names
            )
            if part.stats:
                parts.append((thread, part))
        stacks = StackTree()
        stats: dict[Frame, FunctionStats] = {}
        notes: list[str] = list(raw.facts.notes)  # the runner's (os._exit(0), …)
        for thread, part in parts:
            # each thread's stacks under its root; the thread rule then keeps the roots or not
            label = f"thread ({thread['native_id']}): {thread['name']}"
            root = stacks.node((Frame(label, "", 0, FrameKind.THREAD),))
            stacks.graft(StackTree.of(part.stacks), root)
            for frame, s in (part.stats or {}).items():
                stats[frame] = stats[frame] + s if frame in stats else s
            own = rebuild_note(part.metadata["min_weight"])
            notes += [n for n in part.metadata.get("notes", ()) if n not in notes and n != own]
        if parts:
            # one note for every thread's rebuild, not one per thread
            least = [part.metadata["min_weight"] for _, part in parts]
            notes.append(rebuild_note(min(least), max(least)))
        if len(parts) > 1:
            notes.append(
                f"{len(parts) - 1} thread(s) started by the body were profiled too, each under "
                "its thread's root; times add up over threads, so the total is the sum of every "
                "thread's time, not the wall-clock duration. Threads started before the body "
                "(in setup) were not profiled"
            )
        metadata = {
            **raw.run_metadata(self.name, rate=None, threads=len(parts), notes=notes),
            "stacks": "rebuilt from the caller graph",
        }
        repeated = _function_repeats(raw.directory / REPEATS, classifier, names)
        if repeated:
            metadata["function_repeats"] = repeated
        return Profile(
            unit="seconds",
            stacks=thread_rule(stacks, threads=bool(raw.meta.get("options", {}).get("threads"))),
            stats=stats,
            metadata=metadata,
        )


def _function_repeats(
    path: Path, classifier: Classifier, names: dict[str, str]
) -> list[dict[str, Any]]:
    """`raw/repeats.json` with each function named as the statistics name it: function, file,
    line, kind and its cumulative seconds per iteration (profwork's own left out)."""
    if not path.exists():
        return []
    out = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        key = str(item["key"])
        file, line, name = key.rsplit(":", 2) if not key.startswith("~:0:") else ("~", "0", key[4:])
        frame = classifier.frame(names.get(key, name), file, int(line))
        if frame.kind is FrameKind.PROFWORK:
            continue
        out.append(
            {
                "function": frame.function,
                "file": frame.file,
                "line": frame.line,
                "kind": frame.kind.value,
                "cumulative": [float(v) for v in item["cumulative"]],
            }
        )
    return out


METHOD = CProfileMethod()
