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
from profwork.model import Frame, FrameKind, Profile, Unit
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
from profwork.tablebuilder import TableBuilder

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
    parser = _Parser(make, path, lambda: _blocks(source))
    try:
        for block in _blocks(source):
            parser.block(block)
        parser.end()
    except UnicodeDecodeError as error:
        raise corrupt(
            path, "not a folded-stacks file", f"not {source.encoding} text: {error.reason}"
        ) from None
    except OSError as error:
        raise unreadable(path, error) from None
    if parser.ignored and not parser.builder.weights:
        raise corrupt(path, "not a folded-stacks file", "no line ends in a weight")
    builder = parser.builder
    # the weights were added up as read (integers, exactly); as floats, scaled, from here on
    builder.weights = (
        [float(w) * scale for w in builder.weights]
        if scale != 1
        else [float(w) for w in builder.weights]
    )
    metadata: dict[str, Any] = {"source": str(path), "format": "folded", "stacks": "sampled"}
    if parser.ignored:
        metadata["notes"] = [
            f"{parser.ignored} line(s) of {path.name} did not end in a weight: ignored."
        ]
    table = builder.table()
    del parser, builder  # the texts and the builder's indexes, before the rules make another table
    return Profile(unit=unit, stacks=stack_rules.finish(table, threads=threads), metadata=metadata)


# What a pseudo-frame's text starts with (`frames.frame_by_name`: a thread's or a process's).
_CANDIDATES = (b"process ", b"thread (")
_COMMENT = frozenset(b"#/")
_SEMICOLON = ord(";")
_KEPT_TEXT = 64 << 20  # the body texts kept to be recognised again, in bytes


