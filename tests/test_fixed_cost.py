"""A run's fixed cost: a `-m cprofile` run of a script starts no process of its own (no
`git rev-parse`, no `uname -p`), yet its manifest records what those would have said.

The run is a real one, in a fresh interpreter, inside a real git repository; an audit hook
(`sys.addaudithook`) sees every process the interpreter would start.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from profwork.processes import wait_through
from profwork.sysinfo import platform_name
from tests.conftest import only_run, profwork, require, write
from tests.test_gitrepo import GIT, git, rev_parse
from tests.test_pyspy import PYSPY

RUN = """
import sys
started = []
def audit(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system"):
        started.append(f"{event} {args[:2]!r}")
sys.addaudithook(audit)
from profwork.cli import main
try:
    main(["run", "tiny.py", "-m", "cprofile", "-o", sys.argv[1]])
except SystemExit as exc:
    assert not exc.code, exc.code
print("\\n".join(started), file=sys.stderr)
"""


def test_a_cprofile_run_starts_no_process_and_records_the_commit_and_platform(
    tmp_path: Path,
) -> None:
    assert GIT is not None
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / "tiny.py", "print(sum(i * i for i in range(1000)))\n")
    git(repo, "add", "tiny.py")
    git(repo, "commit", "-q", "-m", "tiny")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(results)], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # no process was started
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["git_commit"] == rev_parse(repo)
    assert manifest["platform"] == platform.platform()


def test_the_platform_is_platform_platform() -> None:
    assert platform_name() == platform.platform()


def test_a_pyspy_target_starts_without_the_parents_modules(tmp_path: Path) -> None:
    """The target's process imports what it needs to run the target, not what the parent
    needs to start it (`subprocess`, `tempfile` for the request) or to list plug-ins
    (`importlib.metadata`)."""
    require(PYSPY is not None, "py-spy is not installed")
    script = write(
        tmp_path / "modules.py",
        "import sys\n"
        "print('loaded:', *(m in sys.modules for m in "
        "('subprocess', 'tempfile', 'importlib.metadata')))\n",
    )
    done = profwork("run", str(script), "-m", "pyspy", "-o", str(tmp_path / "results"))
    assert done.returncode == 0, done.stderr
    assert "loaded: False False False" in done.stdout


def test_waiting_for_a_process_returns_when_it_ends_or_when_the_time_is_up() -> None:
    """`wait_through` (py-spy writing its file, the target's process ending) is told of the
    exit itself, not by polling, and still gives up at its timeout."""
    ending = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    assert wait_through(ending, 60, []) is True
    assert ending.returncode == 0
    lasting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert wait_through(lasting, 0.2, []) is False
        assert lasting.poll() is None  # still running: the caller decides what to do
    finally:
        lasting.kill()
        lasting.wait()
    assert wait_through(lasting, 1, []) is True  # an ended, reaped process: at once
