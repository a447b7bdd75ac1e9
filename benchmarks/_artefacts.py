"""Time one conversion of a profile into every artefact, stage by stage, in a fresh process.

    python benchmarks/_artefacts.py run DIR            # a run directory (normalised again)
    python benchmarks/_artefacts.py pstats FILE        # readers.read_pstats
    python benchmarks/_artefacts.py pyspy FILE --rate HZ   # a py-spy raw recording, as -m pyspy
    python benchmarks/_artefacts.py pstats-stdlib FILE # reference: pstats.Stats load, sort, print
    python benchmarks/_artefacts.py pyinferno FILE     # reference: pyinferno's folded → SVG

Each run is a fresh interpreter, as a real `profwork run` is, so that nothing is warm and the
peak resident memory (`ru_maxrss`) belongs to this conversion alone. It goes through the real
code: the method's `normalise` (or `readers.read_pstats`), `analyses.analyse` and
`pipeline.write_artefacts`, whose `on_stage` and writer callbacks bracket each renderer: the time
from `on_stage` to the writer is that renderer's `render`. Artefacts are written to a temporary
directory and dropped, as the run directory's writer does. The last line on stdout is a JSON
object: stages in order with their seconds, the peak and current RSS after each stage, and the
artefact sizes.
`--explain N` profiles the whole conversion with cProfile instead (slower; not a timing) and adds
the N functions with the most self time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    """Resident memory now (what a stage keeps, as against its peak); 0 where /proc is missing."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class Stages:
    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self.mark = time.perf_counter()

    def done(self, name: str, **extra: Any) -> None:
        now = time.perf_counter()
        self.stages.append(
            {"stage": name, "seconds": now - self.mark, "peak_mb": _peak_mb(), "rss_mb": _rss_mb()}
        )
        self.stages[-1].update(extra)
        self.mark = now


def _profwork(kind: str, path: Path, rate: float, stages: Stages) -> None:
    from profwork import loading, pipeline, readers
    from profwork.analyses import analyse
    from profwork.model import Profile
    from profwork.renderers import RENDERERS

    stages.done("import profwork")
    profile: Profile
    if kind == "run":
        profile = loading.load(path)
    elif kind == "pstats":
        profile = readers.read_pstats(path)
    else:
        profile = _normalise_pyspy(path, rate)
    stages.done("normalise", stacks=len(profile.stacks), functions=len(profile.stats or ()))
    summary = analyse(profile, top=15)
    stages.done("analyse")

    with tempfile.TemporaryDirectory(prefix="profwork-bench-") as tmp:
        current: list[str] = []

        def on_stage(message: str) -> None:
            current[:] = [message.removeprefix("writing ")]
            stages.done(f"import {current[0]}")

        class Timed(io.FileIO):
            """The artefact's file: rendering ends at its first write, writing at its close
            (a streaming renderer renders and writes at once: all of it counts as render)."""

            def __init__(self, name: str) -> None:
                super().__init__(Path(tmp) / name, "wb")
                self.label, self.size, self.first = name, 0, True

            def write(self, data: Any) -> int:
                if self.first and len(data) > 1 << 20:  # one big write: a rendered artefact
                    stages.done(f"render {self.label}")
                    self.first = False
                self.size += len(data)
                return super().write(data)

            def close(self) -> None:
                if not self.closed:
                    super().close()
                    stage = f"render {self.label}" if self.first else f"write {self.label}"
                    stages.done(stage, bytes=self.size)

        def write(name: str) -> io.BufferedWriter:
            return io.BufferedWriter(Timed(name), buffer_size=1 << 20)

        # one renderer at a time, so that a missing or failing renderer is reported and the
        # others are still timed
        for name in RENDERERS:
            try:
                pipeline.write_artefacts(profile, summary, write, on_stage, names=[name])
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                stages.done(f"failed {name}", error=f"{type(exc).__name__}: {exc}"[:300])


def _normalise_pyspy(path: Path, rate: float) -> Any:
    """What `-m pyspy` does with its recording: the method's own normalise over a raw/ dir."""
    from profwork.frames import SysPaths
    from profwork.methods import RawArtefact
    from profwork.methods.pyspy import METHOD, RECORDING

    raw_dir = Path(tempfile.mkdtemp(prefix="profwork-bench-raw-"))
    (raw_dir / RECORDING).symlink_to(path.resolve())
    raw = RawArtefact(
        directory=raw_dir,
        format="pyspy-raw",
        files=(RECORDING,),
        meta={
            "sys_paths": SysPaths.current().to_json(),
            "rate": rate,
            "options": {"threads": True},
        },
    )
    try:
        return METHOD.normalise(raw)
    finally:
        (raw_dir / RECORDING).unlink()
        raw_dir.rmdir()


def _stdlib_pstats(path: Path, stages: Stages) -> None:
    import io
    import pstats

    stats = pstats.Stats(str(path), stream=io.StringIO())
    stages.done("load", functions=len(stats.stats))  # type: ignore[attr-defined]
    stats.sort_stats("cumulative")
    stages.done("sort")
    stats.print_stats(30)
    stages.done("print")


def _pyinferno(path: Path, stages: Stages) -> None:
    from pyinferno.pyinferno import flamegraph_from_lines  # the Rust extension

    stages.done("import pyinferno")
    with path.open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    stages.done("read lines", lines=len(lines))
    svg = flamegraph_from_lines(lines, "bench")
    stages.done("flamegraph_from_lines", bytes=len(svg))
    with tempfile.TemporaryDirectory(prefix="profwork-bench-") as tmp:
        (Path(tmp) / "flame.svg").write_text(svg, encoding="utf-8")
    stages.done("write flame.svg")


def _explain(work: Callable[[], None], top: int) -> list[dict[str, Any]]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(work)
    stats = pstats.Stats(profiler)
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (file, line, name), (cc, nc, tt, ct, _) in sorted(
        raw.items(), key=lambda item: -item[1][2]
    )[:top]:
        rows.append(
            {
                "function": f"{name} ({Path(file).name}:{line})",
                "file": file,
                "calls": nc,
                "primitive_calls": cc,
                "self": tt,
                "cumulative": ct,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("run", "pstats", "pyspy", "pstats-stdlib", "pyinferno"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--explain", type=int, default=0, metavar="N")
    args = parser.parse_args()

    stages = Stages()
    if args.kind == "pstats-stdlib":

        def work() -> None:
            _stdlib_pstats(args.path, stages)
    elif args.kind == "pyinferno":

        def work() -> None:
            _pyinferno(args.path, stages)
    else:

        def work() -> None:
            _profwork(args.kind, args.path, args.rate, stages)

    started = time.perf_counter()
    result: dict[str, Any] = {}
    if args.explain:
        result["explain"] = _explain(work, args.explain)
    else:
        work()
    result.update(
        {
            "kind": args.kind,
            "total": time.perf_counter() - started,
            "peak_mb": _peak_mb(),
            "stages": stages.stages,
        }
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
