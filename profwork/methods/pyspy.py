"""The `pyspy` method: sampling from outside the process with py-spy, and attaching to live ones.

`run`: the target runs in a child process (`runner.child_main`). The child does its setup and
reports ready; py-spy attaches by PID; the body is released only once py-spy says it is sampling
(its `Sampling process …` banner on stdout); when the body ends, the child reports done, py-spy is
stopped with SIGINT (it then writes its file) and only then does the child run its teardown. So
neither setup nor teardown is ever sampled.

`attach`: records a running process until a duration, its exit or Ctrl-C.

py-spy records as `-f raw --function --full-filenames --threads`: one frame per function at its
first line, qualified names, full paths, and a `thread (TID): NAME` root on every stack. The
thread roots are kept when more than one thread was recorded or `--threads` was given (DESIGN
§1's one rule) and dropped otherwise. Its raw output is the folded format, read by
`readers.read_folded` like any folded file. py-spy's own multi-line errors (and Rust backtraces
when RUST_BACKTRACE is set) are mapped to one line with a remedy.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from profwork.errors import MethodError, ProfworkError
from profwork.frames import PROFWORK_DIR, Classifier, SysPaths
from profwork.methods import (
    MethodOption,
    MethodOptions,
    RawArtefact,
    Status,
    flag,
    number,
    positive,
)
from profwork.model import FrameKind, Profile, Stack, Unit
from profwork.runner import DONE, GO, READY, TEARDOWN
from profwork.signals import describe
from profwork.targets import BoundTarget

RECORDING = "pyspy.txt"
CHILD_RESULT = "child.json"
DEFAULT_RATE = 100  # py-spy's own default
MAX_RATE = 2**64 - 1  # py-spy parses --rate as an unsigned 64-bit integer
BANNER = "Sampling process"
BANNER_TIMEOUT = 10.0  # py-spy prints its banner ~25 ms after it starts; silence means it hangs
STOP_TIMEOUT = 30.0  # for py-spy to write its file after SIGINT
GRACE = 5.0  # for an interrupted body (or a py-spy killed) to end before it is killed
TEARDOWN_TIMEOUT = 120.0  # for the target's teardown, after the body
SETTLE = 0.15

_CHILD = "from profwork.runner import child_main; child_main()"
_PERMISSION_REMEDY = (
    "run as root or give the container CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE); on "
    "Linux a non-root user may only trace its own children unless "
    "`sysctl kernel.yama.ptrace_scope=0`; on macOS run with sudo"
)


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


def no_such_process(pid: int) -> MethodError:
    return MethodError(
        f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
    )


def require_process(pid: int) -> None:
    """Fail with one line, before starting anything, when there is no process `pid`."""
    if sys.platform.startswith("linux") and not Path(f"/proc/{pid}").exists():
        raise no_such_process(pid)


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


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill a process started in a session of its own, with anything it started, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _wait_through(
    process: subprocess.Popen[Any], timeout: float, interrupts: list[KeyboardInterrupt]
) -> bool:
    """Wait up to `timeout` s for the process to end; True when it did. A Ctrl-C (or SIGTERM)
    meanwhile is noted, not obeyed: what is being waited for is what keeps the samples."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False
        except KeyboardInterrupt as exc:
            interrupts.append(exc)


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
        env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
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

    def kill(self) -> None:
        _kill_group(self.process)
        for reader in self.readers:
            reader.join(1)

    def stop(self, interrupts: list[KeyboardInterrupt] | None = None) -> float:
        """Stop sampling (SIGINT makes py-spy write its output) and return the window sampled.
        Interrupts meanwhile are noted in `interrupts`: py-spy is given the time to write."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        if not _wait_through(self.process, STOP_TIMEOUT, [] if interrupts is None else interrupts):
            _kill_group(self.process)
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


class _Child:
    """The target's process and our ends of its handshake pipes."""

    def __init__(self, bound: BoundTarget, raw_dir: Path) -> None:
        child_read, parent_write = os.pipe()
        parent_read, child_write = os.pipe()
        self.result = raw_dir / CHILD_RESULT
        target = bound.target
        request = {
            "spec": target.entry or target.spec or target.name,
            "module": target.module,
            "argv": list(target.argv or ()),
            "params": dict(bound.given),
            "size": bound.size,
            "read_fd": child_read,
            "write_fd": child_write,
            "result": str(self.result),
        }
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", prefix="profwork-child-", delete=False, encoding="utf-8"
        ) as handle:
            json.dump(request, handle)
        self.request = Path(handle.name)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(self.request)],
                pass_fds=(child_read, child_write),
                start_new_session=True,  # Ctrl-C reaches profwork, which interrupts the body
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
        """The child's next word: "" when it is gone (EOF), None when `timeout` ran out."""
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

    def say(self, word: str) -> None:
        with contextlib.suppress(OSError):  # the child is gone
            os.write(self.outgoing, (word + "\n").encode())

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        _kill_group(self.process)

    def wait(self, interrupts: list[KeyboardInterrupt]) -> bool:
        """Wait for the child to end by itself after its teardown; False when it had to be
        killed. A Ctrl-C meanwhile interrupts the child's teardown; the child then has `GRACE`
        seconds before it is killed."""
        timeout = TEARDOWN_TIMEOUT
        while True:
            seen = len(interrupts)
            if _wait_through(self.process, timeout, interrupts):
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

    def facts(self) -> dict[str, Any] | None:
        """What the child wrote about its run (status, duration, error, metrics, notes)."""
        try:
            facts: dict[str, Any] = json.loads(self.result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return facts

    def how_it_ended(self) -> str:
        code = self.process.returncode
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


class PyspyMethod:
    name = "pyspy"
    unit: Unit = "seconds"
    options = OPTIONS

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        binary()  # … or when py-spy is missing
        child = _Child(bound, raw_dir)
        recorder: Recorder | None = None
        interrupts: list[KeyboardInterrupt] = []
        went = ended = None  # when the body was released, and when it ended
        done = killed = False
        try:
            try:
                if child.hear() == READY:
                    recorder = Recorder.start(
                        record_command(child.process.pid, raw_dir / RECORDING, options, None),
                        child.process.pid,
                    )
                    recorder.wait_sampling()
                    # py-spy's first sample comes late and its timer then catches up in a burst;
                    # let that burst fall on the idle child, not on the start of the body
                    time.sleep(SETTLE)
                    went = time.perf_counter()
                    child.say(GO)
                    done = child.hear() == DONE  # EOF: the child died in its body
                    ended = time.perf_counter()
            except KeyboardInterrupt as exc:
                # Ctrl-C (or SIGTERM, SIGHUP): interrupt the body as Ctrl-C would have
                interrupts.append(exc)
                child.interrupt()
                try:
                    word = child.hear(GRACE)
                except KeyboardInterrupt as again:  # pressed again: stop waiting for the body
                    interrupts.append(again)
                    word = None
                ended = time.perf_counter()
                if word is None:  # the body did not stop: end it, keep what was sampled
                    child.kill()
                    killed = True
                done = word == DONE
            if recorder is not None:
                recorder.stop(interrupts)
            child.say(TEARDOWN)
            killed = not child.wait(interrupts) or killed
        except BaseException:
            child.kill()
            if recorder is not None:
                recorder.kill()
            child.close()
            raise
        child.close()
        duration = None if went is None or ended is None else ended - went
        facts = child.facts()
        notes: list[str] = []
        if facts is not None:
            status: Status = facts["status"]
            error = facts.get("error")
            duration = facts.get("duration") or duration
            notes += facts.get("notes") or []
        elif done:
            status = "error"
            error = (
                f"the target's teardown did not end within {TEARDOWN_TIMEOUT:g} s; "
                "its process was killed"
                if killed
                else f"the target process ended during its teardown ({child.how_it_ended()})"
            )
        else:
            status = "error"
            error = f"the target process ended before its body finished ({child.how_it_ended()})"
        if interrupts:
            status, error = "interrupted", describe(interrupts[0])
            if killed:
                error += f"; the target process did not stop within {GRACE:g} s and was killed"
        return self._artefact(
            raw_dir,
            options,
            status=status,
            duration=duration,
            error=error,
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "target_metrics": (facts or {}).get("metrics") or {},
                "exit_code": (facts or {}).get("exit_code"),
                "notes": notes,
            },
        )

    def attach(
        self,
        pid: int,
        options: MethodOptions,
        duration: float | None,
        raw_dir: Callable[[], Path],
    ) -> RawArtefact:
        """Record a running process for `duration` seconds, until it exits, or until Ctrl-C
        (or SIGTERM, SIGHUP). Nothing is written until py-spy has recorded: the recording goes
        to a staging directory and, once it is over, into the `raw_dir()` it asks for then."""
        require_process(pid)
        paths = interpreter_paths(pid)
        staging = Path(tempfile.mkdtemp(prefix="profwork-attach-"))
        recorder: Recorder | None = None
        try:
            recorder = Recorder.start(
                record_command(pid, staging / RECORDING, options, duration), pid
            )
            recorder.wait_sampling()
            status: Status = "ok"
            error = None
            notes = []
            try:
                window = recorder.wait()
            except KeyboardInterrupt as exc:
                window = recorder.stop()
                # without a duration, Ctrl-C is how a recording normally ends
                if duration is not None:
                    status, error = "interrupted", describe(exc)
            exited = recorder.process_exited
            if exited:
                notes.append(f"the process exited after {window:.1f} s of recording")
            directory = raw_dir()
            for name in os.listdir(staging):
                shutil.move(staging / name, directory / name)
        except BaseException:
            if recorder is not None and recorder.process.poll() is None:
                recorder.kill()
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self._artefact(
            directory,
            options,
            status=status,
            duration=window,
            error=error,
            meta={
                "sys_paths": paths.to_json(),
                "pid": pid,
                "notes": notes,
                "process_exited": exited,
            },
        )

    def _artefact(
        self,
        raw_dir: Path,
        options: MethodOptions,
        *,
        status: Status,
        duration: float | None,
        error: str | None,
        meta: dict[str, Any],
    ) -> RawArtefact:
        files = tuple(n for n in (RECORDING, CHILD_RESULT) if (raw_dir / n).exists())
        raw = RawArtefact(
            directory=raw_dir,
            format="pyspy-raw",
            files=files,
            status=status,
            duration=duration,
            error=error,
            meta={
                **meta,
                "rate": rate_argument(RATE.of(options)),
                "options": options.to_json(),
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork import readers

        rate = float(raw.meta.get("rate") or DEFAULT_RATE)
        notes = list(raw.meta.get("notes", ()))
        recording = raw.directory / RECORDING
        stacks: dict[Stack, float] = {}
        if recording.exists() and recording.stat().st_size:
            classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
            part = readers.read_folded(
                recording, classifier=classifier, unit="seconds", scale=1.0 / rate
            )
            stacks = dict(part.stacks)
            if "pid" in raw.meta:  # attached: profwork's own process has no runner marker
                stacks = _without_profwork_entry(stacks)
        elif raw.status == "ok":
            notes.append("py-spy recorded no samples (the body may have been too short)")
        threads = {s[0] for s in stacks if s and s[0].is_pseudo}
        if len(threads) <= 1 and not raw.meta.get("options", {}).get("threads"):
            stacks = _without_roots(stacks)
        return Profile(
            unit="seconds",
            stacks=stacks,
            stats=None,
            metadata={
                "method": self.name,
                "rate": rate,
                "stacks": "sampled",
                "threads": max(1, len(threads)),
                "duration": raw.duration,
                "status": raw.status,
                "notes": notes,
            },
        )


def _without_roots(stacks: dict[Stack, float]) -> dict[Stack, float]:
    out: dict[Stack, float] = {}
    for stack, weight in stacks.items():
        key = stack[1:] if stack and stack[0].is_pseudo else stack
        out[key] = out.get(key, 0.0) + weight
    return out


def _without_profwork_entry(stacks: dict[Stack, float]) -> dict[Stack, float]:
    """An attached process may be profwork's own (`profwork serve`, a `profwork run`): its
    entry (a console script's or `-m`'s `<module>`), CLI, `serve` and runner are above the
    body, as in a run. Each stack loses everything up to its last profwork frame reached
    before any user code (the root `<module>` that calls profwork is profwork's entry); a stack
    that is all above the body is dropped. Profwork code that user code calls stays."""
    out: dict[Stack, float] = {}
    for stack, weight in stacks.items():
        lead = 0
        while lead < len(stack) and stack[lead].is_pseudo:
            lead += 1
        cut = None
        for index in range(lead, len(stack)):
            kind = stack[index].kind
            if kind is FrameKind.PROFWORK:
                cut = index
            elif kind is FrameKind.USER and not (
                index == lead
                and stack[index].function == "<module>"
                and index + 1 < len(stack)
                and stack[index + 1].kind is FrameKind.PROFWORK
            ):
                break
        if cut is not None:
            if cut == len(stack) - 1:
                continue
            stack = stack[:lead] + stack[cut + 1 :]
        out[stack] = out.get(stack, 0.0) + weight
    return out


# Run by the attached process's interpreter, isolated (-I), with the directories that process
# found its modules in first on sys.path (argv): its stdlib, site-packages and prefixes, and the
# directory of the profwork package it would import (found, not imported).
_PATHS_SCRIPT = (
    "import importlib.util, json, os, site, sys, sysconfig; p = sysconfig.get_paths(); "
    "s = set(site.getsitepackages()) | {p['purelib'], p['platlib']}; "
    "sys.path[:0] = sys.argv[1:]; spec = importlib.util.find_spec('profwork'); "
    "print(json.dumps({'stdlib': sorted({p['stdlib'], p['platstdlib']}), 'site_packages': "
    "sorted(s), 'prefixes': sorted({sys.prefix, sys.base_prefix}), 'profwork': "
    "os.path.dirname(spec.origin) if spec and spec.origin else None}))"
)


def _search_path(pid: int, argv: list[str]) -> list[str]:
    """Where the process looked for modules before site-packages: its script's directory (or
    its working directory, for `-m` and `-c`), then $PYTHONPATH."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []
    script = next((a for a in argv[1:] if not a.startswith("-")), None)
    first = cwd
    if script is not None and "-m" not in argv[1:] and "-c" not in argv[1:]:
        first = os.path.dirname(os.path.join(cwd, script))
    extra = [first]
    for item in environ:
        name, _, value = item.decode(errors="replace").partition("=")
        if name == "PYTHONPATH":
            extra += [os.path.join(cwd, part) for part in value.split(os.pathsep) if part]
    return extra


def interpreter_paths(pid: int) -> SysPaths:
    """The attached interpreter's stdlib and site-packages, asked of that interpreter (the one
    its command line names, so that a virtualenv's site-packages is found; else /proc/PID/exe).
    Code outside them is user code, except profwork's own (wherever that process imports it
    from)."""
    candidates = []
    argv: list[str] = []
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        if argv[0].startswith("/"):
            candidates.append(argv[0])
    except OSError:
        pass
    with contextlib.suppress(OSError):
        candidates.append(os.readlink(f"/proc/{pid}/exe"))
    for exe in candidates:
        # only ever run a Python interpreter: an embedding server (uwsgi, …) is no place to run
        # a one-liner, and then the "/site-packages/" rule alone tells third-party code
        if not re.fullmatch(r"python[0-9.]*", Path(exe).name):
            continue
        try:
            done = subprocess.run(
                [exe, "-I", "-c", _PATHS_SCRIPT, *_search_path(pid, argv)],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            data = json.loads(done.stdout)
            return SysPaths(
                stdlib=tuple(data["stdlib"]),
                site_packages=tuple(data["site_packages"]),
                prefixes=tuple(data["prefixes"]),
                profwork=data.get("profwork") or PROFWORK_DIR,
            )
    return SysPaths()


@dataclass(frozen=True)
class ThreadDump:
    """One thread's current stack, innermost frame last."""

    thread: str
    native_id: int | None
    active: bool
    owns_gil: bool
    frames: tuple[tuple[str, str, int], ...]  # function, file, line running now


def dump(pid: int, timeout: float = 15.0) -> list[ThreadDump]:
    """The current stack of every thread of a running process (`py-spy dump --json`)."""
    require_process(pid)
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
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
        _kill_group(process)
        raise MethodError(
            f"py-spy ({program}) gave no dump of process {pid} within {timeout:g} s, "
            "so it was stopped",
            remedy="try again; check that `py-spy dump` works on this machine "
            "(and what $PROFWORK_PYSPY names, if set)",
        ) from None
    except BaseException:
        _kill_group(process)
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


def process_facts(pid: int) -> tuple[str, list[str]]:
    """The process's name and command line, from /proc."""
    require_process(pid)
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
        argv = [
            a.decode(errors="replace")
            for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if a
        ]
    except OSError:
        return "unknown", []
    return name, argv


METHOD = PyspyMethod()
