"""The gate per function (issue 20 item 5): profiles taken with `--repeat` record each iteration's
time and, under cprofile, each heavy function's time per iteration, so that a function's change
counts only when a rank test on its repeats says it is not noise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profwork.analyses.compare import Side, compare, function_key, gate
from profwork.model import Frame, Profile
from tests.conftest import only_run, profwork, write

# ---- on hand-built sides ---------------------------------------------------------------------

MAIN = Frame("main", "/srv/a/app/run.py", 1)
WORK = Frame("Worker.work", "/srv/a/app/run.py", 10)
HELPER = Frame("helper", "/srv/a/app/run.py", 30)


def sides(base_helper: list[float], new_helper: list[float]) -> tuple[Side, Side, Profile, Profile]:
    """Two runs of five iterations in which only `helper` changed, with its time in each
    iteration (and each iteration's total: `Worker.work`'s 0.4 s and `helper`'s)."""
    base = Profile("seconds", {(MAIN, WORK): 2.0, (MAIN, HELPER): sum(base_helper)})
    new = Profile("seconds", {(MAIN, WORK): 2.0, (MAIN, HELPER): sum(new_helper)})
    key, main = function_key(HELPER), function_key(MAIN)
    return (
        Side(
            "a",
            "seconds",
            base.total,
            repeats=tuple(h + 0.4 for h in base_helper),
            function_repeats={key: tuple(base_helper), main: tuple(h + 0.4 for h in base_helper)},
        ),
        Side(
            "b",
            "seconds",
            new.total,
            repeats=tuple(h + 0.4 for h in new_helper),
            function_repeats={key: tuple(new_helper), main: tuple(h + 0.4 for h in new_helper)},
        ),
        base,
        new,
    )


def test_a_functions_change_that_its_repeats_call_noise_does_not_fail_the_gate() -> None:
    # helper +29% over the run, from iterations that overlap completely: noise
    base, new, base_profile, new_profile = sides(
        [0.4, 0.4, 0.4, 1.2, 0.4], [1.2, 0.4, 1.2, 0.4, 0.4]
    )
    result = gate(compare(base, new, base_profile, new_profile), 0.15)
    (finding,) = [f for f in result.findings if f.subject == "helper"]
    assert not finding.counted and "intervals overlap" in finding.why
    assert not result.failed
    # the same totals without the repeats: the threshold alone decides, and fails the gate
    plain = gate(
        compare(
            Side("a", "seconds", base.total),
            Side("b", "seconds", new.total),
            base_profile,
            new_profile,
        ),
        0.15,
    )
    assert plain.failed


def test_a_functions_change_that_its_repeats_confirm_fails_the_gate() -> None:
    base, new, base_profile, new_profile = sides(
        [0.5, 0.52, 0.49, 0.51, 0.5], [0.8, 0.82, 0.79, 0.81, 0.8]
    )
    comparison = compare(base, new, base_profile, new_profile)
    result = gate(comparison, 0.15)
    (finding,) = [f for f in result.findings if f.subject == "helper"]
    assert finding.counted and finding.relative > 0 and "do not overlap" in finding.why
    assert result.failed
    verdicts = comparison.to_dict()["function_verdicts"]
    assert [(v["function"], v["real"]) for v in verdicts] == [("helper", True), ("main", True)]


# ---- real runs -------------------------------------------------------------------------------

# The body waits a given time in each iteration (the warm-up waits none): the same code, whose
# time per iteration differs from run to run the way a shared machine makes it differ.
JITTER = """\
import time

calls = [0]


def wait(seconds):
    time.sleep(seconds)


def steady():
    return sum(i * i for i in range(2000))


def body(delays: str = "10") -> None:
    calls[0] += 1
    waits = [float(ms) / 1000 for ms in delays.split(",")]
    n = calls[0] - 2  # the first call is the warm-up
    wait(waits[n % len(waits)] if n >= 0 else 0)
    steady()
"""


@pytest.fixture(scope="module")
def jitter_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("jitter")
    script = write(home / "jitter.py", JITTER)
    runs = {}
    for name, delays in (
        ("a", "10,10,10,30,10"),  # 70 ms in all
        ("b", "30,10,30,10,10"),  # 90 ms: +29%, from the same spread of waits
        ("slow", "80,80,80,80,80"),  # 400 ms: every iteration slower
    ):
        out = home / name
        spec = f"{script}:body"
        done = profwork("run", spec, "--repeat", "5", "-p", f"delays={delays}", "-o", str(out))
        assert done.returncode == 0, done.stderr
        runs[name] = only_run(out)
    return runs


def test_a_run_with_repeat_records_each_iteration_and_each_heavy_functions_time(
    jitter_runs: dict[str, Path],
) -> None:
    from profwork import load

    run = jitter_runs["a"]
    assert (run / "raw" / "repeats.json").is_file()
    facts = json.loads((run / "raw" / "meta.json").read_text())["facts"]
    assert len(facts["iterations"]) == 5
    profile = load(run)
    assert len(profile.metadata["repeats"]) == 5
    waits = {f["function"]: f["cumulative"] for f in profile.metadata["function_repeats"]}
    assert len(waits["wait"]) == 5
    # the waits asked for, iteration by iteration (sleep lasts at least that long)
    for measured, asked in zip(waits["wait"], (0.010, 0.010, 0.010, 0.030, 0.010), strict=True):
        assert asked <= measured < asked + 0.5
    # and each iteration's figure adds up to the function's cumulative time in the profile
    (frame,) = profile.find("wait")
    assert sum(waits["wait"]) == pytest.approx(profile.cumulative()[frame], rel=1e-6)
    # the profiler's reads between iterations are not part of the profile
    assert not any("getstats" in f.function for f in profile.functions())


def test_a_sampled_run_with_repeat_records_each_iterations_time(tmp_path: Path) -> None:
    """Every method's runs carry their iterations' times (the total's rank test); only cprofile,
    which counts exactly, splits them per function."""
    from profwork import load

    script = write(tmp_path / "jitter.py", JITTER)
    out = tmp_path / "out"
    done = profwork(
        "run", f"{script}:body", "-m", "pyinstrument", "--repeat", "3", "-p", "delays=20",
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = load(only_run(out))
    assert len(profile.metadata["repeats"]) == 3
    assert all(0.02 <= t < 1.0 for t in profile.metadata["repeats"])
    assert "function_repeats" not in profile.metadata


def test_two_repeat_runs_of_the_same_code_do_not_trip_the_gate(
    jitter_runs: dict[str, Path], tmp_path: Path
) -> None:
    done = profwork(
        "compare",
        str(jitter_runs["a"]),
        str(jitter_runs["b"]),
        "--fail-on-regression",
        "-o",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate: passed" in done.stdout
    data = json.loads(next(tmp_path.glob("*/*-compare/compare.json")).read_text())
    findings = {f["subject"]: f for f in data["gate"]["findings"]}
    # the total and `wait` grew past the threshold, and the rank test called both noise
    assert findings["total"]["relative"] > 0.15 and not findings["total"]["counted"]
    assert findings["wait"]["relative"] > 0.15 and not findings["wait"]["counted"]
    assert "noise: wait" in " ".join(done.stdout.split())


def test_a_function_slower_in_every_iteration_fails_the_gate_with_its_name(
    jitter_runs: dict[str, Path], tmp_path: Path
) -> None:
    done = profwork(
        "compare",
        str(jitter_runs["a"]),
        str(jitter_runs["slow"]),
        "--fail-on-regression",
        "-o",
        str(tmp_path),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(next(tmp_path.glob("*/*-compare/compare.json")).read_text())
    wait = next(f for f in data["gate"]["findings"] if f["subject"] == "wait")
    assert wait["counted"] and wait["relative"] > 1.0 and "do not overlap" in wait["why"]
    assert "REGRESSION: wait" in " ".join(done.stdout.split())


def test_naive_against_fast_scheduler_with_repeats_flags_the_hotspot_in_the_right_direction(
    tmp_path: Path,
) -> None:
    runs = {}
    for variant in ("naive", "fast"):
        out = tmp_path / variant
        # medium: the quadratic scan makes naive ~4x slower; 8 repeats a side let the U test
        # reach p < 0.002
        done = profwork(
            "run", "scheduler", "--size", "medium", "-p", "rounds=1", "-p", f"variant={variant}",
            "--repeat", "8", "-o", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs[variant] = only_run(out)
    slower = profwork(
        "compare", str(runs["fast"]), str(runs["naive"]), "--fail-on-regression",
        "-o", str(tmp_path / "slower"),
    )  # fmt: skip
    assert slower.returncode == 1, slower.stdout
    data = json.loads(next((tmp_path / "slower").glob("*/*-compare/compare.json")).read_text())
    assert data["regressions"][0]["function"] == "Ledger.shifts_in_window"
    counted = [f for f in data["gate"]["findings"] if f["counted"]]
    # the functions that call the hotspot grew in every iteration: real, by the rank test
    assert any(f["subject"] == "build_schedule" and f["relative"] > 0 for f in counted)
    assert all("Mann–Whitney U" in f["why"] for f in counted)
    assert data["function_verdicts"]

    faster = profwork(
        "compare", str(runs["naive"]), str(runs["fast"]), "--fail-on-regression",
        "-o", str(tmp_path / "faster"),
    )  # fmt: skip
    assert faster.returncode == 0, faster.stdout
    data = json.loads(next((tmp_path / "faster").glob("*/*-compare/compare.json")).read_text())
    assert data["improvements"][0]["function"] == "Ledger.shifts_in_window"
    assert data["improvements"][0]["cumulative_delta"] < 0
