"""`profwork serve`: a servable target's ASGI app under uvicorn on 127.0.0.1, unprofiled.

A target is servable when it declares an ASGI-app factory (`target(..., app=factory)`). The
target's setup runs first (seeding its database, say); the factory then gets the setup's state
as its first argument (when there is a setup) and the parameters it names, like the body does.
No profiler is involved: this gives `profwork attach` a live process to record.

- The listening socket is bound here, before the setup, so a port in use is one clear error and
  costs no seeding; `--port 0` takes any free port.
- Ready means answering: the URL and PID are reported once an HTTP request to `/` gets a response.
- SIGINT and SIGTERM stop it cleanly whenever they come: during the setup they end it at once,
  while serving they make uvicorn shut down gracefully; the teardown runs, and `serve` returns
  normally (exit code 0). uvicorn's own habit of re-raising the signal after its shutdown is
  switched off (`_Server.capture_signals`), since stopping on a signal is this command's normal end.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from profwork import specs, targets
from profwork.errors import ProfworkError

if TYPE_CHECKING:
    import uvicorn

HOST = "127.0.0.1"
READY_TIMEOUT = 30.0  # seconds from the server's start until it must answer


def _quiet(_: str) -> None:
    pass


def _ready_default(url: str, pid: int) -> None:
    pass


def servable() -> list[str]:
    """The registered targets that declare an ASGI-app factory."""
    names = []
    for name in sorted(targets.registered()):
        try:
            if targets.load_registered(name).app is not None:
                names.append(name)
        except ProfworkError:
            continue
    return names


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ProfworkError(
                f"port {port} on {HOST} is already in use",
                remedy="pass another --port (or --port 0 for any free port), "
                "or stop what listens there",
            ) from None
        raise ProfworkError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}", remedy="pass another --port"
        ) from None
    return sock


class _Interrupted(Exception):
    """SIGINT or SIGTERM arrived before the server was up."""


@contextlib.contextmanager
def _signals(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _interrupt(sig: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(sig).name)


def _server(app: Any) -> uvicorn.Server:
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # `serve` routes SIGINT/SIGTERM to `handle_exit` itself and does not want them
            # re-raised after the graceful shutdown (uvicorn's default): they are its normal end.
            yield

    config = uvicorn.Config(app, host=HOST, log_level="warning", access_log=False)
    return _Server(config)


async def _answers(port: int) -> bool:
    """Whether an HTTP request to `/` gets a response (any status)."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status.startswith(b"HTTP/")


async def _serve(
    server: uvicorn.Server, sock: socket.socket, on_ready: Callable[[str, int], None]
) -> None:
    port = sock.getsockname()[1]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + READY_TIMEOUT
    ready = False
    while not serving.done() and not server.should_exit:
        if server.started and await _answers(port):
            ready = True
            break
        if time.monotonic() > deadline:
            server.should_exit = True
            await serving
            raise ProfworkError(
                f"the server on port {port} did not answer within {READY_TIMEOUT:g} s",
                remedy="check the target's app factory",
            )
        await asyncio.sleep(0.02)
    if ready:
        on_ready(f"http://{HOST}:{port}", os.getpid())
    await serving


def serve(
    spec: str,
    *,
    params: Mapping[str, str] | None = None,
    size: str | None = None,
    port: int = 8000,
    on_ready: Callable[[str, int], None] = _ready_default,
    on_stage: Callable[[str], None] = _quiet,
) -> None:
    """Set up `spec`, serve its app on 127.0.0.1:`port` until SIGINT/SIGTERM, tear it down."""
    target = specs.resolve(spec)
    if target.app is None:
        names = ", ".join(servable()) or "none registered"
        raise ProfworkError(
            f"target {target.name!r} cannot be served: it declares no ASGI app factory",
            remedy=f"serve one that does ({names}), or declare target(..., app=factory)",
        )
    factory = target.app
    bound = target.bind(params, size)
    sock = _bind(port)
    set_up, state = False, None
    try:
        with _signals(_interrupt):
            on_stage(f"setting up {target.name}" + (f" ({size})" if size else ""))
            try:
                state = bound.run_setup()
                set_up = True
                kwargs = targets.accepted(factory, bound.params)
                app = factory(state, **kwargs) if target.setup is not None else factory(**kwargs)
            except (_Interrupted, ProfworkError):
                raise
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise ProfworkError(
                    f"setting up {target.name} failed: {type(exc).__name__}: {first}",
                    remedy="check its parameters (e.g. --db-url: is the database running?)",
                ) from None
            server = _server(app)
            # from here on a signal asks uvicorn for a graceful shutdown instead
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, server.handle_exit)
            asyncio.run(_serve(server, sock, on_ready))
    except _Interrupted:
        pass
    finally:
        sock.close()
        if set_up:
            bound.run_teardown(state)
