"""The command line, run as the installed `profwork` script: artefacts, exit codes, one-line errors.

Every run here is real: the real profiler on a real target, real files read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import only_run, profwork, profwork_interrupted, write

ARTEFACTS = {
    "manifest.json",
    "profile.pstats",
    "profile.speedscope.json",
    "profile.folded",
    "flame.svg",
    "report.html",
    "summary.md",
    "summary.json",
}
MANIFEST_FIELDS = {
    "schema_version",
    "profwork_version",
    "target",
    "spec",
    "params",
    "method",
    "options",
    "started_at",
    "duration",
    "status",
    "error",
    "python",
    "platform",
    "command",
    "git_commit",
    "artefacts",
}


@pytest.mark.parametrize("method", ["cprofile", "pyinstrument"])
def test_run_writes_every_artefact_and_ranks_the_known_hotspot_first(
    method: str, results: Path
) -> None:
    done = profwork("run", "example", "-m", method, "-p", "rounds=2", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert run.parent.name == "example" and run.name.endswith(f"-{method}")
    assert {p.name for p in run.iterdir()} >= ARTEFACTS
    manifest = json.loads((run / "manifest.json").read_text())
    assert set(manifest) >= MANIFEST_FIELDS
    assert manifest["status"] == "ok" and manifest["method"] == method
    assert manifest["params"] == {"orders": 3000, "rounds": 2, "variant": "naive"}
    assert all((run / a).exists() for a in manifest["artefacts"])
    summary = json.loads((run / "summary.json").read_text())
    # the function doing the work comes first among the hotspots, not the body containing it
    assert summary["hotspots"][0]["function"] == "is_duplicate"
    # the body every path runs through is a wrapper, named apart instead of ranked (issue 21)
    assert "body" not in {row["function"] for row in summary["bottlenecks"]}
    assert any(w["function"] == "body" for w in summary["wrappers"])
    assert "Bottlenecks" in done.stdout and "is_duplicate" in done.stdout
    assert f"run directory: {run}" in done.stdout.replace("\n", "")
    # setup (make_orders) is never profiled
    assert "make_orders" not in (run / "profile.folded").read_text()


def test_cprofile_keeps_exact_call_counts(results: Path) -> None:
    done = profwork("run", "example", "-p", "rounds=2", "--size", "small", "-o", str(results))
    assert done.returncode == 0, done.stderr
    summary = json.loads((only_run(results) / "summary.json").read_text())
    by_name = {row["function"]: row for row in summary["bottlenecks"]}
    assert by_name["dedupe_naive"]["calls"] == 2
    assert by_name["is_duplicate"]["calls"] == 2 * 1000


def test_a_threaded_body_under_cprofile_shows_the_workers_hotspot(
    tmp_path: Path, results: Path
) -> None:
    file = write(
        tmp_path / "workers.py",
        """
        import threading

        def crunch(n):
            total = 0
            for i in range(n):
                total += i * i
            return total

        def worker(n):
            for _ in range(5):
                crunch(n)

        def main(n: int = 200_000):
            threads = [threading.Thread(target=worker, args=(n,), name=f"w{i}") for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        """,
    )
    done = profwork("run", f"{file}:main", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert run.parent.name == "workers-main"
    summary = json.loads((run / "summary.json").read_text())
    # two workers in crunch against the main thread waiting in join for one of them
    assert summary["hotspots"][0]["function"] == "crunch"
    folded = (run / "profile.folded").read_text()
    roots = {line.split(";")[0] for line in folded.splitlines()}
    assert any(r.startswith("thread (") and r.endswith(": w0") for r in roots), roots
    assert any(r.endswith(": MainThread") for r in roots), roots
    # the stacks of three threads were rebuilt, but the note saying so is one, with the range of
    # thresholds (each thread's share of its own time)
    notes = json.loads((run / "manifest.json").read_text())["notes"]
    rebuilt = [n for n in notes if "rebuilt from cProfile's caller graph" in n]
    assert len(rebuilt) == 1, notes
    assert "a share of each thread's time" in rebuilt[0]
    assert (run / "summary.md").read_text().count("rebuilt from cProfile's caller graph") == 1


def test_a_failing_target_keeps_its_artefacts_with_status_error(
    tmp_path: Path, results: Path
) -> None:
    script = write(
        tmp_path / "broken.py",
        """
        def work():
            return sum(range(100_000))

        work()
        raise RuntimeError("database went away")
        """,
    )
    done = profwork("run", str(script), "-o", str(results))
    assert done.returncode == 1
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "error"
    assert "RuntimeError: database went away" in manifest["error"]
    assert {p.name for p in run.iterdir()} >= ARTEFACTS
    assert "work" in (run / "profile.folded").read_text()
    assert "Traceback" not in done.stderr.split("run error")[0]


def test_ctrl_c_during_the_body_keeps_what_was_measured(tmp_path: Path, results: Path) -> None:
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
    done = profwork_interrupted(
        "run", str(script), "-m", "pyinstrument", "-o", str(results), after=3.0
    )
    assert done.returncode == 130, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert "spin" in (run / "profile.folded").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_target"], "unknown target 'no_such_target'"),
        (["run", "missing_script.py"], "no such script"),
        (["run", "example", "-m", "nope"], "unknown method 'nope'"),
        (["run", "example", "-p", "rounds=many"], "expects int"),
        (["run", "example", "-p", "colour=red"], "valid parameters:"),
        (["run", "example", "-p", "rounds"], "-p expects name=value"),
        (["run", "example", "--rate", "50"], "-m cprofile takes no --rate"),
        (["report", "missing.pstats"], "missing.pstats"),
        (["run", "example", "--bogus"], "No such option"),
    ],
)
def test_bad_input_is_one_line_with_a_remedy_and_no_traceback(
    args: list[str], message: str, results: Path
) -> None:
    done = profwork(*args, "-o", str(results)) if args[0] == "run" else profwork(*args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(results.glob("*/*/manifest.json"))  # nothing half-written either


def test_report_reads_a_run_and_files_by_content(results: Path, tmp_path: Path) -> None:
    assert profwork("run", "example", "-p", "rounds=1", "-o", str(results)).returncode == 0
    run = only_run(results)
    as_text = profwork("report", str(run))
    assert as_text.returncode == 0 and "is_duplicate" in as_text.stdout
    as_json = json.loads(profwork("report", str(run), "--format", "json").stdout)
    assert as_json["hotspots"][0]["function"] == "is_duplicate"
    md = profwork("report", str(run), "--format", "md", "--top", "3").stdout
    assert md.count("\n| ") >= 3 and "## Hotspots" in md
    disguised = tmp_path / "profile.txt"  # the extension lies; the content decides
    disguised.write_bytes((run / "profile.pstats").read_bytes())
    assert "is_duplicate" in profwork("report", str(disguised)).stdout


def test_convert_writes_the_chosen_format(results: Path, tmp_path: Path) -> None:
    assert profwork("run", "example", "-p", "rounds=1", "-o", str(results)).returncode == 0
    run = only_run(results)
    out = tmp_path / "out.speedscope.json"
    done = profwork("convert", str(run / "profile.pstats"), "--to", "speedscope", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["$schema"].startswith("https://www.speedscope.app")
    svg = profwork("convert", str(run / "profile.folded"), "--to", "svg", "-o", str(tmp_path))
    assert svg.returncode == 0, svg.stderr
    assert (tmp_path / "flame.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_ls_lists_runs_newest_first(results: Path) -> None:
    for method in ("cprofile", "pyinstrument"):
        assert (
            profwork(
                "run", "example", "-m", method, "-p", "rounds=1", "-o", str(results)
            ).returncode
            == 0
        )
    listed = profwork("ls", str(results))
    assert listed.returncode == 0
    assert listed.stdout.index("pyinstrument") < listed.stdout.index("cprofile")


def test_targets_lists_each_target_with_parameters_and_sizes() -> None:
    done = profwork("targets")
    assert done.returncode == 0
    assert "example" in done.stdout and "rounds: int = 40" in done.stdout
    assert "small: orders=1000" in done.stdout


def test_help_starts_without_importing_heavy_modules() -> None:
    code = (
        "import sys; from profwork.cli import cli; "
        "heavy = {'rich', 'pyinstrument', 'jinja2', 'sqlalchemy', 'profwork.pipeline'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_a_script_gets_the_arguments_after_the_double_dash(tmp_path: Path, results: Path) -> None:
    out = tmp_path / "argv.txt"
    script = write(
        tmp_path / "nightly.py",
        f"""
        import pathlib, sys
        pathlib.Path({str(out)!r}).write_text(" ".join(sys.argv[1:]))
        """,
    )
    done = profwork("run", str(script), "-m", "pyinstrument", "-o", str(results), "--", "-v", "3")
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "-v 3"
    assert only_run(results).name.endswith("-pyinstrument")


def test_modules_are_found_from_the_working_directory_like_python_dash_m(tmp_path: Path) -> None:
    package = tmp_path / "jobpkg"
    package.mkdir()
    write(package / "__init__.py", "")
    write(
        package / "nightly.py",
        """
        def crunch(limit: int = 200_000):
            return sum(i % 7 for i in range(limit))

        if __name__ == "__main__":
            crunch()
        """,
    )
    results = tmp_path / "out"
    as_module = profwork("run", "--module", "jobpkg.nightly", "-o", str(results), cwd=tmp_path)
    assert as_module.returncode == 0, as_module.stderr
    as_function = profwork(
        "run", "jobpkg.nightly:crunch", "-p", "limit=1000", "-o", str(results), cwd=tmp_path
    )
    assert as_function.returncode == 0, as_function.stderr
    assert {p.name for p in results.iterdir()} == {"jobpkg.nightly", "jobpkg.nightly-crunch"}


def test_a_function_with_none_defaults_runs_under_every_method(results: Path) -> None:
    # json.dumps has `cls=None`, `default=None`...: only the -p given cross to py-spy's child
    for method in ("cprofile", "pyspy"):
        done = profwork("run", "json:dumps", "-m", method, "-p", "obj=1", "-o", str(results))
        assert done.returncode == 0, done.stderr
