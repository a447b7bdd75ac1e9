"""`profwork compare` and `profwork bench` as a user runs them: real runs of the built-in
targets, the installed script, the run directories they write, and the exit codes CI reads."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from profwork import comparison
from tests.conftest import profwork, profwork_interrupted, write

SMALL = ("--size", "small")


def run(results: Path, *args: str) -> Path:
    """One profiling run; its directory."""
    before = set(results.glob("*/*/manifest.json"))
    done = profwork("run", *args, "-o", str(results))
    assert done.returncode == 0, done.stderr
    (new,) = set(results.glob("*/*/manifest.json")) - before
    return new.parent


def bench(results: Path, *args: str) -> Path:
    def runs() -> set[Path]:
        found = set(results.glob("*/*/manifest.json"))
        return {m for m in found if m.parts[-3] != comparison.BASELINES}

    before = runs()
    done = profwork("bench", *args, "-o", str(results))
    assert done.returncode == 0, done.stderr
    (new,) = runs() - before
    return new.parent


def compare_dir(results: Path) -> Path:
    runs = sorted(p.parent for p in results.glob("*/*-compare*/manifest.json"))
    return runs[-1]


@pytest.fixture(scope="module")
def scheduler_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    results = tmp_path_factory.mktemp("results")
    # medium, two rounds: the quadratic scan makes naive ~5x slower, far beyond any noise
    sized = ("--size", "medium", "-p", "rounds=2")
    return {
        "naive": run(results, "scheduler", *sized, "-p", "variant=naive"),
        "fast": run(results, "scheduler", *sized, "-p", "variant=fast"),
        "results": results,
    }


def test_a_run_compared_with_itself_reports_no_regression_and_exits_0(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    naive = scheduler_runs["naive"]
    done = profwork("compare", str(naive), str(naive), "--fail-on-regression", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "gate: passed" in done.stdout and "REGRESSION" not in done.stdout
    written = compare_dir(tmp_path)
    assert sorted(p.name for p in written.iterdir()) == [
        "compare.json",
        "diff.svg",
        "manifest.json",
        "raw",
        "report.html",
    ]
    manifest = json.loads((written / "manifest.json").read_text())
    assert manifest["method"] == "compare" and manifest["target"] == "scheduler"
    data = json.loads((written / "compare.json").read_text())
    assert data["total_delta"] == 0 and data["regressions"] == [] and not data["gate"]["failed"]
    ET.parse(written / "diff.svg")  # well-formed


def test_naive_against_fast_scheduler_names_the_hotspot_and_fails_the_gate_only_when_slower(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    naive, fast = str(scheduler_runs["naive"]), str(scheduler_runs["fast"])
    slower = profwork("compare", fast, naive, "--fail-on-regression", "-o", str(tmp_path))
    assert slower.returncode == 1, slower.stderr
    assert "gate: failed (threshold 15%)" in slower.stdout
    data = json.loads((compare_dir(tmp_path) / "compare.json").read_text())
    top = data["regressions"][0]
    assert (top["function"], top["status"]) == ("Ledger.shifts_in_window", "new")
    assert top["cumulative_delta"] > 0 and data["total_relative"] > 0.15

    faster = profwork("compare", naive, fast, "--fail-on-regression", "-o", str(tmp_path))
    assert faster.returncode == 0, faster.stdout
    data = json.loads((compare_dir(tmp_path) / "compare.json").read_text())
    top = data["improvements"][0]
    assert (top["function"], top["status"]) == ("Ledger.shifts_in_window", "removed")
    assert top["cumulative_delta"] < 0 and data["total_relative"] < 0
    page = (compare_dir(tmp_path) / "report.html").read_text()
    assert "Ledger.shifts_in_window" in page and 'class="pwf pwd"' in page


def test_the_terminal_table_fits_80_columns_without_splitting_a_name(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    naive, fast = str(scheduler_runs["naive"]), str(scheduler_runs["fast"])
    done = profwork("compare", fast, naive, "-o", str(tmp_path), env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith("run directory:"))]
    assert max(len(line) for line in table) <= 80, done.stdout
    # a name too long for its column ends in an ellipsis; its location is on the next line
    at = next(i for i, line in enumerate(table) if line.startswith("Ledger.shifts_in"))
    name = table[at].split()[0]
    assert name == "Ledger.shifts_in_window" or name.endswith("…"), table[at]
    assert table[at + 1].strip().endswith("scheduler.py:79"), table[at : at + 2]
    assert "-100.0%" not in done.stdout  # minus signs as the deltas write them


def test_without_the_flag_a_regression_is_reported_but_exits_0(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    done = profwork(
        "compare", str(scheduler_runs["fast"]), str(scheduler_runs["naive"]), "-o", str(tmp_path)
    )
    assert done.returncode == 0 and "gate: failed" in done.stdout


def test_a_higher_threshold_lets_the_change_pass(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    fast, naive = str(scheduler_runs["fast"]), str(scheduler_runs["naive"])
    done = profwork(
        "compare", fast, naive, "--fail-on-regression", "--threshold", "1000%", "-o", str(tmp_path)
    )
    assert done.returncode == 0, done.stdout


def test_cprofile_against_pyspy_is_refused_in_one_line_unless_forced(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    sampled = run(tmp_path, "scheduler", *SMALL, "-m", "pyspy")
    naive = str(scheduler_runs["naive"])
    refused = profwork("compare", naive, str(sampled), "-o", str(tmp_path))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "methods differ (cprofile vs pyspy)" in refused.stderr and "--force" in refused.stderr
    assert not list(tmp_path.glob("*/*-compare*"))  # nothing written

    forced = profwork("compare", naive, str(sampled), "--force", "-o", str(tmp_path))
    assert forced.returncode == 0, forced.stderr
    assert "warning: compared although methods differ" in forced.stderr
    written = compare_dir(tmp_path)
    assert "compared although methods differ" in (written / "report.html").read_text()
    assert json.loads((written / "manifest.json").read_text())["notes"]


def test_cpu_time_against_wall_time_is_refused(tmp_path: Path) -> None:
    cpu = run(tmp_path, "scheduler", *SMALL, "-m", "pyspy")
    wall = run(tmp_path, "scheduler", *SMALL, "-m", "pyspy", "--idle")
    refused = profwork("compare", str(cpu), str(wall), "-o", str(tmp_path))
    assert refused.returncode == 2
    assert "clocks differ (cpu time vs wall time)" in refused.stderr


def test_compare_needs_two_runs_and_refuses_a_compare_run(
    scheduler_runs: dict[str, Path], tmp_path: Path
) -> None:
    naive = str(scheduler_runs["naive"])
    alone = profwork("compare", naive)
    assert alone.returncode == 2 and "give BASE and NEW" in alone.stderr
    profwork("compare", naive, naive, "-o", str(tmp_path))
    again = profwork("compare", str(compare_dir(tmp_path)), naive)
    assert again.returncode == 2 and "is a compare run, which holds no profile" in again.stderr
    missing = profwork("compare", naive, str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_profile_files_compare_too(scheduler_runs: dict[str, Path], tmp_path: Path) -> None:
    base = scheduler_runs["fast"] / "profile.pstats"
    new = scheduler_runs["naive"] / "profile.folded"  # seconds, by its run's manifest
    done = profwork("compare", str(base), str(new), "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    data = json.loads((compare_dir(tmp_path) / "compare.json").read_text())
    assert data["regressions"][0]["function"] == "Ledger.shifts_in_window"


# ---- bench ---------------------------------------------------------------------------------------


def test_bench_writes_its_figures_and_a_histogram(tmp_path: Path) -> None:
    path = bench(tmp_path, "scheduler", *SMALL, "-n", "6", "--warmup", "1")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["method"] == "bench" and manifest["status"] == "ok"
    data = json.loads((path / "bench.json").read_text())
    assert len(data["timings"]) == 6 and len(data["cpu_timings"]) == 6
    stats = data["stats"]
    assert set(stats) == {
        "iterations", "mean", "median", "p95", "p99", "stdev", "min", "max", "per_second",
        "peak_rss",
    }  # fmt: skip
    assert stats["min"] <= stats["median"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    assert stats["peak_rss"] > 1 << 20
    svg = ET.parse(path / "histogram.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    bins = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "bin"]
    assert sum(int(b.findtext(f"{ns}title", "0").split()[0]) for b in bins) == 6
    # a bench run holds figures, not a profile: `report` says so in one line
    reported = profwork("report", str(path))
    assert reported.returncode == 2 and "is a bench run" in reported.stderr
    assert "Traceback" not in reported.stderr


def test_bench_of_the_api_target_reports_per_endpoint_percentiles(tmp_path: Path) -> None:
    path = bench(tmp_path, "api", *SMALL, "-p", "requests=4", "-n", "3", "--warmup", "0")
    data = json.loads((path / "bench.json").read_text())
    calendar = data["target_metrics"]["GET /calendar"]
    assert {"p50", "p95", "p99"} <= set(calendar)
    assert len(data["iteration_metrics"]) == 3


def test_bench_refuses_bad_parameters_in_one_line(tmp_path: Path) -> None:
    done = profwork("bench", "scheduler", "-p", "nope=1", "-o", str(tmp_path))
    assert done.returncode == 2 and "has no parameter 'nope'" in done.stderr
    assert not list(tmp_path.glob("*/*"))


PIDS_BODY = """
    import os
    from pathlib import Path

    LOG = Path(__file__).with_name("calls.log")

    def log(what):
        with LOG.open("a") as out:
            out.write(f"{what} {os.getpid()} {os.getppid()}\\n")

    log("import")

    def body():
        log("body")
    """


def logged(log: Path) -> list[tuple[str, int, int]]:
    """(import|body, pid, parent pid) of each import of and call to the PIDS_BODY target."""
    return [
        (w, int(p), int(pp)) for w, p, pp in (line.split() for line in log.read_text().splitlines())
    ]


def test_bench_spreads_its_iterations_over_fresh_worker_processes(tmp_path: Path) -> None:
    script, log = write(tmp_path / "pids.py", PIDS_BODY), tmp_path / "calls.log"
    path = bench(
        tmp_path / "results", f"{script}:body", "-n", "7", "--warmup", "1",
        "--processes", "3",
    )  # fmt: skip
    data = json.loads((path / "bench.json").read_text())
    assert len(data["timings"]) == len(data["cpu_timings"]) == 7
    assert data["processes"] == 3 and data["process_index"] == [0, 0, 0, 1, 1, 2, 2]
    workers = [w["pid"] for w in data["workers"]]
    assert len(set(workers)) == 3 and [w["iterations"] for w in data["workers"]] == [3, 2, 2]
    assert data["stats"]["peak_rss"] == max(w["peak_rss"] for w in data["workers"])
    calls = logged(log)
    # each worker imports the target afresh, makes one warm-up call, then its share of the timed
    # calls; all are children of the profwork process (which imported it first), not of the test
    profwork_pid = calls[0][1]
    assert calls[0] == ("import", profwork_pid, os.getpid())
    calls = calls[1:]
    for pid, share in zip(workers, [3, 2, 2], strict=True):
        assert [what for what, p, _ in calls if p == pid] == ["import", "body"] + ["body"] * share
    assert {p for _, p, _ in calls} == set(workers)
    assert {pp for *_, pp in calls} == {profwork_pid}


def test_bench_with_one_process_runs_every_iteration_in_profwork_itself(tmp_path: Path) -> None:
    script, log = write(tmp_path / "pids.py", PIDS_BODY), tmp_path / "calls.log"
    path = bench(
        tmp_path / "results", f"{script}:body", "-n", "4", "--warmup", "1",
        "--processes", "1",
    )  # fmt: skip
    data = json.loads((path / "bench.json").read_text())
    assert data["processes"] == 1 and data["process_index"] == [0, 0, 0, 0]
    calls = logged(log)
    assert [what for what, _, _ in calls] == ["import"] + ["body"] * 5
    # the profwork process itself, started by this test, imported the target and ran the body
    assert {(p, pp) for _, p, pp in calls} == {(data["workers"][0]["pid"], os.getpid())}


@pytest.mark.parametrize("processes", ["0", "-1", "4"])
def test_bench_refuses_a_bad_number_of_processes_in_one_line(
    tmp_path: Path, processes: str
) -> None:
    done = profwork(
        "bench", "scheduler", *SMALL, "-n", "3", "--processes", processes, "-o", str(tmp_path)
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("profwork: error: --processes") and done.stderr.count("\n") == 1
    assert not list(tmp_path.glob("*/*"))


def test_a_body_failing_in_a_worker_process_ends_the_bench_in_one_line(tmp_path: Path) -> None:
    script = write(
        tmp_path / "fails.py",
        """
        calls = 0

        def body():
            global calls
            calls += 1
            if calls == 2:  # in the first worker, which runs 2 of the 6
                raise ValueError("second call")
        """,
    )
    done = profwork("bench", f"{script}:body", "-n", "6", "--warmup", "0", "-o", str(tmp_path))
    assert done.returncode == 1
    assert "the body of" in done.stderr and "failed in iteration 2" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*/*"))


def test_two_bench_runs_of_the_same_code_do_not_trip_the_gate_in_20_tries(
    tmp_path: Path,
) -> None:
    script = write(
        tmp_path / "work.py",
        """
        def body(n: int = 20000):
            total = 0
            for i in range(n):
                total += i * i % 7
            return total
        """,
    )
    results = tmp_path / "results"
    runs = [bench(results, f"{script}:body", "-n", "15", "--warmup", "2") for _ in range(21)]
    failed = []
    for base, new in zip(runs, runs[1:], strict=False):
        result, verdict, _ = comparison.run_compare(base, new, output=tmp_path / "cmp")
        assert result.total_verdict is not None  # the rank test was run
        if verdict.failed:
            failed.append((result.total_relative, result.total_verdict.test))
    assert failed == []


def test_a_baseline_is_compared_with_the_latest_run_like_it(tmp_path: Path) -> None:
    base = bench(tmp_path, "scheduler", *SMALL, "-n", "8", "--save-baseline", "main")
    assert (tmp_path / "baselines" / "main" / "bench.json").is_file()
    latest = bench(tmp_path, "scheduler", *SMALL, "-n", "8")
    done = profwork("compare", "--baseline", "main", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    data = json.loads((compare_dir(tmp_path) / "compare.json").read_text())
    assert data["base"]["label"].endswith("baselines/main")
    assert data["new"]["label"] == str(latest) and data["new"]["repeats"] == 8
    assert base != latest
    unknown = profwork("compare", "--baseline", "nope", "-o", str(tmp_path))
    assert unknown.returncode == 2 and "saved ones: main" in unknown.stderr


def test_the_trend_of_the_last_runs(tmp_path: Path) -> None:
    for _ in range(3):
        bench(tmp_path, "scheduler", *SMALL, "-n", "3")
    done = profwork("compare", str(tmp_path / "scheduler"), "--last", "2")
    assert done.returncode == 0, done.stderr
    assert "Trend — scheduler · bench" in done.stdout
    assert done.stdout.count("-bench") == 2  # the last two runs, by path


def test_ctrl_c_keeps_the_iterations_measured_so_far(tmp_path: Path) -> None:
    script = write(
        tmp_path / "slow.py",
        """
        import time

        def body():
            time.sleep(0.05)
        """,
    )
    results = tmp_path / "results"
    done = profwork_interrupted(
        "bench", f"{script}:body", "-n", "10000", "--warmup", "0", "-o", str(results), after=2.0
    )
    assert done.returncode == 130, done.stderr
    (manifest,) = results.glob("*/*-bench/manifest.json")
    assert json.loads(manifest.read_text())["status"] == "interrupted"
    data = json.loads((manifest.parent / "bench.json").read_text())
    assert 0 < len(data["timings"]) < 10000
    assert "run directory:" in done.stdout


def test_run_saves_a_baseline_that_compare_finds_again(tmp_path: Path) -> None:
    done = profwork("run", "scheduler", *SMALL, "--save-baseline", "before", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "baseline saved" in done.stdout
    saved = tmp_path / "baselines" / "before"
    assert json.loads((saved / "manifest.json").read_text())["method"] == "cprofile"
    latest = run(tmp_path, "scheduler", *SMALL)
    compared = profwork("compare", "--baseline", "before", "-o", str(tmp_path))
    assert compared.returncode == 0, compared.stderr
    data = json.loads((compare_dir(tmp_path) / "compare.json").read_text())
    assert data["base"]["label"].endswith("baselines/before")
    assert data["new"]["label"] == str(latest)
