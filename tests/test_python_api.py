"""profwork from Python (DESIGN §6, issue 19 item 1): `profwork.run`, `with profwork.profile()`,
`profwork.load`, and the views a notebook uses on a `Profile`."""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import pytest

import profwork
from profwork.display import NotebookProfile, drawable
from profwork.model import Frame, FrameKind, FunctionStats, Profile
from tests.fixtures_profiles import HANDLER, MAIN, QUERY, build

# ---- functions profiled by the block tests (module level, so their frames have a file) -------


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def busy(seconds: float) -> int:
    """Pure-Python work for at least `seconds` (long enough for a sampler to see it)."""
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        done += fib(15)
    return done


# ---- profwork.run ------------------------------------------------------------------------------


def test_run_profiles_a_target_and_returns_its_run(tmp_path: Path) -> None:
    run = profwork.run(
        "example", method="cprofile", size="small", params={"rounds": 3}, output=tmp_path
    )
    assert isinstance(run, profwork.Run)
    assert run.status == "ok"
    assert (run.path / "manifest.json").is_file() and run.path.parent.parent == tmp_path
    assert run.manifest.params["rounds"] == 3 and run.manifest.size == "small"
    # the run's profile is the one on disk, and its known hotspot leads by own time
    assert run.profile.top(1, by="own")[0].frame.function == "is_duplicate"
    assert run.summary.bottlenecks
    assert profwork.load(run.path).top(1, by="own")[0].frame.function == "is_duplicate"


def test_run_takes_python_values_for_parameters(tmp_path: Path) -> None:
    run = profwork.run(
        "example", params={"rounds": 1, "variant": "fast", "orders": 200}, output=tmp_path
    )
    assert run.manifest.params == {"rounds": 1, "variant": "fast", "orders": 200}
    assert not run.profile.find("is_duplicate")  # the fast variant has no such function


def test_run_refuses_an_unknown_parameter_with_its_remedy(tmp_path: Path) -> None:
    with pytest.raises(profwork.ProfworkError) as caught:
        profwork.run("example", params={"nope": 1}, output=tmp_path)
    assert "valid parameters" in str(caught.value.remedy)
    assert not list(tmp_path.iterdir())


# ---- with profwork.profile() -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cprofile", "pyinstrument"])
def test_a_block_is_profiled_in_process_and_saved_as_a_run(tmp_path: Path, method: str) -> None:
    with profwork.profile(method=method, output=tmp_path, name="fibs") as p:
        busy(0.3)
    run = p.run
    assert run.status == "ok" and run.path.parent == tmp_path / "fibs"
    assert {"manifest.json", "profile.pstats", "flame.svg", "report.html"} <= {
        f.name for f in run.path.iterdir()
    }
    assert run.manifest.method == method and run.manifest.duration >= 0.3
    functions = {f.function for f in p.profile.functions()}
    assert {"busy", "fib"} <= functions
    # nothing above the block: not pytest, not profwork's own edges of the block
    kinds = {f.kind for stack in p.profile.stacks for f in stack}
    assert FrameKind.PROFWORK not in kinds
    assert not any("_pytest" in f.file or "pluggy" in f.file for f in p.profile.functions())
    # the block's file is user code
    assert p.profile.find("busy")[0].kind is FrameKind.USER
    # the run reads back the same from disk
    assert pstats.Stats(str(run.path / "profile.pstats")).total_calls > 0


def test_cprofile_counts_the_calls_made_in_the_block(tmp_path: Path) -> None:
    with profwork.profile(output=tmp_path) as p:
        fib(10)
    row = p.profile.top(1, by="calls")[0]
    assert row.frame.function == "fib" and row.calls == 177  # fib(10) makes 177 calls


def test_pyspy_samples_this_very_process_in_a_block(tmp_path: Path) -> None:
    with profwork.profile(method="pyspy", output=tmp_path) as p:
        busy(1.0)
    assert p.run.status == "ok"
    own = p.profile.top(3, by="own")
    assert own and own[0].frame.function in ("fib", "busy")
    # cut at the frame holding the block: this test function roots every stack of the block's
    # thread (py-spy sees every thread; another one, when sampled, has its own root)
    real = [[f for f in stack if not f.is_pseudo] for stack in p.profile.stacks]
    roots = {stack[0].function for stack in real if any(f.function == "busy" for f in stack)}
    assert roots == {"test_pyspy_samples_this_very_process_in_a_block"}
    assert not any("_pytest" in f.file or "pluggy" in f.file for s in real for f in s)


def test_a_block_that_raises_is_saved_with_its_error_and_the_error_propagates(
    tmp_path: Path,
) -> None:
    with pytest.raises(ZeroDivisionError), profwork.profile(output=tmp_path) as p:
        fib(12)
        1 / 0  # noqa: B018
    assert p.run.status == "error"
    assert "ZeroDivisionError" in (p.run.error or "")
    assert p.profile.find("fib")
    assert (p.path / "manifest.json").is_file()


def test_a_method_that_cannot_profile_a_block_says_which_can(tmp_path: Path) -> None:
    with pytest.raises(profwork.ProfworkError) as caught, profwork.profile("nosuch"):
        pass
    assert "method" in str(caught.value)


def test_the_run_object_is_only_there_once_the_block_ended(tmp_path: Path) -> None:
    with profwork.profile(output=tmp_path) as p, pytest.raises(RuntimeError):
        p.run  # noqa: B018
    assert p.run.path.is_dir()


# ---- views on a Profile ------------------------------------------------------------------------

LIB = Frame("Session.execute", "/venv/site-packages/orm.py", 7, FrameKind.THIRD_PARTY)
OTHER_QUERY = Frame("Cache.query", "/srv/app/cache.py", 3)


