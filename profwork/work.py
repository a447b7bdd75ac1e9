"""Units of work: what the SQL probe groups a target's statements by.

An N+1 is "the same statement, many times, within one unit of work": one request of a web
application, one job of a worker, or the whole target body when nothing narrower is declared.
This module is how code says where a unit begins and ends; it imports nothing heavy, so a target
or an application may use it freely, and it costs one context-variable lookup per statement.

- `unit_of_work("nightly report")` is a context manager (sync code, threads, tasks alike: the
  unit lives in a `contextvars.ContextVar`, so each asyncio task and each thread sees its own);
- `per_request(app)` wraps an ASGI application so that each HTTP (or websocket) request is a
  unit, labelled with its method and route path (`GET /calendar`).

Statements executed outside any unit belong to the target body (`BODY`).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of work: a process-unique id and a label (several units may share a label,
    such as every `GET /calendar` request)."""

    id: int
    label: str


BODY = Unit(0, "body")

_CURRENT: ContextVar[Unit | None] = ContextVar("profwork_unit_of_work", default=None)
_IDS = itertools.count(1)


def current() -> Unit:
    """The unit of work the calling code runs in (`BODY` outside any)."""
    return _CURRENT.get() or BODY


@contextmanager
def unit_of_work(label: str) -> Iterator[Unit]:
    """Run the block as one unit of work named `label`; units nest (the innermost counts)."""
    unit = Unit(next(_IDS), label)
    token = _CURRENT.set(unit)
    try:
        yield unit
    finally:
        _CURRENT.reset(token)


def request_label(scope: Scope) -> str:
    """`METHOD /path` for an HTTP request, the route's path template when the router has put
    one in the scope (Starlette's `route`), else the path with digits collapsed to `{id}`, so
    that `/clients/7/timeline` and `/clients/8/timeline` are one label."""
    route = scope.get("route")
    path = getattr(route, "path", None) or _templated(str(scope.get("path", "")))
    method = scope.get("method") or str(scope.get("type", "")).upper()
    return f"{method} {path}"


def _templated(path: str) -> str:
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))


def per_request(app: ASGIApp) -> ASGIApp:
    """`app` with each HTTP or websocket request as its own unit of work."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        with unit_of_work(request_label(scope)):
            await app(scope, receive, send)

    return wrapped
