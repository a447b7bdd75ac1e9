"""A run survives what its target does to the process, and says in one line what it cannot do.

Scripts run as a real `__main__` module; a body that changes directory, calls `os._exit`, forks,
or closes stdout keeps its run; an output that cannot hold a run is refused before the target
runs; a full disk keeps the raw data and says where; a setup or an import that fails is one
error, not an empty run (issue 15). Every run here is the installed `profwork` script on a real
target, under the real profilers.
"""

from __future__ import annotations

import json
import os
import pstats
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profwork import runner
from profwork.targets import resolve, target
from tests.conftest import PROFWORK, only_run, profwork, write

METHODS = ["cprofile", "pyinstrument", "pyspy"]
IN_PROCESS = ["cprofile", "pyinstrument"]


def manifest_of(run: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run / "manifest.json").read_text())
    return data


def no_temporary_runs(results: Path) -> bool:
    return not list(results.glob("*/.*.tmp"))


# ---- 1, 22: scripts and modules run as `__main__` -------------------------------------------

MAIN_MODULE_CHECKS = """
    from __future__ import annotations

    import dataclasses
    import json
    import pickle
    import sys
    import typing
    from typing import ClassVar

    from sqlalchemy import String, create_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


    class Base(DeclarativeBase):
        pass


    class Client(Base):
        __tablename__ = "clients"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))


    @dataclasses.dataclass
    class Point:
        x: int
        y: int
        registry: ClassVar[dict[str, int]] = {}


    def busy() -> int:
        return sum(i * i for i in range(3_000_000))


    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Client(name="ada"), Client(name="grace")])
        session.commit()
        clients = session.query(Client).count()
    busy()
    facts = {
        "clients": clients,
        "fields": [f.name for f in dataclasses.fields(Point)],
        "hints": sorted(typing.get_type_hints(Point)),
        "pickled": pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2),
        "main_is_globals": vars(sys.modules["__main__"]) is globals(),
        "argv0": sys.argv[0],
        "spec": getattr(__spec__, "name", None),
        "package": __package__,
    }
    with open(sys.argv[1], "w") as out:
        json.dump(facts, out)
"""


@pytest.mark.parametrize("method", METHODS)
def test_a_script_runs_as_a_real_main_module_with_sqlalchemy_dataclasses_and_pickle(
    method: str, tmp_path: Path, results: Path
) -> None:
    script = write(tmp_path / "models.py", MAIN_MODULE_CHECKS)
    facts_file = tmp_path / "facts.json"
    done = profwork("run", str(script), "-m", method, "-o", str(results), "--", str(facts_file))
    assert done.returncode == 0, done.stdout + done.stderr
    run = only_run(results)
    assert manifest_of(run)["status"] == "ok"
    facts = json.loads(facts_file.read_text())
    assert facts["clients"] == 2  # the declarative models mapped `Mapped[int]`
    assert facts["fields"] == ["x", "y"]  # ClassVar resolved through sys.modules["__main__"]
    assert facts["hints"] == ["registry", "x", "y"]
    assert facts["pickled"] is True
    assert facts["main_is_globals"] is True
    assert facts["argv0"] == str(script)
    # the profiled root is still the script's own <module> frame
    folded = (run / "profile.folded").read_text().splitlines()
    assert any(line.startswith(f"<module> ({script}:1);") for line in folded), folded[:5]
    assert "busy" in (run / "profile.folded").read_text()


