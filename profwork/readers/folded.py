"""Folded (collapsed) stacks: `frame;frame;frame weight` per line.

Spec: the input of Brendan Gregg's flamegraph.pl (github.com/brendangregg/FlameGraph, "the
folded format") and of inferno: frames root first, separated by `;`, then one space and the
weight; what py-spy's `-f raw` and our own folded renderer write. Only the line end and the space
before the weight are syntax: names are kept verbatim (FlameGraph's own samples have a frame
`" "`). The weight is after the **last** space (names have spaces: `oopDesc* Foo::bar<false>`);
lines with the same stack add up; `#` and `//` lines are comments; CRLF, UTF-8 and UTF-16 (with a
BOM) are accepted.

The format carries no unit (flamegraph.pl and inferno take it on their command line): weights
are samples unless `--unit` says otherwise, or the file lies in a run directory whose manifest
gives the unit (our folded files hold microseconds for seconds).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from profwork import stacks as stack_rules
from profwork.frames import (
    Classifier,
    FrameMaker,
    default_classifier,
    frame_by_name,
    is_thread_text,
)
from profwork.model import Frame, FrameKind, Profile, Stack, Unit
from profwork.readers.source import (
    MAX_WEIGHT,
    RUN_FOLDED_SCALE,
    UNITS,
    InputUnit,
    Source,
    bad_weight,
    corrupt,
    unreadable,
    weight_problem,
)

_SNIFF_LINES = 20
# `qualname (path:line)`; the name is the shortest prefix, since a path may hold " (" and a Python
# qualified name never does.
_LOCATED = re.compile(r"^(.*?) \((.+):(\d+)\)$", re.DOTALL)
# `name (path)`: py-spy's spelling of a frame without a line (`--nolineno`, native code), when
# the part in parentheses looks like a path and not like C++ arguments or a version.
_FILED = re.compile(r"^(.*?) \(([^()]+)\)$", re.DOTALL)
_PATHLIKE = re.compile(r"[/\\]|\.(?:pyx?|pyw|so(?:\.\d+)*|dylib|dll|c|cc|cpp|h|rs)$")


class FoldedReader:
    name = "folded"
    description = "a folded-stacks file"
    strict = False

    def sniff(self, source: Source) -> bool:
        text = source.text_head()
        if text is None or source.looks_json or "\x00" in text:
            return False  # pretty-printed JSON has lines ending in numbers: never call it folded
        lines = text.splitlines()
        if not source.complete and lines:
            lines.pop()  # the last line may be cut short
        valid = invalid = 0
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("#", "//")):
                continue
            if _parse_weight(line.rpartition(" ")[2]) is None:
                invalid += 1
            else:
                valid += 1
            if valid + invalid >= _SNIFF_LINES:
                break
        # A stray line without a weight is tolerated (and noted by the reader); prose is not. A
        # weight that is no finite number is a weight still, which the reader refuses by line.
        return valid > invalid

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile:
        if unit is not None:
            model_unit, scale = UNITS[unit]
        else:
            model_unit = source.manifest_unit() or "samples"
            scale = RUN_FOLDED_SCALE[model_unit]
        return _read(source, None, model_unit, scale, False, False)


READER = FoldedReader()


def read_folded(
    path: Path,
    *,
    classifier: Classifier | None = None,
    unit: Unit = "samples",
    scale: float = 1.0,
    threads: bool | None = None,
    qualified: bool = False,
) -> Profile:
    """Read folded (collapsed) stacks (see the module's docstring) in `unit`.

    A frame `qualname (path:line)` becomes a located frame; py-spy's `thread (TID): NAME` and
    `process PID:"cmd"` roots become pseudo-frames; anything else is a frame known by its name.
    Weights are multiplied by `scale` (py-spy's samples → seconds, our microseconds → seconds).
    `qualified=True` takes the names as qualified already (py-spy on 3.11+) and skips the source
    lookup.

    `threads=None` keeps the thread and process roots the file has (a method applies the rule
    itself, knowing whether `--threads` was given); `False` applies the rule of DESIGN §1 (a lone
    thread's root is dropped), which `read` does for a file given on its own; `True` keeps them.
    """
    return _read(Source(Path(path)), classifier, unit, scale, threads, qualified)


def _read(
    source: Source,
    classifier: Classifier | None,
    unit: Unit,
    scale: float,
    threads: bool | None,
    qualified: bool,
) -> Profile:
    path = source.path
    make = FrameMaker(default_classifier(classifier), qualified=qualified)
    frames: dict[str, Frame] = {}
    lookup = frames.__getitem__
    # Each line becomes a tuple of shared frames as it is read: keeping the lines' text until the
    # end would hold the whole file (hundreds of megabytes) in memory at once.
    counts: dict[Stack, float] = defaultdict(float)
    ignored = 0
    content = 0
    number = 0
    try:
        for number, line in enumerate(_lines(source), 1):
            if not line or line[0] == "#" or line[:2] == "//":
                continue
            content += 1
            stack_text, _, weight_text = line.rpartition(" ")
            try:
                weight: float = int(weight_text)  # int() ignores the `\r` of a CRLF line end
            except ValueError:
                odd = _odd_line(line)
                if odd is None:
                    if line.isspace():
                        content -= 1  # a blank line
                    else:
                        ignored += 1
                    continue
                stack_text, weight_text, weight = odd
            if not 0 <= weight <= MAX_WEIGHT:  # NaN fails every comparison
                raise bad_weight(path, f"line {number}", weight_text.rstrip(), _problem(weight))
            if not stack_text:
                counts[()] += weight
                continue
            parts = stack_text.split(";")
            try:
                stack = tuple(map(lookup, parts))
            except KeyError:
                for part in parts:
                    if part not in frames:
                        frames[part] = _folded_frame(part, make)
                stack = tuple(map(lookup, parts))
            counts[stack] += weight
    except UnicodeDecodeError as error:
        raise corrupt(
            path, "not a folded-stacks file", f"not {source.encoding} text: {error.reason}"
        ) from None
    except OSError as error:
        raise unreadable(path, error) from None
    if content and ignored == content:
        raise corrupt(path, "not a folded-stacks file", "no line ends in a weight")
    stacks = {stack: weight * scale for stack, weight in counts.items()} if scale != 1 else counts

    metadata: dict[str, Any] = {"source": str(path), "format": "folded", "stacks": "sampled"}
    if ignored:
        metadata["notes"] = [f"{ignored} line(s) of {path.name} did not end in a weight: ignored."]
    return Profile(
        unit=unit,
        stacks=stack_rules.finish(stacks, threads=threads, frames=frames.values()),
        metadata=metadata,
    )


def _odd_line(line: str) -> tuple[str, str, float] | None:
    """A line whose weight is not a plain integer: a fraction, NaN or infinity (refused later,
    by line), or blank space after the weight. None when no weight ends the line."""
    stack_text, _, weight_text = line.rstrip().rpartition(" ")
    weight = _parse_weight(weight_text)
    return None if weight is None else (stack_text, weight_text, weight)


def _problem(weight: float) -> str:
    if isinstance(weight, int):  # a 400-digit integer has no float
        return "negative" if weight < 0 else "too large"
    return weight_problem(weight) or "too large"


def _lines(source: Source, chunk: int = 1 << 23) -> Iterator[str]:
    """The lines of the text, read in large chunks: a text file's own line iterator costs several
    times more on the big files folded stacks come in (hundreds of megabytes)."""
    with source.open_text() as handle:
        rest = ""
        while True:
            block = handle.read(chunk)
            if not block:
                break
            lines = (rest + block).split("\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest


def _parse_weight(text: str) -> float | None:
    """A weight, or None. NaN and infinities are numbers too, which the reader refuses by line."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _folded_frame(text: str, make: Callable[[str, str, int], Frame]) -> Frame:
    if text.endswith(")"):
        match = _LOCATED.match(text)
        if match is not None:
            return make(match.group(1), match.group(2), int(match.group(3)))
        match = _FILED.match(text)
        if match is not None and _PATHLIKE.search(match.group(2)) and not is_thread_text(text):
            name, file = match.group(1), match.group(2)
            if file.endswith((".py", ".pyw", ".pyx")):
                return make(name, file, 0)
            return Frame(name, file, 0, FrameKind.NATIVE)
    return frame_by_name(text)
