"""Deterministic seed data for the `api` and `db` targets, at the sizes both declare.

Appointments are spread over a fixed four-week period (`PERIOD_START`, `PERIOD_DAYS`), so a bigger
size means a busier clinic, not a longer calendar: a week's calendar holds ~12 appointments at
`small`, ~125 at `medium` and ~250 at `large`. Rooms are double-booked now and then, which gives
conflict detection something to find, and every twentieth client is a former (soft-deleted) one.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from .models import Appointment, Client, create_schema

SIZES: dict[str, dict[str, int]] = {
    "small": {"clients": 10, "appointments": 50},
    "medium": {"clients": 50, "appointments": 500},
    "large": {"clients": 100, "appointments": 1000},
}
PERIOD_START = datetime(2024, 3, 4)  # a Monday
PERIOD_DAYS = 28
ROOMS = ("R1", "R2", "R3", "R4", "R5", "R6")
SERVICES = ("check-up", "consultation", "follow-up", "physio", "imaging")


def is_former_client(client_id: int) -> bool:
    """Every twentieth client has left (soft-deleted); their past appointments stay."""
    return client_id % 20 == 0


def live_client_ids(clients: int) -> list[int]:
    return [i for i in range(1, clients + 1) if not is_former_client(i)]


def seed_database(engine: Engine, clients: int, appointments: int, seed: int = 11) -> None:
    """Create the schema afresh and insert `clients` clients and `appointments` appointments.

    Ids come from the database (so that its sequences stay in step for later inserts); on a
    fresh schema clients are numbered 1..clients in insertion order."""
    rng = random.Random(seed)
    create_schema(engine)
    client_rows = [
        {
            "name": f"Client {i:04d}",
            "email": f"client{i}@example.org",
            "deleted_at": PERIOD_START if is_former_client(i) else None,
        }
        for i in range(1, clients + 1)
    ]
    appointment_rows = []
    for _ in range(appointments):
        day = PERIOD_START + timedelta(days=rng.randrange(PERIOD_DAYS))
        starts = day + timedelta(hours=rng.randrange(8, 18), minutes=rng.choice((0, 15, 30, 45)))
        appointment_rows.append(
            {
                "client_id": rng.randint(1, clients),
                "room": rng.choice(ROOMS),
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=rng.choice((30, 45, 60))),
                "service": rng.choice(SERVICES),
            }
        )
    with engine.begin() as connection:
        if client_rows:
            connection.execute(insert(Client), client_rows)
        if appointment_rows:
            connection.execute(insert(Appointment), appointment_rows)
