"""`--method line`, run as the installed `profwork` script: real line_profiler on real code."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import only_run, profwork, write

WORKLOAD = """
    import time


    def setup_free():
        return list(range(10))


    def crunch(n):
        small = setup_free()
        total = 0
        squares = sum(i * i for i in range(n))  # the slow line
        for value in small:
            total += value
        return total + squares


    def pause():
        time.sleep(0.05)
        return 1


    def body(n=1_500_000):
        return crunch(n) + pause()
"""
SLOW_LINE = 12


def run_line(tmp_path: Path, results: Path, *args: str) -> Path:
    file = write(tmp_path / "work.py", WORKLOAD)
    done = profwork("run", f"{file}:body", "-m", "line", *args, "-o", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Hottest lines" in done.stdout
    return only_run(results)


def test_the_known_slow_line_comes_first(tmp_path: Path, results: Path) -> None:
    run = run_line(tmp_path, results, "--function", "work.py:crunch")
    summary = json.loads((run / "summary.json").read_text())
    lines = summary["lines"]
    assert lines["chosen_by"] == "named"
    (crunch,) = lines["functions"]
    assert crunch["function"] == "crunch"
    hottest = lines["hottest_lines"][0]
    assert hottest["line"] == SLOW_LINE and "sum(i * i" in hottest["source"]
    row = next(r for r in crunch["lines"] if r["line"] == SLOW_LINE)
    assert row["hits"] == 1 and row["share"] > 0.5 and row["per_hit"] == row["time"]
    loop = next(r for r in crunch["lines"] if r["line"] == SLOW_LINE + 2)
    assert loop["hits"] == 10  # `total += value`, once per value
    # every source line is shown, the def line and the lines never run included
    assert [r["line"] for r in crunch["lines"]] == list(range(9, 16))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["options"]["function"] == ["work.py:crunch"]
    # line_profiler's own output is kept
    raw = run / "raw"
    assert (raw / "line_profiler.lprof").stat().st_size > 0
    assert "crunch" in (raw / "line_profiler.txt").read_text()
    page = (run / "report.html").read_text()
    assert '<section id="lines">' in page and "sum(i * i for i in range(n))" in page
    assert "## Line timing" in (run / "summary.md").read_text()


def test_several_functions_ranked_across_functions(tmp_path: Path, results: Path) -> None:
    run = run_line(tmp_path, results, "--function", "work.py:crunch", "--function", "work.py:pause")
    lines = json.loads((run / "summary.json").read_text())["lines"]
    assert {f["function"] for f in lines["functions"]} == {"crunch", "pause"}
    ranked = [(h["function"], h["line"]) for h in lines["hottest_lines"][:2]]
    assert ("crunch", SLOW_LINE) in ranked and ("pause", 19) in ranked


def test_without_functions_the_hottest_user_functions_are_chosen_and_named(
    tmp_path: Path, results: Path
) -> None:
    run = run_line(tmp_path, results)
    manifest = json.loads((run / "manifest.json").read_text())
    chosen = manifest["options"]["function"]
    assert len(chosen) == 3 and any(c.endswith(":crunch") for c in chosen)
    assert any("hottest user functions" in note for note in manifest["notes"])
    lines = json.loads((run / "summary.json").read_text())["lines"]
    assert lines["chosen_by"] == "hottest"
    assert lines["hottest_lines"][0]["function"] in ("body", "crunch")
    crunch = next(f for f in lines["functions"] if f["function"] == "crunch")
    assert max(crunch["lines"], key=lambda r: r["time"])["line"] == SLOW_LINE


def test_a_function_that_is_not_there_is_one_line_listing_what_was_found(
    tmp_path: Path, results: Path
) -> None:
    file = write(tmp_path / "work.py", WORKLOAD)
    done = profwork(
        "run",
        f"{file}:body",
        "-m",
        "line",
        "--function",
        "work.py:nope",
        "-o",
        str(results),
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "nope" in line and "crunch" in line and "pause" in line
    done = profwork(
        "run",
        f"{file}:body",
        "-m",
        "line",
        "--function",
        "json:JSONDecodeError",
        "-o",
        str(results),
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "not a Python function" in done.stderr
    assert not list(results.glob("*/*/manifest.json"))


def test_a_file_the_body_imports_later_is_timed_as_the_body_imports_it(
    tmp_path: Path, results: Path
) -> None:
    write(
        tmp_path / "helper.py",
        """
        def work(n):
            return sum(range(n))
        """,
    )
    app = write(
        tmp_path / "app.py",
        """
        def main():
            import helper  # imported by the body, after --function was resolved

            return helper.work(100_000)
        """,
    )
    done = profwork(
        "run",
        f"{app}:main",
        "-m",
        "line",
        "--function",
        str(tmp_path / "helper.py") + ":work",
        "-o",
        str(results),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = json.loads((only_run(results) / "summary.json").read_text())["lines"]
    (work,) = lines["functions"]
    assert [r["hits"] for r in work["lines"] if r["line"] == 3] == [1]


def test_a_module_a_script_imports_is_timed(tmp_path: Path, results: Path) -> None:
    write(tmp_path / "hotmod.py", "\ndef hot(n):\n    return sum(i * i for i in range(n))\n")
    script = write(tmp_path / "script.py", "\nimport hotmod\n\nprint(hotmod.hot(100_000))\n")
    done = profwork(
        "run",
        str(script),
        "-m",
        "line",
        "--function",
        "hotmod.py:hot",
        "-o",
        str(results),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (hot,) = json.loads((only_run(results) / "summary.json").read_text())["lines"]["functions"]
    assert [(r["line"], r["hits"]) for r in hot["lines"] if r["hits"]] == [(3, 1)]
