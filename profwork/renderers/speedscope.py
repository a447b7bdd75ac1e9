"""`profile.speedscope.json`: the speedscope file format.

Spec: https://www.speedscope.app/file-format-schema.json (a copy is in tests/data/, checked with
`jsonschema`). One `sampled` profile per thread (stacks split on their leading pseudo-frames,
which name the profile and are not frames), or a single profile named after the target and
method. Frames are shared and deduplicated; `col` is left out and `activeProfileIndex` is a
number, since the `null` py-spy and pyinstrument write there is invalid under the schema.

The data stays collapsed: one sample per distinct stack with its weight, which speedscope reads
like any other weighted sample (a sampler's per-sample arrays would make a long recording's file
tens of megabytes). Units: seconds → "seconds", bytes → "bytes", a count of samples → "none".
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, Profile, Stack

if TYPE_CHECKING:
    from profwork.analyses import Summary

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
_UNITS = {"seconds": "seconds", "bytes": "bytes", "samples": "none"}


@cache
def _version() -> str:
    try:
        return metadata.version("profwork")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


def _title(profile: Profile) -> str:
    target = profile.metadata.get("target")
    method = profile.metadata.get("method")
    if target and method:
        return f"{target} ({method})"
    return str(target or method or profile.metadata.get("source") or "profile")


class SpeedscopeRenderer:
    name = "speedscope"
    filename = "profile.speedscope.json"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        title = _title(profile)
        frames: list[dict[str, Any]] = []
        index: dict[Frame, int] = {}
        groups: dict[Stack, list[tuple[list[int], float]]] = defaultdict(list)
        for stack, weight in sorted(profile.stacks.items(), key=_stack_order):
            lead = 0
            while lead < len(stack) and stack[lead].is_pseudo:
                lead += 1
            sample = []
            for frame in stack[lead:]:
                position = index.get(frame)
                if position is None:
                    position = index[frame] = len(frames)
                    frames.append(_frame_json(frame))
                sample.append(position)
            groups[stack[:lead]].append((sample, weight))

        unit = _UNITS[profile.unit]
        profiles = []
        for roots, samples in sorted(groups.items(), key=lambda item: -_weight(item[1])):
            name = " / ".join(root.function for root in roots) if roots else title
            total = _weight(samples)
            profiles.append(
                {
                    "type": "sampled",
                    "name": name,
                    "unit": unit,
                    "startValue": 0,
                    "endValue": total,
                    "samples": [sample for sample, _ in samples],
                    "weights": [weight for _, weight in samples],
                }
            )
        if not profiles:
            profiles.append(
                {
                    "type": "sampled",
                    "name": title,
                    "unit": unit,
                    "startValue": 0,
                    "endValue": 0,
                    "samples": [],
                    "weights": [],
                }
            )
        document = {
            "$schema": SCHEMA,
            "name": title,
            "exporter": f"profwork {_version()}",
            "activeProfileIndex": 0,
            "shared": {"frames": frames},
            "profiles": profiles,
        }
        try:
            return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a name with a lone surrogate: escape everything instead
            return json.dumps(document, separators=(",", ":")).encode()


def _frame_json(frame: Frame) -> dict[str, Any]:
    out: dict[str, Any] = {"name": frame.function}
    if frame.file:
        out["file"] = frame.file
        out["line"] = frame.line
    return out


def _stack_order(item: tuple[Stack, float]) -> tuple[float, tuple[str, ...]]:
    """Heaviest first, then by names: deterministic output."""
    stack, weight = item
    return (-weight, tuple(frame.function for frame in stack))


def _weight(samples: list[tuple[list[int], float]]) -> float:
    return sum(weight for _, weight in samples)


RENDERER = SpeedscopeRenderer()
