"""The SQL probe's hooks into SQLAlchemy, `sqlite3` and psycopg (see `profwork.sqlprobe`).

Each hook is installed by a function that returns how to undo it. A library not imported yet
is hooked when the target imports it (`_AfterImport`), never imported by us: SQLAlchemy and
psycopg take tenths of a second to import.

One rule keeps a statement from being recorded twice: a thread-local depth counts the hooked
executions running in the thread (a SQLAlchemy execution through a wrapped `sqlite3` cursor, a
psycopg server cursor calling its base class), and only the outermost one records.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
import types
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from profwork import sqlprobe
from profwork.sqlprobe import _local, recording

if TYPE_CHECKING:
    from profwork.sqlprobe import SqlProbe

Undo = Callable[[], None]


def _depth() -> int:
    depth: int = getattr(_local, "depth", 0)
    return depth


def _timed(driver: str, statement: Any, parameters: Any, run: Callable[[], Any]) -> Any:
    """Run a driver's execute (`run`) and record it when it is the outermost one."""
    probe = recording()
    if probe is None or _depth():
        return run()
    _local.depth = 1
    started = perf_counter()
    try:
        result = run()
    finally:
        _local.depth = 0
    seconds = perf_counter() - started
    rows = getattr(result, "rowcount", -1)
    probe.record(driver, _text(statement), parameters, seconds, rows if rows >= 0 else None)
    return result


def _text(statement: Any) -> str:
    if isinstance(statement, str):
        return statement
    if isinstance(statement, bytes | bytearray):
        return bytes(statement).decode("utf-8", "replace")
    as_string = getattr(statement, "as_string", None)  # psycopg.sql.Composable
    if as_string is not None:
        try:
            return str(as_string(None))
        except Exception:  # noqa: BLE001 - some need a connection's context
            pass
    return str(statement)


# ---- SQLAlchemy ----------------------------------------------------------------------------------

# The probe executes SQLAlchemy's statements itself: it listens for the dialect's `do_execute`,
# `do_executemany` and `do_execute_no_params` events (on every dialect, through the `Engine`
# class), runs the dialect's own method inside its listener and returns True, SQLAlchemy's
# "executed" answer. One listener call per statement, where the engine events
# (`before_cursor_execute`/`after_cursor_execute`) cost two and, worse, switch on every other
# engine event check of every connection (`Engine._has_events`): measured on the lazy `db`
# target, empty engine listeners cost ~16 µs per statement, such a listener ~5 µs
# (benchmarks/README.md, "The SQL probe"). SQLAlchemy calls these listeners on every path that
# executes a statement (a plain execute, each batch of an "insertmanyvalues" insert, a sequence
# or a default); an application's own listener for the same event still runs (`_ran_later`).

# Frames not looked at when the call site is looked for (`record(..., skip=...)`): the
# listener's and SQLAlchemy's method calling it (`_SKIP`); when the statement is its execution
# context's own (`statement is context.statement`), that method is `_exec_single_context`, called
# by `Connection._execute_context`, called by another of `Connection`'s private methods: those
# two as well (`_SKIP_CONTEXT`). A statement of the dialect's own (a sequence, `scope_identity()`)
# comes through `Connection._cursor_execute`, called from anywhere.
_SKIP = 3
_SKIP_CONTEXT = 5


