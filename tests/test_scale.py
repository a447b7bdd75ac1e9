"""`profwork scale`: the target at several sizes, its growth exponents, super-linear functions and
N+1 statements, in a `scale` run directory linking each size's run (issue 17, DESIGN §5)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from profwork.analyses.scale import SUPERLINEAR, exponent
from tests import browser
from tests.conftest import profwork, write
from tests.test_browser import WHITE, Dom

LAZY_CLIENT = (
    "SELECT clients.id, clients.name, clients.email, clients.deleted_at FROM clients "
    "WHERE ? = clients.id AND clients.deleted_at IS NULL"
)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _scale(results: Path, *args: str) -> tuple[Path, dict[str, Any], str]:
    done = profwork("scale", *args, "-o", str(results))
    assert done.returncode == 0, done.stderr
    [scale_dir] = [p for p in results.glob("*/*-scale") if p.is_dir()]
    return scale_dir, _json(scale_dir / "summary.json"), done.stdout


def test_the_exponent_is_the_slope_on_log_log_axes() -> None:
    assert exponent([10, 20, 40], [3.0, 12.0, 48.0]) == pytest.approx(2.0)
    assert exponent([10, 20, 40], [5.0, 5.0, 5.0]) == pytest.approx(0.0)
    # a size where the figure is missing or zero is left out; one size left is no fit
    assert exponent([10, 20, 40], [None, 2.0, 4.0]) == pytest.approx(1.0)
    assert exponent([10, 20, 40], [0.0, None, 4.0]) is None


def test_the_naive_scheduler_is_super_linear_and_each_size_is_a_run(results: Path) -> None:
    scale_dir, summary, stdout = _scale(results, "scheduler", "-p", "rounds=1")

    assert summary["measure"] == "residents × weeks" and summary["clock"] == "CPU time"
    assert [s["size"] for s in summary["sizes"]] == ["small", "medium", "large"]
    assert [s["n"] for s in summary["sizes"]] == [20, 100, 200]  # 10×2, 25×4, 50×4
    flagged = {f["function"]: f for f in summary["superlinear"]}
    hotspot = flagged["Ledger.shifts_in_window"]
    assert hotspot["time_exponent"] >= SUPERLINEAR
    assert hotspot["file"].endswith("targets/scheduler.py")
    assert all(t > 0 for t in hotspot["times"])
    assert 0.8 < hotspot["calls_exponent"] < 1.2  # called linearly often; each call scans all
    assert summary["verdict"].startswith("super-linear: Ledger.shifts_in_window")

    # each size was profiled three times (by CPU time: other processes do not bend the fit);
    # each run is a complete run directory, linked (relatively) from the scale one
    for size in summary["sizes"]:
        assert len(size["runs"]) == 3
        for link in size["runs"]:
            run = (scale_dir / link).resolve()
            manifest = _json(run / "manifest.json")
            assert manifest["size"] == size["size"] and manifest["method"] == "cprofile"
            assert manifest["options"]["cpu-time"] is True
            assert (run / "report.html").exists()
    manifest = _json(scale_dir / "manifest.json")
    assert manifest["method"] == "scale" and manifest["options"]["method"] == "cprofile"
    assert manifest["options"]["runs"] == 3
    assert set(manifest["artefacts"]) == {"summary.json", "summary.md", "scale.svg", "report.html"}

    # the terminal: the verdict first, then the table with the figures at each size
    assert stdout.splitlines()[0].startswith("super-linear: Ledger.shifts_in_window")
    assert "Super-linear functions (time exponent ≥ 1.5)" in stdout
    assert f"{hotspot['time_exponent']:.2f}" in stdout
    md = (scale_dir / "summary.md").read_text(encoding="utf-8")
    assert "| `Ledger.shifts_in_window` |" in md
    page = (scale_dir / "report.html").read_text(encoding="utf-8")
    assert '<a href="../' in page and "<svg" in page

    # `profwork report` says what a scale run is, in one line
    again = profwork("report", str(scale_dir))
    assert again.returncode != 0
    assert again.stderr.splitlines() == [
        f"profwork: error: {scale_dir} is a scale run: it holds no profile of its own — read its "
        "summary.md or report.html, or report one of the runs it links"
    ]


def test_the_fast_scheduler_is_not(results: Path) -> None:
    _, summary, stdout = _scale(results, "scheduler", "-p", "rounds=1", "-p", "variant=fast")

    assert summary["superlinear"] == []
    indexed = next(
        f for f in summary["functions"] if f["function"] == "IndexedLedger.shifts_in_window"
    )
    assert indexed["time_exponent"] < SUPERLINEAR
    assert "Super-linear functions (time exponent ≥ 1.5): none" in stdout
    assert summary["verdict"].startswith("nothing grows faster than linear")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> list[str]:
    """The `db` target on embedded SQLite, and on the suite's PostgreSQL server."""
    if request.param == "sqlite":
        return []
    url: str = request.getfixturevalue("pg_url")
    return ["--db-url", url]


def test_the_lazy_db_per_client_query_is_an_n_plus_one_and_the_eager_one_is_not(
    results: Path, db_url: list[str]
) -> None:
    by = ("--by", "appointments", "--runs", "1", *db_url)
    _, lazy, stdout = _scale(results / "lazy", "db", "-p", "rounds=1", *by)

    assert [s["n"] for s in lazy["sizes"]] == [50, 500, 1000]
    [finding] = lazy["nplusone"]
    assert finding["statement"] == LAZY_CLIENT
    # one SELECT per appointment, issued by the agenda's comprehension, called once a day
    assert finding["counts"] == [50, 500, 1000]
    assert finding["caller"].startswith("daily_agenda.<locals>.<listcomp> (")
    assert finding["caller_measure"] == "calls" and finding["caller_counts"] == [28, 28, 28]
    assert finding["count_exponent"] == pytest.approx(1.0, abs=0.05)
    assert finding["caller_exponent"] == pytest.approx(0.0)
    assert finding["site"].startswith("agenda_line (")
    assert lazy["verdict"].startswith(f"N+1: {LAZY_CLIENT}")
    assert stdout.splitlines()[0].startswith("N+1: SELECT clients.id")
    assert "50 → 500 → 1,000 executions" in stdout

    _, eager, _ = _scale(results / "eager", "db", "-p", "rounds=1", "-p", "loading=selectin", *by)
    assert eager["nplusone"] == []
    assert eager["statements"] and all(not s["nplusone"] for s in eager["statements"])


