"""SQL capture wired into runs: `profwork run` captures the target's SQL under every method into
`queries.json`, and the N+1 findings reach summary.json/md, the terminal, report.html and
`profwork report` (issue 17, slice 3)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from profwork.analyses.nplusone import DEFAULT_THRESHOLD
from profwork.methods import N1_THRESHOLD
from tests.conftest import only_run, profwork, write
from tests.test_plugins import plugin_site as plugin_site  # noqa: F401 - the fixture
from tests.test_plugins import with_plugin

LAZY_CLIENT = (
    "SELECT clients.id, clients.name, clients.email, clients.deleted_at FROM clients "
    "WHERE ? = clients.id AND clients.deleted_at IS NULL"
)
# medium: 500 appointments over 28 days, each lazy-loading its client
DB = ("db", "--size", "medium", "-p", "rounds=1")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> list[str]:
    """The `db` target on embedded SQLite, and on the suite's PostgreSQL server."""
    if request.param == "sqlite":
        return []
    url: str = request.getfixturevalue("pg_url")
    return ["--db-url", url]


def _run(results: Path, *args: str) -> tuple[Path, str]:
    done = profwork("run", *args, "-o", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results), done.stdout


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("method", ["cprofile", "pyinstrument", "pyspy"])
def test_lazy_db_run_names_its_n_plus_one_everywhere(
    results: Path, method: str, db_url: list[str]
) -> None:
    run, stdout = _run(results, *DB, "-p", "loading=lazy", "-m", method, *db_url)

    # queries.json is written (by the py-spy child too) and listed as an artefact
    assert "queries.json" in _json(run / "manifest.json")["artefacts"]
    captured = _json(run / "queries.json")
    assert len(captured["queries"]) > 500

    # summary.json: one SQL finding, the per-appointment client SELECT at agenda_line
    section = _json(run / "summary.json")["nplusone"]
    assert section["threshold"] == DEFAULT_THRESHOLD
    assert section["sql_statements"] == len(captured["queries"])
    [finding] = section["findings"]
    assert finding["kind"] == "sql" and finding["what"] == LAZY_CLIENT
    assert finding["total"] == 500 and finding["units"] == 28
    assert finding["unit"] == "a day's agenda"
    assert re.fullmatch(r"agenda_line \(.*/targets/db\.py:63\)", finding["site"])
    assert finding["loop"].startswith("daily_agenda.<locals>.<listcomp> (")
    assert "selectinload" in finding["fix"]

    # summary.md: the verdict opens it, its pattern the worst N+1 finding; the finding has its
    # own section
    md = (run / "summary.md").read_text(encoding="utf-8")
    pattern = md.split("**Pattern:** ", 1)[1].split("\n", 1)[0]
    assert md.index("**Hotspot:**") < md.index("**Pattern:**") < md.index("- **Target**")
    assert pattern.startswith("N+1 SQL — SELECT clients.id, clients.name")
    assert "agenda\\_line" not in pattern and "at agenda_line (" in pattern
    section_md = md.split("## N+1 patterns (by time spent)", 1)[1].split("\n## ", 1)[0]
    assert f"`{LAZY_CLIENT}`" in section_md
    assert "500 in 28 × a day's agenda" in section_md

    # the terminal: the verdict's hotspot, then its pattern, the worst finding; a section of its
    # own lists it
    assert stdout.startswith("Hotspot: ")
    verdict = " ".join(stdout.split("\ntarget ", 1)[0].splitlines())
    assert "Pattern: N+1 SQL — SELECT clients.id, clients.name" in verdict
    assert "at agenda_line (" in verdict and f"method {method}" in stdout
    assert "N+1 patterns — by time spent" in stdout
    assert "500 in 28 × a day's agenda" in stdout

    # report.html: a section of its own
    page = (run / "report.html").read_text(encoding="utf-8")
    nplusone = page.split('<section id="nplusone">', 1)[1].split("</section>", 1)[0]
    assert html.escape(LAZY_CLIENT) in nplusone
    assert "500 in 28 × a day&#39;s agenda" in nplusone
    assert '<a href="#nplusone">' in page

    # `profwork report RUN` finds it again from queries.json
    again = profwork("report", str(run))
    assert again.returncode == 0, again.stderr
    assert "Pattern: N+1 SQL — SELECT clients.id" in again.stdout.split("\ntarget ", 1)[0]
    assert "500 in 28 × a day's agenda" in again.stdout
    as_json = json.loads(profwork("report", str(run), "--format", "json").stdout)
    assert as_json["nplusone"] == section


