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
import time
import types
from collections.abc import Callable
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
    started = time.perf_counter()
    try:
        result = run()
    finally:
        _local.depth = 0
    seconds = time.perf_counter() - started
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


def _before(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> tuple[str, Any]:
    # listened for with retval=True: SQLAlchemy then calls it directly, without a wrapper of
    # its own around it (one call fewer per statement)
    here = _local.__dict__
    starts: list[tuple[float, int]] = here.setdefault("engine", [])
    starts.append((time.perf_counter(), id(cursor)))
    here["depth"] = here.get("depth", 0) + 1
    return statement, parameters


def _after(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    finished = time.perf_counter()
    here = _local.__dict__
    starts: list[tuple[float, int]] | None = here.get("engine")
    if not starts:
        return
    started, _ = starts.pop()
    depth = here["depth"] = max(0, here.get("depth", 1) - 1)
    probe = sqlprobe._active  # noqa: SLF001 - `recording()`, inlined: once per statement
    if depth or probe is None or not probe.recording:
        return
    rows = getattr(cursor, "rowcount", -1)
    probe.record(
        "sqlalchemy", statement, parameters, finished - started, rows if rows >= 0 else None
    )


def _failed(context: Any) -> None:
    starts: list[tuple[float, int]] = getattr(_local, "engine", [])
    if starts and starts[-1][1] == id(getattr(context, "cursor", None)):
        starts.pop()
        _local.depth = max(0, _depth() - 1)


def _hook_sqlalchemy(module: types.ModuleType) -> Undo:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    listeners = (
        ("before_cursor_execute", _before),
        ("after_cursor_execute", _after),
        ("handle_error", _failed),
    )
    for name, fn in listeners:
        event.listen(Engine, name, fn, retval=name == "before_cursor_execute")

    def undo() -> None:
        for name, fn in listeners:
            if event.contains(Engine, name, fn):
                event.remove(Engine, name, fn)

    return undo


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
        started = time.perf_counter()
        try:
            result = await real(self, query, params, *args, **kwargs)
        finally:
            _local.depth = 0
        rows = getattr(result, "rowcount", -1)
        seconds = time.perf_counter() - started
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
