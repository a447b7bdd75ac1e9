"""Normalising the memory method's recording (`raw/tracemalloc.json`, see `profwork.memtrace`).

The `Profile` (unit `bytes`) holds the allocation stacks live at the snapshot nearest the peak of
traced memory, so the flame graph, speedscope, folded and pstats show where the most memory in
use at once was allocated. tracemalloc records lines, not functions: each `(file, line)` becomes
the function whose source spans it (`profwork.codelines`), named by the shared resolver.

The figures that are not stacks go to `metadata["memory"]` as plain JSON, which
`analyses.memory` reads: allocation sites (the innermost line of user code on the stack, or the
innermost line when no user code is on it) with bytes and counts at the end and at the peak,
per-iteration sizes under `--repeat`, RSS figures and the timeline.

Not a registered reader: it reads what the memory method wrote, not a format found elsewhere.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from profwork import codelines
from profwork.frames import Classifier
from profwork.model import Frame, FrameKind, Profile, Stack
from profwork.stacks import collapse, finish, trim_above_body

SITES_KEPT = 100  # allocation sites kept in the metadata (and memory.json), heaviest first

Site = tuple[Frame, int]  # the function and the line in it


class _Frames:
    """`(file, line)` → the function's `Frame`, cached."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self.cache: dict[tuple[str, int, tuple[str, int] | None], Frame] = {}

    def __call__(self, file: str, line: int, callee: tuple[str, int] | None = None) -> Frame:
        key = (file, line, callee)
        frame = self.cache.get(key)
        if frame is None:
            scope = codelines.scope_of(file, line, callee)
            if scope is None:  # no source: the line stands for its function
                kind = self.classifier.kind(file)
                frame = Frame(f"<line {line}>", file, line, kind)
            else:
                frame = self.classifier.frame(scope.name, file, scope.first)
            self.cache[key] = frame
        return frame


def _stacks(
    items: Iterable[Mapping[str, Any]], frames: _Frames
) -> tuple[dict[Stack, float], dict[Site, list[int]]]:
    """Collapsed stacks (above the body trimmed) and per-site [bytes, count]."""
    weighted: list[tuple[Stack, float]] = []
    sites: dict[Site, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        lines = [(str(file), int(line)) for file, line in item["frames"]]
        callees: list[tuple[str, int] | None] = [*lines[1:], None]
        stack = tuple(frames(f, n, c) for (f, n), c in zip(lines, callees, strict=True))
        trimmed = trim_above_body(stack)
        if trimmed is None or not stack:
            continue
        weighted.append((trimmed, float(item["size"])))
        position = next(
            (i for i in range(len(stack) - 1, -1, -1) if stack[i].kind is FrameKind.USER),
            len(stack) - 1,
        )
        site = sites[(stack[position], lines[position][1])]
        site[0] += int(item["size"])
        site[1] += int(item["count"])
    return collapse(weighted), dict(sites)


def _site_json(site: Site) -> dict[str, Any]:
    frame, line = site
    return {
        "function": frame.function,
        "file": frame.file,
        "line": frame.line,
        "kind": frame.kind.value,
        "site_line": line,
    }


def read_tracemalloc(path: Path, *, classifier: Classifier) -> Profile:
    """The memory method's recording as a `Profile` in bytes, with its figures in metadata."""
    data = json.loads(path.read_text(encoding="utf-8"))
    frames = _Frames(classifier)
    peak_stacks, peak_sites = _stacks(data["peak"], frames)
    _, end_sites = _stacks(data["end"], frames)
    per_iteration = [_stacks(snapshot, frames)[1] for snapshot in data.get("iterations", ())]
    iteration_totals = [sum(size for size, _ in s.values()) for s in per_iteration]
    every: set[Site] = {*peak_sites, *end_sites}
    for snapshot_sites in per_iteration:
        every.update(snapshot_sites)

    def row(site: Site) -> dict[str, Any]:
        end = end_sites.get(site, [0, 0])
        peak = peak_sites.get(site, [0, 0])
        sizes = [snapshot.get(site, [0, 0])[0] for snapshot in per_iteration]
        return {
            **_site_json(site),
            "end_bytes": end[0],
            "end_count": end[1],
            "peak_bytes": peak[0],
            "peak_count": peak[1],
            "iteration_bytes": sizes,
        }

    def weight(site: Site) -> int:
        sizes = [snapshot.get(site, [0, 0])[0] for snapshot in per_iteration]
        growth = sizes[-1] if sizes else 0
        return max(end_sites.get(site, [0])[0], peak_sites.get(site, [0])[0], growth)

    kept = sorted(every, key=lambda s: (-weight(s), s[0].function, s[1]))[:SITES_KEPT]
    timeline = [(float(t), int(b)) for t, b in data.get("timeline", ())]
    readings = [b for _, b in timeline] + [int(b) for b in data.get("iteration_rss", ())]
    truncated = sum(item["size"] for item in data["peak"] if item.get("truncated"))
    memory = {
        "frame_depth": data["frame_depth"],
        "interval": data.get("interval"),
        "traced_peak": data["traced_peak"],
        "traced_end": data["traced_end"],
        "peak_snapshot_size": data.get("peak_snapshot_size"),
        "truncated_bytes": truncated,
        "rss_start": data.get("rss_start"),
        "rss_end": data.get("rss_end"),
        "rss_peak": max(readings) if readings else None,
        "timeline": timeline,
        "marks": dict(data.get("marks", {})),
        "iteration_rss": list(data.get("iteration_rss", ())),
        "repeat": len(per_iteration),
        "iteration_traced": iteration_totals,
        "sites": [row(site) for site in kept],
    }
    stacks = finish(peak_stacks, threads=False)
    return Profile(
        unit="bytes",
        stacks=stacks,
        stats=None,
        metadata={
            "stacks": "allocations live at the peak of traced memory (tracemalloc)",
            "memory": memory,
        },
    )
