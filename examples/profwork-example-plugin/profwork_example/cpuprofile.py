"""Chrome / Node CPU profiles (`.cpuprofile`, V8's `Profiler.Profile`), read into a `Profile`.

A reader is an object with a `name`, a `description` (listed when no reader recognises an input),
`strict` (its sniff checks a schema, so it is asked before the lenient readers such as folded
stacks), `sniff(source)` and `read(source, unit=...)`. It is registered in the `profwork.readers`
entry-point group, so `report`, `convert` and `import` read the format, whatever the file's name.

Format (Chrome DevTools protocol, `Profiler.Profile`; what `node --cpu-prof` and the DevTools
Performance panel save): `nodes`, a call tree whose nodes have an `id`, a `callFrame`
(`functionName`, `url`, 0-based `lineNumber` of the function) and the ids of their `children`;
`samples`, the node id of each sample; `timeDeltas`, the microseconds since the previous sample
(the first since `startTime`); `startTime` and `endTime` in microseconds. A sample lasts until the
next one (the last until `endTime`), as DevTools counts it.

V8's pseudo-nodes: `(root)` is dropped, `(idle)` samples are left out (as py-spy leaves idle
threads out), `(program)` and `(garbage collector)` stay as native frames. Kinds come from the
url: none is native (a V8 builtin), `node:` is Node's standard library, `node_modules` is
third-party, anything else is user code. A `file://` url becomes its path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import unquote, urlsplit

from profwork.model import Frame, FrameKind, Profile, Stack
from profwork.readers.source import InputUnit, Source, corrupt, own_unit

_DROPPED = "(root)"
_IDLE = "(idle)"


class CpuprofileReader:
    name = "cpuprofile"
    description = "a Chrome/Node .cpuprofile"
    strict = True

    def sniff(self, source: Source) -> bool:
        data = source.json()
        return (
            isinstance(data, dict)
            and isinstance(data.get("nodes"), list)
            and isinstance(data.get("samples"), list)
            and isinstance(data.get("timeDeltas"), list)
        )

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile:
        own_unit(source.path, "seconds", unit)  # the file records microseconds
        try:
            stacks = _stacks(source.json())
        except (KeyError, TypeError, ValueError) as error:
            raise corrupt(source.path, "not a valid .cpuprofile", repr(error)) from None
        return Profile(
            unit="seconds",
            stacks=stacks,
            metadata={"source": str(source.path), "format": self.name, "stacks": "sampled"},
        )


def _stacks(data: dict[str, Any]) -> dict[Stack, float]:
    paths = _paths({node["id"]: node for node in data["nodes"]})
    samples: list[int] = data["samples"]
    deltas: list[float] = data["timeDeltas"]
    if len(deltas) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(deltas)} timeDeltas")
    times = []
    now = float(data.get("startTime", 0))
    for delta in deltas:
        now += float(delta)
        times.append(now)
    times.append(max(now, float(data.get("endTime", now))))  # when the last sample ends
    weights: dict[Stack, float] = defaultdict(float)
    for index, node_id in enumerate(samples):
        stack = paths[node_id]
        if stack is not None:  # V8 may reorder samples: a negative span counts as none
            weights[stack] += max(0.0, times[index + 1] - times[index]) * 1e-6
    return dict(weights)


def _paths(nodes: dict[int, dict[str, Any]]) -> dict[int, Stack | None]:
    """Each node's stack, root first (None below `(idle)`), walking the tree from its roots."""
    children = {child for node in nodes.values() for child in node.get("children", ())}
    todo: list[tuple[int, Stack | None]] = [(key, ()) for key in nodes if key not in children]
    paths: dict[int, Stack | None] = {}
    while todo:
        key, above = todo.pop()
        if key in paths:
            raise ValueError(f"node {key} has two parents")
        call_frame = nodes[key]["callFrame"]
        name = call_frame["functionName"]
        if above is None or name == _IDLE:
            stack = None
        elif name == _DROPPED:
            stack = above
        else:
            stack = (*above, _frame(call_frame))
        paths[key] = stack
        todo.extend((child, stack) for child in nodes[key].get("children", ()))
    return paths


def _frame(call_frame: dict[str, Any]) -> Frame:
    name = str(call_frame["functionName"]) or "(anonymous)"
    url = str(call_frame.get("url") or "")
    line = int(call_frame.get("lineNumber", -1)) + 1
    if not url:
        return Frame(name, "", 0, FrameKind.NATIVE)
    if url.startswith("file:"):
        url = unquote(urlsplit(url).path)  # a local script: its path, as Python frames have
    if url.startswith("node:"):
        kind = FrameKind.STDLIB
    elif "/node_modules/" in url:
        kind = FrameKind.THIRD_PARTY
    else:
        kind = FrameKind.USER
    return Frame(name, url, max(line, 0), kind)


READER = CpuprofileReader()
