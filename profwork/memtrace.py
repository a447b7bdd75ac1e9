"""Recording memory while a body runs: tracemalloc's allocation stacks and memory_profiler's RSS.

`MemoryRecorder` is the memory method's hook (see `runner.Hook`):
- tracemalloc starts right before the body with the chosen frame depth and stops right after
  it, once the snapshot of what is still allocated at the end is taken;
- a sampler thread reads the process's RSS (psutil, memory_profiler's backend) every
  `interval` seconds, from just before the body until just after it (the body's start and end
  are marked), and polls tracemalloc's traced total every `PEAK_POLL` seconds: each time the
  total has grown by `PEAK_STEP` over the last snapshot it keeps, it takes a new one. The
  last one kept is the snapshot nearest the peak, which ranks allocation sites "at the peak"
  (tracemalloc records the peak total, not what made it up; how near the snapshot came is
  recorded too). A rise and fall faster than the poll is missed by this snapshot, never by the
  peak total. A snapshot copies every live trace while holding the GIL (~0.8 µs a trace here,
  80 ms for 100,000), and the body pays ~40% of that again afterwards, so one is only taken
  while the snapshots so far and the next one (foretold from the last one's cost per traced
  byte) stay within `PEAK_BUDGET` (2%) of the CPU time the process has used since the body
  started. A short body that allocates a lot gets its peak ranked from a snapshot well below
  the peak (the report says how far below); a longer one gets nearer;
- under `--repeat`, a snapshot and an RSS reading after every iteration give the bytes each
  allocation site retained per iteration (the leak check).

Snapshots are only taken while the body runs; grouping them by traceback waits until tracing
has stopped (tracemalloc would otherwise trace the grouping itself, which is ten times slower).
The recorder's own allocations (its thread, the snapshots) are filtered out.

`write` leaves in `raw/`: `tracemalloc.json` (allocation stacks at the end and at the peak, the
per-iteration sizes, the totals; oldest frame first, as tracemalloc orders them), and
`mprofile.dat`, memory_profiler's own `mprof` format (`mprof plot raw/mprofile.dat` draws it).
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profwork.runner import Hook

MEMORY_FILE = "tracemalloc.json"
MPROFILE_FILE = "mprofile.dat"
PEAK_POLL = 0.01  # seconds between looks at the traced total
PEAK_STEP = 1.25  # a new peak snapshot once the traced total is this much above the last one
PEAK_MIN = 1 << 20  # no peak snapshot below 1 MiB traced: the end snapshot says enough
PEAK_BUDGET = 0.02  # peak snapshots may take this share of the body's CPU time so far
SNAPSHOT_AFTERCOST = 1.4  # a snapshot's whole cost to the body, over its own CPU time
MIB = 1 << 20

# the recorder's own thread and the snapshots it takes; never the threads the body starts
_OWN_FILES = (__file__, tracemalloc.__file__)

Frames = tuple[tuple[str, int], ...]

_PROCESS: Any = None  # psutil.Process of this process, made on the first reading


def rss() -> int:
    """The process's resident set size in bytes, as memory_profiler's psutil backend reads it.

    Read through psutil itself rather than `memory_profiler.memory_usage`, whose every reading
    also calls `time.sleep(0)`, handing the GIL to the body and back: at 10 readings a second
    that made an allocation-heavy body ~5% slower here, against ~1% for the reading alone."""
    global _PROCESS
    if _PROCESS is None or _PROCESS.pid != os.getpid():  # a fork reads its own
        import psutil  # type: ignore[import-untyped]

        _PROCESS = psutil.Process()
    return int(_PROCESS.memory_info().rss)


def _filtered(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces(
        [tracemalloc.Filter(False, name, all_frames=True) for name in _OWN_FILES]
    )


def grouped(snapshot: tracemalloc.Snapshot) -> list[dict[str, Any]]:
    """A snapshot's live allocations grouped by stack (oldest frame first): size and count."""
    out = []
    for stat in _filtered(snapshot).statistics("traceback"):
        traceback = stat.traceback
        out.append(
            {
                "frames": [[frame.filename, frame.lineno] for frame in traceback],
                "size": stat.size,
                "count": stat.count,
                # the stack was deeper than the frame depth: its oldest frames are missing
                "truncated": (traceback.total_nframe or 0) > len(traceback),
            }
        )
    return out


