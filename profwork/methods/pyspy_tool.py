"""The py-spy binary: finding it, the command lines profwork gives it, its errors in one line, and
`Recorder`, a running `py-spy record` watched from profwork's side.

py-spy's own errors are several lines on stderr, with a Rust backtrace whenever RUST_BACKTRACE is
set (NOTES.md): `explain` maps them to one line with a remedy, and RUST_BACKTRACE is never passed
on. py-spy takes its rate as a whole number (`rate_argument` says so before anything starts).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from profwork.errors import MethodError, ProfworkError
from profwork.methods import MethodOption, MethodOptions, flag, number, positive
from profwork.processes import (
    ThreadDump,
    kill_group,
    no_such_process,
    require_process,
    wait_through,
)

DEFAULT_RATE = 100  # py-spy's own default
MAX_RATE = 2**64 - 1  # py-spy parses --rate as an unsigned 64-bit integer
BANNER = "Sampling process"
BANNER_TIMEOUT = 10.0  # py-spy prints its banner ~25 ms after it starts; silence means it hangs
STOP_TIMEOUT = 30.0  # for py-spy to write its file after SIGINT
FIRST_SAMPLE_TIMEOUT = 1.0  # for py-spy's first sample after its banner (~1/rate: 10 ms at 100 Hz)
SETTLE = 0.15  # where that first sample cannot be seen (no /proc): a fixed wait instead
_POLL = 0.001

_PERMISSION_REMEDY = (
    "run as root or give the container CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE); on "
    "Linux a non-root user may only trace its own children unless "
    "`sysctl kernel.yama.ptrace_scope=0`; on macOS run with sudo"
)


def _environment() -> dict[str, str]:
    """Ours, without RUST_BACKTRACE: py-spy's errors stay a few lines we can map to one."""
    return {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}


def binary() -> str:
    """The py-spy executable: $PROFWORK_PYSPY, else beside this interpreter (a venv), else PATH."""
    override = os.environ.get("PROFWORK_PYSPY")
    if override:
        found = shutil.which(override)
    else:
        here = str(Path(sys.executable).parent)
        found = shutil.which("py-spy", path=here) or shutil.which("py-spy")
    if found is None:
        raise MethodError(
            "the py-spy binary is not installed", remedy="pip install py-spy (it ships the binary)"
        )
    return found


def rate_argument(rate: float | None) -> int:
    """The rate as py-spy takes it: a whole number of samples per second (1 to 2**64 - 1)."""
    if rate is None:
        return DEFAULT_RATE
    if not (math.isfinite(rate) and rate.is_integer() and 1 <= rate <= MAX_RATE):
        raise MethodError(
            f"py-spy takes a whole number of samples per second, from 1 to {MAX_RATE}; "
            f"got --rate {rate:g}",
            remedy=f"e.g. --rate {DEFAULT_RATE} (py-spy's default) or --rate 250",
        )
    return int(rate)


def _rate(rate: float | None) -> float | None:
    """The check of `--rate`: positive, then a whole number py-spy takes."""
    return None if positive(rate) is None else float(rate_argument(rate))


# py-spy's options (`run -m pyspy` and `attach`): declared here, offered and checked by profwork.
RATE = number(
    "rate",
    help=f"Samples per second, a whole number (default: {DEFAULT_RATE}).",
    metavar="HZ",
    example=str(DEFAULT_RATE),
    check=_rate,
)
NATIVE = flag("native", help="Native (C/C++/Cython) frames too.")
SUBPROCESSES = flag("subprocesses", help="Follow subprocesses.")
IDLE = flag("idle", help="Keep samples of idle threads.")
GIL = flag("gil", help="Only samples holding the GIL.")
OPTIONS: tuple[MethodOption[Any], ...] = (RATE, NATIVE, SUBPROCESSES, IDLE, GIL)


def explain(stderr: str, pid: int) -> ProfworkError:
    """One line for py-spy's multi-line error output."""
    text = stderr.lower()
    if "permission denied" in text or "operation not permitted" in text or "eperm" in text:
        return MethodError(f"not permitted to trace process {pid}", remedy=_PERMISSION_REMEDY)
    if "failed to find python version" in text or "failed to find a python" in text:
        return MethodError(
            f"process {pid} is not a Python process py-spy can read",
            remedy="give the PID of a CPython process (see `ps -ef | grep python`)",
        )
    if "no such process" in text or "failed to get process executable name" in text:
        return no_such_process(pid)
    first = next((line.strip() for line in stderr.splitlines() if line.strip()), "no output")
    first = first.removeprefix("Error: ")
    return MethodError(f"py-spy failed: {first}", remedy="check that the process is a live CPython")


def record_command(
    pid: int, output: Path, options: MethodOptions, duration: float | None
) -> list[str]:
    rate = rate_argument(RATE.of(options))
    command = [binary(), "record", "--pid", str(pid), "--rate", str(rate)]
    command += ["--format", "raw", "--function", "--full-filenames", "--threads"]
    command += ["--output", str(output)]
    command += [
        option.cli_name for option in (NATIVE, SUBPROCESSES, IDLE, GIL) if option.of(options)
    ]
    if duration is not None:
        command += ["--duration", str(max(1, round(duration)))]
    return command