@pytest.mark.parametrize("method", METHODS)
def test_a_module_runs_like_python_dash_m_with_its_spec_and_its_file_as_argv0(
    method: str, tmp_path: Path
) -> None:
    package = tmp_path / "jobs"
    package.mkdir()
    write(package / "__init__.py", "")
    module = write(package / "nightly.py", MAIN_MODULE_CHECKS)
    facts_file = tmp_path / "facts.json"
    done = profwork(
        "run", "--module", "jobs.nightly", "-m", method, "-o", "results", "--", str(facts_file),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    facts = json.loads(facts_file.read_text())
    assert facts["argv0"] == str(module)  # as `python -m jobs.nightly` gives it
    assert facts["spec"] == "jobs.nightly"
    assert facts["package"] == "jobs"
    assert facts["main_is_globals"] is True
    assert facts["clients"] == 2 and facts["pickled"] is True
    assert facts["fields"] == ["x", "y"]
    assert manifest_of(only_run(tmp_path / "results"))["status"] == "ok"


def test_profworks_own_main_module_is_back_after_a_script(tmp_path: Path) -> None:
    own = sys.modules["__main__"]
    script = write(tmp_path / "s.py", "import sys\nX = 1\nassert sys.modules['__main__'].X == 1\n")
    facts = runner.execute(resolve(str(script)).bind(), runner.Hook())
    assert facts.status == "ok", facts.error
    assert sys.modules["__main__"] is own


# ---- 2: a body that changes directory --------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_a_body_that_changes_directory_keeps_its_run(method: str, tmp_path: Path) -> None:
    write(
        tmp_path / "wander.py",
        """
        import os

        def work():
            return sum(i * i for i in range(300_000))

        os.chdir("/")
        work()
        """,
    )
    # the output base is relative to where profwork started, not to where the body went
    done = profwork("run", "wander.py", "-m", method, "-o", "results", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    run = only_run(tmp_path / "results")
    manifest = manifest_of(run)
    assert manifest["status"] == "ok", manifest["error"]
    assert isinstance(manifest["duration"], float)
    assert no_temporary_runs(tmp_path / "results")
    if method != "pyspy":  # a sampler may miss a short body; the exact method may not
        assert "work" in (run / "profile.folded").read_text()


# ---- 4: os._exit in the body -----------------------------------------------------------------

EXITING = """
    import os, sys

    def work():
        return sum(i * i for i in range(300_000))

    try:
        work()
        os._exit(int(sys.argv[1]))
    finally:
        with open(sys.argv[2], "w") as out:
            out.write("finally ran")
"""


@pytest.mark.parametrize("method", IN_PROCESS)
def test_os_exit_in_the_body_keeps_the_run_and_exits_with_its_code(
    method: str, tmp_path: Path, results: Path
) -> None:
    script = write(tmp_path / "quit.py", EXITING)
    marker = tmp_path / "finally.txt"
    done = profwork("run", str(script), "-m", method, "-o", str(results), "--", "3", str(marker))
    assert done.returncode == 3, done.stdout + done.stderr  # the code the process would have had
    run = only_run(results)
    manifest = manifest_of(run)
    assert manifest["status"] == "error"
    assert "the body called os._exit(3)" in str(manifest["error"])
    assert isinstance(manifest["duration"], float)
    assert "work" in (run / "profile.folded").read_text()
    assert marker.read_text() == "finally ran"  # documented: unlike a real _exit
    assert no_temporary_runs(results)


@pytest.mark.parametrize("method", IN_PROCESS)
def test_os_exit_zero_in_the_body_is_ok_with_a_note(
    method: str, tmp_path: Path, results: Path
) -> None:
    script = write(tmp_path / "quit.py", EXITING)
    done = profwork(
        "run", str(script), "-m", method, "-o", str(results), "--", "0", str(tmp_path / "m")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = manifest_of(only_run(results))
    assert manifest["status"] == "ok"
    assert any("os._exit(0)" in note for note in manifest["notes"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argument", "code", "error"),
    [
        ("3", 3, "the body called sys.exit(3) (exit code 3)"),
        ("'bad config'", 1, "the body called sys.exit('bad config') (exit code 1)"),
        ("0", 0, None),
        ("None", 0, None),
    ],
)
def test_sys_exit_in_a_script_keeps_the_run_and_exits_with_the_code_python_would_give(
    argument: str, code: int, error: str | None, tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "cli_tool.py",
        f"""
        import sys

        sum(i * i for i in range(200_000))
        sys.exit({argument})
        """,
    )
    done = profwork("run", str(script), "-o", str(results))
    assert done.returncode == code, done.stdout + done.stderr  # as `python cli_tool.py`
    manifest = manifest_of(only_run(results))
    assert manifest["status"] == ("ok" if error is None else "error")
    assert manifest["error"] == error


def test_os_exit_is_the_real_one_again_after_the_body() -> None:
    real = os._exit

    @target("quits")
    def quits() -> None:
        os._exit(5)

    facts = runner.execute(quits.bind(), runner.Hook())
    assert (facts.status, facts.exit_code) == ("error", 5)
    assert os._exit is real


# ---- 6: forks --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", IN_PROCESS)
def test_a_fork_that_returns_from_the_body_leaves_the_run_to_its_parent(
    method: str, tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "forking.py",
        """
        import os, sys

        def parent_work():
            return sum(i * i for i in range(300_000))

        def child_work():
            return sum(i * i for i in range(100_000))

        pid = os.fork()
        if pid == 0:
            child_work()  # and return out of the body, as a script ends
        else:
            parent_work()
            _, status = os.waitpid(pid, 0)
            with open(sys.argv[1], "w") as out:
                out.write(str(os.waitstatus_to_exitcode(status)))
        """,
    )
    child_exit = tmp_path / "child_exit.txt"
    done = profwork("run", str(script), "-m", method, "-o", str(results), "--", str(child_exit))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FileNotFoundError" not in done.stderr and "Traceback" not in done.stderr
    assert child_exit.read_text() == "0"  # the fork ended as the script would have
    run = only_run(results)  # written once
    assert manifest_of(run)["status"] == "ok"
    folded = (run / "profile.folded").read_text()
    assert "parent_work" in folded and "child_work" not in folded
    assert no_temporary_runs(results)
    assert done.stdout.count("run directory:") == 1


@pytest.mark.parametrize("method", METHODS)
def test_a_multiprocessing_pool_ends_its_workers_as_it_does_without_profwork(
    method: str, tmp_path: Path, results: Path
) -> None:
    # Pool.terminate() (the end of its `with`) stops the forked workers with SIGTERM: they are
    # the script's processes, so profwork's SIGTERM handler must not be theirs too (it raised
    # Terminated in each worker, which printed a traceback)
    script = write(
        tmp_path / "pooled.py",
        """
        import multiprocessing

        def square_sum(n):
            return sum(i * i for i in range(n))

        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                print("total", sum(pool.map(square_sum, [50_000] * 8)))
        """,
    )
    done = profwork("run", str(script), "-m", method, "-o", str(results))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "total" in done.stdout
    assert "Traceback" not in done.stderr and "Terminated" not in done.stderr, done.stderr
    assert manifest_of(only_run(results))["status"] == "ok"


def test_a_fork_that_calls_os_exit_really_exits(tmp_path: Path, results: Path) -> None:
    script = write(
        tmp_path / "worker.py",
        """
        import os, sys

        pid = os.fork()
        if pid == 0:
            os._exit(7)  # the usual way a fork ends: the real _exit, whatever profwork does
        _, status = os.waitpid(pid, 0)
        with open(sys.argv[1], "w") as out:
            out.write(str(os.waitstatus_to_exitcode(status)))
        """,
    )
    child_exit = tmp_path / "child_exit.txt"
    done = profwork("run", str(script), "-o", str(results), "--", str(child_exit))
    assert done.returncode == 0, done.stdout + done.stderr
    assert child_exit.read_text() == "7"
    assert manifest_of(only_run(results))["status"] == "ok"


# ---- 8: outputs that cannot hold a run -------------------------------------------------------

MARKING = """
    import sys
    open(sys.argv[1], "w").write("the target ran")
    def work():
        return sum(i * i for i in range(200_000))
    work()
"""


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("profwork: error: ")
    return lines[0]


@pytest.mark.parametrize("output", ["a-file", "/dev/null"])
def test_an_output_that_is_not_a_directory_is_refused_before_the_target_runs(
    output: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    script = write(tmp_path / "marking.py", MARKING)
    marker = tmp_path / "ran.txt"
    done = profwork("run", str(script), "-o", output, "--", str(marker), cwd=tmp_path)
    line = one_error_line(done)
    assert "is not a directory" in line
    assert not marker.exists()
    assert (tmp_path / "a-file").read_text() == "not a directory"


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes then fail with EFBIG


def test_a_file_too_large_while_writing_keeps_the_raw_data_and_says_where(
    tmp_path: Path, results: Path
) -> None:
    script = write(tmp_path / "marking.py", MARKING)
    done = subprocess.run(
        [PROFWORK, "run", str(script), "-o", str(results), "--", str(tmp_path / "ran.txt")],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    line = one_error_line(done)
    assert "File too large" in line
    temp = next(results.glob("marking/.*.tmp"))  # kept where it was written, and named
    assert str(temp / "raw") in line
    pstats.Stats(str(temp / "raw" / "cprofile.pstats"))  # the measurement is intact
    manifest = manifest_of(temp)
    assert manifest["status"] == "error"
    assert "File too large" in str(manifest["error"])
    assert all((temp / name).exists() for name in manifest["artefacts"])  # type: ignore[attr-defined]
    assert not list(results.glob("marking/[!.]*"))  # no run renamed into place half-written


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    yield point
    subprocess.run(["umount", str(point)], capture_output=True, check=False)


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:  # the one allowed skip: mounting is not permitted here
        pytest.skip(f"mounting is not permitted: {done.stderr.strip()}")


def test_a_full_disk_while_writing_keeps_the_raw_data_and_says_where(
    tmp_path: Path, mount_point: Path
) -> None:
    mount("-t", "tmpfs", "-o", "size=32k", "tmpfs", str(mount_point))
    script = write(tmp_path / "marking.py", MARKING)
    done = profwork("run", str(script), "-o", str(mount_point), "--", str(tmp_path / "ran.txt"))
    line = one_error_line(done)
    assert "No space left on device" in line
    temp = next(mount_point.glob("marking/.*.tmp"))
    assert str(temp / "raw") in line
    pstats.Stats(str(temp / "raw" / "cprofile.pstats"))
    if (temp / "manifest.json").exists():  # when it fitted
        assert manifest_of(temp)["status"] == "error"
    assert not (temp / "manifest.json").exists() or (temp / "manifest.json").stat().st_size


def test_importing_onto_a_full_disk_says_so_not_that_the_file_is_unreadable(
    tmp_path: Path, mount_point: Path
) -> None:
    mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point))
    big = tmp_path / "big.folded"  # its copy into raw/ does not fit
    big.write_text("".join(f"main;work;step_{i % 50} {i + 1}\n" for i in range(20_000)))
    done = profwork("import", str(big), "-o", str(mount_point))
    line = one_error_line(done)
    assert f"cannot write the run of {big}: No space left on device" in line
    assert "free some space" in line and "cannot be read" not in line
    assert not list(mount_point.glob("*/*/manifest.json"))  # no half run


def test_a_read_only_output_is_refused_before_the_target_runs(
    tmp_path: Path, mount_point: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    mount("--bind", str(source), str(mount_point))
    mount("-o", "remount,bind,ro", str(mount_point))
    script = write(tmp_path / "marking.py", MARKING)
    marker = tmp_path / "ran.txt"
    done = profwork("run", str(script), "-o", str(mount_point / "results"), "--", str(marker))
    line = one_error_line(done)
    assert "Read-only file system" in line
    assert not marker.exists()


# ---- 9: Ctrl-C while the artefacts are written -----------------------------------------------


def test_ctrl_c_while_the_artefacts_are_written_is_interrupted(
    tmp_path: Path, results: Path
) -> None:
    # a real output-format plug-in, registered as a third party registers one, that is slow
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write(
        plugins / "slow_renderer.py",
        """
        import os, pathlib, time

        class Slow:
            name = "slow"
            filename = "slow.txt"

            def render(self, profile, summary):
                pathlib.Path(os.environ["SLOW_RENDERER_STARTED"]).write_text("rendering")
                time.sleep(60)
                return b""

        RENDERER = Slow()
        """,
    )
    info = plugins / "slow_renderer-1.0.dist-info"
    info.mkdir()
    write(info / "METADATA", "Metadata-Version: 2.1\nName: slow-renderer\nVersion: 1.0\n")
    write(info / "entry_points.txt", "[profwork.renderers]\nslow = slow_renderer:RENDERER\n")
    started = tmp_path / "rendering"
    script = write(tmp_path / "marking.py", MARKING)
    proc = subprocess.Popen(
        [PROFWORK, "run", str(script), "-o", str(results), "--", str(tmp_path / "ran.txt")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(plugins), "SLOW_RENDERER_STARTED": str(started)},
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), proc.communicate(timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = only_run(results)
    manifest = manifest_of(run)
    assert manifest["status"] == "interrupted"
    assert "KeyboardInterrupt" not in str(manifest["error"])
    assert "while the artefacts were written" in str(manifest["error"])
    assert "profile.pstats" in manifest["artefacts"]  # type: ignore[operator]
    assert not (run / "slow.txt").exists()  # nothing half-written is kept


# ---- 16: a setup that fails ------------------------------------------------------------------


def test_a_failing_setup_is_one_error_with_the_users_frames_and_no_run(
    tmp_path: Path, results: Path
) -> None:
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
    done = profwork("run", f"{service}:service", "-o", str(results))
    line = one_error_line(done)
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in line
    assert "service.py:8 in connect → " in line and "service.py:5 in read_config" in line
    assert "runner.py" not in line and "targets.py" not in line  # not profwork's frames
    assert not results.exists() or not list(results.rglob("*"))  # no run, not even empty


def test_a_refused_database_url_is_one_error_not_an_empty_run(results: Path) -> None:
    done = profwork("run", "db", "--db-url", "postgresql://127.0.0.1:1/x", "-o", str(results))
    line = one_error_line(done)
    assert "the setup of db failed: sqlalchemy.exc.OperationalError" in line
    assert "Connection refused" in line or "connection failed" in line
    assert "db.py:" in line  # the target's own frame
    assert not results.exists() or not list(results.rglob("manifest.json"))


# ---- 17: one line instead of a traceback -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["badmod:f"], "importing badmod failed: ZeroDivisionError: division by zero"),
        (["--module", "badpkg.sub"], "importing badpkg.sub failed: RuntimeError: no config"),
        (["exiting:f"], "importing exiting called sys.exit(3)"),
        (["exiting.py:f"], "called sys.exit(3)"),
    ],
)
def test_an_import_that_fails_is_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    write(tmp_path / "badmod.py", "def f():\n    pass\n\n1 / 0\n")
    (tmp_path / "badpkg").mkdir()
    write(tmp_path / "badpkg" / "__init__.py", "raise RuntimeError('no config')\n")
    write(tmp_path / "badpkg" / "sub.py", "print('never')\n")
    write(tmp_path / "exiting.py", "import sys\n\ndef f():\n    pass\n\nsys.exit(3)\n")
    done = profwork("run", *args, "-o", "results", cwd=tmp_path)
    assert message in one_error_line(done)
    assert not (tmp_path / "results").exists()


def test_a_builtin_without_a_signature_is_a_target(results: Path) -> None:
    done = profwork("run", "collections:OrderedDict", "-o", str(results))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert manifest_of(only_run(results))["status"] == "ok"


def test_a_target_that_closes_stdout_still_gets_its_summary(tmp_path: Path, results: Path) -> None:
    script = write(
        tmp_path / "closer.py",
        """
        import sys

        def work():
            return sum(i * i for i in range(200_000))

        work()
        print("from the target")
        sys.stdout.close()
        """,
    )
    done = profwork("run", str(script), "-o", str(results))
    assert done.returncode == 0, done.stderr
    assert "I/O operation on closed file" not in done.stderr
    assert "from the target" in done.stdout
    assert "Bottlenecks" in done.stdout and "run directory:" in done.stdout


@pytest.mark.parametrize(
    "manifest",
    ['["a", "list"]', '{"target": "t", "spec": "t", "method": "cprofile", "duration": "slow"}'],
)
def test_ls_skips_a_manifest_it_cannot_read(manifest: str, results: Path) -> None:
    done = profwork("run", "example", "-p", "rounds=1", "--size", "small", "-o", str(results))
    assert done.returncode == 0, done.stderr
    good = only_run(results)
    bad = results / "broken" / "20200101-000000-cprofile"
    bad.mkdir(parents=True)
    (bad / "manifest.json").write_text(manifest)
    listed = profwork("ls", str(results))
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert str(good) in listed.stdout.replace("\n", "")
    assert "broken" not in listed.stdout