@pytest.mark.parametrize("method", ["cprofile", "pyspy"])
def test_each_api_request_is_its_own_unit_of_work_in_a_run(
    results: Path, method: str, db_url: list[str]
) -> None:
    """The lazy `api` target run end to end: queries.json gives every request a unit of its own,
    labelled by its route, and the finding counts the lazy loads per calendar request."""
    requests = 6
    run, _ = _run(
        results, "api", "--size", "small", "-p", f"requests={requests}", "-m", method, *db_url
    )
    captured = _json(run / "queries.json")
    labels = {int(k): v for k, v in captured["units"].items() if int(k) != 0}
    routes = ["GET /calendar", "GET /clients/{id}/timeline", "GET /conflicts", "POST /appointments"]
    assert sorted(labels.values()) == sorted(routes * requests)  # one unit per request
    queries = captured["queries"]
    assert {q["unit"] for q in queries} == set(labels)  # every statement ran in a request

    normalised = [s["normalised"] for s in captured["statements"]]
    lazy = [q for q in queries if normalised[q["statement"]] == LAZY_CLIENT]
    assert {labels[q["unit"]] for q in lazy} == {"GET /calendar"}
    per_request = {
        u: [q for q in lazy if q["unit"] == u] for u in labels if labels[u] == "GET /calendar"
    }
    flagged = {u: rows for u, rows in per_request.items() if len({q["params"] for q in rows}) >= 5}
    assert flagged  # the small calendar's days hold enough appointments

    [finding] = _json(run / "summary.json")["nplusone"]["findings"]
    assert finding["what"] == LAZY_CLIENT and finding["unit"] == "GET /calendar"
    assert finding["units"] == len(flagged)
    assert finding["total"] == sum(len(rows) for rows in flagged.values())
    assert finding["most"] == max(len(rows) for rows in flagged.values())
    assert finding["count"] == pytest.approx(finding["total"] / finding["units"])
    assert re.fullmatch(r"calendar_entry \(.*/targets/api/app\.py:88\)", finding["site"])


def test_a_plugin_method_gets_sql_capture_without_code_of_its_own(
    request: pytest.FixtureRequest, results: Path
) -> None:
    """The example plug-in's sampler runs its target through `runner.execute`, nothing more."""
    site: Path = request.getfixturevalue("plugin_site")
    done = with_plugin(site, "run", *DB, "-p", "loading=lazy", "-m", "sampler", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert (run / "queries.json").exists()
    [finding] = _json(run / "summary.json")["nplusone"]["findings"]
    assert finding["what"] == LAZY_CLIENT and finding["total"] == 500


@pytest.mark.parametrize(("method", "loading"), [("cprofile", "selectin"), ("pyspy", "joined")])
def test_eager_db_run_has_no_n_plus_one(results: Path, method: str, loading: str) -> None:
    run, stdout = _run(results, *DB, "-p", f"loading={loading}", "-m", method)
    section = _json(run / "summary.json")["nplusone"]
    assert section["findings"] == [] and section["sql_statements"] > 0
    md = (run / "summary.md").read_text(encoding="utf-8")
    assert "**Pattern:**" not in md
    assert "None found (threshold 5; " in md
    assert "Pattern: " not in stdout.split("\ntarget ", 1)[0]
    assert "N+1 patterns: none found (threshold 5; " in stdout
    assert "none found" in (run / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("method", ["cprofile", "pyspy"])
def test_no_sql_captures_nothing(results: Path, method: str) -> None:
    run, _ = _run(results, *DB, "-p", "loading=lazy", "-m", method, "--no-sql")
    assert not (run / "queries.json").exists()
    manifest = _json(run / "manifest.json")
    assert "queries.json" not in manifest["artefacts"]
    assert manifest["options"]["no-sql"] is True
    section = _json(run / "summary.json")["nplusone"]
    assert section["sql_statements"] is None
    assert [f for f in section["findings"] if f["kind"] == "sql"] == []


def test_n1_threshold_changes_what_is_flagged(results: Path) -> None:
    """At --size small a day has 1 to 4 appointments: under the default threshold (5) the lazy
    loads are no finding; with --n1-threshold 2 they are, and `report` keeps the threshold."""
    small = ("db", "--size", "small", "-p", "rounds=1", "-p", "loading=lazy")
    run, _ = _run(results / "default", *small)
    assert _json(run / "summary.json")["nplusone"]["findings"] == []

    run, _ = _run(results / "two", *small, "--n1-threshold", "2")
    assert _json(run / "manifest.json")["options"]["n1-threshold"] == 2
    section = _json(run / "summary.json")["nplusone"]
    assert section["threshold"] == 2
    [finding] = section["findings"]
    assert finding["what"] == LAZY_CLIENT
    again = json.loads(profwork("report", str(run), "--format", "json").stdout)
    assert again["nplusone"] == section


def test_n1_threshold_below_two_is_refused(results: Path) -> None:
    done = profwork("run", "db", "--n1-threshold", "1", "-o", str(results))
    assert done.returncode != 0
    assert done.stderr.startswith("profwork: error: --n1-threshold 1 is below 2")
    assert not results.exists() or not any(results.rglob("manifest.json"))


def test_the_option_default_is_the_analysis_default() -> None:
    assert N1_THRESHOLD.default == DEFAULT_THRESHOLD


def test_sql_from_profiled_code_is_escaped_in_report_html(tmp_path: Path, results: Path) -> None:
    """A statement is profiled code's text: a `<script>` in it (a quoted identifier survives
    normalising) is shown, never run."""
    script = write(
        tmp_path / "sneaky.py",
        """
        import sqlite3

        def lookup(db, i):
            return db.execute(
                'SELECT ? AS "</code></td><script>alert(document.domain)</script>"', (i,)
            ).fetchone()

        def main():
            db = sqlite3.connect(":memory:")
            for i in range(8):
                lookup(db, i)

        main()
        """,
    )
    run, stdout = _run(results, str(script))
    [finding] = _json(run / "summary.json")["nplusone"]["findings"]
    assert "<script>alert(document.domain)</script>" in finding["what"]
    assert "<script>alert(document.domain)" in stdout  # the terminal shows it as written
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(document.domain)" not in page
    assert "&lt;/code&gt;&lt;/td&gt;&lt;script&gt;alert(document.domain)&lt;/script&gt;" in page
    md = (run / "summary.md").read_text(encoding="utf-8")  # a code span: shown as written
    assert '`SELECT ? AS "</code></td><script>alert(document.domain)</script>"`' in md
