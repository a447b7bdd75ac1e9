"""The SQL probe: what it records of each statement, through SQLAlchemy, sqlite3 and psycopg."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from profwork import work
from profwork.sqlprobe import QueryLog, SqlProbe, normalise
from tests.conftest import write
from tests.sqlrun import probed


def _module(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- normalising ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 42"),
        ("SELECT * FROM t WHERE name = 'a'", "SELECT * FROM t WHERE name = 'it''s'"),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (7)"),
        ("SELECT * FROM t WHERE id IN (?, ?)", "SELECT * FROM t WHERE id IN (?, ?, ?, ?)"),
        ("SELECT * FROM t WHERE id = %s", "SELECT * FROM t WHERE id = %(id_1)s"),
        ("SELECT * FROM t WHERE id = :id", "SELECT * FROM t WHERE id = $1"),
        ("INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')"),
        ("SELECT  *\n FROM t  WHERE id = ?", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE %(p)s::INTEGER = t.id", "SELECT * FROM t WHERE ? = t.id"),
        ("SELECT * FROM t WHERE x = %s::VARCHAR(20)", "SELECT * FROM t WHERE x = 'a'"),
    ],
)
def test_the_same_query_with_other_values_normalises_alike(one: str, other: str) -> None:
    assert normalise(one) == normalise(other)


def test_normalising_keeps_names_casts_and_different_queries_apart() -> None:
    assert normalise("SELECT t1.col2 FROM t1 WHERE x::int = 5") == (
        "SELECT t1.col2 FROM t1 WHERE x::int = ?"
    )
    assert normalise("SELECT a FROM t WHERE id = 1") != normalise("SELECT b FROM t WHERE id = 1")
    assert normalise("SELECT * FROM t WHERE id IN (1, 2)") == "SELECT * FROM t WHERE id IN (...)"


# ---- sqlite3 used directly -----------------------------------------------------------------------


def test_sqlite3_statements_are_recorded_with_call_site_loop_and_parameters(
    tmp_path: Path,
) -> None:
    app = _module(
        write(
            tmp_path / "shop.py",
            """\
            import sqlite3

            def open_db():
                db = sqlite3.connect(":memory:")
                db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
                db.executemany("INSERT INTO items (name) VALUES (?)", [("a",), ("b",), ("c",)])
                return db

            def name_of(db, item_id):
                return db.execute("SELECT name FROM items WHERE id = ?", (item_id,)).fetchone()

            def names(db):
                out = []
                for item_id in (1, 2, 3, 3):
                    out.append(name_of(db, item_id))
                cursor = db.cursor()
                cursor.execute("UPDATE items SET name = 'z' WHERE id > 1")
                return out
            """,
        )
    )
    probe = SqlProbe((str(tmp_path),))
    probe.install()
    try:
        db = app.open_db()  # connected while installed, before recording: wrapped, not recorded
        probe.start()
        app.names(db)
        probe.stop()
        db.execute("SELECT 1")  # after stop: not recorded
    finally:
        probe.uninstall()
    assert not hasattr(sqlite3.connect, "__wrapped__")  # the patch is undone
    queries = probe.log().queries
    assert [q.statement for q in queries] == [
        *["SELECT name FROM items WHERE id = ?"] * 4,
        "UPDATE items SET name = 'z' WHERE id > 1",
    ]
    select = queries[0]
    assert select.driver == "sqlite3"
    assert select.site is not None and select.site.function == "name_of"
    assert select.site.file == str(tmp_path / "shop.py") and select.site.line == 10
    assert select.loop is not None and (select.loop.function, select.loop.line) == ("names", 14)
    # parameters: (1,), (2,), (3,), (3,) → three fingerprints, the repeated one equal
    assert len({q.params for q in queries[:4]}) == 3 and queries[2].params == queries[3].params
    update = queries[4]
    assert update.rows == 2 and update.loop is None and update.site.function == "names"
    assert all(q.seconds >= 0 and q.unit == 0 for q in queries)


def test_a_call_site_shared_by_two_loops_is_put_in_the_loop_of_each_statement(
    tmp_path: Path,
) -> None:
    app = _module(
        write(
            tmp_path / "report.py",
            """\
            import sqlite3

            def fetch(db, i):
                return db.execute("SELECT ?", (i,)).fetchone()

            def first(db):
                return [fetch(db, i) for i in range(2)]

            def second(db):
                i = 0
                while i < 2:
                    fetch(db, i)
                    i += 1
            """,
        )
    )
    probe = SqlProbe((str(tmp_path),))
    with probe.recorded():
        db = sqlite3.connect(":memory:")
        app.first(db)
        app.second(db)
        app.first(db)
    queries = probe.log().queries
    assert {(q.site.function, q.site.line) for q in queries if q.site} == {("fetch", 4)}
    assert [(q.loop.function, q.loop.line) if q.loop else None for q in queries] == [
        *[("first.<locals>.<listcomp>", 7)] * 2,
        *[("second", 11)] * 2,
        *[("first.<locals>.<listcomp>", 7)] * 2,
    ]


# ---- SQLAlchemy ----------------------------------------------------------------------------------


def test_sqlalchemy_statements_are_recorded_once_even_through_a_wrapped_sqlite3(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine, text

    before = create_engine(f"sqlite:///{tmp_path / 'a.db'}")  # an engine made before the probe
    with before.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER)"))
    probe = SqlProbe()
    with probe.recorded():
        after = create_engine(f"sqlite:///{tmp_path / 'a.db'}")  # its sqlite3 is wrapped
        for engine in (before, after):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:id)"), {"id": 5})
    queries = probe.log().queries
    inserts = [q for q in queries if q.statement.startswith("INSERT")]
    assert [q.driver for q in inserts] == ["sqlalchemy", "sqlalchemy"]
    assert all(q.rows == 1 for q in inserts)
    # what the dialect runs on a new connection outside its events (`PRAGMA read_uncommitted`)
    # is recorded through the driver; nothing is recorded twice
    assert {q.statement.split()[0] for q in queries if q.driver == "sqlite3"} == {"PRAGMA"}
    assert all(q.site is not None and q.site.function.startswith("test_") for q in inserts)


def test_sqlalchemy_executemany_and_statements_without_parameters_are_recorded(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import Dialect

    switched_on = Dialect._has_events
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    probe = SqlProbe()

    def driver_sql(conn: Any) -> Any:  # the shortest way from the application to the driver
        return conn.exec_driver_sql("SELECT id FROM t WHERE id = ?", (2,)).all()

    with probe.recorded(), engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER)")  # the dialect's no-parameters path
        conn.execute(text("INSERT INTO t VALUES (:id)"), [{"id": 1}, {"id": 2}, {"id": 3}])
        assert conn.execute(text("SELECT id FROM t WHERE id > :low"), {"low": 1}).all()
        assert driver_sql(conn) == [(2,)]
    queries = [q for q in probe.log().queries if q.driver == "sqlalchemy"]
    assert [(q.statement, q.rows) for q in queries] == [
        ("CREATE TABLE t (id INTEGER)", None),
        ("INSERT INTO t VALUES (?)", 3),  # one executemany, three rows
        ("SELECT id FROM t WHERE id > ?", None),
        ("SELECT id FROM t WHERE id = ?", None),
    ]
    test = "test_sqlalchemy_executemany_and_statements_without_parameters_are_recorded"
    assert [q.site.function if q.site else None for q in queries] == [test] * 3 + [
        f"{test}.<locals>.driver_sql"
    ]
    assert queries[-1].site is not None
    assert queries[-1].site.line == driver_sql.__code__.co_firstlineno + 1
    # removed, the probe leaves SQLAlchemy's dialects as it found them: their event checks
    # are not left switched on for the rest of the process
    assert Dialect._has_events == switched_on


@pytest.mark.parametrize("registered", ["before the probe", "while it is installed"])
def test_an_applications_own_do_execute_listener_still_runs_under_the_probe_and_after(
    tmp_path: Path, registered: str
) -> None:
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.engine import Engine

    engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    seen: list[str] = []

    def tagged(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        seen.append(statement)
        cursor.execute(statement + " -- tagged", parameters)
        return True  # executed here: SQLAlchemy must not execute it again

    probe = SqlProbe()
    if registered == "before the probe":
        event.listen(Engine, "do_execute", tagged)  # every engine's
    probe.install()
    try:
        if registered == "while it is installed":
            event.listen(Engine, "do_execute", tagged)
        probe.start()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT :x + 1"), {"x": 1}).scalar() == 2
        probe.stop()
    finally:
        probe.uninstall()
    try:
        with engine.connect() as conn:  # the probe removed, the application's listener stays
            assert conn.execute(text("SELECT :x + 2"), {"x": 1}).scalar() == 3
    finally:
        event.remove(Engine, "do_execute", tagged)
    assert seen == ["SELECT ? + 1", "SELECT ? + 2"]
    recorded = [(q.driver, q.statement) for q in probe.log().queries if "+" in q.statement]
    if registered == "while it is installed":  # it runs inside the probe's listener
        assert recorded == [("sqlalchemy", "SELECT ? + 1")]  # once, timed around its execute
    else:  # it runs first and stops the others: its own execute is recorded by the driver's hook
        assert recorded == [("sqlite3", "SELECT ? + 1 -- tagged")]


def test_a_failing_sqlalchemy_statement_is_not_recorded_and_those_after_it_are() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    probe = SqlProbe()
    with probe.recorded():
        engine = create_engine("sqlite://")
        with engine.connect() as conn:
            with pytest.raises(OperationalError):
                conn.execute(text("SELECT * FROM missing WHERE id = :id"), {"id": 1})
            conn.execute(text("SELECT :id"), {"id": 1})
    statements = [(q.driver, q.statement) for q in probe.log().queries]
    assert ("sqlalchemy", "SELECT ?") in statements
    assert not [s for _, s in statements if "missing" in s]


def test_the_lazy_db_target_executes_one_client_select_per_agenda_line() -> None:
    log = probed("db", {"rounds": "1"}, "small")
    by_site = Counter(
        (q.site.function, q.loop.function if q.loop else None) for q in log.queries if q.site
    )
    agenda = by_site[("daily_agenda", "body")]
    assert agenda == 28  # one agenda query per day of the four-week period
    lazy = by_site[("agenda_line", "daily_agenda.<locals>.<listcomp>")]
    assert lazy == 50  # one client SELECT per appointment: small seeds 50
    # each day's session is a unit of work of its own (the target declares them)
    assert {log.unit_label(q.unit) for q in log.queries} == {"a day's agenda"}
    assert len({q.unit for q in log.queries}) == 28


def test_the_eager_db_target_loads_the_clients_with_its_agenda() -> None:
    log = probed("db", {"rounds": "1", "loading": "joined"}, "small")
    assert Counter(q.site.function for q in log.queries if q.site) == {
        "daily_agenda": 28,
        "hourly_load": 28,
    }


# ---- units of work -------------------------------------------------------------------------------


def test_each_api_request_is_a_unit_of_work_named_by_its_route() -> None:
    log = probed("api", {"requests": "3"}, "small")
    labels = Counter(log.unit_label(q.unit) for q in log.queries)
    assert set(labels) == {
        "GET /calendar",
        "GET /clients/{id}/timeline",
        "GET /conflicts",
        "POST /appointments",
    }
    per_request = Counter(q.unit for q in log.queries)
    assert len(per_request) == 12  # 3 requests to each of 4 endpoints


def test_statements_outside_any_unit_belong_to_the_body_and_units_nest() -> None:
    db = sqlite3.connect(":memory:")
    probe = SqlProbe()
    with probe.recorded():
        db.execute("SELECT 1")
        with work.unit_of_work("job") as job:
            db.execute("SELECT 2")
            with work.unit_of_work("step") as step:
                db.execute("SELECT 3")
    log = probe.log()
    assert [(q.statement, log.unit_label(q.unit)) for q in log.queries] == []  # made before
    # a connection made before the probe is not wrapped; one made while it is installed is
    with probe.recorded():
        db = sqlite3.connect(":memory:")
        db.execute("SELECT 1")
        with work.unit_of_work("job") as job:
            db.execute("SELECT 2")
            with work.unit_of_work("step") as step:
                db.execute("SELECT 3")
    log = probe.log()
    assert [(q.statement, q.unit) for q in log.queries] == [
        ("SELECT 1", 0),
        ("SELECT 2", job.id),
        ("SELECT 3", step.id),
    ]
    assert log.unit_label(step.id) == "step"


# ---- the file ------------------------------------------------------------------------------------


def test_the_log_round_trips_through_json() -> None:
    log = probed("api", {"requests": "2"}, "small")
    again = QueryLog.from_json(json.loads(json.dumps(log.to_json())))
    assert again == log


# ---- psycopg -------------------------------------------------------------------------------------


def test_psycopg_imported_after_the_probe_is_wrapped_and_unwrapped(
    pg_url: str, tmp_path: Path
) -> None:
    """In a fresh process, so that psycopg is first imported while the probe is installed."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    script = write(
        tmp_path / "raw_pg.py",
        f"""\
        import json, sys
        from profwork.sqlprobe import SqlProbe

        probe = SqlProbe((sys.argv[1],))
        probe.install()
        probe.start()
        import psycopg

        def lookup(conn, i):
            return conn.execute("SELECT %s::int + 1", (i,)).fetchone()

        with psycopg.connect({dsn!r}) as conn:
            for i in range(3):
                lookup(conn, i)
        probe.uninstall()
        assert "__wrapped__" not in vars(psycopg.Cursor.execute)
        print(json.dumps(probe.log().to_json()))
        """,
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    log = QueryLog.from_json(json.loads(done.stdout))
    assert [(q.driver, q.statement, q.rows) for q in log.queries] == [
        ("psycopg", "SELECT %s::int + 1", 1)
    ] * 3
    assert {q.site.function for q in log.queries if q.site} == {"lookup"}
    assert len({q.params for q in log.queries}) == 3


