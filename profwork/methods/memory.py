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
from types import FrameType
from typing import TYPE_CHECKING, Any

from profwork import runner
from profwork.analyses.memory import DEFAULT_THRESHOLD
from profwork.frames import Classifier, SysPaths
from profwork.memtrace import MEMORY_FILE, MemoryRecorder
from profwork.methods import MethodOption, MethodOptions, RawArtefact, integer, number, positive
from profwork.model import Profile, Unit
from profwork.targets import BoundTarget

if TYPE_CHECKING:
    from profwork.facts import RunFacts


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

    def recorder(self, options: MethodOptions, caller: FrameType) -> BlockRecorder:
        """`with profwork.profile(method="memory")`: tracemalloc over the block (see
        `profwork.block.BlockMethod`)."""
        return BlockRecorder(options, caller)

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


def _stack_depth(frame: FrameType | None) -> int:
    depth = 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


class BlockRecorder:
    """The memory method over a block in this process: the same recorder and raw artefact as a
    target run, so the same normalisation (unit bytes, peak, RSS timeline, sites).

    tracemalloc keeps the newest frames of each allocation, and the block may run deep in a
    notebook kernel: it keeps `--frame-depth` frames below the block's caller (the caller's own
    depth is added), and the stacks are cut at the caller frame as py-spy's are."""

    def __init__(self, options: MethodOptions, caller: FrameType) -> None:
        self.options = options
        self.caller = caller
        depth = min(FRAME_DEPTH.of(options) + _stack_depth(caller), 65535)
        self.memory = MemoryRecorder(frame_depth=depth, interval=float(INTERVAL.of(options)))

    def start(self) -> None:
        self.memory.before_body()
        self.memory.start()

    def stop(self) -> None:
        try:
            self.memory.stop()
        finally:
            self.memory.after_body()

    def artefact(self, raw_dir: Path, facts: RunFacts) -> RawArtefact:
        from profwork.block import sys_paths

        files = self.memory.write(raw_dir, shlex.join(sys.argv))
        cut_at_caller(raw_dir / MEMORY_FILE, self.caller)
        raw = RawArtefact(
            directory=raw_dir,
            format="tracemalloc",
            files=files,
            facts=facts,
            meta={
                "sys_paths": sys_paths(self.caller),
                "options": self.options.to_json(),
                "rate": None,
                "leak_threshold": float(LEAK_THRESHOLD.of(self.options)) * 1e6,
            },
        )
        raw.save()
        return raw


def cut_at_caller(path: Path, caller: FrameType) -> None:
    """Leave out, in a block's `tracemalloc.json`, the frames above the caller frame (the
    kernel, the test runner) and the allocations of profwork's own edges of the block (its
    `__enter__`/`__exit__`); stacks without the caller (other threads, or deeper than the frame
    depth) are kept whole."""
    import json

    from profwork import block

    code = caller.f_code
    lines = [line for _, _, line in code.co_lines() if line is not None]
    first, last = code.co_firstlineno, max(lines, default=code.co_firstlineno)
    edges = str(Path(block.__file__).resolve())

    def cut(frames: list[list[Any]]) -> list[list[Any]] | None:
        for at, (file, line) in enumerate(frames):
            if file == code.co_filename and first <= line <= last:
                below = frames[at + 1 : at + 2]
                if below and str(Path(below[0][0]).resolve()) == edges:
                    return None  # profwork's own edges of the block
                return frames[at:]
        return frames

    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("end", "peak"):
        kept = []
        for item in data[key]:
            frames = cut(item["frames"])
            if frames is not None:
                kept.append({**item, "frames": frames})
        data[key] = kept
    path.write_text(json.dumps(data), encoding="utf-8")


METHOD = MemoryMethod()