def test_under_a_sampler_the_units_of_work_stand_in_for_the_callers_calls(results: Path) -> None:
    _, summary, _ = _scale(
        results,
        "db",
        "--sizes",
        "small,large",
        "-p",
        "rounds=1",
        "-m",
        "pyinstrument",
        "--runs",
        "1",
    )
    [finding] = summary["nplusone"]
    assert finding["statement"] == LAZY_CLIENT
    assert finding["caller_measure"] == "units of work" and finding["caller_counts"] == [28, 28]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("db", "--sizes", "small,huge"), "target 'db' has no size 'huge' — sizes of db: small, "),
        (("db", "--sizes", "small"), "scale needs at least two different sizes, got small — "),
        (("GROW", "-p", "n=100"), "scale needs sizes to compare: GROW has no size presets, and "),
        (("GROW",), "scale needs sizes to compare: GROW has no size presets — give one "),
        (("db", "--sizes", "small,large", "-p", "rounds=1,2"), "scale takes --sizes or a -p "),
        (("db", "--by", "rounds"), "--by rounds: the sizes small, medium, large of db do not "),
        (("GROW", "-p", "n=10,x"), "parameter 'n' expects int, got 'x'"),
        (("db", "-m", "memory"), "scale fits how time grows; -m memory measures bytes — "),
    ],
)
def test_bad_sizes_are_one_line_and_nothing_runs(
    tmp_path: Path, results: Path, args: tuple[str, ...], message: str
) -> None:
    grow = str(write(tmp_path / "grow.py", "def body(n: int = 10) -> int:\n    return n\n"))
    spec = f"{grow}:body"
    done = profwork("scale", *(spec if a == "GROW" else a for a in args), "-o", str(results))
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.startswith("profwork: error: " + message.replace("GROW", spec))
    assert not results.exists()


HOSTILE = """\
import sqlite3

def lookup(db, i):
    return db.execute(
        'SELECT ? AS "</code></td><script>alert(document.domain)</script>"', (i,)
    ).fetchone()

def body(n: int = 10) -> int:
    db = sqlite3.connect(":memory:")
    for i in range(n):
        lookup(db, i)
    return sum(i * j for i in range(n) for j in range(n * 20))
"""


def test_the_chart_and_the_report_draw_in_chromium_and_sql_stays_text(
    tmp_path: Path, results: Path
) -> None:
    """A user's function with a per-item query and a quadratic loop, scaled with a -p list."""
    spec = f"{write(tmp_path / 'hostile.py', HOSTILE)}:body"
    scale_dir, summary, _ = _scale(results, spec, "-p", "n=40,80,160")

    assert summary["measure"] == "n" and [s["size"] for s in summary["sizes"]] == [
        "n=40",
        "n=80",
        "n=160",
    ]
    [finding] = summary["nplusone"]  # one query per item, from a body called once
    assert "<script>alert(document.domain)</script>" in finding["statement"]
    assert finding["counts"] == [40, 80, 160]
    assert any(f["function"] == "body.<locals>.<genexpr>" for f in summary["superlinear"])

    svg = (scale_dir / "scale.svg").read_text(encoding="utf-8")
    page = (scale_dir / "report.html").read_text(encoding="utf-8")
    for text in (svg, page):
        assert (
            "<script>alert(document.domain)" not in text
            and "&lt;script&gt;alert(document.domain)" in text
        )
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
    md = (scale_dir / "summary.md").read_text(encoding="utf-8")  # a code span: as written
    assert '| `SELECT ? AS "</code></td><script>alert(document.domain)</script>"` |' in md

    for name in ("scale.svg", "report.html"):
        url = browser.file_url(scale_dir / name)
        png = browser.screenshot(url, tmp_path / f"{name}.png")
        assert len(png.colours(step=4)) >= 8 and png.share_of(WHITE) < 0.97
        dom = Dom(browser.dump_dom(url))
        assert dom.scripts == []  # nothing in a statement became a script
        assert "<script>alert(document.domain)</script>" in "".join(dom.text)  # shown, as text
        assert dom.count("g", "series") >= 3  # the lines were drawn: total and others


def test_the_chart_plots_every_size_on_log_axes(results: Path) -> None:
    args = ("--sizes", "small,large", "-p", "rounds=1", "--runs", "2", "--wall-clock")
    scale_dir, summary, _ = _scale(results, "scheduler", *args)
    assert [len(s["runs"]) for s in summary["sizes"]] == [2, 2]
    first = _json((scale_dir / summary["sizes"][0]["runs"][0]).resolve() / "manifest.json")
    assert first["options"]["cpu-time"] is False  # --wall-clock: cprofile's own clock
    assert summary["clock"] == "wall clock"
    svg = (scale_dir / "scale.svg").read_text(encoding="utf-8")
    assert svg.count('<g class="panel"') == 2
    assert f"{summary['sizes'][0]['n']:g}" in svg and f"{summary['sizes'][1]['n']:g}" in svg
    assert math.isfinite(summary["total_exponent"])
