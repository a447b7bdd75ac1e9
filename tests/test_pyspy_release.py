"""When a sampled run releases its body: once py-spy has sampled the waiting target, so that the
body's first moments are in the profile, and without a fixed wait after py-spy's banner.

py-spy prints `Sampling process …` once it has attached; its samples then follow at random
intervals (about 1/rate apart). Each sample stops every thread of the target for a moment
(ptrace, without staying attached), which the waiting target's count of voluntary context
switches shows: that is the signal the body waits for (`Recorder.wait_first_sample`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profwork.methods import method_options
from profwork.methods.pyspy import METHOD
from profwork.methods.pyspy_tool import Recorder, record_command, voluntary_switches
from tests.conftest import only_run, profwork, require, write

BIN = Path(sys.executable).parent
PYSPY = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")

# a body whose opening (a fifth of a second) is a function of its own
OPENING_THEN_REST = """
    import time

    def spin(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    def opening():
        spin(0.2)

    def rest():
        spin(0.3)

    opening()
    rest()
    """


@pytest.fixture(autouse=True)
def _pyspy_present() -> None:
    require(PYSPY is not None, "py-spy is not installed")


def _sampled_functions(run: Path) -> set[str]:
    return {
        frame.split(" (")[0]
        for line in (run / "profile.folded").read_text().splitlines()
        for frame in line.rpartition(" ")[0].split(";")
    }


def test_the_opening_of_a_short_body_is_sampled(tmp_path: Path, results: Path) -> None:
    script = write(tmp_path / "short.py", OPENING_THEN_REST)
    done = profwork("run", str(script), "-m", "pyspy", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert {"opening", "rest"} <= _sampled_functions(run)
    meta = json.loads((run / "raw" / "meta.json").read_text())["meta"]
    # the seconds from py-spy's banner to its first sample, after which the body went (None
    # only if none came within a second)
    assert "first_sample" in meta


@pytest.mark.usefixtures("adopting")
def test_a_pyspy_that_announces_itself_before_it_samples_still_records_the_opening(
    tmp_path: Path, results: Path
) -> None:
    """As on a loaded machine, py-spy's banner can come well before its first sample: here a
    py-spy that prints the banner, then takes half a second to start the real one. The body
    waits for the first sample, not for a fixed time after the banner (0.15 s: the opening,
    which ends 0.35 s after the banner, went unsampled)."""
    assert PYSPY is not None
    late = write(
        tmp_path / "py-spy",
        f"""\
        #!/bin/sh
        echo "Sampling process 100 times a second. Press Control-C to exit."
        sleep 0.5
        exec {PYSPY} "$@"
        """,
    )
    late.chmod(0o755)
    script = write(tmp_path / "short.py", OPENING_THEN_REST)
    done = profwork(
        "run", str(script), "-m", "pyspy", "-o", str(results), env={"PROFWORK_PYSPY": str(late)}
    )
    assert done.returncode == 0, done.stderr
    assert {"opening", "rest"} <= _sampled_functions(only_run(results))


def test_a_sample_shows_in_the_waiting_process_and_nothing_else_does(tmp_path: Path) -> None:
    """The signal itself: a process blocked on a pipe does not switch by itself; py-spy's
    samples make it switch (`voluntary_switches` rises), and `wait_first_sample` sees it."""
    waiting = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('waiting', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    recorder = None
    try:
        assert waiting.stdout is not None and waiting.stdout.readline() == b"waiting\n"
        time.sleep(0.2)  # until it waits on its pipe
        before = voluntary_switches(waiting.pid)
        time.sleep(0.2)
        assert before is not None and voluntary_switches(waiting.pid) == before
        options = method_options(METHOD)
        recorder = Recorder.start(
            record_command(waiting.pid, tmp_path / "out.txt", options, None), waiting.pid
        )
        recorder.wait_sampling()
        assert recorder.wait_first_sample(timeout=30) is not None
        after = voluntary_switches(waiting.pid)
        assert after is not None and after >= before + 2  # stopped, woken, asleep again
    finally:
        if recorder is not None:
            recorder.stop()
            for stream in (recorder.process.stdout, recorder.process.stderr):
                assert stream is not None
                stream.close()
        waiting.kill()
        waiting.communicate()  # and close its pipes
