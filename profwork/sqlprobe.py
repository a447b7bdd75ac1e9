"""SQL capture: every statement a target executes, where it came from, in which unit of work.

DESIGN §1 (SQL capture). The probe runs in the target's process, whatever the method, and sees:
- every SQLAlchemy engine, through its dialect's `do_execute`/`do_executemany`/
  `do_execute_no_params` events listened for on the `Engine` class (so engines made before the
  probe count too): the listener runs the dialect's method itself and times it;
- the `sqlite3` module used directly: while installed, `sqlite3.connect` hands out a connection
  subclass whose cursors (and `execute` shortcuts) time each statement; connections made while
  it was installed keep working unrecorded after;
- psycopg 3 used directly: `Cursor.execute`/`executemany` (and the async and server-side
  cursors') are wrapped on the classes while installed, and put back after. psycopg is never
  imported by the probe (it costs 0.2 s): it is wrapped when the target imports it.
A statement SQLAlchemy executes through a wrapped driver is recorded once (by its listener).

Each statement records its text with placeholders, a fingerprint of its parameters (a short
hash: equal parameters, equal fingerprints), its duration, the rows the driver reported (when it
knows), the call site (the innermost frame in the target's code, with its function), the loop
that issued it (the innermost frame of the target's code, at or above the call site, that is
inside a `for`/`while` loop or a comprehension), and its unit of work (`profwork.work`).
`normalise` collapses literals, placeholders and `IN`/`VALUES` lists so that the same query with
other values groups together.

`install` patches (before the target's setup, so that its connections are wrapped), `start` and
`stop` bracket what is recorded (the body), `uninstall` undoes every patch. The result is a
`QueryLog`, written as `queries.json` (`QueryLog.to_json`, read back by `QueryLog.from_json`).
"""

from __future__ import annotations

import dis
import hashlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from profwork import work
from profwork.frames import Classifier, SysPaths
from profwork.model import FrameKind

SCHEMA = 1

# ---- normalising ---------------------------------------------------------------------------------

