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

from profwork.methods import pyspy_tool
from tests.conftest import PROFWORK, only_run, profwork, profwork_interrupted, require, write

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


@pytest.mark.parametrize(
    ("death", "code", "said"),
    [
        ("os._exit(3)", 3, "the body called os._exit(3)"),
        ("os.kill(os.getpid(), signal.SIGKILL)", 1, "signal SIGKILL"),
    ],
    ids=["os._exit", "SIGKILL"],
)
def test_a_child_that_dies_mid_body_is_an_error_and_keeps_its_samples(
    tmp_path: Path, results: Path, death: str, code: int, said: str
) -> None:
    script = write(
        tmp_path / "crash.py",
        f"""
        import os, signal, time

        def work_then_die():
            end = time.time() + 1.0
            while time.time() < end:
                sum(range(1000))
            {death}

        work_then_die()
        """,
    )
    done = profwork("run", str(script), "-m", "pyspy", "-o", str(results))
    assert done.returncode == code, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["status"] == "error"
    assert said in manifest["error"]
    assert "work_then_die" in (only_run(results) / "profile.folded").read_text()
    # the duration is the body's, or (the child killed before it could say) the window sampled,
    # from the body's release to its death: the body spun for a second by the clock first
    assert manifest["duration"] is not None and manifest["duration"] >= 0.9


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


def _pyspy_sampling(pid: int) -> bool:
    """Whether a py-spy process is recording `pid` (its command line names the PID)."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"py-spy" in arg for arg in argv[:2]) and str(pid).encode() in argv:
            return True
    return False


def test_a_process_that_exits_mid_attach_ends_the_recording_normally(
    tmp_path: Path, results: Path
) -> None:
    # GIVEN a job that runs until told to stop, so that it is sure to end mid-recording however
    # long profwork takes to start on a busy machine
    stop = tmp_path / "stop"
    script = write(
        tmp_path / "short_job.py",
        f"""
        import os, time
        def job():
            end = time.time() + 60
            while time.time() < end and not os.path.exists({str(stop)!r}):
                sum(range(1000))
        job()
        """,
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        attach = subprocess.Popen(
            [PROFWORK, "attach", str(proc.pid), "-d", "40", "-o", str(results)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not _pyspy_sampling(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a second of samples, then the job ends
        stop.touch()
        stdout, stderr = attach.communicate(timeout=60)
    finally:
        stop.touch()
        proc.wait(timeout=30)
    assert attach.returncode == 0, stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["duration"] < 30  # it ended with the job, not after its 40 s
    assert any("exited" in note for note in manifest["notes"])
    assert "exited" in stdout


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
def test_attach_and_dump_take_the_method_from_the_registry(
    command: str, live: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """`-m` names the method (py-spy by default, any case); one that cannot attach to a running
    process is refused in one line naming those that can, before anything is written."""
    args = [command, str(live.pid), *(["-d", "1"] if command == "attach" else [])]
    done = profwork(*args, "-m", "PySpy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "spin_forever" in (done.stdout if command == "dump" else done.stdout + done.stderr)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = profwork(*args, "-m", "cprofile", cwd=elsewhere)
    assert refused.returncode == 2
    assert not list(elsewhere.iterdir())
    assert refused.stderr.strip() == (
        "profwork: error: -m cprofile cannot attach to a running process "
        "— use a method that can: -m pyspy"
    )


def test_attach_and_dump_are_a_protocol_methods_may_implement() -> None:
    from profwork.methods import Attachable, get_method

    assert isinstance(get_method("pyspy"), Attachable)
    assert not isinstance(get_method("cprofile"), Attachable)
    # the console prints a dump without knowing which method took it
    code = (
        "import sys, profwork.console, profwork.cli, profwork.pipeline; "
        "print(sorted(m for m in sys.modules if m.startswith('profwork.methods.')))"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert imported.stdout.strip() == "[]", imported.stderr


@pytest.mark.parametrize("command", ["attach", "dump"])
def test_no_such_pid_is_one_line(command: str) -> None:
    done = profwork(command, "999999")
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "profwork: error: no process with PID 999999 — check the PID with `ps`; it may have exited"
    )


@pytest.mark.parametrize("command", ["attach", "dump"])
def test_a_process_that_is_not_python_is_one_line(command: str, tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        done = (
            profwork(command, str(sleeper.pid), "-d", "1", cwd=tmp_path)
            if command == "attach"
            else (profwork(command, str(sleeper.pid), cwd=tmp_path))
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
    error = pyspy_tool.explain(denied.stdout + denied.stderr, live.pid)
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
    assert done.returncode == 2
    assert "-m cprofile takes no --native — drop it, or use a method that takes it: -m pyspy" in (
        done.stderr
    )


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


# ---- nothing lost, nothing left behind ------------------------------------------------------


@pytest.fixture
def stages(tmp_path: Path) -> Path:
    """A target whose setup, body and teardown each leave a mark in $MARKS, and the one named
    by $STALL takes a minute."""
    return write(
        tmp_path / "stages.py",
        """
        import os, pathlib, time
        from profwork.targets import target

        def mark(stage):
            pathlib.Path(os.environ["MARKS"], stage).touch()
            return 60 if os.environ.get("STALL") == stage else 0

        def setup():
            time.sleep(mark("setup"))

        def teardown(state):
            time.sleep(mark("teardown"))

        def spin(seconds):
            end = time.time() + seconds
            while time.time() < end:
                sum(range(1000))

        @target("stages", setup=setup, teardown=teardown)
        def stages(state):
            spin(mark("body") or 1.0)
        """,
    )


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("stall", ["setup", "body", "teardown"])
def test_an_interrupt_at_any_stage_of_a_sampled_run_keeps_the_samples_and_no_process(
    stages: Path, results: Path, tmp_path: Path, stall: str, sig: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM while the child sets up, runs its body or tears down: the run is
    `interrupted`, keeps what py-spy sampled of the body, and leaves no process behind."""
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = subprocess.Popen(
        [PROFWORK, "run", f"{stages}:stages", "-m", "pyspy", "-o", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "MARKS": str(marks), "STALL": stall},
    )
    try:
        deadline = time.monotonic() + 120
        while not (marks / stall).exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + sig, err
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    folded = (run / "profile.folded").read_text()
    if stall == "setup":
        assert not (marks / "body").exists() and "spin" not in folded
    else:
        assert "spin" in folded


