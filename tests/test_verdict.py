"""The verdict (issue 21): what every output says first, and the wrappers no ranking starts with.

Small profiles built by hand: a target body over an entry point, an event loop and a web
framework dispatching into the user's handler, a library doing the work below it.
"""

from __future__ import annotations

from profwork.analyses import Summary, analyse, elide
from profwork.analyses.nplusone import Findings, NPlusOne
from profwork.model import Frame, FrameKind, Profile
from profwork.renderers.summary import MARKDOWN

USER, STDLIB, THIRD = FrameKind.USER, FrameKind.STDLIB, FrameKind.THIRD_PARTY

BODY = Frame("body", "/srv/app/target.py", 10)
MAIN = Frame("main", "/srv/app/target.py", 20)
RUN = Frame("run", "/usr/lib/python3.11/asyncio/runners.py", 160, STDLIB)
LOOP = Frame("BaseEventLoop._run_once", "/usr/lib/python3.11/asyncio/base_events.py", 1845, STDLIB)
ROUTER = Frame("Router.__call__", "/venv/lib/site-packages/starlette/routing.py", 697, THIRD)
HANDLER = Frame("calendar_entry", "/srv/app/app.py", 85)
OTHER = Frame("timeline", "/srv/app/app.py", 136)
GET = Frame(
    "InstrumentedAttribute.__get__",
    "/venv/lib/site-packages/sqlalchemy/orm/attributes.py",
    123,
    THIRD,
)
DUMPS = Frame("dumps", "/usr/lib/python3.11/json/__init__.py", 183, STDLIB)


def served() -> Profile:
    """A body running an event loop that dispatches requests through starlette's router into
    two handlers; the heavier one spends its time in SQLAlchemy's attribute loading."""
    trunk = (BODY, MAIN, RUN, LOOP, ROUTER)
    return Profile(
        "seconds",
        {
            (*trunk, HANDLER, GET): 6.0,
            (*trunk, HANDLER): 1.0,
            (*trunk, OTHER, DUMPS): 1.5,
            (*trunk, OTHER): 0.5,
            (BODY, MAIN, RUN, LOOP): 1.0,  # the loop's own work
        },
        metadata={"target": "api", "method": "pyspy"},
    )


def test_wrappers_are_not_ranked_and_are_named_instead() -> None:
    summary = analyse(served())
    ranked = [row.frame for row in summary.bottlenecks]
    # every path runs through the body and the entry point; asyncio's runner, its loop (90% of
    # whose time is in the handlers) and the router dispatch into user code: none of them says
    # where the time goes
    assert set(summary.wrappers) == {BODY, MAIN, RUN, LOOP, ROUTER}
    assert not set(ranked) & set(summary.wrappers)
    assert ranked[0] == HANDLER  # user code first, by cumulative time
    # the library code doing the work below the handlers is ranked
    assert GET in ranked and DUMPS in ranked


def test_library_code_mostly_doing_its_own_work_is_ranked() -> None:
    # the loop spends more of its time on its own work than in the handler it runs
    summary = analyse(
        Profile("seconds", {(BODY, LOOP, HANDLER): 4.0, (BODY, LOOP): 5.0, (BODY, MAIN): 0.5})
    )
    assert LOOP in {row.frame for row in summary.bottlenecks}
    assert summary.wrappers == (BODY,)  # every path runs through the body alone


def test_a_function_doing_the_work_itself_is_never_a_wrapper() -> None:
    # a script whose <module> computes at the top level: it is the bottleneck, not a wrapper
    module = Frame("<module>", "/srv/app/script.py", 1)
    helper = Frame("helper", "/srv/app/script.py", 3)
    summary = analyse(Profile("seconds", {(module,): 9.0, (module, helper): 1.0}))
    assert summary.wrappers == ()
    assert summary.bottlenecks[0].frame == module


def test_the_verdict_names_the_hotspot_its_location_share_and_calls() -> None:
    summary = analyse(served())
    verdict = summary.verdict()
    assert verdict.hotspot == HANDLER
    assert verdict.share == 7.0 / 10.0  # its own time with the library code below it
    [sentence] = verdict.sentences()
    assert sentence == (
        "Hotspot: calendar_entry (/srv/app/app.py:85) — 70.0% of 10.00 s with the library "
        "code it calls."
    )
    # each output writes the location its own way
    short = verdict.sentences(lambda frame: "app.py:85")[0]
    assert short.startswith("Hotspot: calendar_entry (app.py:85) — 70.0%")
    assert summary.to_dict()["verdict"]["hotspot"] == {
        "function": "calendar_entry",
        "file": "/srv/app/app.py",
        "line": 85,
    }


def test_the_verdict_names_the_pattern_behind_the_cost_when_one_is_known() -> None:
    finding = NPlusOne(
        kind="sql",
        what="SELECT clients.id FROM clients WHERE ? = clients.id",
        count=125.0,
        most=142,
        units=60,
        unit="GET /calendar",
        total=7500,
        seconds=0.2379,
        site="calendar_entry (/srv/app/app.py:88)",
        loop=None,
        io="SQL",
        fix="selectinload()",
    )
    summary = analyse(served())
    found = Summary(
        **{**summary.__dict__, "nplusone": Findings((finding,), statements=7920)}
    ).verdict()
    first, second = found.sentences()
    assert first.startswith("Hotspot: calendar_entry")
    assert second == (
        "Pattern: N+1 SQL — SELECT clients.id FROM clients WHERE ? = clients.id ×125 per unit "
        "of work (most 142) at calendar_entry (/srv/app/app.py:88), 237.9 ms in all."
    )


def test_without_user_code_the_verdict_names_the_heaviest_function_itself() -> None:
    summary = analyse(Profile("seconds", {(RUN, LOOP, DUMPS): 3.0, (RUN, LOOP): 1.0}))
    verdict = summary.verdict()
    assert verdict.hotspot == DUMPS and verdict.scope == "self"
    assert verdict.headline.startswith("Hotspot: dumps (") and "75.0% of 4.00 s in itself" in (
        verdict.headline
    )
    assert analyse(Profile("seconds", {})).verdict().headline == "Nothing was recorded (total 0 s)."


def test_summary_md_opens_with_the_verdict() -> None:
    profile = served()
    md = MARKDOWN.render(profile, analyse(profile)).decode()
    lines = [line for line in md.splitlines() if line]
    assert lines[0] == "# profwork summary: api"
    assert lines[1] == (
        "**Hotspot:** `calendar_entry` (`/srv/app/app.py:85`) — **70.0%** of 10.00 s with the "
        "library code it calls."
    )
    assert md.index("**Hotspot:**") < md.index("- **Target**") < md.index("## Bottlenecks")
    assert "Not ranked (wrappers every path runs through, or dispatch into your code): " in md


def test_paths_that_share_their_start_show_where_they_part() -> None:
    validate = Frame("validate", "/srv/s.py", 1)
    week, days = Frame("week_hours", "/srv/s.py", 2), Frame("days_worked", "/srv/s.py", 3)
    leaf = Frame("Ledger.shifts_in_window", "/srv/s.py", 4)
    one = (BODY, MAIN, validate, week, leaf)
    two = (BODY, MAIN, validate, days, leaf)
    three = (BODY, MAIN, validate, leaf)
    shown = elide([one, two, three], tail=4)
    # the shared body → main give way; the caller where they part (validate) is kept
    assert shown == [
        (None, validate, week, leaf),
        (None, validate, days, leaf),
        (None, validate, leaf),
    ]
