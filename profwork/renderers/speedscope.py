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
from typing import TYPE_CHECKING, Any

from profwork.model import Frame, Profile

if TYPE_CHECKING:
    from profwork.analyses import Summary

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
_UNITS = {"seconds": "seconds", "bytes": "bytes", "samples": "none"}


def _version() -> str:
    from profwork.registry import own_version

    return own_version("0.1.0")


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
        # Pseudo-frames only start stacks and name profiles: the shared frames are the others.
        numbered = profile.numbered_stacks()
        frames = numbered.frames[: numbered.real]
        groups: dict[tuple[int, ...], list[tuple[tuple[int, ...], float]]] = defaultdict(list)
        for numbers, lead, weight in sorted(numbered.stacks, key=_heaviest):
            if lead:
                groups[numbers[:lead]].append((numbers[lead:], weight))
            else:
                groups[()].append((numbers, weight))

        unit = _UNITS[profile.unit]
        profiles = []
        for roots, samples in sorted(groups.items(), key=lambda item: -_weight(item[1])):
            name = " / ".join(numbered.frames[r].function for r in roots) if roots else title
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
            "shared": {"frames": [_frame_json(frame) for frame in frames]},
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


def _heaviest(item: tuple[tuple[int, ...], int, float]) -> float:
    """Heaviest first (a stable sort keeps the profile's own order among equals)."""
    return -item[2]


def _weight(samples: list[tuple[tuple[int, ...], float]]) -> float:
    return sum(weight for _, weight in samples)


RENDERER = SpeedscopeRenderer()
