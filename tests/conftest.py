"""Shared fixtures: the no-leak guard, the child reaper, and prerequisites that fail under CI."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.pg"]

ROOT = Path(__file__).resolve().parents[1]

# A suite started in the background of a non-interactive shell (`make test &`, some CI runners)
# inherits SIGINT as ignored, and every process it starts would ignore Ctrl-C too (NOTES.md,
# "Signals"): the Ctrl-C tests would then test nothing. Take the default handlers back, so that the
# processes the tests start get the default dispositions, as they do from a terminal.
for _signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_signal) is signal.SIG_IGN:
        signal.signal(
            _signal, signal.default_int_handler if _signal is signal.SIGINT else signal.SIG_DFL
        )
PROFWORK = str(Path(sys.executable).with_name("profwork"))  # the installed console script


def profwork(
    *args: str, timeout: float = 300, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `profwork` script, as a user would, with a wide terminal."""
    return subprocess.run(
        [PROFWORK, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def profwork_interrupted(*args: str, after: float) -> subprocess.CompletedProcess[str]:
    """Run `profwork`, press Ctrl-C (SIGINT) `after` seconds, and wait for it to finish."""
    proc = subprocess.Popen(
        [PROFWORK, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def only_run(results: Path) -> Path:
    """The one run directory written under `results`."""
    runs = [m.parent for m in results.glob("*/*/manifest.json")]
    assert len(runs) == 1, runs
    return runs[0]


def write(path: Path, source: str) -> Path:
    """A source file of the test's own, dedented."""
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing, but fail under CI=true, where it must be there."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"prerequisite missing under CI: {reason}")
    pytest.skip(reason)


def _children() -> set[int]:
    pids: set[int] = set()
    task_dir = Path(f"/proc/{os.getpid()}/task")
    if not task_dir.exists():
        return pids
    for task in task_dir.iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """No profiler hook and no child process outlives a test (like pyinstrument's
    check_sampler_state and py-spy's ScriptRunner)."""
    before = _children()
    yield
    assert sys.getprofile() is None, "a profiler hook was left installed"
    assert threading.getprofile() is None, "a thread profile hook was left installed"
    leaked = _children() - before
    for pid in leaked:  # reap them so that one failure does not cascade
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    assert not leaked, f"child processes left running: {sorted(leaked)}"


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@pytest.fixture
def adopting() -> Iterator[None]:
    """Make this test process the subreaper of everything it starts: a grandchild left running
    when its parent exits (the py-spy child, py-spy itself, a `sleep` a script started) becomes
    our child, so that `no_leaks` fails the test."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    require(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "prctl(PR_SET_CHILD_SUBREAPER) failed")
    before = _children()
    try:
        yield
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        # a process killed together with its parent may be adopted while it is dying: reap
        # the dead (init would have); the living are left for `no_leaks` to report
        deadline = time.monotonic() + 2
        adopted = _children() - before
        while adopted:
            for pid in sorted(adopted):
                if _state(pid) in ("Z", None):
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                    adopted.discard(pid)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)


def _state(pid: int) -> str | None:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return status.rpartition(")")[2].split()[0]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A run output directory (`-o`) of the test's own."""
    return tmp_path / "results"