_STRING = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDER = re.compile(r"%\([^)]*\)s|%s|\$\d+|__\[POSTCOMPILE_\w+\]|(?<![:\w]):[A-Za-z_]\w*|\?")
_NUMBER = re.compile(r"(?<![\w.$])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
_CAST = re.compile(
    r"\?\s*::\s*[A-Za-z_]\w*(?:\s+(?:PRECISION|VARYING))?(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?",
    re.IGNORECASE,
)
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)
_VALUES = re.compile(r"\bVALUES\s*\([?,\s]*\)(?:\s*,\s*\([?,\s]*\))*", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalise(statement: str) -> str:
    """The statement with every literal and placeholder as `?` (with the cast PostgreSQL's
    dialects add to a placeholder, `?::INTEGER`), each `IN (…)` list as
    `IN (...)`, a multi-row `VALUES` as `VALUES (...)`, and runs of white space as one space:
    two executions of one query with other values normalise alike."""
    text = _STRING.sub("?", statement)
    text = _PLACEHOLDER.sub("?", text)
    text = _CAST.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _IN_LIST.sub("IN (...)", text)
    text = _VALUES.sub("VALUES (...)", text)
    return _SPACE.sub(" ", text).strip()


def fingerprint(parameters: Any) -> int | str:
    """A hash of a statement's parameters (positional or named, one set or many): equal
    parameters, equal fingerprints, within one process (Python's own `hash` where the values
    are hashable, which costs far less than hashing their text; the text otherwise).
    `fingerprint_text` writes it down."""
    try:
        return hash(parameters)
    except TypeError:
        pass
    if isinstance(parameters, Mapping):
        try:
            return hash(tuple(parameters.items()))
        except TypeError:
            pass
    try:
        text = repr(parameters)
    except Exception:  # noqa: BLE001 - a parameter's own __repr__ may raise anything
        text = f"<{type(parameters).__name__}>"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


def fingerprint_text(value: int | str) -> str:
    return value if isinstance(value, str) else format(value & 0xFFFF_FFFF_FFFF_FFFF, "016x")


# ---- the log -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """A place in the target's code: the line running, in `function` (its qualified name,
    starting at `first_line`, as the profile's `Frame` names it)."""

    file: str
    line: int
    function: str
    first_line: int

    @property
    def label(self) -> str:
        return f"{self.function} ({self.file}:{self.line})"


@dataclass(frozen=True, slots=True)
class Query:
    """One executed statement."""

    statement: str
    normalised: str
    params: str  # fingerprint: equal parameters, equal text (within one run)
    seconds: float
    rows: int | None
    site: Site | None  # None: no frame of the target's code on the stack
    loop: Site | None  # the loop that issued it (line of its `for`/`while`), when in one
    unit: int  # the unit of work's id (0: the body)
    driver: str  # "sqlalchemy", "sqlite3", "psycopg"


@dataclass(frozen=True)
class QueryLog:
    """What the probe recorded: the queries in order, and the label of each unit of work."""

    queries: tuple[Query, ...] = ()
    units: Mapping[int, str] = field(default_factory=lambda: {0: "body"})
    notes: tuple[str, ...] = ()

    def unit_label(self, unit: int) -> str:
        return self.units.get(unit, "body" if unit == 0 else f"unit {unit}")

    def to_json(self) -> dict[str, Any]:
        """Statements and sites are listed once each and referred to by index."""
        statements: dict[str, int] = {}
        sites: dict[Site, int] = {}
        rows = [
            {
                "statement": statements.setdefault(q.statement, len(statements)),
                "params": q.params,
                "seconds": q.seconds,
                "rows": q.rows,
                "site": None if q.site is None else sites.setdefault(q.site, len(sites)),
                "loop": None if q.loop is None else sites.setdefault(q.loop, len(sites)),
                "unit": q.unit,
                "driver": q.driver,
            }
            for q in self.queries
        ]
        return {
            "schema": SCHEMA,
            "units": {str(k): v for k, v in self.units.items()},
            "statements": [{"sql": s, "normalised": normalise(s)} for s in statements],
            "sites": [
                {"file": s.file, "line": s.line, "function": s.function, "first_line": s.first_line}
                for s in sites
            ],
            "queries": rows,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueryLog:
        statements = [(s["sql"], s["normalised"]) for s in data.get("statements", ())]
        sites = [
            Site(s["file"], int(s["line"]), s["function"], int(s["first_line"]))
            for s in data.get("sites", ())
        ]
        queries = tuple(
            Query(
                statement=statements[q["statement"]][0],
                normalised=statements[q["statement"]][1],
                params=q["params"],
                seconds=float(q["seconds"]),
                rows=q.get("rows"),
                site=None if q.get("site") is None else sites[q["site"]],
                loop=None if q.get("loop") is None else sites[q["loop"]],
                unit=int(q.get("unit", 0)),
                driver=q.get("driver", ""),
            )
            for q in data.get("queries", ())
        )
        units = {int(k): str(v) for k, v in data.get("units", {}).items()} or {0: "body"}
        return cls(queries, units, tuple(data.get("notes", ())))


# ---- where a statement comes from ----------------------------------------------------------------

# A backward jump closes a `for`/`while` loop or a comprehension's; `await` and `yield from` jump
# back with JUMP_BACKWARD_NO_INTERRUPT, which is no loop of the user's. Python 3.11 closes a
# `while CONDITION:` loop with a conditional backward jump (POP_JUMP_BACKWARD_IF_TRUE, …) that
# tests the condition again, on the `while` line: that jump's own line is the loop's.
_LOOP_JUMPS = frozenset({"JUMP_BACKWARD", "JUMP_ABSOLUTE"})
_CONDITIONAL_LOOP_JUMP = "POP_JUMP_BACKWARD_IF_"
_LOOP_SEARCH = 12  # frames above the call site looked at for the loop


def _find_loops(code: types.CodeType) -> tuple[tuple[int, int, int], ...]:
    """(start offset, end offset, header line) of each loop in `code`, innermost first."""
    instructions = list(dis.get_instructions(code))
    lines = {i.offset: i.positions.lineno if i.positions else None for i in instructions}
    found = []
    for i in instructions:
        if not isinstance(i.argval, int) or i.argval > i.offset:
            continue
        if i.opname in _LOOP_JUMPS:
            header = lines.get(i.argval) or code.co_firstlineno
        elif i.opname.startswith(_CONDITIONAL_LOOP_JUMP):
            header = lines.get(i.offset) or code.co_firstlineno
        else:
            continue
        found.append((i.argval, i.offset, header))
    return tuple(sorted(found, key=lambda r: r[1] - r[0]))


# Code objects are looked up by id, never hashed: hashing one hashes its bytecode and constants
# (tens of microseconds for a big function). Each entry keeps its code object alive, so that an
# id is never reused for another code object while it is cached.
_LOOPS: dict[int, tuple[types.CodeType, tuple[tuple[int, int, int], ...]]] = {}


def _loop_line(frame: types.FrameType) -> int | None:
    code = frame.f_code
    cached = _LOOPS.get(id(code))
    if cached is None or cached[0] is not code:
        cached = _LOOPS[id(code)] = (code, _find_loops(code))
    offset = frame.f_lasti
    for start, end, header in cached[1]:
        if start <= offset <= end:
            return header
    return None


def _site(code: types.CodeType, line: int) -> Site:
    return Site(code.co_filename, line, code.co_qualname, code.co_firstlineno)


# ---- the probe -----------------------------------------------------------------------------------

# per thread: .depth, the hooked executions running (only the outermost records)
_local = threading.local()
_active: SqlProbe | None = None
_unit = work._CURRENT.get  # noqa: SLF001 - `work.current()` without its call: once per statement

# A place in the target's code, resolved once per (code object, instruction): the code, the
# line running and the header line of the innermost loop around it (None: in no loop).
_Place = tuple[types.CodeType, int, int | None]

# statement, parameters' fingerprint, seconds, rows, the call site's place (None: no frame of
# the target's code), the loop's place (None: in no loop), the unit of work (None: the body),
# driver. Sites are built from places only when the log is read: recording stays cheap.
_Row = tuple[str, int | str, float, int | None, _Place | None, _Place | None, work.Unit | None, str]


class _UserFiles(dict[str, bool]):
    """Whether each file is the target's code, classified on first sight: `files[name]`."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self._classifier = classifier

    def __missing__(self, file: str) -> bool:
        user = self[file] = self._classifier.kind(file) is FrameKind.USER
        return user


class SqlProbe:
    """Records statements while started; see the module's docstring."""

    def __init__(self, user_paths: Sequence[str] = ()) -> None:
        self._classifier = Classifier(SysPaths.current(tuple(user_paths)))
        self._user = _UserFiles(self._classifier)  # by file name
        # by (id of the code object, instruction offset); each place keeps its code object
        # alive, so that an id is not reused for another code object while it is cached
        self._places: dict[tuple[int, int], _Place] = {}
        self._rows: list[_Row] = []
        self._undo: list[Callable[[], None]] = []
        self._hooked: set[str] = set()
        self._errors = 0
        self.recording = False

    # -- lifecycle

    def install(self) -> None:
        """Patch the drivers and listen to SQLAlchemy; only one probe is installed at a time."""
        global _active
        if _active is not None:
            raise RuntimeError("a SQL probe is installed already")
        _active = self
        from profwork import _sqldrivers

        self._undo = []
        self._undo += _sqldrivers.install(self)

    def start(self) -> None:
        from profwork import _sqldrivers

        self._undo += _sqldrivers.late(self)
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def uninstall(self) -> None:
        global _active
        self.recording = False
        while self._undo:
            self._undo.pop()()
        if _active is self:
            _active = None

    @contextmanager
    def recorded(self) -> Iterator[SqlProbe]:
        """Installed and recording for the block (tests, `profwork.profile`)."""
        self.install()
        try:
            self.start()
            yield self
        finally:
            self.uninstall()

    # -- recording

    def record(
        self,
        driver: str,
        statement: str,
        parameters: Any,
        seconds: float,
        rows: int | None,
        skip: int = 1,
    ) -> None:
        """Called by a driver hook right after a statement ran (`skip`: the frames above this
        one that are the hook's, 1: the caller only). Never raises into the target.

        It runs once per statement, so it does the least it can: walk up to the innermost
        frame of the target's code (a dict lookup per frame, by file name), look its place up
        (line and loop, resolved once per code location) and, when it is in no loop, the
        places of the target's frames above it; `log` turns places into `Site`s."""
        try:
            user = self._user
            frame: types.FrameType | None = sys._getframe(skip)
            while frame is not None and not user[frame.f_code.co_filename]:
                frame = frame.f_back
            site: _Place | None = None
            loop: _Place | None = None
            if frame is not None:
                code = frame.f_code
                site = self._places.get((id(code), frame.f_lasti))
                if site is None or site[0] is not code:
                    site = self._place(frame)
                loop = site if site[2] is not None else self._loop_above(frame)
            fingerprint_: int | str
            try:  # `fingerprint`, its common case inlined
                fingerprint_ = hash(parameters)
            except TypeError:
                fingerprint_ = fingerprint(parameters)
            self._rows.append((statement, fingerprint_, seconds, rows, site, loop, _unit(), driver))
        except Exception:  # noqa: BLE001 - the target's query must never fail because of us
            self._errors += 1

    def _place(self, frame: types.FrameType) -> _Place:
        code = frame.f_code
        place = self._places.get((id(code), frame.f_lasti))
        if place is None or place[0] is not code:
            line = frame.f_lineno or code.co_firstlineno
            place = self._places[(id(code), frame.f_lasti)] = (code, line, _loop_line(frame))
        return place

    def _loop_above(self, frame: types.FrameType) -> _Place | None:
        """The place of the innermost frame of the target's code above `frame` (among the
        `_LOOP_SEARCH` frames above it) that is inside a loop."""
        user, places = self._user, self._places
        above = frame.f_back
        left = _LOOP_SEARCH - 1
        while above is not None and left:
            if user[above.f_code.co_filename]:
                code = above.f_code
                place = places.get((id(code), above.f_lasti))
                if place is None or place[0] is not code:
                    place = self._place(above)
                if place[2] is not None:
                    return place
            above = above.f_back
            left -= 1
        return None

    def log(self) -> QueryLog:
        notes: tuple[str, ...] = ()
        if self._errors:
            notes = (f"the SQL probe failed to record {self._errors} statement(s)",)
        units: dict[int, str] = {0: "body"}
        # one Site per code location; code objects by id (hashing one hashes its bytecode),
        # which stay theirs while the places keep the code objects alive
        sites: dict[tuple[int, int], Site] = {}

        def site(place: _Place | None, loop: bool) -> Site | None:
            if place is None:
                return None
            code, line, header = place
            if loop and header is not None:
                line = header
            found = sites.get((id(code), line))
            if found is None:
                found = sites[(id(code), line)] = _site(code, line)
            return found

        queries = []
        for s, p, sec, r, call_site, loop, unit, driver in self._rows:
            if unit is None:
                unit = work.BODY
            elif unit.id not in units:
                units[unit.id] = unit.label
            queries.append(
                Query(
                    s,
                    normalise(s),
                    fingerprint_text(p),
                    sec,
                    r,
                    site(call_site, False),
                    site(loop, True),
                    unit.id,
                    driver,
                )
            )
        return QueryLog(tuple(queries), units, notes)


def active() -> SqlProbe | None:
    """The installed probe, recording or not."""
    return _active


def recording() -> SqlProbe | None:
    """The installed probe when it records, else None: what every driver hook asks first."""
    probe = _active
    return probe if probe is not None and probe.recording else None


class _AfterImport:
    """Calls `then(module)` once the module `name` has been imported (by anyone). A finder on
    `sys.meta_path` only needs `find_spec`: `importlib.abc.MetaPathFinder` as a base would
    import `importlib.resources` and `tempfile` into the target's process (~8 ms)."""

    def __init__(self, name: str, then: Callable[[types.ModuleType], None]) -> None:
        self.name, self.then, self.busy = name, then, False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name or self.busy:
            return None
        self.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        real = loader.exec_module
        then = self.then

        def exec_module(module: types.ModuleType) -> None:
            real(module)
            then(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
