"""The clinic's ASGI application (Starlette): calendar, client timeline, conflicts, booking.

    GET  /                              what is served (endpoints, seeded period)
    GET  /calendar?start=DATE&days=N    appointments starting in [start, start + N days), with
                                        each one's client
    GET  /clients/{id}/timeline         a client and all their appointments, in order
    GET  /conflicts?date=DATE           overlapping appointments in the same room on that day
    POST /appointments                  book {client_id, room, starts_at, minutes, service};
                                        409 when the room is taken

Endpoints and their one dependency (`db_session`) are `async def` and use a *synchronous*
SQLAlchemy `Session`, deliberately: no threadpool (so every request runs in the thread that drives
it, where an in-process profiler sees it) and no async engine (which could not lazy-load). A real
deployment would not block its event loop on the database like this; here it keeps the whole
request on one stack.

The known bottleneck: `/calendar` serialises each appointment with its client through the lazy
`Appointment.client` relationship: one SELECT per appointment (N+1; the relationship's
soft-delete criterion means the session's identity map cannot answer it, see `models.py`).
Built with `eager=True`, the calendar query joins the clients in (`joinedload`): one statement
per request, whatever the range holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .models import Appointment, Client
from .seed import PERIOD_DAYS, PERIOD_START

ENDPOINTS = (
    "GET /calendar",
    "GET /clients/{id}/timeline",
    "GET /conflicts",
    "POST /appointments",
)


class BadRequest(Exception):
    """A query or body the endpoint cannot use; answered with 400 and the message."""


@asynccontextmanager
async def db_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: one session, closed when the response is built."""
    with request.app.state.sessions() as session:
        yield session


def _day(text: str | None, name: str) -> datetime:
    if not text:
        raise BadRequest(f"{name} is required (YYYY-MM-DD)")
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {text!r}") from None


def _positive_int(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None
    if value <= 0:
        raise BadRequest(f"{name} must be positive, got {value}")
    return value


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def calendar_entry(appointment: Appointment) -> dict[str, Any]:
    """One calendar line. Reading `appointment.client` lazy-loads it unless it was eager-loaded:
    the N+1 of the calendar."""
    client = appointment.client  # None for a former (soft-deleted) client
    return {
        "id": appointment.id,
        "starts_at": appointment.starts_at.isoformat(),
        "ends_at": appointment.ends_at.isoformat(),
        "room": appointment.room,
        "service": appointment.service,
        "client": {"id": client.id, "name": client.name} if client else None,
    }


def _live_client(session: Session, client_id: int) -> Client | None:
    client = session.get(Client, client_id)
    return client if client is not None and client.deleted_at is None else None


async def index(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "endpoints": list(ENDPOINTS),
            "period": {
                "start": PERIOD_START.date().isoformat(),
                "days": PERIOD_DAYS,
            },
            "eager": request.app.state.eager,
        }
    )


async def calendar(request: Request) -> JSONResponse:
    try:
        start = _day(request.query_params.get("start"), "start")
        days = _positive_int(request.query_params.get("days"), "days", 7)
    except BadRequest as exc:
        return _error(400, str(exc))
    end = start + timedelta(days=days)
    query = (
        select(Appointment)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if request.app.state.eager:
        query = query.options(joinedload(Appointment.client))
    async with db_session(request) as session:
        entries = [calendar_entry(a) for a in session.scalars(query)]
    return JSONResponse({"start": start.date().isoformat(), "days": days, "appointments": entries})


async def timeline(request: Request) -> JSONResponse:
    client_id: int = request.path_params["client_id"]
    async with db_session(request) as session:
        client = _live_client(session, client_id)
        if client is None:
            return _error(404, f"no client {client_id}")
        rows = session.scalars(
            select(Appointment)
            .where(Appointment.client_id == client_id)
            .order_by(Appointment.starts_at, Appointment.id)
        )
        visits = [
            {
                "id": a.id,
                "starts_at": a.starts_at.isoformat(),
                "minutes": int((a.ends_at - a.starts_at).total_seconds() // 60),
                "room": a.room,
                "service": a.service,
            }
            for a in rows
        ]
    return JSONResponse({"client": {"id": client.id, "name": client.name}, "appointments": visits})


def find_conflicts(appointments: list[Appointment]) -> list[tuple[Appointment, Appointment]]:
    """Overlapping pairs in the same room, from appointments sorted by (room, starts_at): a sweep
    that keeps, per room, the appointments still running."""
    pairs: list[tuple[Appointment, Appointment]] = []
    running: list[Appointment] = []
    room = None
    for a in appointments:
        if a.room != room:
            room, running = a.room, []
        running = [r for r in running if r.ends_at > a.starts_at]
        pairs.extend((r, a) for r in running)
        running.append(a)
    return pairs


async def conflicts(request: Request) -> JSONResponse:
    try:
        day = _day(request.query_params.get("date"), "date")
    except BadRequest as exc:
        return _error(400, str(exc))
    async with db_session(request) as session:
        rows = list(
            session.scalars(
                select(Appointment)
                .where(
                    Appointment.starts_at >= day,
                    Appointment.starts_at < day + timedelta(days=1),
                )
                .order_by(Appointment.room, Appointment.starts_at, Appointment.id)
            )
        )
        found = [
            {
                "room": a.room,
                "first": a.id,
                "second": b.id,
                "overlap_starts": b.starts_at.isoformat(),
            }
            for a, b in find_conflicts(rows)
        ]
    return JSONResponse({"date": day.date().isoformat(), "conflicts": found})


def _booking(payload: Any) -> tuple[int, str, datetime, datetime, str]:
    if not isinstance(payload, dict):
        raise BadRequest("expected a JSON object")
    try:
        client_id = int(payload["client_id"])
        room = str(payload["room"])
        starts = datetime.fromisoformat(str(payload["starts_at"]))
        minutes = int(payload.get("minutes", 30))
        service = str(payload.get("service", "consultation"))
    except KeyError as exc:
        raise BadRequest(f"missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad field: {exc}") from None
    if minutes <= 0:
        raise BadRequest("minutes must be positive")
    return client_id, room, starts, starts + timedelta(minutes=minutes), service


async def create_appointment(request: Request) -> JSONResponse:
    try:
        client_id, room, starts, ends, service = _booking(await request.json())
    except ValueError:  # not JSON at all
        return _error(400, "the body must be JSON")
    except BadRequest as exc:
        return _error(400, str(exc))
    async with db_session(request) as session:
        if _live_client(session, client_id) is None:
            return _error(404, f"no client {client_id}")
        taken = session.scalars(
            select(Appointment.id).where(
                Appointment.room == room,
                Appointment.starts_at < ends,
                Appointment.ends_at > starts,
            )
        ).all()
        if taken:
            return JSONResponse(
                {"error": f"room {room} is taken", "conflicts": list(taken)}, status_code=409
            )
        appointment = Appointment(
            client_id=client_id, room=room, starts_at=starts, ends_at=ends, service=service
        )
        session.add(appointment)
        session.commit()
        return JSONResponse({"id": appointment.id}, status_code=201)


def create_app(engine: Engine, *, eager: bool = False) -> Starlette:
    """The application over `engine`; `eager=True` fixes the calendar's N+1."""
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/calendar", calendar),
            Route("/clients/{client_id:int}/timeline", timeline),
            Route("/conflicts", conflicts),
            Route("/appointments", create_appointment, methods=["POST"]),
        ]
    )
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    app.state.eager = eager
    return app
