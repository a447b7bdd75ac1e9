"""The target's own process, for a method that samples it from outside (py-spy): both ends.

The parent (`Child`) writes a `ChildRequest` to a file and starts
`python -c "from profwork.child import main; main()" REQUEST.json`. The child (`main`) binds the
target the request names and runs it through `runner.execute`, with `Handshake` as its hook. The
two talk over a pair of pipes, one `Word` a line:

    child  READY     its setup is done; it waits for GO
    parent GO        the sampler samples: the body may start
    child  DONE      the body has ended (returned, raised or was interrupted); it waits
    parent TEARDOWN  the sampler has stopped: the teardown may run

so neither setup nor teardown is ever sampled. The child writes its `RunFacts` to the file the
request names (`RunFacts.to_json`), which the parent reads back (`Child.facts`); when the parent's
run captures SQL (`profwork.sqlcapture`), the request names where, and the child captures the
target's statements and writes that file itself. A setup that
fails sends facts with `setup_failed`: there is no run, as in process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

from profwork.facts import RunFacts
from profwork.runner import Hook

# the parent's end imports `subprocess`, `select`, `tempfile` and `profwork.processes` where it
# uses them: the target's process, which imports this module before it reports ready, needs none
# of them
if TYPE_CHECKING:
    import subprocess

    from profwork.targets import BoundTarget

GRACE = 5.0  # for an interrupted body (or a teardown interrupted) to end before it is killed
TEARDOWN_TIMEOUT = 120.0  # for the target's teardown, after the body

_PROGRAM = "from profwork.child import main; main()"


class Word(StrEnum):
    """The words of the handshake (see the module's doc)."""

    READY = "ready"
    GO = "go"
    DONE = "done"
    TEARDOWN = "teardown"


@dataclass(frozen=True)
class ChildRequest:
    """What the child runs and how it talks back: the target as the parent resolved it (its
    spec, `--module`, a script's arguments, the `-p` strings as given and the size), the two
    pipe descriptors of the handshake, and the file its facts go to."""

    spec: str
    module: bool
    argv: tuple[str, ...]
    params: Mapping[str, str]
    size: str | None
    read_fd: int
    write_fd: int
    result: Path
    repeat: int | None = None  # `--repeat N`: the runner's warm-up and N measured iterations
    queries: Path | None = None  # where the SQL the body executes goes (None: not captured)

    @classmethod
    def for_target(
        cls,
        bound: BoundTarget,
        read_fd: int,
        write_fd: int,
        result: Path,
        repeat: int | None = None,
    ) -> ChildRequest:
        from profwork import sqlcapture

        target = bound.target
        return cls(
            spec=target.entry or target.spec or target.name,
            module=target.module,
            argv=tuple(target.argv or ()),
            params=dict(bound.given),
            size=bound.size,
            read_fd=read_fd,
            write_fd=write_fd,
            result=result,
            repeat=repeat,
            queries=sqlcapture.requested(),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "spec": self.spec,
                "module": self.module,
                "argv": list(self.argv),
                "params": dict(self.params),
                "size": self.size,
                "read_fd": self.read_fd,
                "write_fd": self.write_fd,
                "result": str(self.result),
                "repeat": self.repeat,
                "queries": None if self.queries is None else str(self.queries),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ChildRequest:
        data = json.loads(text)
        return cls(
            spec=str(data["spec"]),
            module=bool(data["module"]),
            argv=tuple(str(a) for a in data["argv"]),
            params={str(k): str(v) for k, v in data["params"].items()},
            size=data["size"],
            read_fd=int(data["read_fd"]),
            write_fd=int(data["write_fd"]),
            result=Path(data["result"]),
            repeat=data.get("repeat"),
            queries=Path(data["queries"]) if data.get("queries") else None,
        )


# ---- the child's end ----------------------------------------------------------------------------


class Handshake(Hook):
    """The child's side: report READY after setup and wait for GO; report DONE after the body
    (however it ended) and wait for TEARDOWN. A parent that is gone (EOF, a broken pipe) leaves
    the child to carry on alone."""

    def __init__(self, incoming: IO[str], outgoing: IO[str]) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    def _say(self, word: Word) -> None:
        try:
            self.outgoing.write(word + "\n")
            self.outgoing.flush()
        except OSError:  # the parent is gone; carry on alone
            pass

    def before_body(self) -> None:
        self._say(Word.READY)
        self.incoming.readline()  # GO (or EOF: the parent is gone)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def after_body(self) -> None:
        self._say(Word.DONE)
        self.incoming.readline()  # TEARDOWN


def _lingering_threads() -> list[str]:
    """Non-daemon threads still running, which would keep the interpreter from exiting."""
    main_thread = threading.main_thread()
    return [t.name for t in threading.enumerate() if t is not main_thread and not t.daemon]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process (see the module's doc); `argv[0]` is the request file.

    The facts are written as soon as the teardown is done. Non-daemon threads the target left
    running would then keep the process alive forever (the parent waits for it): the child
    names them in a note and ends at once, as `os._exit` does, after flushing its output.
    SIGTERM and SIGHUP interrupt the body as Ctrl-C does (the parent sends SIGINT)."""
    from profwork import runner, sqlcapture
    from profwork.errors import ProfworkError, TargetSetupError
    from profwork.signals import ending_as_interrupt
    from profwork.specs import resolve

    request = ChildRequest.from_json(Path((argv or sys.argv[1:])[0]).read_text(encoding="utf-8"))
    handshake = Handshake(
        os.fdopen(request.read_fd, "r", encoding="utf-8"),
        os.fdopen(request.write_fd, "w", encoding="utf-8"),
    )
    with ending_as_interrupt():
        try:
            target = resolve(request.spec, module=request.module, argv=request.argv)
            bound = target.bind(request.params, request.size)
            with sqlcapture.capturing(request.queries):
                facts = runner.execute(bound, handshake, repeat=request.repeat)
        except TargetSetupError as exc:  # no run: the parent raises it again
            facts = RunFacts(status="error", error=exc.message, setup_failed=True)
        except ProfworkError as exc:  # a bad spec
            facts = RunFacts(status="error", error=str(exc))
    lingering = _lingering_threads()
    if lingering:
        note = (
            f"the target left {len(lingering)} non-daemon thread(s) running after its teardown "
            f"({', '.join(lingering)}); profwork ended the target process without waiting "
            "for them"
        )
        facts = replace(facts, notes=(*facts.notes, note))
    request.result.write_text(json.dumps(facts.to_json()), encoding="utf-8")
    if lingering:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # closed, or nowhere to write
                stream.flush()
        os._exit(0)


# ---- the parent's end ---------------------------------------------------------------------------


class Child:
    """The target's process, started in a session of its own (Ctrl-C reaches profwork, which
    interrupts the body itself), and the parent's ends of its handshake pipes."""

    process: subprocess.Popen[bytes]

    def __init__(self, bound: BoundTarget, result: Path, repeat: int | None = None) -> None:
        import subprocess
        import tempfile

        child_read, parent_write = os.pipe()
        parent_read, child_write = os.pipe()
        self.result = result
        request = ChildRequest.for_target(bound, child_read, child_write, result, repeat)
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", prefix="profwork-child-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(request.to_json())
        self.request = Path(handle.name)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _PROGRAM, str(self.request)],
                pass_fds=(child_read, child_write),
                start_new_session=True,
            )
        except BaseException:
            for fd in (child_read, child_write, parent_read, parent_write):
                os.close(fd)
            self.request.unlink(missing_ok=True)
            raise
        os.close(child_read)
        os.close(child_write)
        self.incoming, self.outgoing = parent_read, parent_write
        self.heard = b""

    def hear(self, timeout: float | None = None) -> str | None:
        """The child's next word (compare it with a `Word`): "" when it is gone (EOF), None
        when `timeout` ran out."""
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.heard:
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                if not select.select([self.incoming], [], [], left)[0]:
                    return None
            chunk = os.read(self.incoming, 4096)
            if not chunk:
                return ""
            self.heard += chunk
        line, _, self.heard = self.heard.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    def say(self, word: Word) -> None:
        with contextlib.suppress(OSError):  # the child is gone
            os.write(self.outgoing, (word + "\n").encode())

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        from profwork.processes import kill_group

        kill_group(self.process)

    def wait(self, interrupts: list[KeyboardInterrupt]) -> bool:
        """Wait for the child to end by itself after its teardown; False when it had to be
        killed. A Ctrl-C meanwhile interrupts the child's teardown; the child then has `GRACE`
        seconds before it is killed."""
        from profwork.processes import wait_through

        timeout = TEARDOWN_TIMEOUT
        while True:
            seen = len(interrupts)
            if wait_through(self.process, timeout, interrupts):
                return True
            if len(interrupts) == seen or timeout == GRACE:
                self.kill()
                return False
            self.interrupt()
            timeout = GRACE

    def close(self) -> None:
        for fd in (self.incoming, self.outgoing):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.request.unlink(missing_ok=True)

    def facts(self) -> RunFacts | None:
        """What the child wrote about its run; None when it wrote nothing readable (it died)."""
        try:
            data = json.loads(self.result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return RunFacts.from_json(data) if isinstance(data, dict) else None

    def how_it_ended(self) -> str:
        code = self.process.returncode
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
