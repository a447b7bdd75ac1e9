"""Normalising the line method's recording (`raw/lines.json`, see `profwork.linetrace`).

line_profiler times lines, not calls: each timed function becomes one stack of one frame whose
weight is the time of all its lines (a line's time includes the calls made on it, so a timed
function that calls another timed one counts in both; the summary says so). The per-line figures
go to `metadata["lines"]`, which `analyses.lines` reads.

Not a registered reader: it reads what the line method wrote, not a format found elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from profwork.frames import Classifier
from profwork.model import Frame, Profile, Stack


def read_lines(path: Path, *, classifier: Classifier) -> Profile:
    data = json.loads(path.read_text(encoding="utf-8"))
    stacks: dict[Stack, float] = {}
    functions: list[dict[str, Any]] = []
    for item in data["functions"]:
        file, first = str(item["file"]), int(item["line"])
        frame = Frame(str(item["function"]), file, first, classifier.kind(file))
        total = sum(float(t) for _, _, t in item["lines"])
        if total > 0:
            stacks[(frame,)] = stacks.get((frame,), 0.0) + total
        functions.append(
            {
                "name": item["name"],
                "function": frame.function,
                "file": file,
                "line": first,
                "kind": frame.kind.value,
                "source_start": int(item.get("source_start", first)),
                "source": list(item.get("source", ())),
                "lines": [[int(n), int(h), float(t)] for n, h, t in item["lines"]],
            }
        )
    return Profile(
        unit="seconds",
        stacks=stacks,
        stats=None,
        metadata={
            "stacks": "one per timed function (line_profiler)",
            "lines": {"timer_unit": data.get("timer_unit"), "functions": functions},
        },
    )