def _run(
    ours: Callable[..., bool | None],
    name: str,
    args: tuple[Any, ...],
    statement: str,
    parameters: Any,
    context: Any,
) -> bool | None:
    """The body of the three listeners (`ours`, for the dialect's method `name`): run and time
    the dialect's method (or an application's later listener), then record the statement."""
    probe = sqlprobe._active  # noqa: SLF001 - `recording()`, inlined: once per statement
    here = _local.__dict__
    if probe is None or not probe.recording or context is None or here.get("depth"):
        return None  # not ours to run: SQLAlchemy goes on as without the probe
    dialect = context.dialect
    listeners = getattr(dialect.dispatch, name)
    here["depth"] = 1
    started = perf_counter()
    try:
        if len(listeners) == 1 or not _ran_later(listeners, ours, args):
            getattr(dialect, name)(*args)
    finally:
        here["depth"] = 0
    seconds = perf_counter() - started
    rows = getattr(args[0], "rowcount", -1)
    own = name == "do_execute" and statement is context.statement
    # one frame more than the skips count: this function's, below the listener's
    skip = (_SKIP_CONTEXT if own else _SKIP) + 1
    probe.record("sqlalchemy", statement, parameters, seconds, rows if rows >= 0 else None, skip)
    return True


def _on_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    args = (cursor, statement, parameters, context)
    return _run(_on_execute, "do_execute", args, statement, parameters, context)


def _on_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    args = (cursor, statement, parameters, context)
    return _run(_on_executemany, "do_executemany", args, statement, parameters, context)


def _on_execute_no_params(cursor: Any, statement: str, context: Any) -> bool | None:
    args = (cursor, statement, context)
    return _run(_on_execute_no_params, "do_execute_no_params", args, statement, (), context)


