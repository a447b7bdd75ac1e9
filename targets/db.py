"""`db`: ORM queries over the clinic schema — lazy N+1 vs eager loading, indexed vs not.

For each day of the seeded four-week period, in its own session (one unit of work per day, as a
request or a nightly job would have; declared as such to the SQL probe with
`profwork.work.unit_of_work`), the body builds the day's agenda — each appointment with its
client's name — and the day's hourly load (one `starts_at` range query, bucketed by hour).

- `loading=lazy` (the naive default): reading `appointment.client` emits one SELECT per
  appointment (see `targets/api/models.py`), so the statements grow with the appointments (N+1);
  `loading=selectin` adds one `IN` query per agenda, `loading=joined` joins the clients in.
- `indexed=false` (the default) drops the `starts_at` index after seeding, so every range query
  scans the table; `indexed=true` keeps it. At the seeded sizes SQLite scans a table this small in
  microseconds; `-p appointments=50000` shows the index mattering.

Setup (schema, seeding, dropping the index) is not profiled. `db_url` is any SQLAlchemy URL with a
synchronous driver (default: in-memory SQLite).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload, selectinload

from profwork.targets import target
from profwork.work import unit_of_work

from .api.models import STARTS_AT_INDEX, Appointment, make_engine
from .api.seed import PERIOD_DAYS, PERIOD_START, SIZES, seed_database

Loading = Literal["lazy", "selectin", "joined"]


@dataclass(frozen=True)
class Database:
    """The setup's state: a seeded database."""

    engine: Engine
    clients: int
    appointments: int
    indexed: bool


def setup(
    clients: int = 50, appointments: int = 500, db_url: str = "sqlite://", indexed: bool = False
) -> Database:
    engine = make_engine(db_url)
    seed_database(engine, clients, appointments)
    if not indexed:
        STARTS_AT_INDEX.drop(engine)
    return Database(engine, clients, appointments, indexed)


def teardown(database: Database) -> None:
    database.engine.dispose()


def agenda_line(appointment: Appointment) -> str:
    """One agenda line; `appointment.client` lazy-loads the client unless it was eager-loaded."""
    client = appointment.client
    return (
        f"{appointment.starts_at:%H:%M}-{appointment.ends_at:%H:%M} {appointment.room} "
        f"{client.name if client else '(former client)'} ({appointment.service})"
    )


def daily_agenda(session: Session, day: datetime, loading: Loading) -> list[str]:
    query = (
        select(Appointment)
        .where(Appointment.starts_at >= day, Appointment.starts_at < day + timedelta(days=1))
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if loading == "selectin":
        query = query.options(selectinload(Appointment.client))
    elif loading == "joined":
        query = query.options(joinedload(Appointment.client))
    return [agenda_line(a) for a in session.scalars(query)]


def hourly_load(session: Session, day: datetime) -> dict[int, int]:
    """Appointments starting in each hour of the day, from one `starts_at` range query."""
    load: dict[int, int] = {}
    starts = session.scalars(
        select(Appointment.starts_at).where(
            Appointment.starts_at >= day, Appointment.starts_at < day + timedelta(days=1)
        )
    )
    for started in starts:
        load[started.hour] = load.get(started.hour, 0) + 1
    return load


def body(database: Database, rounds: int = 12, loading: Loading = "lazy") -> int:
    """Each day's agenda and hourly load, `rounds` times; the number of agenda lines."""
    lines = 0
    for _ in range(rounds):
        for offset in range(PERIOD_DAYS):
            day = PERIOD_START + timedelta(days=offset)
            with unit_of_work("a day's agenda"), Session(database.engine) as session:
                lines += len(daily_agenda(session, day, loading))
                hourly_load(session, day)
    return lines


TARGET = target(
    "db",
    description="ORM agenda queries: lazy N+1 vs selectin or joined loading; a range query "
    "with or without its index",
    sizes=SIZES,
    setup=setup,
    teardown=teardown,
)(body)
