"""`profwork view RUN [--viewer html|svg|snakeviz]` (issue 19 item 4), through the installed
script: a real browser command (`$BROWSER`), a real snakeviz server fetched over 127.0.0.1."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PROFWORK, only_run, profwork


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    done = profwork("run", "example", "--size", "small", "-p", "rounds=2", "-o", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results)


def fake_browser(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `$BROWSER` command that records what it was asked to open."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"BROWSER": str(script)}, opened


@pytest.mark.parametrize(("viewer", "filename"), [("html", "report.html"), ("svg", "flame.svg")])
def test_view_opens_the_report_or_the_flame_graph_in_the_browser(
    run: Path, tmp_path: Path, viewer: str, filename: str
) -> None:
    env, opened = fake_browser(tmp_path)
    done = profwork("view", str(run), "--viewer", viewer, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"opened {run / filename}"
    assert opened.read_text(encoding="utf-8").strip() == (run / filename).as_uri()


def test_view_of_a_file_inside_a_run_opens_that_run(run: Path, tmp_path: Path) -> None:
    env, opened = fake_browser(tmp_path)
    done = profwork("view", str(run / "raw"), env=env)
    assert done.returncode == 0, done.stderr
    assert opened.read_text(encoding="utf-8").strip() == (run / "report.html").as_uri()


def test_without_a_browser_view_says_where_the_file_is(run: Path, tmp_path: Path) -> None:
    done = profwork("view", str(run), "--viewer", "svg", env={"BROWSER": str(tmp_path / "none")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"no browser to open it here; the file is {run / 'flame.svg'}"
    quiet = profwork("view", str(run), "--no-browser")
    assert quiet.stdout.strip() == str(run / "report.html")


def test_view_refuses_what_is_not_a_run_in_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path):
        done = profwork("view", str(path))
        assert done.returncode == 2
        assert done.stderr.startswith("profwork: error: ") and done.stderr.count("\n") == 1
        assert "profwork ls" in done.stderr


def test_view_of_a_run_missing_its_file_says_how_to_make_one(run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "flame.svg").unlink()
    done = profwork("view", str(copy), "--viewer", "svg", "--no-browser")
    assert done.returncode == 2
    assert "has no flame.svg" in done.stderr and "profwork convert" in done.stderr


def test_snakeviz_serves_the_runs_pstats_on_localhost_until_stopped(run: Path) -> None:
    server = subprocess.Popen(
        [PROFWORK, "view", str(run), "--viewer", "snakeviz", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        url = server.stdout.readline().strip()
        assert "snakeviz is serving" in first, (
            first,
            server.stderr.read() if server.poll() else "",
        )
        assert url.startswith("http://127.0.0.1:")  # bound to localhost only
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode("utf-8")
        assert response.status == 200
        # snakeviz's page holds the profile's own functions
        assert "is_duplicate" in page and "dedupe_naive" in page
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "snakeviz stopped" in out and "Traceback" not in err


def test_snakeviz_stops_on_sigterm_too(run: Path) -> None:
    server = subprocess.Popen(
        [PROFWORK, "view", str(run), "--viewer", "snakeviz", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        url = server.stdout.readline().strip()
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "snakeviz stopped" in out and "Traceback" not in err
