"""The command line at its edges, run as the installed `profwork` script: numbers checked before
anything runs, choices that come from the registries, output that cannot be written, finished runs
that are never modified, and the small things a new user trips on.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.conftest import PROFWORK, ROOT, only_run, profwork, write


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the example target, shared by the tests that only read it."""
    results = tmp_path_factory.mktemp("shared") / "results"
    done = profwork("run", "example", "-p", "rounds=1", "-o", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results)


@pytest.fixture
def live_python(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Python process that sleeps until the test ends."""
    script = write(tmp_path / "idle.py", "import time\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    time.sleep(0.5)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("profwork: error: ")
    return lines[0]


def digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# ---- item 7: numbers are checked when the command line is parsed ------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["run", "example", "-m", "pyinstrument", "--rate", "inf"],
        ["run", "example", "-m", "pyinstrument", "--rate", "nan"],
        ["run", "example", "-m", "pyspy", "--rate", "-5"],
        ["run", "example", "-m", "pyspy", "--rate", "0"],
    ],
)
def test_a_rate_that_is_not_a_positive_finite_number_is_refused_before_the_run(
    args: list[str], results: Path
) -> None:
    done = profwork(*args, "-o", str(results))
    assert done.returncode == 2
    assert "--rate" in one_line_error(done) and "positive finite number" in done.stderr
    assert not results.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("duration", ["nan", "inf", "-1", "0"])
def test_attach_refuses_a_duration_that_is_not_a_positive_finite_number(
    duration: str, live_python: subprocess.Popen[bytes], results: Path
) -> None:
    done = profwork("attach", str(live_python.pid), "-d", duration, "-o", str(results))
    assert done.returncode == 2
    assert "--duration" in one_line_error(done) and "positive finite number" in done.stderr
    assert not results.exists()


@pytest.mark.parametrize("top", ["0", "-1"])
def test_top_must_be_at_least_one(top: str, finished_run: Path) -> None:
    done = profwork("report", str(finished_run), "--top", top)
    assert done.returncode == 2
    assert "--top" in one_line_error(done)


def test_a_nan_target_metric_never_reaches_summary_json_as_nan(
    tmp_path: Path, results: Path
) -> None:
    # GIVEN a target that reports a metric it could not compute (the mean of no requests)
    file = write(
        tmp_path / "lonely.py",
        """
        from profwork import Metrics

        def main():
            return Metrics({"GET /idle": {"mean": float("nan"), "p99": float("inf"), "count": 0}})
        """,
    )
    done = profwork("run", f"{file}:main", "-o", str(results))
    assert done.returncode == 0, done.stderr
    text = (only_run(results) / "summary.json").read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(f"summary.json holds the non-JSON literal {constant}")

    summary = json.loads(text, parse_constant=refuse)
    assert summary["target_metrics"]["GET /idle"] == {"mean": None, "p99": None, "count": 0}


# ---- item 8: output that cannot be written ----------------------------------------------------


def test_convert_into_a_missing_directory_is_one_line(finished_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "flame.svg"
    done = profwork("convert", str(finished_run), "--to", "svg", "-o", str(target))
    assert done.returncode != 0
    assert str(target.parent) in one_line_error(done)
    assert not (tmp_path / "no").exists()


def test_convert_onto_a_full_device_is_one_line(finished_run: Path) -> None:
    done = profwork("convert", str(finished_run), "--to", "html", "-o", "/dev/full")
    assert done.returncode != 0
    assert "No space left on device" in one_line_error(done)
    assert Path("/dev/full").is_char_device()  # written in place, never renamed over


def test_a_full_disk_leaves_no_truncated_file_at_the_target(
    finished_run: Path, tmp_path: Path
) -> None:
    # GIVEN a file size limit far below the report's size (SIGXFSZ ignored, so writes fail
    # with EFBIG as they would with ENOSPC), and an older report at the target path
    out = tmp_path / "report.html"
    out.write_text("the previous report\n")

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run(
        [PROFWORK, "convert", str(finished_run), "--to", "html", "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=120,
    )
    assert done.returncode != 0
    assert str(out) in one_line_error(done)
    # THEN the old file is untouched and no temporary file is left beside it
    assert out.read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("args", [["report", "{run}"], ["ls", "{results}"]])
def test_stdout_on_a_full_device_is_one_line(args: list[str], finished_run: Path) -> None:
    argv = [a.format(run=finished_run, results=finished_run.parents[1]) for a in args]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [PROFWORK, *argv], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode != 0
    assert "No space left on device" in one_line_error(done)  # type: ignore[arg-type]


def test_a_run_whose_stdout_is_full_is_still_saved_and_says_where(results: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [PROFWORK, "run", "example", "-p", "rounds=1", "-o", str(results)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert done.returncode != 0
    run = only_run(results)
    line = one_line_error(done)  # type: ignore[arg-type]
    assert "No space left on device" in line and str(run) in line
    assert json.loads((run / "manifest.json").read_text())["status"] == "ok"


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_a_closed_pipe_ends_quietly(fmt: str, finished_run: Path) -> None:
    # `profwork report RUN | head -1`, with the reader gone before anything is written
    proc = subprocess.Popen(
        [PROFWORK, "report", str(finished_run), "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    proc.stderr.close()
    assert proc.returncode != 0
    assert err == ""  # no BrokenPipeError, no "Exception ignored"


# ---- item 21: a finished run is never modified --------------------------------------------------


@pytest.mark.parametrize("source", [".", "profile.pstats"])
def test_convert_without_output_never_modifies_a_finished_run(
    source: str, finished_run: Path
) -> None:
    before = digest(finished_run)
    done = profwork("convert", str(finished_run / source), "--to", "html")
    assert done.returncode == 2
    assert "-o" in one_line_error(done) and "finished run" in done.stderr
    assert digest(finished_run) == before


def test_convert_with_output_inside_a_run_is_refused(finished_run: Path) -> None:
    before = digest(finished_run)
    for output in (finished_run, finished_run / "raw" / "x.svg"):
        done = profwork("convert", str(finished_run), "--to", "svg", "-o", str(output))
        assert done.returncode == 2
        assert "finished run" in one_line_error(done)
    assert digest(finished_run) == before


def test_convert_of_a_loose_file_goes_beside_it_but_never_over_a_file(
    finished_run: Path, tmp_path: Path
) -> None:
    loose = tmp_path / "service.pstats"
    loose.write_bytes((finished_run / "profile.pstats").read_bytes())
    first = profwork("convert", str(loose), "--to", "speedscope")
    assert first.returncode == 0, first.stderr
    written = tmp_path / "service.speedscope.json"
    assert json.loads(written.read_text())["$schema"].startswith("https://www.speedscope.app")
    again = profwork("convert", str(loose), "--to", "speedscope")
    assert again.returncode == 2 and "already exists" in one_line_error(again)


# ---- item 22 and the registries (issue 16) ------------------------------------------------------


def test_bare_profwork_prints_the_help_and_succeeds() -> None:
    done = profwork()
    assert done.returncode == 0
    assert "Usage: profwork" in done.stdout and "run" in done.stdout
    assert done.stderr == ""


def test_method_names_are_case_insensitive(results: Path) -> None:
    done = profwork("run", "example", "-m", "cProfile", "-p", "rounds=1", "-o", str(results))
    assert done.returncode == 0, done.stderr
    assert json.loads((only_run(results) / "manifest.json").read_text())["method"] == "cprofile"


def test_every_registered_output_format_is_a_conversion_and_a_report(
    finished_run: Path, tmp_path: Path
) -> None:
    # md and json are registered renderers too, so `convert --to` and `report --format` take them
    done = profwork("convert", str(finished_run), "--to", "md", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "summary.md").read_text().startswith("# profwork summary")
    folded = profwork("report", str(finished_run), "--format", "folded")
    assert folded.returncode == 0 and "is_duplicate" in folded.stdout


def test_an_unknown_format_is_refused_at_parse_time_listing_the_registered_ones() -> None:
    # the input does not even exist: the format is checked first, against the registry
    done = profwork("convert", "missing.pstats", "--to", "Speedscope2")
    assert done.returncode == 2
    line = one_line_error(done)
    assert "unknown output format 'Speedscope2'" in line
    for name in ("pstats", "speedscope", "folded", "svg", "html", "md", "json"):
        assert name in line


def test_a_user_targets_own_size_names_are_accepted(tmp_path: Path, results: Path) -> None:
    file = write(
        tmp_path / "etl.py",
        """
        from profwork import target

        @target("etl", sizes={"tiny": {"rows": 10}, "huge": {"rows": 100_000}})
        def etl(rows: int = 1000):
            return sum(range(rows))
        """,
    )
    done = profwork("run", f"{file}:etl", "--size", "tiny", "-o", str(results))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["size"] == "tiny" and manifest["params"] == {"rows": 10}
    wrong = profwork("run", f"{file}:etl", "--size", "large", "-o", str(results))
    assert wrong.returncode == 2 and "tiny, huge" in one_line_error(wrong)


def test_the_recorded_command_line_is_the_argv_given_to_main(results: Path) -> None:
    argv = ["run", "example", "-p", "rounds=1", "-o", str(results)]
    code = f"from profwork.cli import main; main({argv!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    assert manifest["command"] == ["profwork", *argv]


def main_in_a_fresh_process(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], int | str | None, set[str]]:
    """`cli.main(argv)` in a new interpreter: what it printed, its exit code and the modules it
    imported."""
    code = (
        "import json, sys\n"
        "from profwork.cli import main\n"
        "code = 0\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env or None
    )
    code, modules = json.loads(done.stderr.strip().splitlines()[-1])
    return done, code, set(modules)


def test_top_level_help_reads_no_entry_points() -> None:
    done, _, modules = main_in_a_fresh_process(["--help"])
    assert "Commands:" in done.stdout
    assert "importlib.metadata" not in modules


def test_help_lists_the_lazy_commands_as_click_would_without_importing_them() -> None:
    # the commands in modules of their own are imported only when used; `profwork --help`
    # lists them from the summaries in cli.LAZY_COMMANDS, which must say what the commands do
    done, _, modules = main_in_a_fresh_process(["--help"], {**os.environ, "COLUMNS": "200"})
    lazy_modules = {"profwork.cli_compare", "profwork.cli_scale", "profwork.cli_import"}
    assert not modules & {*lazy_modules, "profwork.view", "signal"}
    lazy = done.stdout

    from profwork.cli import LAZY_COMMANDS, cli

    eager = click.Group(cli.name)  # the same commands, all imported: click's own listing
    for name in cli.list_commands(click.Context(cli)):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        eager.add_command(command, name)
    listing = eager.get_help(click.Context(eager, info_name="profwork"))
    assert lazy.partition("Commands:")[2] == listing.partition("Commands:")[2] + "\n"
    assert set(LAZY_COMMANDS) <= set(eager.commands)


def test_reading_a_run_or_its_pstats_reads_no_other_packages_entry_points(tmp_path: Path) -> None:
    # profwork's own reader and renderers are found in its own entry_points.txt; every other
    # package's metadata (importlib.metadata and its email parser, ~30 ms) is read only to list
    # names or to find a plug-in's
    profile = Path(__file__).parent / "data" / "cprofile.pstats"
    argv = ["convert", str(profile), "--to", "folded", "-o", str(tmp_path / "x")]
    _, code, modules = main_in_a_fresh_process(argv)
    assert code == 0 and "importlib.metadata" not in modules
    assert (tmp_path / "x").read_text().strip()


def test_dump_keeps_the_line_number_of_a_long_path(tmp_path: Path) -> None:
    # GIVEN a Python process whose code lies deep in a long path, on an 80-column terminal
    deep = tmp_path.joinpath(*(f"a_rather_long_directory_name_{i}" for i in range(6)))
    deep.mkdir(parents=True)
    script = write(
        deep / "sleepy_service.py",
        """
        import time


        def wait_for_work():
            time.sleep(120)  # line 6


        wait_for_work()
        """,
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        time.sleep(1.0)
        done = profwork("dump", str(proc.pid), env={"COLUMNS": "80"})
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 0, done.stderr
    assert "wait_for_work" in done.stdout
    # THEN the middle of the path gives way, never the file's name and line
    assert "sleepy_service.py:6" in done.stdout, done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


# ---- item 20: where the command is after `make demo` -------------------------------------------


def test_make_demo_says_where_the_profwork_command_is(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    done = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "demo",
            f"VENV={venv}",
            f"DEMO=example -p rounds=1 -o {tmp_path / 'results'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert done.returncode == 0, done.stderr
    assert only_run(tmp_path / "results")
    last = done.stdout.strip().splitlines()[-1]
    command = venv / "bin" / "profwork"
    assert str(command) in last and "activate" in last
    assert subprocess.run([str(command), "--version"], capture_output=True).returncode == 0


def test_open_shows_the_html_renderers_page(tmp_path: Path, results: Path) -> None:
    # a "browser" that records what it was asked to open (webbrowser honours $BROWSER)
    opened = tmp_path / "opened.txt"
    browser = write(tmp_path / "browser.sh", f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    done = profwork(
        "run",
        "example",
        "-p",
        "rounds=1",
        "-o",
        str(results),
        "--open",
        env={"BROWSER": f"{browser} %s"},
    )
    assert done.returncode == 0, done.stderr
    assert opened.read_text().strip() == (only_run(results) / "report.html").as_uri()


def test_open_without_a_browser_says_where_the_report_is(tmp_path: Path, results: Path) -> None:
    done = profwork(
        "run",
        "example",
        "-p",
        "rounds=1",
        "-o",
        str(results),
        "--open",
        env={"BROWSER": str(tmp_path / "none")},
    )
    assert done.returncode == 0, done.stderr
    page = only_run(results) / "report.html"
    assert f"no browser to open it here; the report is {page}" in done.stdout.replace("\n", "")


def test_a_folder_of_runs_given_as_a_run_names_the_newest(results: Path) -> None:
    for _ in range(2):
        assert profwork("run", "example", "-p", "rounds=1", "-o", str(results)).returncode == 0
    newest = max((results / "example").iterdir(), key=lambda run: run.name)
    for folder in (results / "example", results):
        done = profwork("report", str(folder))
        assert done.returncode != 0
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"{folder} is not a run but holds 2" in done.stderr
        assert f"the newest is {newest}" in done.stderr
