"""SIGTERM and SIGHUP end profwork's work as Ctrl-C does (DESIGN §4).

`timeout`, CI runners, Docker and systemd stop a process with SIGTERM, and a closed terminal
sends SIGHUP. While `ending_as_interrupt()` is active, either signal raises `Terminated`, a
`KeyboardInterrupt` that remembers the signal: every path that already keeps a Ctrl-C'd run
(status `interrupted`, every artefact written, the py-spy child and py-spy stopped) applies as is,
and the exit code becomes 128 + the signal's number instead of Ctrl-C's 130.

Only the first of these signals interrupts: profwork is then already ending, and a second one
(systemd and `timeout -k` repeat themselves; so do impatient users) must not cut the writing of
what was measured short. It is reported on stderr and otherwise ignored; SIGKILL remains the way
to abandon a run. SIGINT raises `KeyboardInterrupt` as Python's own handler does, every time.
The previous handlers come back on exit, unless a termination signal was received: then the
process is ending, and later ones are ignored.

CPython does not propagate an exception raised inside a `__del__` method or a weakref callback:
it prints "Exception ignored in: …" and carries on. A Ctrl-C that lands there (the import
machinery runs weakref callbacks; a target's objects are collected at any time) would be lost,
and the run would go on as if nothing happened. So each handler also records that its signal
arrived, and `check()`, called at the runner's checkpoints (before the body, after it), raises
the interrupt again if one arrived that nobody has acted on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from profwork.errors import CTRL_C_EXIT

SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """A termination signal, delivered like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def describe(interrupt: BaseException) -> str:
    """What interrupted: `SIGTERM` for a termination signal, else the user's Ctrl-C."""
    if isinstance(interrupt, Terminated):
        return f"interrupted by {signal.Signals(interrupt.signum).name}"
    return "interrupted by the user (Ctrl-C)"


class Received:
    """The termination signal received while the handlers were installed, if any. (A plain
    class: `dataclasses` would add a millisecond to every start-up, `--help` included.)"""

    __slots__ = ("signum",)

    def __init__(self, signum: int | None = None) -> None:
        self.signum = signum

    def exit_code(self, code: int) -> int:
        """The process's exit code: an interrupted command's 130 becomes 128 + the signal."""
        if code == CTRL_C_EXIT and self.signum is not None:
            return 128 + self.signum
        return code


# The signals that arrived while `ending_as_interrupt` was active and whose interrupt no
# checkpoint has raised again yet. The handlers are the process's, so this is too.
_arrived: list[int] = []

# The handlers `ending_as_interrupt` replaced, while it is active. A process the profiled code
# forks (a multiprocessing worker) is the user's, not profwork's: it gets them back, so that
# `Pool.terminate()`'s SIGTERM ends a worker silently, as it does without profwork, instead of
# raising `Terminated` in it.
_replaced: dict[int, signal.Handlers | int | object] = {}


def _forked() -> None:
    for sig, old in _replaced.items():
        with contextlib.suppress(OSError, ValueError, TypeError):
            signal.signal(sig, old)  # type: ignore[arg-type]
    _replaced.clear()
    _arrived.clear()


os.register_at_fork(after_in_child=_forked)


def check() -> None:
    """A checkpoint: raise the interrupt of a signal that arrived and may have been swallowed
    (see the module's doc): `KeyboardInterrupt` for SIGINT, `Terminated` for the others. The
    record is cleared, so one signal interrupts at one checkpoint at most. Outside
    `ending_as_interrupt` nothing is recorded, and this does nothing."""
    if not _arrived:
        return
    signum = _arrived[0]
    _arrived.clear()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def ending_as_interrupt() -> Iterator[Received]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` (once; see the module's doc);
    `received.signum` names the one that did.

    Outside the main thread, where Python cannot install handlers, the block changes nothing."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if received.signum is not None:
            # os.write: the interrupted code may be in the middle of writing to sys.stderr
            name = signal.Signals(signum).name
            with contextlib.suppress(OSError):
                os.write(2, f"profwork: {name} received; still saving what was measured\n".encode())
            return
        received.signum = signum
        _arrived.append(signum)
        raise Terminated(signum)

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        _arrived.append(signum)
        raise KeyboardInterrupt

    _arrived.clear()
    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:  # not when SIGINT is ignored, or someone's
        signal.signal(signal.SIGINT, interrupt)
    outer = dict(_replaced)
    _replaced.update({sig: old for sig, old in previous.items() if sig not in outer})
    if previous_int is signal.default_int_handler:
        _replaced.setdefault(signal.SIGINT, previous_int)
    try:
        yield received
    finally:
        _replaced.clear()
        _replaced.update(outer)
        _arrived.clear()
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)
        for sig, old in previous.items():
            # once a signal has ended the work the process is ending too: a later one must not
            # kill it before it reports (and change its exit code)
            signal.signal(sig, old if received.signum is None else signal.SIG_IGN)
