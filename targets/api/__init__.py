"""`api`: the clinic's ASGI application, driven in-process by an HTTP client.

Setup (not profiled) seeds the database and builds the application (`app.py`). The body sends
`requests` requests to each endpoint with `httpx.AsyncClient` over `httpx.ASGITransport` inside
`asyncio.run`, so every request runs in the profiled thread, and reports each endpoint's latency
percentiles as target metrics. Each request is a unit of work (`profwork.work.per_request`), so
that SQL N+1 findings count statements per request. The calendar lazy-loads each appointment's
client (N+1) unless `eager=true`. `profwork serve api` runs the same application under uvicorn
(`serve_app`).

`db_url` is any SQLAlchemy URL with a synchronous driver (default: an in-memory SQLite database,
one shared connection, see `models.make_engine`); the schema is dropped and re-created there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import Engine
from starlette.applications import Starlette

from profwork.targets import Metrics, target
from profwork.work import per_request

from .._metrics import latency_figures
from .app import create_app
from .models import make_engine
from .seed import PERIOD_DAYS, PERIOD_START, SIZES, live_client_ids, seed_database

BOOKING_ROOM = "R9"  # a room the seed never uses: the body's bookings never collide with it


@dataclass
class Clinic:
    """The setup's state: a seeded database and the application over it."""

    engine: Engine
    app: Starlette
    clients: list[int]  # ids of the live clients
    appointments: int
    bookings: int = 0  # appointments the bodies have booked so far (each in a new slot)


def setup(
    clients: int = 50, appointments: int = 500, db_url: str = "sqlite://", eager: bool = False
) -> Clinic:
    engine = make_engine(db_url)
    seed_database(engine, clients, appointments)
    return Clinic(engine, create_app(engine, eager=eager), live_client_ids(clients), appointments)


def teardown(clinic: Clinic) -> None:
    clinic.engine.dispose()


def serve_app(clinic: Clinic) -> Starlette:
    """The ASGI app `profwork serve api` runs."""
    return clinic.app


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, expected {status}: {response.text[:200]}"
        )


async def drive(clinic: Clinic, requests: int, days: int) -> dict[str, list[float]]:
    """`requests` requests per endpoint, interleaved; each one's latency in seconds."""
    latencies: dict[str, list[float]] = {}

    async def timed(name: str, status: int, send: Awaitable[httpx.Response]) -> None:
        started = time.perf_counter()
        response = await send
        latencies.setdefault(name, []).append(time.perf_counter() - started)
        _expect(response, status)

    # each request is its own unit of work for the SQL probe (an N+1 is counted per request)
    transport = httpx.ASGITransport(app=per_request(clinic.app))
    async with httpx.AsyncClient(transport=transport, base_url="http://clinic") as http:
        for i in range(requests):
            start = PERIOD_START + timedelta(days=(i * days) % PERIOD_DAYS)
            day = PERIOD_START + timedelta(days=i % PERIOD_DAYS)
            client_id = clinic.clients[i % len(clinic.clients)]
            slot = PERIOD_START + timedelta(days=PERIOD_DAYS, hours=clinic.bookings)
            clinic.bookings += 1
            await timed(
                "GET /calendar",
                200,
                http.get("/calendar", params={"start": start.date().isoformat(), "days": days}),
            )
            await timed(
                "GET /clients/{id}/timeline",
                200,
                http.get(f"/clients/{client_id}/timeline"),
            )
            await timed(
                "GET /conflicts",
                200,
                http.get("/conflicts", params={"date": day.date().isoformat()}),
            )
            await timed(
                "POST /appointments",
                201,
                http.post(
                    "/appointments",
                    json={
                        "client_id": client_id,
                        "room": BOOKING_ROOM,
                        "starts_at": slot.isoformat(),
                        "minutes": 45,
                    },
                ),
            )
    return latencies


def body(clinic: Clinic, requests: int = 60, days: int = 7) -> Metrics:
    """Drive `requests` requests per endpoint through the app; per-endpoint latency metrics."""
    latencies = asyncio.run(drive(clinic, requests, days))
    return Metrics({name: latency_figures(samples) for name, samples in latencies.items()})


TARGET = target(
    "api",
    description="Clinic ASGI app (Starlette + SQLAlchemy) driven in-process; calendar N+1 "
    "(eager=true joins the clients in)",
    sizes=SIZES,
    setup=setup,
    teardown=teardown,
    app=serve_app,
)(body)
