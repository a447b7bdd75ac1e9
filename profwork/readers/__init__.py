"""Reading every profile format profwork accepts into one `Profile`, decided by content.

Each format is one module with a `READER` registered in the `profwork.readers` entry-point group
(profwork's own in pyproject.toml, a third-party package's in its own): an object with a `name`,
a `description` (what the remedy of an unreadable input lists), `strict` (whether its sniff
checks a signature or a schema, as pstats' marshalled dict or speedscope's JSON, rather than
text that merely looks right, as folded stacks), `sniff(source)` (given the input's head bytes,
or its parsed JSON, whether it reads it) and `read(source, unit=...)`. `read` asks the strict
readers first, then the others; adding a format is one module and one registration.

Rules every reader follows (DESIGN §1): frames above the profiled body are trimmed and a `thread`
(`process`) pseudo-frame starts a stack only when several were recorded (`profwork.stacks`);
stacks are kept collapsed; a file that records no unit reads as samples unless `--unit` (or the
manifest of the run directory holding it) gives one; bad weights are refused
(`profwork.readers.source`). A reader never writes or renders, imports no method and no renderer,
and a file it cannot read raises `InputError` with the remedy, never a raw exception.

A run directory is not read here: it is normalised again by the method that recorded it, which is
`profwork.loading.load`'s job (it knows the methods; readers do not).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from profwork.errors import InputError
from profwork.model import Profile
from profwork.readers.source import SAMPLES_NOTE, InputUnit, Source, remedy
from profwork.registry import Registry

if TYPE_CHECKING:
    from profwork.readers.folded import read_folded as read_folded
    from profwork.readers.pstats import EMPTY_PSTATS_KEY as EMPTY_PSTATS_KEY
    from profwork.readers.pstats import read_pstats as read_pstats
    from profwork.readers.pyinstrument import read_pyinstrument as read_pyinstrument
    from profwork.readers.speedscope import read_speedscope as read_speedscope

# The formats' own functions, for the methods that read their raw files with them; each format's
# module is imported when one of its names is first used (reading a run imports one format).
_LAZY = {
    "read_folded": "profwork.readers.folded",
    "EMPTY_PSTATS_KEY": "profwork.readers.pstats",
    "read_pstats": "profwork.readers.pstats",
    "read_pyinstrument": "profwork.readers.pyinstrument",
    "read_speedscope": "profwork.readers.speedscope",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


class Reader(Protocol):
    """One input format (see the module's docstring)."""

    name: str
    description: str
    strict: bool

    def sniff(self, source: Source) -> bool: ...

    def read(self, source: Source, *, unit: InputUnit | None = None) -> Profile: ...


READERS: Registry[Reader] = Registry(
    "profwork.readers",
    "input format",
    lambda value: (
        isinstance(getattr(value, "name", None), str)
        and isinstance(getattr(value, "description", None), str)
        and isinstance(getattr(value, "strict", None), bool)
        and callable(getattr(value, "sniff", None))
        and callable(getattr(value, "read", None))
    ),
)


def get_reader(name: str) -> Reader:
    """The reader registered under `name`, imported on first use."""
    return READERS.get(name)


def described() -> str:
    """Every registered format, as the remedy of an unreadable input lists them."""
    names = [get_reader(name).description for name in READERS]
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def sniff(path: Path) -> str:
    """The format of `path`, by content: the name of the reader that reads it. Raises
    `InputError` for anything no reader reads."""
    return _sniff(Source(Path(path))).name


def read(path: Path, *, unit: InputUnit | None = None) -> Profile:
    """Read any profile file, whatever its name (a pipe or FIFO too, read once)."""
    source = Source(Path(path))
    profile = _sniff(source).read(source, unit=unit)
    if profile.unit == "samples":
        notes = [*profile.metadata.get("notes", ()), SAMPLES_NOTE]
        profile = dataclasses.replace(profile, metadata={**profile.metadata, "notes": notes})
    return profile


def _sniff(source: Source) -> Reader:
    path = source.path
    if source.is_dir:
        if (path / "manifest.json").is_file():
            raise InputError(
                f"{path}: a run directory, which the pipeline reads (profwork.load)",
                remedy="give one of its profile files, or use profwork.load / profwork report",
            )
        runs = sorted(
            (
                m.parent
                for m in (*path.glob("*/manifest.json"), *path.glob("*/*/manifest.json"))
                if not m.parent.name.startswith(".")  # a run still being written
            ),
            key=lambda run: run.name,  # runs are named by their start: the newest sorts last
        )
        if runs:  # a target's folder of runs, or an -o directory
            raise InputError(
                f"{path} is not a run but holds {len(runs)}",
                remedy=f"give one of them, the newest is {runs[-1]} (`profwork ls {path}` lists "
                "them)",
            )
        raise InputError(f"{path}: a directory without manifest.json is not a run", remedy=remedy())
    if not source.head.strip():
        raise InputError(f"{path}: the file is empty", remedy=remedy())
    # Strict readers (a format that proves itself) before lenient ones, profwork's own first
    # within each; profwork's strict ones are tried before any other package's entry points
    # are read, which a run's own profile.pstats never needs.
    own = [get_reader(name) for name in READERS.own_names()]
    for reader in own:
        if reader.strict and reader.sniff(source):
            return reader
    readers = [get_reader(name) for name in READERS]
    for reader in sorted(readers, key=lambda reader: not reader.strict):  # stable
        if (reader not in own or not reader.strict) and reader.sniff(source):
            return reader
    if source.looks_json:
        if source.json() is None:
            raise InputError(f"{path}: JSON that does not parse (cut short?)", remedy=remedy())
        raise InputError(f"{path}: a JSON file that no reader recognises", remedy=remedy())
    if source.text_head() is None:
        raise InputError(
            f"{path}: not a profile profwork can read (binary data that is not pstats)",
            remedy=remedy(),
        )
    raise InputError(f"{path}: not a profile profwork can read", remedy=remedy())