def sampled() -> Profile:
    return build(
        {
            (MAIN,): 0.5,
            (MAIN, HANDLER): 1.0,
            (MAIN, HANDLER, QUERY, LIB): 4.0,
            (MAIN, OTHER_QUERY): 2.0,
        }
    )


def test_top_ranks_by_cumulative_self_or_own_time() -> None:
    p = sampled()
    assert [r.frame for r in p.top(2)] == [MAIN, HANDLER]
    assert p.top(1, by="self")[0].frame == LIB
    # own time: user functions only, the library time below counted as theirs
    assert [r.frame for r in p.top(10, by="own")] == [QUERY, OTHER_QUERY, HANDLER, MAIN]
    with pytest.raises(ValueError, match="sampled"):
        p.top(by="calls")
    with pytest.raises(ValueError, match="cumulative, self, own, calls"):
        p.top(by="wall")  # type: ignore[arg-type]


def test_top_by_calls_needs_an_exact_profile() -> None:
    stats = {
        MAIN: FunctionStats(1, 1, 0.1, 1.0),
        HANDLER: FunctionStats(40, 40, 0.9, 0.9, {}),
    }
    p = Profile("seconds", {(MAIN,): 0.1, (MAIN, HANDLER): 0.9}, stats)
    assert [(r.frame, r.calls) for r in p.top(2, by="calls")] == [(HANDLER, 40), (MAIN, 1)]


def test_find_prefers_an_exact_name_then_the_last_part_then_a_substring() -> None:
    p = sampled()
    assert p.find("Repository.query") == [QUERY]
    assert p.find("query") == [QUERY, OTHER_QUERY]  # heaviest first, both contain it
    assert p.find("Handler.get") == [HANDLER]
    assert p.find(QUERY.location) == [QUERY]
    assert p.find("nothing") == []


def test_callers_and_callees_by_frame_or_unambiguous_name() -> None:
    p = sampled()
    assert p.callees("main") == {HANDLER: 5.0, OTHER_QUERY: 2.0}
    assert p.callers("Repository.query") == {HANDLER: 4.0}
    assert p.callers(LIB) == {QUERY: 4.0}
    with pytest.raises(ValueError, match="2 functions match 'query'"):
        p.callers("query")
    with pytest.raises(ValueError, match="no function named"):
        p.callees("nothing")


def test_to_dataframe_has_one_row_per_function_ranked() -> None:
    df = sampled().to_dataframe()
    assert list(df.columns) == [
        "function",
        "file",
        "line",
        "kind",
        "calls",
        "primitive_calls",
        "self",
        "own",
        "cumulative",
        "share",
    ]
    assert list(df["function"]) == [
        "main",
        "Handler.get",
        "Repository.query",
        "Session.execute",
        "Cache.query",
    ]
    assert df.attrs["unit"] == "seconds"
    assert df.loc[df["function"] == "Session.execute", "own"].isna().all()  # not user code


def test_to_dataframe_without_pandas_says_how_to_get_it() -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from profwork.model import Profile\n"
        "try:\n    Profile('seconds', {}).to_dataframe()\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "needs pandas" in done.stdout and "pip install pandas" in done.stdout, done.stderr


def test_the_notebook_display_has_the_verdict_the_table_and_the_flame_graph() -> None:
    html = drawable(sampled())._repr_html_()
    assert "Hotspot: Repository.query" in html
    assert '<table class="profwork-summary">' in html
    assert "<svg" in html and "Session.execute" in html
    svg = drawable(sampled()).flame_svg(width=600)
    assert str(svg).startswith("<svg") and 'viewBox="0 0 600 ' in str(svg)  # fits its window


def test_the_notebook_display_escapes_profiled_names(tmp_path: Path) -> None:
    evil = Frame("<script>alert(1)</script>", "/srv/<img src=x>.py", 1)
    html = drawable(build({(MAIN, evil): 1.0}))._repr_html_()
    assert "<script>alert(1)" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    path = drawable(build({(evil,): 1.0})).flame_svg().save(tmp_path / "f.svg")
    assert "<script>alert" not in path.read_text(encoding="utf-8")


def test_a_run_displays_with_its_directory(tmp_path: Path) -> None:
    with profwork.profile(output=tmp_path) as p:
        fib(15)
    html = p.run._repr_html_()
    assert str(p.path) in html and "fib" in html
    assert profwork.Run.open(p.path).profile.find("fib")


def test_load_reads_any_file_profwork_reads(tmp_path: Path) -> None:
    with profwork.profile(output=tmp_path) as p:
        fib(12)
    loaded = profwork.load(str(p.path / "profile.pstats"))
    assert loaded.find("fib") and loaded.is_exact
    # what the API gives draws itself, and is a Profile like any other
    assert isinstance(loaded, NotebookProfile) and isinstance(p.profile, NotebookProfile)
    assert isinstance(loaded, profwork.Profile) and "<svg" in str(loaded.flame_svg())
    folded = profwork.load(p.path / "profile.folded")
    assert folded.find("fib")
    assert os.path.samefile(profwork.load(p.path).metadata["source"], p.path)


def test_method_options_go_by_name_and_a_refused_one_is_one_error(tmp_path: Path) -> None:
    run = profwork.run(
        "example",
        method="pyinstrument",
        size="small",
        params={"rounds": 1},
        options={"rate": 250},
        output=tmp_path,
    )
    assert run.manifest.options["rate"] == 250
    with pytest.raises(profwork.ProfworkError, match="rate"):
        profwork.profile("cprofile", rate=100)  # cprofile records every call: no rate
    with profwork.profile("pyinstrument", rate=500, output=tmp_path) as p:
        busy(0.1)
    assert p.run.manifest.options["rate"] == 500
