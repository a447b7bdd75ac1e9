"""The model's derived views, on small hand-built profiles."""

from __future__ import annotations

import pytest

from profwork.analyses import analyse
from profwork.model import EdgeStats, Frame, FrameKind, FunctionStats, Profile
from profwork.stacks import trim_above_body

handler = Frame("Handler.get", "/app/views.py", 10)
render = Frame("render", "/app/views.py", 30)
fact = Frame("fact", "/app/math.py", 1)
query = Frame("Cursor.execute", "/venv/site-packages/db.py", 99, FrameKind.THIRD_PARTY)
loads = Frame("loads", "/usr/lib/python3.11/json/__init__.py", 299, FrameKind.STDLIB)
runner = Frame("execute", "/src/profwork/runner.py", 40, FrameKind.PROFWORK)
main_thread = Frame("thread (1): MainThread", kind=FrameKind.THREAD)
worker = Frame("thread (2): worker", kind=FrameKind.THREAD)


def sampled(stacks: dict[tuple[Frame, ...], float]) -> Profile:
    return Profile("seconds", stacks)


def test_recursion_counts_once_per_stack_in_cumulative_time() -> None:
    p = sampled({(handler, fact, fact, fact): 2.0, (handler,): 1.0})
    assert p.cumulative()[fact] == 2.0
    assert p.cumulative()[handler] == 3.0
    assert p.self_times()[fact] == 2.0
    assert p.total == 3.0


def test_own_time_goes_to_the_deepest_user_frame_through_library_code() -> None:
    p = sampled({(handler, render, query): 5.0, (handler, loads): 1.0, (handler,): 0.5})
    own = p.own_times()
    assert own[render] == 5.0  # the library time below render is render's own
    assert own[handler] == 1.5
    assert query not in own


def test_hotspots_put_the_function_doing_the_work_before_its_entry_point() -> None:
    p = sampled({(handler, render, query): 5.0, (handler, loads): 1.0})
    summary = analyse(p)
    assert [r.frame for r in summary.hotspots] == [render, handler]
    # bottlenecks by cumulative time, user code first; the handler every path runs through,
    # doing nothing itself, is a wrapper named apart instead (issue 21)
    assert summary.wrappers == (handler,)
    assert [r.frame for r in summary.bottlenecks] == [render, query, loads]


def test_pseudo_frames_root_stacks_but_are_never_ranked() -> None:
    p = sampled({(main_thread, handler): 1.0, (worker, render): 3.0})
    assert p.threads == (worker, main_thread)
    ranked = {r.frame for r in p.top(10)}
    assert ranked == {handler, render}
    assert (main_thread, handler) not in p.edges()


def test_exact_statistics_drive_every_per_function_number() -> None:
    stats = {
        handler: FunctionStats(1, 1, 0.5, 4.0, {}),
        render: FunctionStats(7, 7, 3.5, 3.5, {handler: EdgeStats(7, 7, 3.5, 3.5)}),
    }
    # rebuilt stacks may disagree slightly; they never change the ranked numbers
    p = Profile("seconds", {(handler,): 0.4, (handler, render): 3.6}, stats)
    assert p.total == 4.0
    row = {r.frame: r for r in p.rows()}
    assert row[render].calls == 7 and row[render].self == 3.5 and row[render].cumulative == 3.5
    assert row[render].own == 3.6  # own time is the estimate from the stacks
    assert p.edges()[(handler, render)] == 3.5


def test_frames_above_the_body_are_trimmed_but_thread_roots_kept() -> None:
    cli = Frame("main", "/src/profwork/cli.py", 200, FrameKind.PROFWORK)
    click = Frame("Command.invoke", "/venv/site-packages/click/core.py", 700, FrameKind.THIRD_PARTY)
    assert trim_above_body((cli, click, runner, handler, render)) == (handler, render)
    assert trim_above_body((main_thread, runner, handler)) == (main_thread, handler)
    assert trim_above_body((handler,)) == (handler,)
    assert trim_above_body((runner,)) is None  # time around the body, not in it