class _Parser:
    """Folded lines into a stack table (`flatstacks.TableBuilder`), block by block of bytes.

    A line is `lead;body weight`: the lead is its leading pseudo-frames (a process, a thread),
    the body the rest. Each distinct lead and body text is split into frames once; every other
    line costs a few searches in C and two dictionary lookups, however deep its stack, and the
    text is never held beyond its block (a recording is hundreds of megabytes). Lines that are
    not plain `stack integer` (comments, blank lines, fractions, a weight-only line, a weight out
    of range) are read one by one as text, with the rules of the module's docstring."""

    def __init__(
        self,
        make: Callable[[str, str, int], Frame],
        path: Path,
        again: Callable[[], Iterator[bytes]],
    ) -> None:
        self.make = make
        self.path = path
        self.builder = TableBuilder()
        self.ignored = 0
        self._again = again  # the blocks from the start (to number a line that is refused)
        self._read = 0  # bytes in the blocks before the current one
        self._rest = b""  # the start of a line the last block cut
        self._texts: dict[bytes, int] = {}  # frame text → frame number
        self._leads: dict[bytes, int] = {}  # lead text (with its `;`) → lead number, or -1
        self._bodies: dict[bytes, int] = {}  # body text → body number, or -1
        self._kept = 0  # the bytes of body text in `_bodies`
        self._no_lead = self.builder.lead_of(())

    def block(self, data: bytes) -> None:
        """Read the complete lines of `data` (the first one after what the last block left)."""
        start = 0
        base, self._read = self._read, self._read + len(data)
        if self._rest:  # only the cut line is put together, not the block
            first = data.find(b"\n")
            if first < 0:
                self._rest += data
                return
            line = self._rest + data[: first + 1]
            self._lines_of(line, 0, len(line), base - len(self._rest))
            start = first + 1
        last = data.rfind(b"\n", start) + 1
        if last:
            self._lines_of(data, start, last, base)
            self._rest = data[last:]
        else:
            self._rest = data[start:]

    def end(self) -> None:
        """Read the last line, which ends without a line end."""
        rest, self._rest = self._rest, b""
        if rest:
            self._lines_of(rest + b"\n", 0, len(rest) + 1, self._read - len(rest))

    def _number(self, offset: int) -> int:
        """The number of the line at byte `offset` (counted again: only a refused line needs
        one)."""
        count = 0
        for block in self._again():
            if offset <= len(block):
                return count + block.count(b"\n", 0, offset) + 1
            count += block.count(b"\n")
            offset -= len(block)
        return count + 1

    def _lines_of(self, data: bytes, pos: int, last: int, base: int) -> None:
        """Read the lines of `data[pos:last]` (whole lines), `data[0]` being at byte `base`."""
        find, rfind, startswith = data.find, data.rfind, data.startswith
        leads, leads_get = self._leads, self._leads.get
        bodies_get = self._bodies.get
        entries, entries_get = self.builder.entries, self.builder.entries.get
        weights = self.builder.weights
        no_lead, comment = self._no_lead, _COMMENT
        last_text, last_lead = b"", no_lead
        while pos < last:
            nl = find(b"\n", pos)
            if nl == pos:  # an empty line
                pos += 1
                continue
            end = rfind(b" ", pos, nl)
            if end < 0 or data[pos] in comment:
                self._line(data, pos, nl, base)
                pos = nl + 1
                continue
            try:
                weight = int(data[end + 1 : nl])  # int() ignores the `\r` of a CRLF line end
            except ValueError:
                self._line(data, pos, nl, base)
                pos = nl + 1
                continue
            if not 0 <= weight <= MAX_WEIGHT:
                self._line(data, pos, nl, base)
                pos = nl + 1
                continue
            if startswith(last_text, pos) and not startswith(_CANDIDATES, pos + len(last_text)):
                # the lead of the line before (py-spy writes a thread's stacks together)
                start, lead = pos + len(last_text), last_lead
            else:
                start = pos
                while startswith(_CANDIDATES, start, end):
                    cut = find(b";", start, end)
                    if cut < 0:
                        start = end
                        break
                    start = cut + 1
                if start == pos:
                    lead = no_lead
                    last_text, last_lead = b"", lead
                else:
                    lead_text = data[pos:start]
                    known = leads_get(lead_text)
                    if known is None:
                        known = leads[lead_text] = self._lead(lead_text)
                    lead = known
                    if start < end:
                        last_text, last_lead = lead_text, lead
            body_text = data[start:end]
            body = bodies_get(body_text)
            if body is None:
                body = self._body(body_text)
            if lead < 0 or body < 0 or (not body_text and data[start - 1] == _SEMICOLON):
                # a lead that is not all pseudo-frames, or a stack ending in an empty frame
                self._add(data[pos:end], weight)
                pos = nl + 1
                continue
            key = (lead, body)
            found = entries_get(key)
            if found is None:
                entries[key] = len(weights)
                weights.append(weight)
            else:
                weights[found] += weight
            pos = nl + 1

    def _line(self, data: bytes, pos: int, nl: int, base: int) -> None:
        """One line that is not plain `stack integer`, read as text."""
        line = data[pos:nl].decode("utf-8")
        if not line or line[0] == "#" or line[:2] == "//":
            return
        stack_text, _, weight_text = line.rpartition(" ")
        try:
            weight: float = int(weight_text)
        except ValueError:
            odd = _odd_line(line)
            if odd is None:
                if not line.isspace():  # a blank line is no content
                    self.ignored += 1
                return
            stack_text, weight_text, weight = odd
        if not 0 <= weight <= MAX_WEIGHT:  # NaN fails every comparison
            number = self._number(base + pos)
            raise bad_weight(self.path, f"line {number}", weight_text.rstrip(), _problem(weight))
        self._add(stack_text.encode("utf-8"), weight)

    def _add(self, stack_text: bytes, weight: float) -> None:
        """Add one stack given as its text (empty: the stack with no frames)."""
        builder = self.builder
        ids = self._numbers(stack_text) if stack_text else ()
        cut = 0
        while cut < len(ids) and builder.is_pseudo(ids[cut]):
            cut += 1
        builder.add_entry(builder.lead_of(ids[:cut]), builder.body_of(ids[cut:]), weight)

    def _numbers(self, text: bytes) -> tuple[int, ...]:
        """The frame numbers of `;`-separated frame texts (each text made a frame once)."""
        parts = text.split(b";")
        texts = self._texts
        try:
            return tuple(map(texts.__getitem__, parts))
        except KeyError:
            number = self.builder.number
            for part in parts:
                if part not in texts:
                    texts[part] = number(_folded_frame(part.decode("utf-8"), self.make))
            return tuple(map(texts.__getitem__, parts))

    def _lead(self, text: bytes) -> int:
        """The lead number of a lead's text, or -1 when one of its frames is not a pseudo-frame
        (a name that merely starts like one)."""
        ids = self._numbers(text[:-1] if text.endswith(b";") else text)
        if not all(map(self.builder.is_pseudo, ids)):
            return -1
        return self.builder.lead_of(ids)

    def _body(self, text: bytes) -> int:
        """The body number of a body's text (-1, kept, when it starts with a pseudo-frame)."""
        ids = self._numbers(text) if text else ()
        body = -1 if ids and self.builder.is_pseudo(ids[0]) else self.builder.body_of(ids)
        # The text is kept (to skip splitting it again) within a budget: a recording whose
        # bodies do not repeat would otherwise be held whole; past it, a body is split each
        # time and found by its frame numbers.
        if self._kept + len(text) <= _KEPT_TEXT:
            self._kept += len(text)
            self._bodies[text] = body
        return body


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


def _blocks(source: Source, chunk: int = 1 << 23) -> Iterator[bytes]:
    """The content as UTF-8 bytes in large blocks (text in another encoding, or after a BOM, is
    decoded and encoded again)."""
    if source.encoding == "utf-8":
        with source.open_bytes() as handle:
            while block := handle.read(chunk):
                yield block
        return
    with source.open_text() as handle:
        while text := handle.read(chunk):
            yield text.encode("utf-8")


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
