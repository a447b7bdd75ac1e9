"""pyinstrument: a saved session, or the tree its JSON renderer writes.

Spec: pyinstrument's own (pyinstrument/session.py `Session.save`: `frame_records` of
`identifier\x01attributes` strings, pyinstrument 4 and 5; pyinstrument/renderers/jsonrenderer.py:
a `root_frame` tree with `time` per node). Times are seconds. The stem above the frame that
started the profiler is trimmed, as pyinstrument trims it; the frames are classified with the
recorded interpreter's paths (`sys_path`, `sys_prefixes`) when the session has them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from profwork import stacks as stack_rules
from profwork.frames import Classifier, FrameMaker, SysPaths, frame_by_name
from profwork.model import Frame, FrameKind, Profile, Stack
from profwork.readers.source import InputUnit, Source, check_weight, corrupt, own_unit


class PyinstrumentReader:
    name = "pyinstrument"
    description = "a pyinstrument session JSON"
    strict = True

    def sniff(self, source: Source) -> bool:
        data = source.json()
        return isinstance(data, dict) and (
            "frame_records" in data
            or ("root_frame" in data and ("sample_count" in data or "duration" in data))
        )

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile:
        own_unit(source.path, "seconds", unit)
        return _pyinstrument_profile(source.path, source.json(), classifier=None, threads=False)


READER = PyinstrumentReader()


def read_pyinstrument(
    path: Path, *, classifier: Classifier | None = None, threads: bool = False
) -> Profile:
    """Read a pyinstrument session (`Session.save`) or the tree its JSON renderer writes."""
    source = Source(Path(path))
    data = source.json()
    if not isinstance(data, dict) or not ("frame_records" in data or "root_frame" in data):
        raise corrupt(source.path, "not a pyinstrument session", "no frame_records or root_frame")
    return _pyinstrument_profile(source.path, data, classifier=classifier, threads=threads)


def _session_paths(data: Mapping[str, Any]) -> SysPaths:
    """The recorded interpreter's paths, as pyinstrument saved them (`sys_path`, `sys_prefixes`)."""
    sys_path = [p for p in data.get("sys_path") or () if isinstance(p, str) and p]
    prefixes = [p for p in data.get("sys_prefixes") or () if isinstance(p, str) and p]
    if not sys_path or not prefixes:
        return SysPaths.current()
    sites = tuple(sorted({p for p in sys_path if "site-packages" in p or "dist-packages" in p}))
    stdlib = tuple(
        sorted(
            {
                p
                for p in sys_path
                if p not in sites
                and any(p.startswith(prefix.rstrip("/") + "/lib/python") for prefix in prefixes)
            }
        )
    )
    return SysPaths(stdlib=stdlib, site_packages=sites, prefixes=tuple(sorted(set(prefixes))))


def _pyinstrument_profile(
    path: Path, data: Mapping[str, Any], *, classifier: Classifier | None, threads: bool
) -> Profile:
    classifier = classifier if classifier is not None else Classifier(_session_paths(data))

    def weigh(where: str, value: Any) -> float:
        return check_weight(path, where, float(value))

    try:
        if "frame_records" in data:
            raw_stacks = _session_stacks(data, classifier, weigh)
        else:
            raw_stacks = _tree_stacks(data.get("root_frame"), classifier, weigh)
    except (
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
        OverflowError,
    ) as error:
        raise corrupt(
            path, "corrupt pyinstrument session", f"{type(error).__name__}: {error}"
        ) from None
    metadata: dict[str, Any] = {"source": str(path), "format": "pyinstrument", "stacks": "sampled"}
    interval = data.get("min_interval")
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        metadata["interval"] = float(interval)
    duration = data.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        metadata["duration"] = float(duration)
    return Profile(
        unit="seconds",
        stacks=stack_rules.finish(raw_stacks, threads=threads),
        metadata=metadata,
    )


def _identifier(info: str) -> str:
    return info.partition("\x01")[0]


def _session_stacks(
    data: Mapping[str, Any], classifier: Classifier, weigh: Callable[[str, Any], float]
) -> dict[Stack, float]:
    records = data["frame_records"]
    if not isinstance(records, list):
        raise TypeError("frame_records is not a list")
    # pyinstrument trims the stem above the frame that started the profiler; so do we.
    start = data.get("start_call_stack") or []
    stem = [_identifier(str(info)) for info in start[:-1]]
    make = FrameMaker(classifier)
    cache: dict[str, Frame] = {}

    def frame_of(info: str) -> Frame:
        frame = cache.get(info)
        if frame is None:
            frame = cache[info] = _pyinstrument_frame(info, make)
        return frame

    collected: dict[tuple[str, ...], float] = defaultdict(float)
    for index, (infos, weight) in enumerate(records):
        if not isinstance(infos, list):
            raise TypeError("a frame record is not a list of frames")
        ids = [_identifier(info) for info in infos]
        cut = 0
        while cut < len(stem) and cut < len(ids) and ids[cut] == stem[cut]:
            cut += 1
        head = infos[:1] if infos and "\x00<thread>\x00" in infos[0] else []
        kept = head + infos[max(cut, len(head)) :]
        collected[tuple(kept)] += weigh(f"frame record {index}", weight)
    stacks: dict[Stack, float] = defaultdict(float)
    for infos, weight in collected.items():
        stacks[tuple(frame_of(info) for info in infos)] += weight
    return dict(stacks)


def _pyinstrument_frame(info: str, make: FrameMaker) -> Frame:
    identifier, _, attributes = info.partition("\x01")
    parts = identifier.split("\x00")
    if len(parts) < 3:
        return frame_by_name(identifier)  # a synthetic frame: [await], [out-of-context], [self]
    name, file, line_text = parts[0], parts[1], parts[2]
    if file == "<thread>":
        return Frame(f"thread ({line_text}): {name}", "", 0, FrameKind.THREAD)
    line = int(line_text) if line_text.isdigit() else 0
    frame = make(name, file, line)
    class_name = next(
        (a[1:] for a in attributes.split("\x01") if a.startswith("c") and len(a) > 1), None
    )
    if class_name and frame.function == name and "." not in name and not name.startswith("<"):
        frame = Frame(f"{class_name}.{name}", frame.file, frame.line, frame.kind)
    return frame


def _tree_stacks(
    root: Any, classifier: Classifier, weigh: Callable[[str, Any], float]
) -> dict[Stack, float]:
    """Stacks from pyinstrument's JSON renderer tree: a node's self time is its time minus its
    children's."""
    stacks: dict[Stack, float] = defaultdict(float)
    if root is None:
        return {}
    make = FrameMaker(classifier)
    todo: list[tuple[Mapping[str, Any], Stack]] = [(root, ())]
    while todo:
        node, parent = todo.pop()
        name = str(node["function"])
        file = str(node.get("file_path") or "")
        line = int(node.get("line_no") or 0)
        frame = make(name, file, line) if file else frame_by_name(name)
        class_name = node.get("class_name")
        if class_name and frame.function == name and "." not in name and not name.startswith("<"):
            frame = Frame(f"{class_name}.{name}", frame.file, frame.line, frame.kind)
        stack = (*parent, frame)
        children = node.get("children") or []
        time = weigh(f"frame {name}", node["time"])
        own = time - sum(weigh(f"frame {name}", child["time"]) for child in children)
        if own > 0:
            stacks[stack] += own
        todo.extend((child, stack) for child in children)
    return dict(stacks)
