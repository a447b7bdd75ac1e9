"""analyses.compare and analyses.stats: matching, deltas, refusal, the gate and the rank test,
on small hand-built profiles (the CLI over real runs is in test_compare_cli.py)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from profwork.analyses import compare as cmp
from profwork.analyses import stats
from profwork.analyses.compare import Side, compare, function_key, gate
from profwork.errors import ProfworkError
from profwork.model import Frame, FrameKind, FunctionStats, Profile

MAIN = Frame("main", "/srv/a/app/run.py", 1)
WORK = Frame("Worker.work", "/srv/a/app/run.py", 10)
HELPER = Frame("helper", "/srv/a/app/run.py", 30)


def side(profile: Profile, label: str, **facts: object) -> Side:
    return Side(label=label, unit=profile.unit, total=profile.total, **facts)  # type: ignore[arg-type]


def sampled(weights: dict[tuple[Frame, ...], float]) -> Profile:
    return Profile("seconds", weights, metadata={"method": "pyspy"})


# ---- matching ------------------------------------------------------------------------------------


def test_a_function_is_matched_by_module_and_name_not_by_line_or_checkout() -> None:
    moved = Frame("Worker.work", "/home/ci/checkout/app/run.py", 14)  # edited above, other clone
    assert function_key(moved) == function_key(WORK) == ("run", "Worker.work")


@pytest.mark.parametrize(
    ("file", "module"),
    [
        ("/venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py", "sqlalchemy.orm.session"),
        ("/usr/lib/python3.11/json/__init__.py", "json"),
        ("/root/.pyenv/versions/3.11.7/lib/python3.11/json/encoder.py", "json.encoder"),
        ("<frozen importlib._bootstrap>", "importlib._bootstrap"),
        ("/tmp/x/script.py", "script"),
    ],
)
def test_the_module_comes_from_the_path(file: str, module: str) -> None:
    assert cmp.module_of(file) == module


@pytest.mark.parametrize(
    ("cprofile", "pyinstrument"),
    [
        ("<built-in method time.sleep>", "sleep"),
        ("<built-in method builtins.sorted>", "sorted"),
        ("<method 'append' of 'list' objects>", "list.append"),
        ("<method 'append' of 'collections.deque' objects>", "deque.append"),
        ("<method 'join' of 'str' objects>", "str.join"),
    ],
)
def test_native_frames_named_differently_by_cprofile_and_pyinstrument_match(
    cprofile: str, pyinstrument: str
) -> None:
    by_cprofile = Frame(cprofile, "~", 0, FrameKind.NATIVE)
    by_pyinstrument = Frame(pyinstrument, "<built-in>", 0, FrameKind.NATIVE)
    assert function_key(by_cprofile) == function_key(by_pyinstrument)


# ---- deltas --------------------------------------------------------------------------------------


def test_each_function_has_cumulative_self_and_calls_of_both_runs_and_the_deltas() -> None:
    def exact(work_self: float, helper_self: float, helper_calls: int) -> Profile:
        stats_ = {
            MAIN: FunctionStats(1, 1, 0.1, 0.1 + work_self + helper_self),
            WORK: FunctionStats(1, 1, work_self, work_self + helper_self),
            HELPER: FunctionStats(helper_calls, helper_calls, helper_self, helper_self),
        }
        stacks = {(MAIN,): 0.1, (MAIN, WORK): work_self, (MAIN, WORK, HELPER): helper_self}
        return Profile("seconds", stacks, stats_, {"method": "cprofile"})

    base, new = exact(1.0, 2.0, 10), exact(1.0, 4.0, 20)
    result = compare(side(base, "a"), side(new, "b"), base, new)
    helper = next(f for f in result.functions if f.function == "helper")
    assert helper.base == cmp.Figures(2.0, 2.0, 10)
    assert helper.new == cmp.Figures(4.0, 4.0, 20)
    assert (helper.cumulative_delta, helper.cumulative_relative) == (2.0, 1.0)
    assert (helper.self_delta, helper.self_relative, helper.calls_delta) == (2.0, 1.0, 10)
    assert result.total_delta == pytest.approx(2.0)
    assert result.total_relative == pytest.approx(2.0 / 3.1)
    # helper's 2 s more show in its callers' cumulative time too
    assert {f.function for f in result.regressions()} == {"helper", "main", "Worker.work"}
    assert result.improvements() == []


def test_new_and_removed_functions_are_reported_as_such() -> None:
    gone = Frame("old_path", "/srv/a/app/run.py", 50)
    fresh = Frame("new_path", "/srv/a/app/run.py", 60)
    base = sampled({(MAIN, gone): 3.0, (MAIN, WORK): 1.0})
    new = sampled({(MAIN, fresh): 2.0, (MAIN, WORK): 1.0})
    result = compare(side(base, "a"), side(new, "b"), base, new)
    statuses = {f.function: f.status for f in result.functions}
    assert statuses == {
        "main": "both",
        "Worker.work": "both",
        "old_path": "removed",
        "new_path": "new",
    }
    assert result.improvements(1)[0].function == "old_path"
    assert result.regressions(1)[0].function == "new_path"
    assert result.regressions(1)[0].cumulative_relative is None


# ---- refusal -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "new", "why"),
    [
        ({"method": "cprofile"}, {"method": "pyspy"}, "methods differ"),
        ({"method": "pyspy", "rate": 100.0}, {"method": "pyspy", "rate": 250.0}, "rates differ"),
        ({"method": "pyspy", "clock": "cpu"}, {"method": "pyspy", "clock": "wall"}, "clocks"),
    ],
)
def test_runs_measured_differently_are_refused_unless_forced(
    base: dict[str, object], new: dict[str, object], why: str
) -> None:
    profile = sampled({(MAIN,): 1.0})
    a, b = side(profile, "a", **base), side(profile, "b", **new)
    with pytest.raises(ProfworkError, match=why) as refused:
        compare(a, b, profile, profile)
    assert "--force" in (refused.value.remedy or "")
    forced = compare(a, b, profile, profile, force=True)
    assert any(why in w and "--force" in w for w in forced.warnings)


def test_different_units_are_refused() -> None:
    seconds = sampled({(MAIN,): 1.0})
    bytes_ = Profile("bytes", {(MAIN,): 1024.0})
    with pytest.raises(ProfworkError, match=r"units differ \(seconds vs bytes\)"):
        compare(side(seconds, "a"), side(bytes_, "b"), seconds, bytes_)


def test_memory_runs_compare_in_bytes() -> None:
    base = Profile("bytes", {(MAIN, WORK): 1000.0, (MAIN, HELPER): 500.0}, metadata={})
    new = Profile("bytes", {(MAIN, WORK): 4000.0, (MAIN, HELPER): 500.0}, metadata={})
    result = compare(side(base, "a"), side(new, "b"), base, new)
    assert result.unit == "bytes"
    assert result.regressions(1)[0].function == "Worker.work"


# ---- the gate ------------------------------------------------------------------------------------


def test_a_run_compared_with_itself_passes_the_gate() -> None:
    profile = sampled({(MAIN, WORK): 3.0, (MAIN, HELPER): 1.0})
    result = gate(compare(side(profile, "a"), side(profile, "a"), profile, profile))
    assert not result.failed and result.findings == ()


def test_a_top_function_past_the_threshold_fails_the_gate_even_when_the_total_does_not() -> None:
    base = sampled({(MAIN, WORK): 6.0, (MAIN, HELPER): 4.0})
    new = sampled({(MAIN, WORK): 4.0, (MAIN, HELPER): 6.0})  # total equal, helper +50%
    result = gate(compare(side(base, "a"), side(new, "b"), base, new), 0.15)
    assert result.failed
    assert [f.subject for f in result.findings] == ["helper"]
    assert not gate(compare(side(base, "a"), side(new, "b"), base, new), 0.55).failed


def test_a_function_whose_growth_is_small_against_the_run_does_not_fail_the_gate() -> None:
    # helper +30% of its own time, but only 6% of the run: within one profile's noise
    base = sampled({(MAIN, WORK): 8.0, (MAIN, HELPER): 2.0})
    new = sampled({(MAIN, WORK): 7.4, (MAIN, HELPER): 2.6})
    assert not gate(compare(side(base, "a"), side(new, "b"), base, new), 0.15).failed
    assert gate(compare(side(base, "a"), side(new, "b"), base, new), 0.15, min_share=0.05).failed


def test_a_faster_run_passes_the_gate() -> None:
    base = sampled({(MAIN, WORK): 8.0, (MAIN, HELPER): 2.0})
    new = sampled({(MAIN, WORK): 2.0, (MAIN, HELPER): 2.0})
    assert not gate(compare(side(base, "a"), side(new, "b"), base, new)).failed


def test_with_repeats_a_total_past_the_threshold_counts_only_if_the_rank_test_agrees() -> None:
    rng = random.Random(7)
    noisy = [1.0 + rng.uniform(0, 0.6) for _ in range(30)]
    shifted = [1.0 + rng.uniform(0, 0.6) for _ in range(30)]
    noisy_side = Side("a", "seconds", statistics.median(noisy), repeats=tuple(noisy))
    # a side whose median happens to be 20% up, from the same distribution: noise
    lucky = sorted(shifted)[:15] + [v * 1.4 for v in sorted(shifted)[15:]]
    lucky_side = Side("b", "seconds", noisy_side.total * 1.2, repeats=tuple(lucky))
    verdict = gate(compare(noisy_side, lucky_side))
    assert verdict.findings and not verdict.findings[0].counted and not verdict.failed
    slower = [v * 1.5 for v in shifted]
    slower_side = Side("c", "seconds", statistics.median(slower), repeats=tuple(slower))
    assert gate(compare(noisy_side, slower_side)).failed


@pytest.mark.parametrize(("text", "fraction"), [("15%", 0.15), ("15", 0.15), ("0.15", 0.15)])
def test_thresholds_are_read_as_percentages(text: str, fraction: float) -> None:
    assert cmp.parse_threshold(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["", "abc", "-5%", "0", "nan"])
def test_a_bad_threshold_is_one_error(text: str) -> None:
    with pytest.raises(ProfworkError, match="threshold"):
        cmp.parse_threshold(text)


# ---- the rank test -------------------------------------------------------------------------------


def test_the_exact_u_test_matches_the_textbook_values() -> None:
    # fully separated samples: p = 2 / C(n+m, n)
    assert stats.mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert stats.mann_whitney(range(7), range(10, 17)) == pytest.approx(2 / 3432)
    # identical orderings interleaved: no evidence at all
    assert stats.mann_whitney([1, 3, 5, 7], [2, 4, 6, 8]) == pytest.approx(0.6857, abs=1e-4)
    assert sum(stats._u_counts(6, 5)) == math.comb(11, 5)


def test_the_normal_approximation_agrees_with_the_exact_distribution() -> None:
    rng = random.Random(3)
    a = [rng.gauss(0, 1) for _ in range(20)]
    b = [rng.gauss(0.8, 1) for _ in range(20)]
    exact = stats.mann_whitney(a, b)
    tied = stats.mann_whitney([*a, a[0]], b)  # a tie forces the approximation
    assert exact == pytest.approx(tied, rel=0.35)


def test_too_few_repeats_fall_back_to_99_percent_intervals() -> None:
    verdict = stats.differ([1.0, 1.01, 0.99], [2.0, 2.02, 1.98])
    assert verdict.real is True and "99% intervals do not overlap" in verdict.test
    assert stats.differ([1.0, 1.5, 0.7], [1.1, 1.6, 0.8]).real is False
    assert stats.differ([1.0], [2.0]).real is None
    assert "Mann–Whitney" in stats.differ(list(range(10)), list(range(100, 110))).test


def test_t_quantiles() -> None:
    assert stats.t995(1) == pytest.approx(63.657)
    assert stats.t995(60) == pytest.approx(2.660, abs=2e-3)
    assert stats.t995(10_000) == pytest.approx(2.576, abs=1e-3)


def test_a_run_slowed_by_load_does_not_fail_when_its_fastest_iteration_did_not_slow() -> None:
    rng = random.Random(11)
    quiet = [1.0 + rng.uniform(0, 0.05) for _ in range(15)]
    # another process took the CPU for most of the second run: every iteration but a few is
    # 25% slower, which the rank test rightly calls a difference
    busy = [v * 1.25 for v in quiet[:12]] + quiet[12:]
    quiet_side = Side("a", "seconds", statistics.median(quiet), repeats=tuple(quiet))
    busy_side = Side("b", "seconds", statistics.median(busy), repeats=tuple(busy))
    result = gate(compare(quiet_side, busy_side))
    assert result.findings and not result.failed
    assert "fastest iteration" in result.findings[0].why
    # slower code slows every iteration, the fastest too
    slower = [v * 1.25 for v in quiet]
    slower_side = Side("c", "seconds", statistics.median(slower), repeats=tuple(slower))
    assert gate(compare(quiet_side, slower_side)).failed
