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
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from profwork.errors import MethodError, ProfworkError
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOptions, RawArtefact, Status
from profwork.model import Profile, Stack, Unit
from profwork.targets import BoundTarget

RECORDING = "pyspy.txt"
CHILD_RESULT = "child.json"
DEFAULT_RATE = 100.0  # py-spy's own default
BANNER = "Sampling process"
ATTACH_TIMEOUT = 30.0
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
        return MethodError(
            f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
        )
    first = next((line.strip() for line in stderr.splitlines() if line.strip()), "no output")
    first = first.removeprefix("Error: ")
    return MethodError(f"py-spy failed: {first}", remedy="check that the process is a live CPython")


def record_command(
    pid: int, output: Path, options: MethodOptions, duration: float | None
) -> list[str]:
    rate = options.rate or DEFAULT_RATE
    command = [binary(), "record", "--pid", str(pid), "--rate", f"{rate:g}", "--format", "raw"]
    command += ["--function", "--full-filenames", "--threads", "--output", str(output)]
    for flag, on in (
        ("--native", options.native),
        ("--subprocesses", options.subprocesses),
        ("--idle", options.idle),
        ("--gil", options.gil),
    ):
        if on:
            command.append(flag)
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
        recorder = cls(process, pid)
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

    def wait_sampling(self, timeout: float = ATTACH_TIMEOUT) -> None:
        """Block until py-spy samples; raise its error, in one line, if it fails to."""
        deadline = time.monotonic() + timeout
        while not self.sampling.wait(0.02):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                for reader in self.readers:
                    reader.join(1)
                if self.sampling.is_set():
                    return
                raise explain(
                    "".join(self.stdout + self.stderr) or "py-spy did not start sampling", self.pid
                )

    def stop(self) -> float:
        """Stop sampling (SIGINT makes py-spy write its output) and return the window sampled."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
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
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(self.request)],
            pass_fds=(child_read, child_write),
            start_new_session=True,  # Ctrl-C reaches profwork, which interrupts the body itself
        )
        os.close(child_read)
        os.close(child_write)
        self.incoming = os.fdopen(parent_read, "r", encoding="utf-8")
        self.outgoing = os.fdopen(parent_write, "w", encoding="utf-8")

    def hear(self) -> str:
        return self.incoming.readline().strip()

    def say(self, word: str) -> None:
        try:
            self.outgoing.write(word + "\n")
            self.outgoing.flush()
        except OSError:  # the child is gone
            pass

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def finish(self) -> dict[str, Any]:
        """Wait for the child and return its facts (or an error naming how it died)."""
        try:
            code = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        for stream in (self.incoming, self.outgoing):
            with contextlib.suppress(OSError):
                stream.close()
        self.request.unlink(missing_ok=True)
        if self.result.exists():
            facts: dict[str, Any] = json.loads(self.result.read_text(encoding="utf-8"))
            return facts
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return {
            "status": "error",
            "duration": None,
            "error": f"the target process ended before its body finished ({how})",
            "metrics": {},
        }


class PyspyMethod:
    name = "pyspy"
    unit: Unit = "seconds"

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        binary()  # fail before starting anything when py-spy is missing
        child = _Child(bound, raw_dir)
        recorder: Recorder | None = None
        interrupted = False
        try:
            try:
                if child.hear() == "ready":
                    recorder = Recorder.start(
                        record_command(child.process.pid, raw_dir / RECORDING, options, None),
                        child.process.pid,
                    )
                    try:
                        recorder.wait_sampling()
                    except ProfworkError:
                        child.process.kill()
                        raise
                    # py-spy's first sample comes late and its timer then catches up in a burst;
                    # let that burst fall on the idle child, not on the start of the body
                    time.sleep(SETTLE)
                    child.say("go")
                    child.hear()  # "done" (or EOF when the child died)
            except KeyboardInterrupt:
                interrupted = True
                child.interrupt()
                child.hear()
            if recorder is not None:
                recorder.stop()
            child.say("teardown")
        except BaseException:
            child.process.kill()
            child.finish()
            if recorder is not None:
                recorder.stop()
            raise
        facts = child.finish()
        status: Status = facts["status"]
        if interrupted:
            status = "interrupted"
        return self._artefact(
            raw_dir,
            options,
            status=status,
            duration=facts.get("duration"),
            error=facts.get("error"),
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "target_metrics": facts.get("metrics") or {},
            },
        )

    def attach(
        self, pid: int, raw_dir: Path, options: MethodOptions, duration: float | None
    ) -> RawArtefact:
        """Record a running process for `duration` seconds, until it exits, or until Ctrl-C."""
        if not Path(f"/proc/{pid}").exists() and sys.platform.startswith("linux"):
            raise MethodError(
                f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
            )
        paths = interpreter_paths(pid)
        recorder = Recorder.start(record_command(pid, raw_dir / RECORDING, options, duration), pid)
        recorder.wait_sampling()
        status: Status = "ok"
        notes = []
        try:
            window = recorder.wait()
        except KeyboardInterrupt:
            window = recorder.stop()
            # without a duration, Ctrl-C is how a recording normally ends
            status = "ok" if duration is None else "interrupted"
        if recorder.process_exited:
            notes.append(f"the process exited after {window:.1f} s of recording")
        return self._artefact(
            raw_dir,
            options,
            status=status,
            duration=window,
            error="interrupted by the user (Ctrl-C)" if status == "interrupted" else None,
            meta={
                "sys_paths": paths.to_json(),
                "pid": pid,
                "notes": notes,
                "process_exited": recorder.process_exited,
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
                "rate": options.rate or DEFAULT_RATE,
                "options": {
                    "threads": options.threads,
                    "native": options.native,
                    "subprocesses": options.subprocesses,
                    "idle": options.idle,
                    "gil": options.gil,
                },
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


_PATHS_SCRIPT = (
    "import json, site, sys, sysconfig; p = sysconfig.get_paths(); "
    "s = set(site.getsitepackages()) | {p['purelib'], p['platlib']}; "
    "print(json.dumps({'stdlib': sorted({p['stdlib'], p['platstdlib']}), 'site_packages': "
    "sorted(s), 'prefixes': sorted({sys.prefix, sys.base_prefix})}))"
)


def interpreter_paths(pid: int) -> SysPaths:
    """The attached interpreter's stdlib and site-packages, asked of that interpreter (the one
    its command line names, so that a virtualenv's site-packages is found; else /proc/PID/exe).
    Code outside them is user code."""
    candidates = []
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        if argv0.startswith("/"):
            candidates.append(argv0)
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
                [exe, "-I", "-c", _PATHS_SCRIPT], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            data = json.loads(done.stdout)
            return SysPaths(
                stdlib=tuple(data["stdlib"]),
                site_packages=tuple(data["site_packages"]),
                prefixes=tuple(data["prefixes"]),
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


def dump(pid: int) -> list[ThreadDump]:
    """The current stack of every thread of a running process (`py-spy dump --json`)."""
    if not Path(f"/proc/{pid}").exists() and sys.platform.startswith("linux"):
        raise MethodError(
            f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
        )
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    done = subprocess.run(
        [binary(), "dump", "--pid", str(pid), "--json", "--full-filenames"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if done.returncode != 0:
        raise explain(done.stdout + done.stderr, pid)
    try:
        threads = json.loads(done.stdout)
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
    if sys.platform.startswith("linux") and not Path(f"/proc/{pid}").exists():
        raise MethodError(
            f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
        )
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