def _ran_later(listeners: Any, ours: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Run the listeners registered after `ours` as SQLAlchemy would have (an application's
    own `do_execute` listener): True when one of them executed the statement."""
    later = False
    for fn in listeners:
        if later:
            if fn(*args):
                return True
        elif fn is ours:
            later = True
    return False


_LISTENERS: dict[str, Callable[..., bool | None]] = {
    "do_execute": _on_execute,
    "do_executemany": _on_executemany,
    "do_execute_no_params": _on_execute_no_params,
}


def _hook_sqlalchemy(module: types.ModuleType) -> Undo:
    from sqlalchemy import event
    from sqlalchemy.engine import Dialect, Engine

    had_events = Dialect._has_events  # noqa: SLF001
    for name, fn in _LISTENERS.items():
        event.listen(Engine, name, fn)

    def undo() -> None:
        for name, fn in _LISTENERS.items():
            if event.contains(Engine, name, fn):
                event.remove(Engine, name, fn)
        if not had_events and not _class_listeners(Dialect):
            # listening switched on every dialect's event checks; nobody else listens now
            Dialect._has_events = False  # noqa: SLF001

    return undo


def _class_listeners(dialect: type) -> bool:
    """Whether any listener is left on `Dialect` or a subclass (True when unsure)."""
    try:
        dispatch = dialect.dispatch  # type: ignore[attr-defined]
        return any(
            any(getattr(dispatch, name)._clslevel.values())  # noqa: SLF001
            for name in dispatch._event_names  # noqa: SLF001
        )
    except Exception:  # noqa: BLE001 - SQLAlchemy's internals moved: leave the switch on
        return True


# ---- sqlite3 -------------------------------------------------------------------------------------


_execute = sqlite3.Cursor.execute


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        if _local.__dict__.get("depth"):  # under SQLAlchemy, which records it: the fast way
            return _execute(self, sql, parameters)
        return _timed(  # type: ignore[no-any-return]
            "sqlite3", sql, parameters, lambda: _execute(self, sql, parameters)
        )

    def executemany(self, sql: str, seq: Any, /) -> _Cursor:
        return _timed(  # type: ignore[no-any-return]
            "sqlite3", sql, seq, lambda: sqlite3.Cursor.executemany(self, sql, seq)
        )


class _Recorded:
    """Mixed into a connection class: its cursors, and its `execute` shortcuts, record."""

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _Cursor)  # type: ignore[misc]

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> Any:
        return self.cursor().executemany(sql, seq)


@functools.lru_cache(maxsize=32)
def _recorded(factory: type) -> type:
    if issubclass(factory, _Recorded):
        return factory
    return type(f"Recorded{factory.__name__}", (_Recorded, factory), {})


def _hook_sqlite3() -> Undo:
    import sqlite3.dbapi2

    real = sqlite3.connect

    @functools.wraps(real)
    def connect(*args: Any, **kwargs: Any) -> Any:
        if len(args) > 4:  # factory given by position (database, timeout, types, level, factory)
            args = (*args[:4], _recorded(args[4]), *args[5:])
        else:
            kwargs["factory"] = _recorded(kwargs.get("factory", sqlite3.Connection))
        return real(*args, **kwargs)

    modules = (sqlite3, sqlite3.dbapi2)
    for module in modules:
        setattr(module, "connect", connect)  # noqa: B010 - typeshed's sqlite3.dbapi2

    def undo() -> None:
        for module in modules:
            setattr(module, "connect", real)  # noqa: B010

    return undo


# ---- psycopg 3 -----------------------------------------------------------------------------------


def _wrap_sync(real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        return _timed("psycopg", query, params, lambda: real(self, query, params, *args, **kwargs))

    return execute


def _wrap_async(real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    async def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        probe = recording()
        if probe is None or _depth():
            return await real(self, query, params, *args, **kwargs)
        _local.depth = 1
        started = perf_counter()
        try:
            result = await real(self, query, params, *args, **kwargs)
        finally:
            _local.depth = 0
        rows = getattr(result, "rowcount", -1)
        seconds = perf_counter() - started
        probe.record("psycopg", _text(query), params, seconds, rows if rows >= 0 else None)
        return result

    return execute


_PSYCOPG_CURSORS = {
    "Cursor": _wrap_sync,
    "ClientCursor": _wrap_sync,
    "RawCursor": _wrap_sync,
    "ServerCursor": _wrap_sync,
    "AsyncCursor": _wrap_async,
    "AsyncClientCursor": _wrap_async,
    "AsyncRawCursor": _wrap_async,
    "AsyncServerCursor": _wrap_async,
}


def _hook_psycopg(module: types.ModuleType) -> Undo:
    patched: list[tuple[type, str, Any]] = []
    for class_name, wrap in _PSYCOPG_CURSORS.items():
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            continue
        for name in ("execute", "executemany"):
            real = cls.__dict__.get(name)
            if real is None:
                continue
            setattr(cls, name, wrap(real))
            patched.append((cls, name, real))

    def undo() -> None:
        for cls, name, real in patched:
            setattr(cls, name, real)

    return undo


# ---- installing ----------------------------------------------------------------------------------

_LIBRARIES: dict[str, Callable[[types.ModuleType], Undo]] = {
    "sqlalchemy": _hook_sqlalchemy,
    "psycopg": _hook_psycopg,
}


def install(probe: SqlProbe) -> list[Undo]:
    """Hook `sqlite3` now, and SQLAlchemy and psycopg now or when the target imports them."""
    undo = [_hook_sqlite3()]
    hooked: set[str] = set()
    probe_undo = probe._undo

    def hook(name: str, module: types.ModuleType) -> None:
        if name not in hooked:
            hooked.add(name)
            probe_undo.append(_LIBRARIES[name](module))

    for name in _LIBRARIES:
        if name in sys.modules:
            hook(name, sys.modules[name])
            continue
        finder = sqlprobe._AfterImport(name, functools.partial(hook, name))
        sys.meta_path.insert(0, finder)
        undo.append(functools.partial(_remove_finder, finder))
    probe._hooked = hooked  # noqa: SLF001
    return undo


def late(probe: SqlProbe) -> list[Undo]:
    """Hook what was imported behind the import hooks' back (a module re-imported after being
    removed from `sys.modules`, an import machinery of its own): checked when recording starts."""
    hooked: set[str] = probe._hooked
    undo = []
    for name, hook in _LIBRARIES.items():
        if name not in hooked and name in sys.modules:
            hooked.add(name)
            undo.append(hook(sys.modules[name]))
    return undo


def _remove_finder(finder: object) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
