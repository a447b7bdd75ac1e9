"""speedscope: sampled and evented profiles, one or several per file.

Spec: https://www.speedscope.app/file-format-schema.json. Accepted beyond the schema: what py-spy
and pyinstrument write (`"activeProfileIndex": null`, `"col": null`), older files without
`activeProfileIndex` or `exporter`. Several profiles become one `thread` (`process`) root each. A
file whose profiles are unit-less (`"none"`) counts samples unless `--unit` names a unit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from profwork import stacks as stack_rules
from profwork.errors import InputError
from profwork.frames import Classifier, FrameMaker, default_classifier
from profwork.model import Frame, FrameKind, Profile, Stack, Unit
from profwork.readers.source import (
    UNITS,
    InputUnit,
    Source,
    check_weight,
    corrupt,
    own_unit,
)
from profwork.stacks import leading_pseudo

_UNITS: dict[str, tuple[Unit, float]] = {
    "none": ("samples", 1.0),
    "nanoseconds": ("seconds", 1e-9),
    "microseconds": ("seconds", 1e-6),
    "milliseconds": ("seconds", 1e-3),
    "seconds": ("seconds", 1.0),
    "bytes": ("bytes", 1.0),
}


class SpeedscopeReader:
    name = "speedscope"
    description = "a speedscope JSON"
    strict = True

    def sniff(self, source: Source) -> bool:
        data = source.json()
        if not isinstance(data, dict):
            return False
        schema, shared = data.get("$schema"), data.get("shared")
        return (isinstance(schema, str) and "speedscope" in schema) or (
            isinstance(shared, dict) and "frames" in shared and "profiles" in data
        )

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile:
        return _speedscope_profile(source.path, source.json(), None, False, unit)


READER = SpeedscopeReader()


def read_speedscope(
    path: Path, *, classifier: Classifier | None = None, threads: bool = False
) -> Profile:
    """Read a speedscope file: sampled and evented profiles, one or several per file."""
    source = Source(Path(path))
    data = source.json()
    if not isinstance(data, dict) or "profiles" not in data or "shared" not in data:
        if not source.head.strip():
            raise InputError(f"{source.path}: the file is empty", remedy="give a speedscope file")
        raise corrupt(source.path, "not a speedscope file", "no profiles and shared frames")
    return _speedscope_profile(source.path, data, classifier, threads, None)


def _speedscope_profile(
    path: Path,
    data: Mapping[str, Any],
    classifier: Classifier | None,
    threads: bool,
    given: InputUnit | None,
) -> Profile:
    make = FrameMaker(default_classifier(classifier))
    try:
        unit, stacks = _speedscope_stacks(path, data, make)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as error:
        raise corrupt(path, "corrupt speedscope file", f"{type(error).__name__}: {error}") from None
    except _MixedUnits as error:
        raise InputError(
            f"{path}: its profiles mix units ({error})",
            remedy="split the file into one speedscope file per unit",
        ) from None
    if unit == "samples" and given is not None:
        unit, scale = UNITS[given]
        stacks = {stack: weight * scale for stack, weight in stacks.items()}
    else:
        own_unit(path, unit, given)
    metadata: dict[str, Any] = {"source": str(path), "format": "speedscope", "stacks": "sampled"}
    for key in ("name", "exporter"):
        if isinstance(data.get(key), str):
            metadata[key] = data[key]
    return Profile(unit=unit, stacks=stack_rules.finish(stacks, threads=threads), metadata=metadata)


class _MixedUnits(Exception):
    pass


def _speedscope_stacks(
    path: Path, data: Mapping[str, Any], make: Callable[[str, str, int], Frame]
) -> tuple[Unit, dict[Stack, float]]:
    raw_frames = data["shared"]["frames"]
    frames: list[Frame] = []
    for raw in raw_frames:
        file = raw.get("file") or ""
        line = raw.get("line")
        frames.append(make(str(raw["name"]), str(file), int(line) if line else 0))
    profiles = data["profiles"]
    if not isinstance(profiles, list):
        raise TypeError("profiles is not a list")
    unit: Unit | None = None
    stacks: dict[Stack, float] = defaultdict(float)
    several = len(profiles) > 1
    for number, profile in enumerate(profiles):
        named = str(profile.get("unit", "none"))
        if named not in _UNITS:
            raise ValueError(f"unknown unit {named!r}")
        profile_unit, scale = _UNITS[named]
        if unit is not None and profile_unit != unit:
            raise _MixedUnits(f"{unit} and {profile_unit}")
        unit = profile_unit
        where = f"profile {profile.get('name') or number!r}"
        kind = profile.get("type")
        if kind == "sampled":
            indexed = _sampled(path, where, profile)
        elif kind == "evented":
            indexed = _evented(path, where, profile)
        else:
            raise ValueError(f"unknown profile type {kind!r}")
        root: Stack = ()
        if several:
            name = str(profile.get("name") or "profile")
            pseudo = FrameKind.PROCESS if name.startswith("process ") else FrameKind.THREAD
            root = (Frame(name, "", 0, pseudo),)
        for key, weight in indexed.items():
            if key and not 0 <= min(key) <= max(key) < len(frames):
                raise IndexError(f"a frame index out of range in profile {profile.get('name')!r}")
            stack = tuple(frames[i] for i in key)
            if root:
                stack = root + stack[leading_pseudo(stack) :]
            stacks[stack] += weight * scale
    return unit or "samples", dict(stacks)


def _sampled(path: Path, where: str, profile: Mapping[str, Any]) -> dict[tuple[int, ...], float]:
    samples = profile["samples"]
    weights = profile.get("weights")
    if weights is None:
        weights = [1.0] * len(samples)
    if len(weights) != len(samples):
        raise ValueError("samples and weights differ in length")
    out: dict[tuple[int, ...], float] = defaultdict(float)
    for index, (sample, weight) in enumerate(zip(samples, weights, strict=True)):
        value = float(weight)
        if not 0 <= value <= 2**53:  # NaN fails every comparison
            check_weight(path, f"{where}, sample {index}", value)
        out[tuple(int(i) for i in sample)] += value
    return out


def _evented(path: Path, where: str, profile: Mapping[str, Any]) -> dict[tuple[int, ...], float]:
    """Open/close events → the time spent in each stack between consecutive events."""
    out: dict[tuple[int, ...], float] = defaultdict(float)
    open_frames: list[int] = []
    last = _finite(path, f"{where}, startValue", profile.get("startValue") or 0.0)
    for index, event in enumerate(profile["events"]):
        at = _finite(path, f"{where}, event {index}", event["at"])
        frame = int(event["frame"])
        if at > last:
            if open_frames:
                out[tuple(open_frames)] += at - last
            last = at
        if event["type"] == "O":
            open_frames.append(frame)
        elif event["type"] == "C":
            if frame in open_frames:  # tolerate a close out of order: unwind to it
                while open_frames.pop() != frame:
                    pass
        else:
            raise ValueError(f"unknown event type {event['type']!r}")
    end = profile.get("endValue")
    if open_frames and isinstance(end, int | float):
        end = _finite(path, f"{where}, endValue", end)
        if end > last:
            out[tuple(open_frames)] += end - last
    return out


def _finite(path: Path, where: str, value: Any) -> float:
    """An event's time: any finite number (its differences are the weights)."""
    number = float(value)
    if not math.isfinite(number):
        check_weight(path, where, number)  # names NaN and infinity
    if abs(number) > 2**53:
        check_weight(path, where, abs(number))
    return number
