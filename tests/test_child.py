"""The py-spy child and its parent: one protocol, typed messages, one facts type.

The target runs in a child process that py-spy samples from outside (`profwork.child`). What the
two say is spelled once: a frozen `ChildRequest`, the handshake's `Word`s, and `RunFacts` back.
These tests run the real child under the real py-spy: a setup that fails there is the same one
error as in process, and the teardown is never sampled however the body ended.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profwork.child import ChildRequest, Word
from profwork.facts import RunFacts
from profwork.methods import RawArtefact
from tests.conftest import PROFWORK, only_run, profwork, require, write
from tests.test_hardening_runs import one_error_line

PYSPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def test_run_facts_survive_their_one_serialisation() -> None:
    facts = RunFacts(
        status="interrupted",
        duration=1.25,
        error="interrupted by SIGTERM",
        metrics={"GET /": {"p50": 0.004, "p95": 0.009}},
        exit_code=3,
        notes=("the body called os._exit(3)",),
        setup_failed=True,
    )
    assert RunFacts.from_json(json.loads(json.dumps(facts.to_json()))) == facts


def test_facts_a_dying_child_left_half_written_read_as_defaults() -> None:
    assert RunFacts.from_json({}) == RunFacts()
    odd = RunFacts.from_json({"status": "exploded", "duration": "soon", "notes": "x"})
    assert (odd.status, odd.duration, odd.notes) == ("error", None, ())


def test_the_request_the_parent_writes_is_the_request_the_child_reads(tmp_path: Path) -> None:
    request = ChildRequest(
        spec="pkg.mod:main",
        module=False,
        argv=("--flag", "ü"),
        params={"rounds": "3"},
        size="small",
        read_fd=7,
        write_fd=9,
        result=tmp_path / "child.json",
    )
    assert ChildRequest.from_json(request.to_json()) == request


def test_the_words_are_the_lines_on_the_pipe() -> None:
    assert [f"{w}\n" for w in Word] == ["ready\n", "go\n", "done\n", "teardown\n"]


def test_a_raw_directory_written_before_facts_had_their_own_key_still_loads(
    tmp_path: Path,
) -> None:
    """Runs written by an earlier profwork keep status, duration and error at the top of
    raw/meta.json and the rest in `meta`: `profwork report` still reads them."""
    (tmp_path / "meta.json").write_text(
        json.dumps(
            {
                "format": "pstats",
                "files": ["cprofile.pstats"],
                "status": "error",
                "duration": 0.5,
                "error": "boom",
                "meta": {"target_metrics": {"GET /": {"p50": 1.0}}, "notes": ["a note"]},
            }
        )
    )
    raw = RawArtefact.load(tmp_path)
    assert raw.facts == RunFacts(
        status="error",
        duration=0.5,
        error="boom",
        metrics={"GET /": {"p50": 1.0}},
        notes=("a note",),
    )


@pytest.fixture(autouse=True)
def _pyspy_present(request: pytest.FixtureRequest) -> None:
    if "pyspy" in request.node.name:
        require(PYSPY is not None, "py-spy is not installed")


def test_a_failing_setup_under_pyspy_is_one_error_and_no_run(tmp_path: Path, results: Path) -> None:
    """The same line as in process (the exception and the user's frames), exit 1, and no run
    directory, not even an empty one."""
    service = write(
        tmp_path / "service.py",
        """
        from profwork.targets import target

        def read_config():
            raise ConnectionRefusedError(111, "Connection refused")

        def connect():
            return read_config()

        @target("service", setup=connect)
        def service(state):
            return state
        """,
    )
    in_process = profwork("run", f"{service}:service", "-o", str(results))
    done = profwork("run", f"{service}:service", "-m", "pyspy", "-o", str(results))
    assert done.returncode == in_process.returncode == 1
    line = one_error_line(done)
    assert line == one_error_line(in_process)
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in line
    assert "service.py:8 in connect → " in line and "service.py:5 in read_config" in line
    assert not results.exists() or not list(results.rglob("*"))


TEARDOWN_TARGET = """
    import pathlib, time
    from profwork.targets import target

    STARTED = pathlib.Path({started!r})


    def spin(seconds):
        end = time.time() + seconds
        while time.time() < end:
            sum(range(1000))


    def slow_teardown_work():
        spin(1.0)


    @target("job", teardown=slow_teardown_work)
    def job(how="raise"):
        STARTED.touch()
        if how == "raise":
            spin(0.5)
            raise RuntimeError("the body failed")
        spin(60)
"""


@pytest.mark.usefixtures("adopting")
@pytest.mark.parametrize(
    ("how", "status"), [("raise", "error"), ("interrupt", "interrupted")], ids=["raises", "ctrl-c"]
)
def test_the_teardown_is_never_sampled_under_pyspy_however_the_body_ends(
    how: str, status: str, tmp_path: Path, results: Path
) -> None:
    """GIVEN a body that raises (or is interrupted by Ctrl-C) and a teardown that works for a
    second, THEN the child reports done before its teardown, py-spy stops first, and the
    profile holds the body but none of the teardown."""
    started = tmp_path / "started"
    job = write(tmp_path / "job.py", TEARDOWN_TARGET.format(started=str(started)))
    command = [PROFWORK, "run", f"{job}:job", "-m", "pyspy", "-p", f"how={how}"]
    proc = subprocess.Popen(
        [*command, "-o", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if how == "interrupt":
            deadline = time.monotonic() + 120
            while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let py-spy sample the body
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == (1 if how == "raise" else 130), err
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == status
    assert "teardown failed" not in str(manifest["error"])  # it ran, and ran well
    folded = (run / "profile.folded").read_text()
    assert "job (" in folded  # the body was sampled …
    assert "slow_teardown_work" not in folded  # … and its teardown never
