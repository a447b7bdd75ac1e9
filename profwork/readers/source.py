"""One input, read once: what every reader is handed, and the rules they share.

A `Source` opens its path once. A regular file is read as the reader needs it (its head for
sniffing, all of it for pstats and JSON, line by line for folded stacks, which can be hundreds of
megabytes). Anything else (a pipe such as bash's `<(command)`, a FIFO, a character device) can be
read only once, so it is buffered in memory on opening, and every reader reads the buffer. A FIFO
that no program writes to is refused after `FIFO_WAIT` seconds instead of hanging.

Units: a file that records its unit (pstats, speedscope, pyinstrument) keeps it; `--unit`
(`InputUnit`) is for the files that carry none (folded stacks), whose weights are otherwise
sample counts, unless the file lies in a run directory whose manifest gives the unit (our own
folded files hold integer microseconds for seconds).

Weights: negative, not-a-number, infinite and absurdly large weights (above 2**53, past what a
float counts exactly) are refused with one line naming where they are; a reader never clamps.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import os
import select
import stat
import time
from pathlib import Path
from typing import IO, Any, Literal

from profwork.errors import InputError
from profwork.model import Unit

InputUnit = Literal["us", "ms", "s", "bytes", "samples"]
# `--unit` → the model's unit and the factor from the file's numbers to it.
UNITS: dict[str, tuple[Unit, float]] = {
    "us": ("seconds", 1e-6),
    "ms": ("seconds", 1e-3),
    "s": ("seconds", 1.0),
    "bytes": ("bytes", 1.0),
    "samples": ("samples", 1.0),
}
# The scale of a folded file in a run directory, by the manifest's unit (what our folded
# renderer writes: integer microseconds for seconds).
RUN_FOLDED_SCALE: dict[Unit, float] = {"seconds": 1e-6, "bytes": 1.0, "samples": 1.0}

SAMPLES_NOTE = (
    "The weights are counts of samples (the file gives no unit; --unit us|ms|s|bytes reads them "
    "as a unit): profile.pstats holds them in its seconds fields, one sample a second."
)

FIFO_WAIT = 5.0  # seconds a FIFO may stay without a writer before it is refused
SNIFF_BYTES = 1 << 20  # how much of a file sniffing looks at
MAX_WEIGHT = float(2**53)

_CHUNK = 1 << 20


def remedy() -> str:
    """What profwork reads, from the registry of readers (`profwork.readers`)."""
    from profwork.readers import described

    return f"give a run directory, {described()}"


def unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError):
        return InputError(f"{path}: no such file or directory", remedy=remedy())
    return InputError(f"{path}: cannot be read ({error.strerror or error})", remedy=remedy())


def corrupt(path: Path, what: str, reason: str) -> InputError:
    return InputError(f"{path}: {what} ({reason})", remedy=remedy())


def weight_problem(value: float) -> str | None:
    """Why `value` cannot be a weight, or None when it can."""
    if value != value:
        return "not a number"
    if value < 0:
        return "negative"
    if value > MAX_WEIGHT:
        return "infinite" if math.isinf(value) else "too large"
    return None


def bad_weight(path: Path, where: str, value: object, problem: str) -> InputError:
    text = str(value)
    if len(text) > 24:
        text = f"{text[:12]}…({len(text)} characters)"
    return InputError(
        f"{path}: {where}: weight {text} is {problem}",
        remedy="weights are times, sizes or counts: finite, not negative and below 2**53; "
        "fix the file or record it again",
    )


def check_weight(path: Path, where: str, value: float) -> float:
    problem = weight_problem(value)
    if problem is not None:
        raise bad_weight(path, where, value, problem)
    return value


def own_unit(path: Path, unit: Unit, given: InputUnit | None) -> None:
    """A file that records its unit keeps it: `--unit` may only repeat it."""
    if given is not None and UNITS[given] != (unit, 1.0):
        raise InputError(
            f"{path}: the file records its unit ({unit}), so --unit {given} does not apply",
            remedy="drop --unit: it is for files that carry no unit (folded stacks)",
        )


class Source:
    """One input path, opened once (see the module's docstring)."""

    def __init__(self, path: Path, *, fifo_wait: float = FIFO_WAIT) -> None:
        self.path = Path(path)
        self._data: bytes | None = None
        self._parsed: dict[str, Any] = {}
        try:
            mode = os.stat(self.path).st_mode
        except OSError as error:
            raise unreadable(self.path, error) from None
        self.is_dir = stat.S_ISDIR(mode)
        self.buffered = not (self.is_dir or stat.S_ISREG(mode))
        if self.is_dir:
            self.head = b""
        elif self.buffered:
            self._data = _read_fifo(self.path, fifo_wait) if stat.S_ISFIFO(mode) else self._all()
            self.head = self._data[:SNIFF_BYTES]
        else:
            try:
                with self.path.open("rb") as handle:
                    self.head = handle.read(SNIFF_BYTES)
            except OSError as error:
                raise unreadable(self.path, error) from None
        self.complete = self._data is not None or len(self.head) < SNIFF_BYTES

    def _all(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as error:
            raise unreadable(self.path, error) from None

    def data(self) -> bytes:
        """The whole content (read once)."""
        if self._data is None:
            self._data = self.head if self.complete else self._all()
        return self._data

    @property
    def encoding(self) -> str:
        """The text encoding its byte-order mark names (UTF-8 without one)."""
        head = self.head
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        return "utf-8"

    def _once(self, key: str, compute: Any) -> Any:
        if key not in self._parsed:
            self._parsed[key] = compute()
        return self._parsed[key]

    def text_head(self) -> str | None:
        """The head as text, without a BOM and leading blank space; None when it is not text."""

        def decode() -> str | None:
            decoder = codecs.getincrementaldecoder(self.encoding)()
            try:
                text: str = decoder.decode(self.head, final=self.complete)
            except UnicodeDecodeError:
                return None
            return text.lstrip("\ufeff \t\r\n")

        result: str | None = self._once("text_head", decode)
        return result

    @property
    def looks_json(self) -> bool:
        text = self.text_head()
        return text is not None and text.startswith(("{", "["))

    def json(self) -> Any:
        """The parsed JSON document, or None when the input is no JSON (parsed once)."""

        def parse() -> Any:
            if self.is_dir or not self.looks_json:
                return None
            try:
                return json.loads(self.data().decode(self.encoding))
            except (UnicodeDecodeError, ValueError, RecursionError):
                return None

        return self._once("json", parse)

    def pstats(self) -> dict[Any, Any] | None:
        """The marshalled pstats dict, or None when the input is not one (parsed once)."""

        def load() -> dict[Any, Any] | None:
            if self.is_dir or self.head[:1] not in (b"{", b"\xfb"):
                return None
            from profwork.readers.marshal_check import load_pstats

            return load_pstats(self.data())

        result: dict[Any, Any] | None = self._once("pstats", load)
        return result

    def open_text(self) -> IO[str]:
        """The content as text in its encoding, line ends untouched (`newline=""`)."""
        if self._data is not None:
            return io.TextIOWrapper(io.BytesIO(self._data), encoding=self.encoding, newline="")
        try:
            return self.path.open(encoding=self.encoding, errors="strict", newline="")
        except OSError as error:
            raise unreadable(self.path, error) from None

    def open_bytes(self) -> IO[bytes]:
        """The content as bytes (a pipe's, read once, from memory)."""
        if self._data is not None:
            return io.BytesIO(self._data)
        try:
            return self.path.open("rb")
        except OSError as error:
            raise unreadable(self.path, error) from None

    def manifest_unit(self) -> Unit | None:
        """The unit the manifest of the run directory holding this file gives, if any."""
        manifest = self.path.parent / "manifest.json"
        try:
            unit = json.loads(manifest.read_text(encoding="utf-8")).get("unit")
        except (OSError, ValueError, AttributeError):
            return None
        return unit if unit in RUN_FOLDED_SCALE else None


def _read_fifo(path: Path, wait: float) -> bytes:
    """All a FIFO (or pipe) gives until its writers close it. Opened without blocking: a FIFO no
    program has opened for writing is refused after `wait` seconds; once a writer is there, its
    output is awaited as long as it takes (like `cat`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise unreadable(path, error) from None
    chunks: list[bytes] = []
    ended = False
    deadline = time.monotonic() + wait
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        while True:
            try:
                chunk: bytes | None = os.read(fd, _CHUNK)
            except BlockingIOError:  # a writer is there, with nothing written yet
                chunk = None
            if chunk:
                chunks.append(chunk)
                continue
            if chunk == b"" and (chunks or ended):
                break  # its writers are done
            timeout: float | None = None
            if chunk == b"":  # no writer yet (or one that wrote nothing and left)
                timeout = (deadline - time.monotonic()) * 1000
                if timeout <= 0:
                    raise _no_writer(path, wait)
            events = poller.poll(timeout)
            if not events:
                raise _no_writer(path, wait)
            if any(event & (select.POLLHUP | select.POLLERR) for _, event in events):
                ended = True
    except OSError as error:
        raise unreadable(path, error) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _no_writer(path: Path, wait: float) -> InputError:
    return InputError(
        f"{path}: a FIFO that nothing wrote to in {wait:g} s",
        remedy="start the program that writes it, or give a file",
    )