@pytest.mark.usefixtures("adopting")
def test_a_thread_left_running_is_named_and_does_not_hold_the_run(
    tmp_path: Path, results: Path
) -> None:
    """A body that leaves a non-daemon thread running forever: the child writes its facts once
    its teardown is done and ends without waiting for the thread; the run is `ok`, says which
    thread was left, and keeps the body's samples (within a minute, not after a 120 s wait)."""
    script = write(
        tmp_path / "leaky.py",
        """
        import threading, time

        def forever():
            while True:
                time.sleep(0.1)

        def work():
            threading.Thread(target=forever, name="poller-forever").start()
            end = time.time() + 1.0
            while time.time() < end:
                sum(range(1000))

        work()
        """,
    )
    done = profwork("run", str(script), "-m", "pyspy", "-o", str(results), timeout=60)
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert any("poller-forever" in note for note in manifest["notes"]), manifest["notes"]
    assert "poller-forever" in (run / "summary.md").read_text()
    assert "work" in (run / "profile.folded").read_text()


@pytest.mark.parametrize("rate", ["2.5", "1e20"])
def test_pyspy_takes_a_whole_number_rate_and_says_so_before_starting(
    rate: str, results: Path, tmp_path: Path
) -> None:
    for command in (["run", "example", "-m", "pyspy"], ["attach", str(os.getpid())]):
        done = profwork(*command, "--rate", rate, "-o", str(results), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            "profwork: error: py-spy takes a whole number of samples per second, from 1 to "
            f"18446744073709551615; got --rate {float(rate):g} — e.g. --rate 100 "
            "(py-spy's default) or --rate 250"
        )
        assert not list(results.glob("*/*"))


def test_a_large_whole_rate_reaches_pyspy_as_an_integer(results: Path) -> None:
    """1e6 used to reach py-spy as `1e+06`, which it refuses."""
    done = profwork(
        "run", "example", "-m", "pyspy", "--rate", "1e6", "-p", "rounds=1", "-o", str(results)
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["options"]["rate"] == 1_000_000


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize("command", ["run", "attach", "dump"])
def test_a_hanging_pyspy_binary_is_one_line_within_seconds(
    command: str, live: subprocess.Popen[bytes], tmp_path: Path, results: Path
) -> None:
    """A py-spy that prints nothing (here a script that sleeps, through a child `sleep`) is
    stopped, with what it started, and named in one line, within seconds (it took 100 s)."""
    hanging = tmp_path / "py-spy"
    hanging.write_text("#!/bin/sh\nsleep 3600\n")
    hanging.chmod(0o755)
    args = {
        "run": ["run", "example", "-m", "pyspy", "-o", str(results)],
        "attach": ["attach", str(live.pid), "-o", str(results)],
        "dump": ["dump", str(live.pid)],
    }[command]
    done = profwork(*args, env={"PROFWORK_PYSPY": str(hanging)}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"profwork: error: py-spy ({hanging}) ")
    assert "so it was stopped" in done.stderr
    assert not list(results.glob("*/*"))


@pytest.mark.parametrize("pid", ["999999", "sleep"])
def test_a_failed_attach_creates_nothing(pid: str, tmp_path: Path) -> None:
    """No such PID, or not Python: one line, and no `profiling_results/pid-N-…/` is left."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        target = str(sleeper.pid) if pid == "sleep" else pid
        done = profwork("attach", target, "-d", "1", cwd=tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done.returncode == 2, done.stderr
    assert not (tmp_path / "profiling_results").exists()


def test_attach_classes_profwork_in_the_attached_process_as_profwork(
    tmp_path: Path, results: Path
) -> None:
    """The attached process may be profwork itself (`profwork serve`), even a copy of it
    imported from elsewhere than ours ($PYTHONPATH): its entry, CLI, click and `serve` frames
    are above the body and trimmed, as in a run, and never ranked as user code."""
    from profwork.frames import PROFWORK_DIR

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(PROFWORK_DIR, elsewhere / "profwork")
    served = subprocess.Popen(
        [sys.executable, "-m", "profwork", "serve", "api", "--size", "small", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(elsewhere)},
    )
    try:
        assert served.stdout is not None
        line = served.stdout.readline()
        assert "serving api at" in line, (line, served.stderr and served.stderr.read())
        pid = int(line.rsplit("(pid ", 1)[1].rstrip(")\n"))
        done = profwork("attach", str(pid), "-d", "1", "--idle", "-o", str(results))
    finally:
        served.send_signal(signal.SIGTERM)
        served.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    folded = (run / "profile.folded").read_text()
    assert folded.strip(), "py-spy recorded the idle server"
    assert str(elsewhere) not in folded and "/click/" not in folded
    summary = json.loads((run / "summary.json").read_text())
    ranked = summary["bottlenecks"] + summary["hotspots"]
    assert not [r for r in ranked if str(elsewhere) in r["file"] or r["kind"] == "profwork"]
    assert "<module>" not in [r["function"] for r in summary["hotspots"]]
