"""Facts about processes, and ending the ones profwork started.

What `attach` and `dump` need to know about a process they did not start, read from `/proc` (its
name and command line) and asked of its own interpreter (where its stdlib and site-packages are,
so that its frames are classified as that process sees them); `ThreadDump`, one thread's current
stack; and the two ways profwork ends a process of its own (the py-spy child, py-spy itself):
`kill_group`, and `wait_through`, which waits without letting a Ctrl-C cut the wait short.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profwork.errors import MethodError
from profwork.frames import PROFWORK_DIR, SysPaths


@dataclass(frozen=True)
class ThreadDump:
    """One thread's current stack, innermost frame last."""

    thread: str
    native_id: int | None
    active: bool
    owns_gil: bool
    frames: tuple[tuple[str, str, int], ...]  # function, file, line running now


def no_such_process(pid: int) -> MethodError:
    return MethodError(
        f"no process with PID {pid}", remedy="check the PID with `ps`; it may have exited"
    )


def require_process(pid: int) -> None:
    """Fail with one line, before starting anything, when there is no process `pid`."""
    if sys.platform.startswith("linux") and not Path(f"/proc/{pid}").exists():
        raise no_such_process(pid)


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


def kill_group(process: subprocess.Popen[Any]) -> None:
    """Kill a process started in a session of its own, with anything it started, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _wait(process: subprocess.Popen[Any], timeout: float) -> None:
    """`process.wait(timeout)`, told of the exit as it happens: with a timeout, `Popen.wait`
    polls with sleeps growing to 50 ms, so it returns up to 50 ms after the process ended (a
    run waits so for py-spy to write its file, then for the target's process to end). On
    Linux a pidfd becomes readable when the process ends; elsewhere, `Popen.wait`."""
    if process.returncode is None and hasattr(os, "pidfd_open"):
        import select

        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:  # already reaped, or no pidfd here: Popen.wait knows
            pass
        else:
            try:
                if not select.select([pidfd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(process.args, timeout)
            finally:
                os.close(pidfd)
            process.wait()  # it has ended: reaped at once
            return
    process.wait(timeout=timeout)


def wait_through(
    process: subprocess.Popen[Any], timeout: float, interrupts: list[KeyboardInterrupt]
) -> bool:
    """Wait up to `timeout` s for the process to end; True when it did. A Ctrl-C (or SIGTERM)
    meanwhile is noted, not obeyed: what is being waited for is what keeps the samples."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _wait(process, max(0.0, deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False
        except KeyboardInterrupt as exc:
            interrupts.append(exc)
