"""N+1 findings: SQL ones from the probe's queries, call-pattern ones from cProfile's counts."""

from __future__ import annotations

import cProfile
import importlib.util
import types
from pathlib import Path

import pytest

from profwork.analyses.nplusone import call_findings, find, sql_findings
from profwork.frames import Classifier, SysPaths
from profwork.readers.pstats import read_pstats
from profwork.sqlprobe import QueryLog, SqlProbe
from tests.conftest import write
from tests.sqlrun import probed

LAZY_CLIENT = (
    "SELECT clients.id, clients.name, clients.email, clients.deleted_at FROM clients "
    "WHERE ? = clients.id AND clients.deleted_at IS NULL"
)


def _module(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _db_params(url: str | None, **more: str) -> dict[str, str]:
    return {"rounds": "1", **({"db_url": url} if url else {}), **more}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """Each database test runs on SQLite (in memory) and on the suite's PostgreSQL server."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


# ---- the built-in targets ------------------------------------------------------------------------


def test_lazy_db_agenda_is_one_finding_per_day_at_the_agenda_line(db_url: str | None) -> None:
    log = probed("db", _db_params(db_url), "medium")
    [finding] = sql_findings(log)
    assert finding.kind == "sql" and finding.what == LAZY_CLIENT
    lazy = [q for q in log.queries if q.normalised == LAZY_CLIENT]
    assert finding.total == len(lazy) == 500  # one SELECT per appointment: medium seeds 500
    assert finding.unit == "a day's agenda" and finding.units == 28
    assert finding.count == pytest.approx(500 / 28)
    assert finding.site.startswith("agenda_line (") and finding.site.endswith("db.py:63)")
    assert finding.loop is not None and finding.loop.startswith("daily_agenda.<locals>.<listcomp>")
    assert finding.seconds == pytest.approx(sum(q.seconds for q in lazy))
    assert "selectinload" in finding.fix


@pytest.mark.parametrize("loading", ["selectin", "joined"])
def test_eager_db_agenda_has_no_finding(db_url: str | None, loading: str) -> None:
    assert sql_findings(probed("db", _db_params(db_url, loading=loading), "medium")) == []


def test_lazy_api_calendar_is_one_finding_per_calendar_request(db_url: str | None) -> None:
    log = probed("api", {"requests": "5", **({"db_url": db_url} if db_url else {})}, "small")
    [finding] = sql_findings(log)
    assert finding.what == LAZY_CLIENT
    calendar_units = {q.unit for q in log.queries if log.unit_label(q.unit) == "GET /calendar"}
    lazy_per_request = [
        sum(1 for q in log.queries if q.unit == u and q.normalised == LAZY_CLIENT)
        for u in calendar_units
    ]
    assert finding.unit == "GET /calendar" and finding.units == 5
    assert finding.total == sum(lazy_per_request) and finding.most == max(lazy_per_request)
    assert finding.site.startswith("calendar_entry (") and "app.py:88" in finding.site
    assert finding.loop is not None and finding.loop.startswith("calendar.<locals>.<listcomp>")


def test_eager_api_calendar_has_no_finding(db_url: str | None) -> None:
    params = {"requests": "5", "eager": "true", **({"db_url": db_url} if db_url else {})}
    assert sql_findings(probed("api", params, "small")) == []


# ---- what is not an N+1 --------------------------------------------------------------------------

SHOP = """\
    import sqlite3

    def open_db():
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO items (name) VALUES (?)", [(str(i),) for i in range(20)])
        return db

    def name(db, i):
        return db.execute("SELECT name FROM items WHERE id = ?", (i,)).fetchone()

    def price(db, i):
        return db.execute("SELECT name FROM items WHERE id = ?", (i,)).fetchone()

    def label(db, i):
        return db.execute("SELECT name FROM items WHERE id = ?", (i,)).fetchone()

    def decoy(db):
        # the same statement, 9 times in all, from three call sites: 3 each
        for i in (1, 2, 3):
            name(db, i)
            price(db, i)
            label(db, i)

    def cached(db):
        # one call site, 12 times, but with only 2 different parameters
        for i in (1, 2) * 6:
            name(db, i)

    def n_plus_one(db):
        for i in range(1, 13):
            name(db, i)
"""


def _shop_log(tmp_path: Path, entry: str) -> QueryLog:
    shop = _module(write(tmp_path / "shop.py", SHOP))
    probe = SqlProbe((str(tmp_path),))
    probe.install()
    try:
        db = shop.open_db()
        probe.start()
        getattr(shop, entry)(db)
    finally:
        probe.uninstall()
    return probe.log()


def test_one_statement_from_several_call_sites_is_not_flagged(tmp_path: Path) -> None:
    log = _shop_log(tmp_path, "decoy")
    assert len(log.queries) == 9
    assert sql_findings(log, threshold=5) == []


def test_identical_parameters_repeated_are_not_flagged(tmp_path: Path) -> None:
    log = _shop_log(tmp_path, "cached")
    assert len(log.queries) == 12
    assert sql_findings(log, threshold=5) == []


def test_a_loop_of_raw_sqlite3_lookups_is_flagged_at_its_call_site(tmp_path: Path) -> None:
    [finding] = sql_findings(_shop_log(tmp_path, "n_plus_one"), threshold=5)
    assert finding.what == "SELECT name FROM items WHERE id = ?"
    assert (finding.count, finding.units, finding.unit) == (12, 1, "body")
    assert finding.site == f"name ({tmp_path / 'shop.py'}:10)"
    assert finding.loop == f"n_plus_one ({tmp_path / 'shop.py'}:31)"
    assert "IN (...)" in finding.fix
    assert sql_findings(_shop_log(tmp_path, "n_plus_one"), threshold=13) == []


# ---- call patterns -------------------------------------------------------------------------------

SOCKETS = """\
    import socket
    import sqlite3

    def fetch(pair, i):
        pair[0].sendall(b"x")
        return pair[1].recv(1)

    def report(pair, items):
        return [fetch(pair, i) for i in items]

    def lookup(db, i):
        return db.execute("SELECT ?", (i,)).fetchone()

    def lookups(db, items):
        out = []
        for i in items:
            out.append(lookup(db, i))
        return out

    def once(db):
        return db.execute("SELECT 1").fetchone()

    def main():
        a, b = socket.socketpair()
        db = sqlite3.connect(":memory:")
        try:
            for _ in range(2):
                report((a, b), range(10))
                lookups(db, range(8))
            once(db)
        finally:
            a.close()
            b.close()
"""


def _call_profile(tmp_path: Path) -> object:
    app = _module(write(tmp_path / "calls.py", SOCKETS))
    profiler = cProfile.Profile()
    profiler.runcall(app.main)
    profiler.dump_stats(tmp_path / "calls.pstats")
    classifier = Classifier(SysPaths.current((str(tmp_path),)))
    return read_pstats(tmp_path / "calls.pstats", classifier=classifier)


def test_call_pattern_finds_per_item_socket_and_cursor_round_trips(tmp_path: Path) -> None:
    profile = _call_profile(tmp_path)
    found = {(f.what, f.unit): f for f in call_findings(profile)}  # type: ignore[arg-type]
    assert set(found) == {
        ("fetch", "report.<locals>.<listcomp>"),
        ("lookup", "lookups"),
    }
    socket_finding = found[("fetch", "report.<locals>.<listcomp>")]
    assert (socket_finding.io, socket_finding.count, socket_finding.units) == ("socket", 10, 2)
    assert socket_finding.total == 20
    cursor = found[("lookup", "lookups")]
    assert (cursor.io, cursor.count, cursor.total) == ("DB-API cursor", 8, 16)
    assert cursor.site.startswith("lookups (") and "calls.py" in cursor.site


def test_call_patterns_leave_database_io_to_the_sql_findings_when_sql_was_captured(
    tmp_path: Path,
) -> None:
    profile = _call_profile(tmp_path)
    found = call_findings(profile, sql_captured=True)  # type: ignore[arg-type]
    assert [(f.what, f.io) for f in found] == [("fetch", "socket")]
    # `find` combines both kinds, heaviest first
    both = find(profile, QueryLog(), threshold=5)  # type: ignore[arg-type]
    assert [f.what for f in both] == ["fetch"]