@dataclass
class MemoryRecorder(Hook):
    """The memory method's hook: see the module's docstring."""

    frame_depth: int = 32
    interval: float = 0.1
    peak_snapshots: bool = True
    # the body on a stack of its own: every allocation's traceback stops at the body's first
    # frame instead of walking the CLI and the runner (`runner._on_fresh_stack`)
    fresh_stack: bool = True
    # RSS timeline: (seconds since the recorder started, bytes)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    iteration_rss: list[int] = field(default_factory=list)
    rss_start: int | None = None
    rss_end: int | None = None
    traced_peak: int = 0
    traced_end: int = 0
    _origin: float = field(default_factory=time.perf_counter)
    _end: tracemalloc.Snapshot | None = None
    _peak: tracemalloc.Snapshot | None = None
    _peak_size: int = 0
    _snapshot_seconds: float = 0.0  # CPU time spent taking peak snapshots
    _body_cpu: float = 0.0  # the process's CPU time when the body started
    _cost_per_byte: float = 0.0  # CPU seconds of the last snapshot per traced byte
    _snapshots: int = 0
    _iterations: list[tracemalloc.Snapshot] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _now(self) -> float:
        return time.perf_counter() - self._origin

    # ---- the hook ---------------------------------------------------------------------------

    def before_body(self) -> None:
        self._origin = time.perf_counter()
        self.timeline.append((self._now(), rss()))
        self._thread = threading.Thread(target=self._sample, name="profwork-memory", daemon=True)
        self._thread.start()

    def start(self) -> None:
        self._body_cpu = time.process_time()
        tracemalloc.start(self.frame_depth)
        self.marks["body_start"] = self._now()
        self.rss_start = self.timeline[-1][1] if self.timeline else None

    def iteration_done(self, index: int) -> None:
        """After each measured iteration of `--repeat`: what is allocated now, and the RSS."""
        if tracemalloc.is_tracing():
            self._iterations.append(tracemalloc.take_snapshot())
        self.iteration_rss.append(rss())
        self.marks[f"iteration_{index + 1}"] = self._now()

    def stop(self) -> None:
        if tracemalloc.is_tracing():
            with self._lock:
                self._end = tracemalloc.take_snapshot()
                self.traced_end, self.traced_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
        self.marks["body_end"] = self._now()

    def after_body(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        reading = rss()
        self.timeline.append((self._now(), reading))
        self.rss_end = reading

    def _sample(self) -> None:
        next_rss = self._now() + self.interval
        while not self._stop.wait(PEAK_POLL if self.peak_snapshots else self.interval):
            if self.peak_snapshots:
                self._poll_peak()
            if self._now() >= next_rss or not self.peak_snapshots:
                self.timeline.append((self._now(), rss()))
                next_rss = self._now() + self.interval

    def _poll_peak(self) -> None:
        with self._lock:
            if not tracemalloc.is_tracing():
                return
            current, _ = tracemalloc.get_traced_memory()
            if current < PEAK_MIN or current < self._peak_size * PEAK_STEP:
                return
            # CPU time, not wall time: on a loaded machine the wall clock runs ahead of both.
            # The next snapshot's cost is foretold from the last one's (in proportion to the
            # traced bytes), so that one large snapshot does not overrun the budget
            allowed = PEAK_BUDGET * (time.process_time() - self._body_cpu)
            if self._snapshot_seconds + self._cost_per_byte * current > allowed:
                return
            started = time.thread_time()
            self._peak = None  # the previous snapshot's memory back before the next is taken
            self._peak = tracemalloc.take_snapshot()
            self._peak_size = current
            # what the body pays afterwards (the snapshot's objects in its caches, freed) is
            # about 40% more, measured here: charged too
            cost = (time.thread_time() - started) * SNAPSHOT_AFTERCOST
            self._snapshot_seconds += cost
            self._cost_per_byte = cost / current
            self._snapshots += 1

    # ---- results ------------------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        """Everything recorded, as `tracemalloc.json` holds it (tracing must have stopped)."""
        end = grouped(self._end) if self._end is not None else []
        end_size = sum(item["size"] for item in end)
        peak: list[dict[str, Any]] | None = None
        if self._peak is not None and self._peak_size > self.traced_end:
            peak = grouped(self._peak)
        peak_size = sum(item["size"] for item in peak) if peak is not None else end_size
        return {
            "frame_depth": self.frame_depth,
            "interval": self.interval,
            "traced_peak": self.traced_peak,
            "traced_end": self.traced_end,
            "end": end,
            # the snapshot nearest the peak (the end's when the end was nearest)
            "peak": peak if peak is not None else end,
            "peak_snapshot_size": peak_size,
            "peak_snapshots_taken": self._snapshots,
            "peak_snapshot_seconds": self._snapshot_seconds,
            "iterations": [grouped(s) for s in self._iterations],
            "iteration_rss": self.iteration_rss,
            "rss_start": self.rss_start,
            "rss_end": self.rss_end,
            "timeline": self.timeline,
            "marks": self.marks,
        }

    def write(self, raw_dir: Path, command: str) -> tuple[str, ...]:
        """Write `tracemalloc.json` and `mprofile.dat` into `raw_dir`; their names."""
        data = self.data()
        (raw_dir / MEMORY_FILE).write_text(json.dumps(data), encoding="utf-8")
        origin = time.time() - (time.perf_counter() - self._origin)
        lines = [f"CMDLINE {command}"]
        lines += [f"MEM {size / MIB:.6f} {origin + at:.4f}" for at, size in self.timeline]
        (raw_dir / MPROFILE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return MEMORY_FILE, MPROFILE_FILE
