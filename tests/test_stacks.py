"""Above the body: the stack rules trim at the functions that call a body, which the runner
exports (`runner.BODY_CALLERS`). Whatever calls a body, under every method, the trimmed stacks of
the target's code start at the body: a new place that calls a body without joining the marker
leaves profwork's frame above it, and these tests fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from profwork import loading, runner
from profwork.model import FrameKind
from profwork.stacks import calls_body
from tests.conftest import only_run, profwork, write

SPIN = """
import time

def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(200))
"""

# spec → the function (qualified name) every user stack must start at
BODIES = {
    # a function that takes parameters: called through a wrapper that passes them
    "work.py:with_params": "with_params",
    # a function that takes none: called directly
    "work.py:without_params": "without_params",
    # a target with a setup: the body gets the setup's state
    "work.py:WITH_SETUP": "with_state",
    # a script: its module code, made a function by its setup
    "script.py": "<module>",
}


@pytest.fixture
def code(tmp_path: Path) -> Path:
    write(
        tmp_path / "work.py",
        SPIN
        + """
from profwork.targets import target

def with_params(seconds: float = 0.4):
    spin(seconds)

def without_params():
    spin(0.4)

def with_state(state, seconds: float = 0.4):
    spin(seconds)

WITH_SETUP = target("with-setup", setup=lambda: "state")(with_state)
""",
    )
    write(tmp_path / "script.py", SPIN + "\nspin(0.4)\n")
    return tmp_path


@pytest.mark.parametrize("spec", BODIES)
@pytest.mark.parametrize("method", ["cprofile", "pyinstrument", "pyspy"])
def test_the_target_code_starts_at_the_body_whatever_calls_it(
    method: str, spec: str, code: Path, results: Path
) -> None:
    done = profwork("run", spec, "-m", method, "-o", str(results), cwd=code)

    assert done.returncode == 0, done.stderr
    profile = loading.load(only_run(results))  # the run's raw data, normalised again
    user = [s for s in profile.stacks if any(f.kind is FrameKind.USER for f in s)]
    assert user, "no sample of the target's code"
    for stack in user:
        real = [f for f in stack if not f.is_pseudo]
        assert real[0].function == BODIES[spec], [f.function for f in real]
        assert not any(calls_body(f) for f in real)


def test_the_marker_is_the_functions_that_call_a_body() -> None:
    names = {fn.__qualname__ for fn in runner.BODY_CALLERS}
    assert names == {
        "execute",
        "_iterations",
        "_call_with_state",
        "_call_with_params",
        "run_module_code",
    }