@dataclass
class Recorder:
    """A running `py-spy record`, with its output collected in the background."""

    process: subprocess.Popen[str]
    pid: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    sampling: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    readers: list[threading.Thread] = field(default_factory=list)
    program: str = "py-spy"

    @classmethod
    def start(cls, command: Sequence[str], pid: int) -> Recorder:
        env = _environment()
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,  # Ctrl-C reaches profwork, which stops py-spy itself
        )
        recorder = cls(process, pid, program=command[0])
        for stream, sink in ((process.stdout, recorder.stdout), (process.stderr, recorder.stderr)):
            reader = threading.Thread(target=recorder._drain, args=(stream, sink), daemon=True)
            reader.start()
            recorder.readers.append(reader)
        return recorder

    def _drain(self, stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:
            sink.append(line)
            if BANNER in line and not self.sampling.is_set():
                self.started = time.perf_counter()
                self.sampling.set()

    def wait_sampling(self, timeout: float = BANNER_TIMEOUT) -> None:
        """Block until py-spy samples; raise its error, in one line, if it fails to. A py-spy
        silent for `timeout` s is killed (with anything it started). Ctrl-C meanwhile kills it."""
        deadline = time.monotonic() + timeout
        try:
            while not self.sampling.wait(0.02):
                if self.process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    self.kill()
                    raise MethodError(
                        f"py-spy ({self.program}) printed nothing for {timeout:g} s "
                        "after it started, so it was stopped",
                        remedy="check that `py-spy record` works on this machine "
                        "(and what $PROFWORK_PYSPY names, if set)",
                    )
        except BaseException:
            self.kill()
            raise
        if not self.sampling.is_set():
            self.kill()
            raise explain(
                "".join(self.stdout + self.stderr) or "py-spy did not start sampling", self.pid
            )

    def wait_first_sample(self, timeout: float = FIRST_SAMPLE_TIMEOUT) -> float | None:
        """Block until py-spy has sampled the process since its banner; the seconds from the
        banner to that sample, or None when no sample was seen within `timeout` s (or could
        not be: no /proc, the process or py-spy gone).

        py-spy does not stay attached (`TracerPid` in /proc stays 0): for each sample it stops
        every thread of the process and lets it go again (ptrace). A thread waiting on a pipe,
        as the target's main thread does for GO, is woken by that stop and goes back to sleep,
        and nothing else wakes it: its count of voluntary context switches rises by two per
        sample (one when stopped, one when it sleeps again; a rise of one may be the target
        only now going to sleep on its pipe). Where that count cannot be read (not Linux),
        this waits `SETTLE` s instead."""
        first = voluntary_switches(self.pid)
        if first is None:
            time.sleep(SETTLE)
            return None
        started = time.perf_counter()
        while True:
            now = voluntary_switches(self.pid)
            waited = time.perf_counter() - started
            if now is None or self.process.poll() is not None or waited > timeout:
                return None
            if now >= first + 2:
                return time.perf_counter() - (self.started or started)
            time.sleep(_POLL)

    def kill(self) -> None:
        kill_group(self.process)
        for reader in self.readers:
            reader.join(1)

    def stop(self, interrupts: list[KeyboardInterrupt] | None = None) -> float:
        """Stop sampling (SIGINT makes py-spy write its output) and return the window sampled.
        Interrupts meanwhile are noted in `interrupts`: py-spy is given the time to write."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        if not wait_through(self.process, STOP_TIMEOUT, [] if interrupts is None else interrupts):
            kill_group(self.process)
        ended = time.perf_counter()
        for reader in self.readers:
            reader.join(5)
        return ended - self.started if self.started else 0.0

    def wait(self) -> float:
        """Wait for py-spy to end by itself (its duration, or the process's exit)."""
        self.process.wait()
        ended = time.perf_counter()
        for reader in self.readers:
            reader.join(5)
        return ended - self.started if self.started else 0.0

    @property
    def process_exited(self) -> bool:
        return any("process exited" in line for line in self.stdout + self.stderr)


def voluntary_switches(pid: int) -> int | None:
    """How often the main thread of process `pid` gave up the CPU (`voluntary_ctxt_switches` in
    /proc/PID/status); None when that cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def dump(pid: int, timeout: float = 15.0) -> list[ThreadDump]:
    """The current stack of every thread of a running process (`py-spy dump --json`)."""
    require_process(pid)
    env = _environment()
    program = binary()
    process = subprocess.Popen(
        [program, "dump", "--pid", str(pid), "--json", "--full-filenames"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise MethodError(
            f"py-spy ({program}) gave no dump of process {pid} within {timeout:g} s, "
            "so it was stopped",
            remedy="try again; check that `py-spy dump` works on this machine "
            "(and what $PROFWORK_PYSPY names, if set)",
        ) from None
    except BaseException:
        kill_group(process)
        raise
    if process.returncode != 0:
        raise explain(stdout + stderr, pid)
    try:
        threads = json.loads(stdout)
    except ValueError:
        raise MethodError(
            f"py-spy dump gave unreadable output for process {pid}", remedy="try again"
        ) from None
    return [
        ThreadDump(
            thread=t.get("thread_name")
            # on Linux the main thread's id is the process id; py-spy cannot always read names
            or ("MainThread" if t.get("os_thread_id") == pid else f"{t.get('thread_id', 0):#x}"),
            native_id=t.get("os_thread_id"),
            active=bool(t.get("active")),
            owns_gil=bool(t.get("owns_gil")),
            frames=tuple(
                (f.get("name", "?"), f.get("filename", ""), int(f.get("line") or 0))
                for f in reversed(t.get("frames") or [])
            ),
        )
        for t in threads
    ]