def test_the_runners_work_around_the_body_is_not_the_body() -> None:
    # the py-spy child's handshake, called by the runner right before the body, sampled while it
    # reads "go": profwork's time around the body, never shown as the body's
    handshake = Frame("_Handshake.before_body", "/src/profwork/runner.py", 301, FrameKind.PROFWORK)
    readline = Frame("TextIOWrapper.readline", "~", 0, FrameKind.NATIVE)
    assert trim_above_body((runner, handshake, readline)) is None
    assert trim_above_body((main_thread, runner, handshake)) is None


def test_profwork_code_the_body_calls_stays_in_the_stack() -> None:
    analyse_fn = Frame("analyse", "/src/profwork/analyses/__init__.py", 90, FrameKind.PROFWORK)
    stack = (runner, handler, analyse_fn, loads)
    assert trim_above_body(stack) == (handler, analyse_fn, loads)


def test_heaviest_paths_are_the_heaviest_stacks() -> None:
    p = sampled({(handler, render): 3.0, (handler,): 1.0, (handler, loads): 2.0})
    assert [w for _, w in p.heaviest_paths(2)] == [3.0, 2.0]


def test_labels_follow_the_folded_convention() -> None:
    assert render.label == "render (/app/views.py:30)"
    assert main_thread.label == "thread (1): MainThread"
    assert Frame("<built-in method time.sleep>", "~", 0, FrameKind.NATIVE).label == (
        "<built-in method time.sleep>"
    )


def test_an_empty_profile_has_empty_views() -> None:
    p = sampled({})
    assert p.total == 0 and p.top() == [] and analyse(p).hotspots == ()


@pytest.mark.parametrize("kind", list(FrameKind))
def test_only_thread_and_process_kinds_are_pseudo(kind: FrameKind) -> None:
    assert kind.is_pseudo == (kind in (FrameKind.THREAD, FrameKind.PROCESS))


def test_target_metrics_read_as_durations_counts_and_numbers() -> None:
    from profwork.units import format_metric, metric_columns

    assert format_metric("p95", 0.0123) == "12.3 ms"
    assert format_metric("records", 4963687.0) == "4,963,687"
    assert format_metric("ratio", 0.25) == "0.25"
    assert metric_columns({"GET /": {"count": 4, "p99": 0.1, "p50": 0.01}}) == [
        "p50",
        "p99",
        "count",
    ]


def test_numbered_stacks_number_equal_frames_once_real_frames_first() -> None:
    # GIVEN equal frames held by different objects, and a thread root
    root = Frame("thread (1): main", "", 0, FrameKind.THREAD)
    a, b = Frame("a", "/app/m.py", 1), Frame("b", "/app/m.py", 5)
    a_again = Frame("a", "/app/m.py", 1)
    profile = sampled({(root, a, b): 2.0, (a_again,): 1.0})

    numbered = profile.numbered_stacks()

    assert numbered.frames[: numbered.real] == [a, b]  # real frames below `real`, roots after
    assert numbered.frames[numbered.real :] == [root]
    decoded = {
        tuple(numbered.frames[n] for n in numbers): (lead, weight)
        for numbers, lead, weight in numbered.stacks
    }
    assert decoded == {(root, a, b): (1, 2.0), (a,): (0, 1.0)}


def test_views_are_computed_once_per_profile_whatever_comes_in_between() -> None:
    first = sampled({(Frame("a", "/app/m.py", 1),): 1.0})
    second = sampled({(Frame("b", "/app/m.py", 2),): 1.0})
    calls: list[tuple[Profile, int]] = []

    def doubled(profile: Profile, factor: int) -> float:
        calls.append((profile, factor))
        return profile.total * factor

    numbered = first.numbered_stacks()
    assert first.view(doubled, 2) == 2.0
    second.numbered_stacks()
    assert second.view(doubled, 2) == 2.0

    assert first.numbered_stacks() is numbered
    assert first.view(doubled, 2) == 2.0 and first.view(doubled, 3) == 3.0
    assert calls == [(first, 2), (second, 2), (first, 3)]
