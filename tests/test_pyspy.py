"""py-spy for real: sampled runs in a child process, attaching to live processes, dumps, errors.

py-spy works here as root; elsewhere it needs ptrace permission (see the README).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profwork.methods import pyspy
from tests.conftest import only_run, profwork, profwork_interrupted, require, write

BIN = Path(sys.executable).parent
PYSPY = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")


@pytest.fixture(autouse=True)
def _pyspy_present() -> None:
    require(PYSPY is not None, "py-spy is not installed")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Python process busy in `spin_forever` (until killed)."""
    script = write(
        tmp_path / "busy_service.py",
        """
        import time

        def checksum(n):
            return sum(i * i for i in range(n))

        def spin_forever():
            while True:
                checksum(20_000)

        spin_forever()
        """,
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    time.sleep(0.5)
    yield proc
    proc.kill()
    proc.wait()


def test_a_sampled_run_profiles_the_body_and_never_the_setup(results: Path) -> None:
    done = profwork("run", "example", "-m", "pyspy", "-p", "rounds=6", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["options"]["rate"] == 100
    assert (run / "raw" / "pyspy.txt").exists()
    folded = (run / "profile.folded").read_text()
    assert "is_duplicate" in folded
    assert "make_orders" not in folded and "setup" not in folded  # setup ran before py-spy
    assert "profwork" not in folded  # our own wrapper frames in the child are dropped
    summary = json.loads((run / "summary.json").read_text())
    assert summary["hotspots"][0]["function"] == "is_duplicate"
    assert summary["metadata"]["rate"] == 100


def test_threads_become_roots_and_speedscope_profiles(tmp_path: Path, results: Path) -> None:
    file = write(
        tmp_path / "pool.py",
        """
        import threading

        def crunch(n):
            total = 0
            for i in range(n):
                total += i * i
            return total

        def main(n: int = 3_000_000):
            workers = [threading.Thread(target=crunch, args=(n,), name=f"cruncher-{i}")
                       for i in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        """,
    )
    done = profwork("run", f"{file}:main", "-m", "pyspy", "--threads", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    roots = {line.split(";")[0] for line in (run / "profile.folded").read_text().splitlines()}
    assert any(r.startswith("thread (") and "cruncher-" in r for r in roots), roots
    speedscope = json.loads((run / "profile.speedscope.json").read_text())
    assert len(speedscope["profiles"]) >= 2


def test_a_child_that_dies_mid_body_is_an_error_and_keeps_its_samples(
    tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "crash.py",
        """
        import os, time

        def work_then_die():
            end = time.time() + 1.0
            while time.time() < end:
                sum(range(1000))
            os._exit(3)

        work_then_die()
        """,
    )
    done = profwork("run", str(script), "-m", "pyspy", "-o", str(results))
    assert done.returncode == 1
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["status"] == "error"
    assert "exit code 3" in manifest["error"]
    assert "work_then_die" in (only_run(results) / "profile.folded").read_text()


def test_attach_records_a_live_process_for_a_duration(
    live: subprocess.Popen[bytes], results: Path
) -> None:
    done = profwork("attach", str(live.pid), "-d", "1", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert run.parent.name == f"pid-{live.pid}-python" or run.parent.name.startswith(
        f"pid-{live.pid}-"
    )
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["params"]["pid"] == live.pid
    assert any("busy_service.py" in part for part in manifest["params"]["cmdline"])
    assert 0.5 < manifest["duration"] < 5
    summary = json.loads((run / "summary.json").read_text())
    # the attached script lives outside the interpreter's prefixes: it is user code
    assert summary["hotspots"][0]["function"] in ("checksum", "checksum.<locals>.<genexpr>")


def test_a_process_that_exits_mid_attach_ends_the_recording_normally(
    tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "short_job.py",
        """
        import time
        def job():
            end = time.time() + 1.5
            while time.time() < end:
                sum(range(1000))
        job()
        """,
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        time.sleep(0.3)
        done = profwork("attach", str(proc.pid), "-d", "20", "-o", str(results))
    finally:
        proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["duration"] < 10
    assert any("exited" in note for note in manifest["notes"])
    assert "exited" in done.stdout


def test_ctrl_c_ends_an_open_ended_attach_normally(
    live: subprocess.Popen[bytes], results: Path
) -> None:
    done = profwork_interrupted("attach", str(live.pid), "-o", str(results), after=2.0)
    assert done.returncode == 0, done.stderr
    assert json.loads((only_run(results) / "manifest.json").read_text())["status"] == "ok"


def test_ctrl_c_before_the_duration_is_interrupted(
    live: subprocess.Popen[bytes], results: Path
) -> None:
    done = profwork_interrupted("attach", str(live.pid), "-d", "30", "-o", str(results), after=2.0)
    assert done.returncode == 130, done.stderr
    run = only_run(results)
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert "checksum" in (run / "profile.folded").read_text()


def test_dump_prints_every_threads_stack(live: subprocess.Popen[bytes]) -> None:
    done = profwork("dump", str(live.pid))
    assert done.returncode == 0, done.stderr
    assert "MainThread" in done.stdout and "spin_forever" in done.stdout


@pytest.mark.parametrize("command", ["attach", "dump"])
def test_no_such_pid_is_one_line(command: str) -> None:
    done = profwork(command, "999999")
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "profwork: error: no process with PID 999999 — check the PID with `ps`; it may have exited"
    )


@pytest.mark.parametrize("command", ["attach", "dump"])
def test_a_process_that_is_not_python_is_one_line(command: str) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        done = (
            profwork(command, str(sleeper.pid), "-d", "1")
            if command == "attach"
            else (profwork(command, str(sleeper.pid)))
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done.returncode != 0
    assert "is not a Python process" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "backtrace" not in done.stderr


def test_missing_ptrace_permission_names_the_fixes(live: subprocess.Popen[bytes]) -> None:
    """py-spy run for real as an unprivileged user against our process; its error becomes our
    one line. (profwork itself cannot run as `nobody` here: the interpreter lives under /root.)"""
    require(os.geteuid() == 0 and shutil.which("runuser") is not None, "needs root and runuser")
    assert PYSPY is not None
    denied = subprocess.run(
        ["runuser", "-u", "nobody", "--", PYSPY, "dump", "--pid", str(live.pid)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUST_BACKTRACE": "1"},
    )
    assert denied.returncode != 0
    error = pyspy.explain(denied.stdout + denied.stderr, live.pid)
    assert str(error).startswith(f"not permitted to trace process {live.pid}")
    assert "CAP_SYS_PTRACE" in str(error) and "ptrace_scope" in str(error)
    assert "\n" not in str(error)


def test_a_missing_pyspy_binary_is_one_line(results: Path) -> None:
    done = profwork(
        "run",
        "example",
        "-m",
        "pyspy",
        "-o",
        str(results),
        env={"PROFWORK_PYSPY": "/nonexistent/py-spy"},
    )
    assert done.returncode != 0
    assert "py-spy binary is not installed" in done.stderr
    assert not list(results.glob("*/*"))


def test_pyspy_flags_are_refused_by_in_process_methods(results: Path) -> None:
    done = profwork("run", "example", "--native", "-o", str(results))
    assert done.returncode != 0
    assert "--native only apply to -m pyspy" in done.stderr


def test_attach_to_the_live_api_server_under_load_finds_the_request_handler(
    results: Path,
) -> None:
    """The headline demo: `profwork serve api`, real HTTP load from here, `profwork attach`."""
    import threading

    import httpx

    from tests.test_builtin_targets import PERIOD_DAYS, PERIOD_START, Served, free_port

    port = free_port()
    served = Served("api", "--size", "medium", "--port", str(port))
    stop = threading.Event()
    answered: list[int] = []

    def load(url: str) -> None:  # bounded: at most 30 s, ends when told
        deadline = time.monotonic() + 30
        start = PERIOD_START.date().isoformat()
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set() and time.monotonic() < deadline:
                reply = http.get("/calendar", params={"start": start, "days": PERIOD_DAYS})
                answered.append(reply.status_code)

    try:
        ready = served.wait_for(r"serving api at (http://\S+) \(pid (\d+)\)")
        url, pid = ready.group(1), int(ready.group(2))
        driver = threading.Thread(target=load, args=(url,))
        driver.start()
        try:
            done = profwork("attach", str(pid), "-d", "2", "-o", str(results))
        finally:
            stop.set()
            driver.join(timeout=60)
        assert done.returncode == 0, done.stderr
        assert answered and set(answered) == {200}
        summary = json.loads((only_run(results) / "summary.json").read_text())
        hot = [row["function"] for row in summary["hotspots"][:3]]
        assert "calendar_entry" in hot, hot
    finally:
        code, _ = served.stop(signal.SIGTERM) if served.proc.poll() is None else (0, "")
        served.kill()


def test_ctrl_c_during_a_sampled_run_interrupts_the_body_and_keeps_the_samples(
    tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "forever.py",
        """
        import time

        def spin():
            end = time.time() + 60
            while time.time() < end:
                sum(range(1000))

        spin()
        """,
    )
    done = profwork_interrupted("run", str(script), "-m", "pyspy", "-o", str(results), after=3.0)
    assert done.returncode == 130, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["duration"] < 30  # the child's body stopped, not ran its minute out
    assert "spin" in (run / "profile.folded").read_text()
