"""`profwork compare` of two memory runs from the command line: a diff in bytes (issue 20 item 1,
"memory runs included")."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import only_run, profwork, write

SCRIPT = """\
CACHE = []  # what the body caches stays allocated at its end (the end snapshot holds it)


def cache_rows(n):
    CACHE.append([bytearray(1000) for _ in range(n)])
    return CACHE[-1]


def steady():
    return [str(i) for i in range(2_000)]


def body(rows: int = 1000) -> None:
    kept = cache_rows(rows), steady()
    return None
"""


def memory_run(home: Path, name: str, rows: int, *more: str) -> Path:
    script = home / "cache.py"
    if not script.exists():
        write(script, SCRIPT)
    out = home / name
    done = profwork(
        "run", f"{script}:body", "-m", "memory", "-p", f"rows={rows}", *more, "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    return only_run(out)


def test_two_memory_runs_compare_in_bytes_and_gate_on_the_growth(tmp_path: Path) -> None:
    small = memory_run(tmp_path, "small", 1_000)  # ~1 MB in cache_rows
    big = memory_run(tmp_path, "big", 5_000)  # ~5 MB
    grown = profwork(
        "compare", str(small), str(big), "--fail-on-regression", "-o", str(tmp_path / "grown")
    )
    assert grown.returncode == 1, grown.stdout + grown.stderr
    written = next((tmp_path / "grown").glob("*/*-compare/"))
    data = json.loads((written / "compare.json").read_text())
    assert data["unit"] == "bytes"
    grew = {r["function"]: r["cumulative_delta"] for r in data["regressions"]}
    # the ~4 MB more, in cache_rows (and in body, which calls it); steady did not change
    assert 3_000_000 < grew["cache_rows"] < 6_000_000
    assert grew["cache_rows"] >= 0.9 * max(grew.values())
    assert grew.get("steady", 0) < 200_000
    assert "MB" in grown.stdout or "MiB" in grown.stdout
    assert (written / "diff.svg").is_file() and "cache_rows" in (written / "diff.svg").read_text()

    shrunk = profwork(
        "compare", str(big), str(small), "--fail-on-regression", "-o", str(tmp_path / "shrunk")
    )
    assert shrunk.returncode == 0, shrunk.stdout + shrunk.stderr


def test_the_seconds_of_memory_runs_iterations_do_not_judge_their_bytes(tmp_path: Path) -> None:
    small = memory_run(tmp_path, "small", 1_000, "--repeat", "3")
    big = memory_run(tmp_path, "big", 5_000, "--repeat", "3")
    done = profwork("compare", str(small), str(big), "--fail-on-regression", "-o", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(next(tmp_path.glob("*/*-compare/compare.json")).read_text())
    assert data["unit"] == "bytes" and data["total_verdict"] is None
    assert data["base"]["repeats"] == 0 and data["new"]["repeats"] == 0


def test_a_memory_run_against_a_timed_run_is_refused(tmp_path: Path) -> None:
    memory = memory_run(tmp_path, "memory", 1_000)
    timed = tmp_path / "timed"
    done = profwork("run", f"{tmp_path / 'cache.py'}:body", "-o", str(timed))
    assert done.returncode == 0, done.stderr
    refused = profwork("compare", str(memory), str(only_run(timed)), "-o", str(tmp_path))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "units differ (bytes vs seconds)" in refused.stderr