PROBE_NOTE = "profwork's own code in the body (its SQL probe) took"


def test_under_cprofile_the_probes_own_calls_are_not_ranked_and_a_note_says_what_they_took(
    tmp_path: Path,
) -> None:
    from tests.conftest import only_run, profwork

    script = write(
        tmp_path / "lookups.py",
        """
        import sqlite3

        def lookups(n: int = 300):
            db = sqlite3.connect(":memory:")
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL)")
            db.executemany("INSERT INTO t (v) VALUES (?)", [(i * 0.5,) for i in range(n)])
            total = 0.0
            for i in range(1, n + 1):
                total += db.execute("SELECT v FROM t WHERE id = ?", (i,)).fetchone()[0]
            return total
        """,
    )
    for args, probed_run in (((), True), (("--no-sql",), False)):
        results = tmp_path / f"results-{probed_run}"
        done = profwork("run", f"{script}:lookups", *args, "-o", str(results))
        assert done.returncode == 0, done.stderr
        summary = json.loads((only_run(results) / "summary.json").read_text())
        ranked = summary["bottlenecks"]
        assert ranked[0]["function"] == "lookups"
        # neither profwork's wrappers nor the Python code only they call (dis, for the loop)
        assert all(row["kind"] != "profwork" for row in ranked), ranked
        assert not any(row["function"].startswith("_get_instructions") for row in ranked)
        noted = [n for n in summary["notes"] if n.startswith(PROBE_NOTE)]
        assert len(noted) == (1 if probed_run else 0), summary["notes"]
