"""The four built-in targets (and `example`): listed, profiled through the installed CLI with their
known hotspot first, their N+1 statements and quadratic scans countable, `api` servable for real,
`api` and `db` on PostgreSQL too.

Everything is real: the real profilers, real SQLite and PostgreSQL, the real ASGI app under httpx
and under uvicorn. Growth is asserted by counting statements (an SQLAlchemy `before_cursor_execute`
listener here, not the product's probe) or the scheduler's own record counter, never by timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, func, inspect, select
from sqlalchemy.orm import Session

from profwork.targets import resolve
from profwork_targets.api.app import ENDPOINTS
from profwork_targets.api.models import Appointment, Client
from profwork_targets.api.seed import PERIOD_DAYS, PERIOD_START
from profwork_targets.scheduler import Assignment, IndexedLedger, Ledger, build_schedule, validate
from profwork_targets.task import History, Visit, build_report, make_histories, percentile_naive
from tests.conftest import PROFWORK, only_run, profwork

BUILTINS = ("api", "db", "example", "scheduler", "task")
SEEDED = [("small", 10, 50), ("medium", 50, 500), ("large", 100, 1000)]

# name → (parameters that keep the run short, the known hotspot of the naive variant, setup
# functions that must never appear in the profile)
RUNS: dict[str, tuple[list[str], str, tuple[str, ...]]] = {
    "scheduler": (
        ["--size", "medium", "-p", "rounds=2"],
        "Ledger.shifts_in_window",
        (),
    ),
    "api": (
        ["--size", "medium", "-p", "requests=4"],
        "calendar_entry",
        ("seed_database", "create_schema", "create_app", "make_engine", "setup"),
    ),
    "db": (
        ["--size", "medium", "-p", "rounds=1"],
        "agenda_line",
        ("seed_database", "create_schema", "make_engine", "setup"),
    ),
    "task": (
        ["--size", "medium", "-p", "workers=2"],
        "percentile_naive",
        ("make_histories", "setup"),
    ),
}


def run_target(name: str, method: str, results: Path, *extra: str) -> Path:
    params, _, _ = RUNS[name]
    done = profwork("run", name, "-m", method, *params, *extra, "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest["error"]
    return run


def hotspots(run: Path) -> list[str]:
    summary = json.loads((run / "summary.json").read_text())
    return [row["function"] for row in summary["hotspots"]]


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Every statement any engine sends to its database while the block runs."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each database test on the embedded default and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return "sqlite://"
    url: str = request.getfixturevalue("pg_url")
    return url


# ---- listing ----------------------------------------------------------------------------------


def test_every_builtin_declares_a_description_typed_defaults_and_three_sizes() -> None:
    for name in BUILTINS:
        target = resolve(name)
        assert target.description, name
        assert set(target.sizes) == {"small", "medium", "large"}, name
        for parameter in target.parameters:
            assert not parameter.required, (name, parameter.name)
            assert parameter.type_name in ("int", "bool", "str") or "|" in parameter.type_name
    assert {p.name for p in resolve("api").parameters} >= {"db_url", "eager", "requests"}
    assert {p.name for p in resolve("db").parameters} >= {"db_url", "loading", "indexed"}
    assert resolve("api").app is not None
    assert all(resolve(name).app is None for name in BUILTINS if name != "api")


def test_targets_lists_all_five_with_parameters_defaults_and_sizes() -> None:
    done = profwork("targets")
    assert done.returncode == 0, done.stderr
    for name in BUILTINS:
        target = resolve(name)
        assert re.search(rf"│ {name}\s+│", done.stdout), name
        for parameter in target.parameters:
            assert f"{parameter.name}: {parameter.type_name} = {parameter.default!r}" in (
                done.stdout
            ), (name, parameter.name)
        for size, values in target.sizes.items():
            first = next(iter(values.items()))
            assert f"{size}: {first[0]}={first[1]}" in done.stdout, (name, size)


# ---- profiling through the CLI ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["cprofile", "pyinstrument"])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_each_builtin_runs_and_its_known_hotspot_comes_first(
    name: str, method: str, results: Path
) -> None:
    run = run_target(name, method, results)
    _, hotspot, setup_functions = RUNS[name]
    ranked = hotspots(run)
    if name == "task" and method == "pyinstrument":
        # pyinstrument samples only the body's thread, which waits in join: no worker frames
        assert "percentile_naive" not in ranked
    else:
        assert ranked[0] == hotspot, ranked
    # setup (seeding, building the app, making the data) never appears in the profile
    folded = (run / "profile.folded").read_text()
    for function in setup_functions:
        assert f";{function} (" not in folded and not folded.startswith(f"{function} ("), function


def test_api_reports_per_endpoint_latency_percentiles_as_target_metrics(results: Path) -> None:
    run = run_target("api", "pyinstrument", results)
    manifest = json.loads((run / "manifest.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert set(manifest["target_metrics"]) == set(ENDPOINTS)
    for figures in manifest["target_metrics"].values():
        assert set(figures) == {"p50", "p95", "p99", "mean", "count"}
        assert figures["count"] == 4
        assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"]
    assert summary["target_metrics"] == manifest["target_metrics"]


def test_task_workers_are_profiled_under_cprofile_each_under_its_thread(results: Path) -> None:
    run = run_target("task", "cprofile", results)
    roots = {line.split(";")[0] for line in (run / "profile.folded").read_text().splitlines()}
    assert {r.rsplit(": ", 1)[-1] for r in roots if r.startswith("thread (")} >= {
        "MainThread",
        "report-worker-0",
        "report-worker-1",
    }


# ---- what the data and the fixes look like, counted ------------------------------------------


@pytest.mark.parametrize(("size", "clients", "appointments"), SEEDED)
@pytest.mark.parametrize("name", ["api", "db"])
def test_seeded_sizes(name: str, size: str, clients: int, appointments: int, db_url: str) -> None:
    bound = resolve(name).bind({"db_url": db_url}, size)
    state = bound.run_setup()
    try:
        with Session(state.engine) as session:
            assert session.scalar(select(func.count()).select_from(Client)) == clients
            assert session.scalar(select(func.count()).select_from(Appointment)) == appointments
    finally:
        bound.run_teardown(state)


def calendar_statements(size: str, eager: bool, db_url: str) -> tuple[int, int]:
    """(appointments listed, statements executed) for one request of the whole seeded period."""
    bound = resolve("api").bind({"eager": str(eager).lower(), "db_url": db_url}, size)
    clinic = bound.run_setup()

    async def request() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=clinic.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinic") as http:
            with counting_statements() as statements:
                response = await http.get(
                    "/calendar",
                    params={"start": PERIOD_START.date().isoformat(), "days": PERIOD_DAYS},
                )
        assert response.status_code == 200, response.text
        return len(response.json()["appointments"]), len(statements)

    try:
        return asyncio.run(request())
    finally:
        bound.run_teardown(clinic)


def test_api_calendar_lazy_loads_one_client_per_appointment_unless_eager(db_url: str) -> None:
    for size, _, appointments in SEEDED:
        # GIVEN the seeded clinic, WHEN the whole period's calendar is requested
        listed, lazy = calendar_statements(size, eager=False, db_url=db_url)
        _, eager = calendar_statements(size, eager=True, db_url=db_url)
        # THEN the lazy calendar costs one statement plus one per appointment (N+1)…
        assert listed == appointments
        assert lazy == 1 + appointments, size
        # …and the eager one a single joined statement, whatever the size
        assert eager == 1, size


def db_round_statements(size: str, loading: str, db_url: str) -> int:
    bound = resolve("db").bind({"loading": loading, "rounds": "1", "db_url": db_url}, size)
    database = bound.run_setup()
    try:
        with counting_statements() as statements:
            assert bound.body_call(database)() == database.appointments
        return len(statements)
    finally:
        bound.run_teardown(database)


def test_db_lazy_statements_grow_with_the_appointments_and_eager_ones_stay_constant(
    db_url: str,
) -> None:
    per_day = 2  # each day's agenda query and its hourly-load range query
    counts = {
        loading: [db_round_statements(size, loading, db_url) for size, _, _ in SEEDED]
        for loading in ("lazy", "selectin", "joined")
    }
    assert counts["lazy"] == [PERIOD_DAYS * per_day + n for _, _, n in SEEDED]
    assert counts["joined"] == [PERIOD_DAYS * per_day] * 3
    # selectin adds one IN query per day that has appointments (every day from `medium` on)
    assert counts["selectin"][1:] == [PERIOD_DAYS * (per_day + 1)] * 2
    assert counts["selectin"][0] <= PERIOD_DAYS * (per_day + 1)


def test_db_unindexed_variant_drops_the_date_index(db_url: str) -> None:
    for indexed in (False, True):
        bound = resolve("db").bind({"indexed": str(indexed), "db_url": db_url}, "small")
        database = bound.run_setup()
        try:
            names = {ix["name"] for ix in inspect(database.engine).get_indexes("appointments")}
            assert ("ix_appointments_starts_at" in names) is indexed
        finally:
            bound.run_teardown(database)


def test_naive_scheduler_scans_grow_quadratically_and_the_fast_ones_linearly() -> None:
    # GIVEN twice the residents (so twice the assignments), WHEN both variants build the schedule
    base = {v: build_schedule(12, 4, v) for v in ("naive", "fast")}
    double = {v: build_schedule(24, 4, v) for v in ("naive", "fast")}
    # THEN the same schedule comes out, within the rules…
    for schedules in (base, double):
        assert schedules["naive"].assignments == schedules["fast"].assignments
        assert not schedules["naive"].violations and not schedules["fast"].violations
    assert double["naive"].assignments == 2 * base["naive"].assignments
    # …the naive variant examines ~4x the records (quadratic), the fast one ~2x (linear)
    assert double["naive"].operations / base["naive"].operations > 3.5
    assert double["fast"].operations / base["fast"].operations < 2.2
    assert double["naive"].operations > 50 * double["fast"].operations


def test_scheduler_rules_bind_and_validation_catches_what_breaks_them() -> None:
    # the ICU's seven 14-hour days are trimmed by the 80-hour cap, never more than 6 days in a row
    schedule = build_schedule(12, 4, "fast")
    assert schedule.assignments < 12 * 4 * 7
    for ledger in (Ledger(), IndexedLedger()):
        for day in range(7):  # seven 14-hour days: over the cap and no day off
            ledger.add(Assignment(resident=0, day=day, rotation="icu", hours=14))
        ledger.add(Assignment(resident=1, day=3, rotation="clinic", hours=9))
        ledger.add(Assignment(resident=1, day=3, rotation="wards", hours=12))
        problems = validate(ledger)
        assert any("over 80 h" in p for p in problems)
        assert any("no day off in seven" in p for p in problems)
        assert any("resident 1: double-booked on day 3" in p for p in problems)


def test_task_naive_and_fast_reports_agree() -> None:
    for history in make_histories(clients=5, visits=37):
        assert build_report(history, "naive") == build_report(history, "fast")
    values = [5, 1, 4, 1, 3]
    assert [percentile_naive(values, q) for q in (0.2, 0.5, 0.9, 1.0)] == [1, 3, 5, 5]
    single = History(1, "One", (Visit("physio", 30, 1000),))
    assert "minutes  p50/p90/p99: 30/30/30" in build_report(single, "naive")


# ---- PostgreSQL through the CLI ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["api", "db"])
def test_database_targets_run_against_postgresql(name: str, pg_url: str, results: Path) -> None:
    done = profwork(
        "run", name, "--db-url", pg_url, "--size", "small", *RUNS[name][0][2:], "-o", str(results)
    )
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest["error"]
    assert manifest["params"]["db_url"] == pg_url
    assert "psycopg" in (run / "profile.folded").read_text()  # PostgreSQL's driver did the work


# ---- profwork serve ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """`profwork serve` as a child process, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PROFWORK, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s")
            if line is None:
                self.proc.wait(timeout=10)
                assert self.proc.stderr is not None
                pytest.fail(f"serve exited ({self.proc.returncode}): {self.proc.stderr.read()}")
            found = re.search(pattern, line)
            if found:
                return found

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_api_answers_every_endpoint_and_stops_cleanly(sig: signal.Signals) -> None:
    port = free_port()
    served = Served("api", "--size", "small", "--port", str(port))
    try:
        ready = served.wait_for(r"serving api at (http://\S+) \(pid (\d+)\)")
        url, pid = ready.group(1), int(ready.group(2))
        assert url == f"http://127.0.0.1:{port}" and pid == served.proc.pid
        start = PERIOD_START.date().isoformat()
        booking = {"client_id": 1, "room": "R9", "starts_at": "2024-06-03T10:00:00"}
        with httpx.Client(base_url=url, timeout=30) as http:
            calendar = http.get("/calendar", params={"start": start, "days": PERIOD_DAYS})
            timeline = http.get("/clients/1/timeline")
            conflicts = http.get("/conflicts", params={"date": start})
            created = http.post("/appointments", json=booking)
            taken = http.post("/appointments", json=booking)
            bad = http.get("/calendar", params={"start": "yesterday"})
        assert calendar.status_code == 200 and len(calendar.json()["appointments"]) == 50
        assert timeline.status_code == 200 and timeline.json()["client"]["id"] == 1
        assert conflicts.status_code == 200 and "conflicts" in conflicts.json()
        assert created.status_code == 201 and taken.status_code == 409
        assert taken.json()["conflicts"] == [created.json()["id"]]
        assert bad.status_code == 400 and "start must be a date" in bad.json()["error"]
        code, stderr = served.stop(sig)
        assert code == 0, stderr
        assert not Path(f"/proc/{pid}").exists()  # exited and reaped: nothing left running
    finally:
        served.kill()


def test_serve_refuses_a_target_without_an_app_factory_in_one_line() -> None:
    done = profwork("serve", "example", "--port", "0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot be served" in done.stderr and "api" in done.stderr


def test_serve_on_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = profwork("serve", "api", "--size", "small", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
