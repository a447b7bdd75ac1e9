"""SIGTERM and SIGHUP end a run as Ctrl-C does (DESIGN §4), under every method.

`timeout`, CI runners, Docker and systemd stop a process with SIGTERM; a closed terminal sends
SIGHUP. Each test starts the installed `profwork` in a session of its own (NOTES.md, "Signals"),
waits until the body is running (it leaves a mark), sends a real signal, and checks the run
directory. The `adopting` fixture makes this test process the subreaper of whatever profwork
starts, so that a py-spy child or a py-spy left running fails the test.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROFWORK, only_run, require, write

PYSPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
EVERY_ARTEFACT = {
    "profile.pstats",
    "profile.speedscope.json",
    "profile.folded",
    "flame.svg",
    "report.html",
    "summary.md",
    "summary.json",
}


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PROFWORK, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until `path` exists (the body left its mark); fails if profwork ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"profwork ended before {path.name}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"no {path.name} within {timeout} s")
        time.sleep(0.05)


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def spinner(tmp_path: Path) -> Path:
    """A script whose body marks that it started, then spins for a minute."""
    return write(
        tmp_path / "spinner.py",
        f"""
        import pathlib, time

        def spin():
            pathlib.Path({str(tmp_path / "started")!r}).touch()
            end = time.time() + 60
            while time.time() < end:
                sum(range(1000))

        spin()
        """,
    )


def assert_interrupted_run(run: Path, sig: signal.Signals) -> dict[str, object]:
    manifest: dict[str, object] = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["duration"] is not None and float(manifest["duration"]) < 30  # type: ignore[arg-type]
    artefacts = manifest["artefacts"]
    assert isinstance(artefacts, list) and set(artefacts) >= EVERY_ARTEFACT, artefacts
    assert all((run / name).is_file() for name in artefacts)
    assert "spin" in (run / "profile.folded").read_text()
    return manifest


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
@pytest.mark.parametrize("method", ["cprofile", "pyinstrument", "pyspy"])
def test_sigterm_and_sighup_end_a_run_as_ctrl_c_does(
    method: str, sig: signal.Signals, spinner: Path, results: Path
) -> None:
    """GIVEN a run whose body would spin for a minute, WHEN profwork gets SIGTERM or SIGHUP,
    THEN the body stops, every artefact is written with status `interrupted`, profwork exits
    with 128 + the signal, and (under pyspy) neither the target's process nor py-spy is left."""
    if method == "pyspy":
        require(PYSPY is not None, "py-spy is not installed")
    proc = start("run", str(spinner), "-m", method, "-o", str(results))
    wait_for(spinner.parent / "started", proc)
    time.sleep(0.5)  # let the samplers take some samples of the body
    proc.send_signal(sig)
    done = finish(proc)
    assert done.returncode == 128 + sig, done.stderr
    manifest = assert_interrupted_run(only_run(results), sig)
    # the error names the signal, not a Ctrl-C nobody pressed
    assert str(manifest["error"]).startswith(f"interrupted by {sig.name}"), manifest["error"]
    assert "Ctrl-C" not in str(manifest["error"])


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize("method", ["cprofile", "pyspy"])
def test_more_signals_while_the_run_is_saved_do_not_lose_it(
    method: str, spinner: Path, results: Path
) -> None:
    """A second SIGTERM (systemd and `timeout -k` repeat themselves; so do people) arrives
    while profwork stops the body, py-spy writes its file, or the artefacts are written: the
    run is still saved whole, and the exit code is the first signal's."""
    if method == "pyspy":
        require(PYSPY is not None, "py-spy is not installed")
    proc = start("run", str(spinner), "-m", method, "-o", str(results))
    wait_for(spinner.parent / "started", proc)
    time.sleep(0.5)
    while proc.poll() is None:  # keep signalling until it has ended
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.02)
    done = finish(proc)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert_interrupted_run(only_run(results), signal.SIGTERM)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Python process busy in `spin_forever` (until killed)."""
    script = write(
        tmp_path / "busy_service.py",
        """
        def spin_forever():
            while True:
                sum(i * i for i in range(20_000))

        spin_forever()
        """,
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [((), "ok", 0), (("-d", "60"), "interrupted", 128 + signal.SIGTERM)],
    ids=["open-ended", "with-duration"],
)
def test_sigterm_ends_an_attach_as_ctrl_c_does(
    live: subprocess.Popen[bytes],
    results: Path,
    extra: tuple[str, ...],
    status: str,
    code: int,
) -> None:
    """Open-ended, SIGTERM ends the recording normally (status ok, exit 0), as Ctrl-C does;
    before -d runs out it is `interrupted` with exit 143, keeping what was sampled. py-spy is
    stopped, not left behind."""
    require(PYSPY is not None, "py-spy is not installed")
    proc = start("attach", str(live.pid), *extra, "-o", str(results))
    deadline = time.monotonic() + 60
    while not any("py-spy" in _cmdline(pid) for pid in _children(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"py-spy did not start: {finish(proc)}")
        time.sleep(0.05)
    time.sleep(1.5)  # let py-spy take some samples
    proc.send_signal(signal.SIGTERM)
    done = finish(proc)
    assert done.returncode == code, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == status
    assert "spin_forever" in (run / "profile.folded").read_text()
    assert live.poll() is None  # the attached process itself runs on


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ---- an interrupt CPython swallows ----------------------------------------------------------


@pytest.fixture
def swallowing(tmp_path: Path) -> Path:
    """A target whose setup (`-p where=setup`) or body (`-p where=body`) collects an object
    whose `__del__` marks that it runs, then sleeps: a signal sent meanwhile raises inside
    `__del__`, where CPython only prints "Exception ignored in: …" and carries on. The body
    marks that it ran and spins for 20 s, unless it is interrupted."""
    return write(
        tmp_path / "swallowing.py",
        f"""
        import pathlib, time
        from profwork.targets import target

        MARK = pathlib.Path({str(tmp_path / "in-del")!r})
        BODY = pathlib.Path({str(tmp_path / "body-ran")!r})


        class Resource:
            def __del__(self):
                MARK.touch()
                time.sleep(5)


        def setup(where="setup"):
            if where == "setup":
                Resource()  # collected at once: its __del__ runs inside the setup


        def spin(seconds):
            end = time.time() + seconds
            while time.time() < end:
                sum(range(1000))


        @target("swallowing", setup=setup)
        def swallowing(state, where="setup"):
            BODY.touch()
            if where == "body":
                spin(0.3)
                Resource()
            else:
                spin(20)
        """,
    )


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize(
    ("method", "where", "sig"),
    [
        ("cprofile", "setup", signal.SIGINT),
        ("pyinstrument", "setup", signal.SIGTERM),
        ("pyspy", "setup", signal.SIGINT),
        ("cprofile", "body", signal.SIGINT),
        ("pyinstrument", "body", signal.SIGTERM),
    ],
)
def test_an_interrupt_swallowed_in_a_del_method_still_ends_the_run_as_interrupted(
    method: str, where: str, sig: signal.Signals, swallowing: Path, results: Path
) -> None:
    """GIVEN a signal that lands inside a `__del__` (CPython swallows the exception raised
    there: "Exception ignored in"), WHEN the setup or the body then goes on, THEN the runner's
    next checkpoint (before the body, after it) ends the run as interrupted, with the exit code
    of that signal, instead of the run going on as if nothing happened."""
    if method == "pyspy":
        require(PYSPY is not None, "py-spy is not installed")
    proc = start(
        "run", f"{swallowing}:swallowing", "-m", method, "-p", f"where={where}", "-o", str(results)
    )
    wait_for(swallowing.parent / "in-del", proc)
    proc.send_signal(sig)
    done = finish(proc)
    assert "Exception ignored in" in done.stderr  # CPython did swallow it
    assert done.returncode == 128 + sig, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    if where == "setup":  # the body never ran
        assert not (swallowing.parent / "body-ran").exists()
