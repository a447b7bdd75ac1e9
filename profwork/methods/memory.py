"""The `memory` method: tracemalloc's allocation stacks and the process's RSS, in process.

The body runs with tracemalloc tracing `--frame-depth` frames per allocation (default 32; the
depth is the main cost: NOTES.md measured 19–57× with 25 frames on allocation-heavy code, 3–4×
with one; the body runs on a stack of its own so that only its frames are walked, see
`runner._on_fresh_stack`), while a thread samples RSS every `--interval` seconds (see
`profwork.memtrace`). The
profile's unit is bytes: the allocations live at the peak of traced memory. Under `--repeat N`
the recorder snapshots after every iteration, and the summary's leak check flags steady growth
(`analyses.memory`), past `--leak-threshold` MB or at a site growing in every iteration.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from profwork import runner
from profwork.analyses.memory import DEFAULT_THRESHOLD
from profwork.frames import Classifier, SysPaths
from profwork.memtrace import MEMORY_FILE, MemoryRecorder
from profwork.methods import MethodOption, MethodOptions, RawArtefact, integer, number, positive
from profwork.model import Profile, Unit
from profwork.targets import BoundTarget


def _depth(value: int) -> int:
    if not 1 <= value <= 1000:
        raise ValueError("is not a frame depth from 1 to 1000")
    return value


def _threshold(value: float) -> float:
    if not value > 0:
        raise ValueError("is not a positive number of megabytes")
    return value


FRAME_DEPTH = integer(
    "frame-depth",
    help="Frames tracemalloc keeps per allocation (memory; default 32; the main cost).",
    default=32,
    example="32",
    check=_depth,
)
INTERVAL = number(
    "interval",
    help="Seconds between RSS samples (memory; default 0.1).",
    default=0.1,
    metavar="SECONDS",
    example="0.1",
    check=positive,  # type: ignore[arg-type]
)
LEAK_THRESHOLD = number(
    "leak-threshold",
    help="Growth over --repeat, in MB, that flags a leak (memory; default 50).",
    default=DEFAULT_THRESHOLD / 1e6,
    metavar="MB",
    example="50",
    check=_threshold,
)

NOTES = (
    "weights are bytes, not seconds: the stacks are the allocations live at the peak of "
    "traced memory (tracemalloc), and pstats' time fields hold bytes",
    "tracemalloc sees memory allocated through Python's allocators in every thread; RSS "
    "(read with psutil, as memory_profiler reads it) also counts native allocations and "
    "tracemalloc's own bookkeeping",
)


class MemoryMethod:
    name = "memory"
    unit: Unit = "bytes"
    options: tuple[MethodOption[Any], ...] = (FRAME_DEPTH, INTERVAL, LEAK_THRESHOLD)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        recorder = MemoryRecorder(
            frame_depth=FRAME_DEPTH.of(options), interval=float(INTERVAL.of(options))
        )
        facts = runner.execute(bound, recorder, repeat=options.repeat)
        files = recorder.write(raw_dir, shlex.join(sys.argv))
        raw = RawArtefact(
            directory=raw_dir,
            format="tracemalloc",
            files=files,
            facts=facts,
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "options": options.to_json(),
                "rate": None,
                "leak_threshold": float(LEAK_THRESHOLD.of(options)) * 1e6,
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork.readers.tracemalloc import read_tracemalloc

        classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
        notes = [*raw.facts.notes, *NOTES]
        path = raw.directory / MEMORY_FILE
        if not path.exists():
            return Profile("bytes", {}, None, {"method": self.name, "notes": notes})
        part = read_tracemalloc(path, classifier=classifier)
        memory = {**part.metadata["memory"], "leak_threshold": raw.meta.get("leak_threshold")}
        return Profile(
            unit="bytes",
            stacks=part.stacks,
            stats=None,
            metadata={
                **part.metadata,
                "memory": memory,
                **raw.run_metadata(self.name, rate=None, threads=1, notes=notes),
            },
        )


METHOD = MemoryMethod()
