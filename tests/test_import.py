"""`profwork import FILE`: any profile profwork reads becomes a complete run directory, with a
manifest that says it was imported and from what, which `report` and `profwork.load` read back
as they read a fresh run."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from profwork import loading, readers
from profwork.importing import import_profile
from profwork.renderers import RENDERERS, get_renderer
from tests.conftest import only_run, profwork
from tests.fixtures_profiles import DATA
from tests.test_readers import FORMATS

# Every artefact a run of a profile holds (the optional ones, as memory.json, need their data).
ARTEFACTS = {
    "profile.pstats",
    "profile.speedscope.json",
    "profile.folded",
    "flame.svg",
    "report.html",
    "summary.md",
    "summary.json",
}


@pytest.mark.parametrize(
    "name",
    ["cprofile.pstats", "pyspy-threads.txt", "pyspy.speedscope.json", "pyinstrument-session.json"],
)
def test_a_profile_file_becomes_a_complete_run_directory(name: str, tmp_path: Path) -> None:
    source = DATA / name
    # WHEN the installed script imports it under -o
    done = profwork("import", str(source), "-o", str(tmp_path / "results"))

    # THEN it says where the run is, and the run holds every artefact and a copy of the file
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path / "results")
    assert f"run directory: {run}" in done.stdout
    assert run.name.endswith("-import") and run.parent.name == name.split(".")[0]
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["artefacts"]) >= ARTEFACTS
    for artefact in ARTEFACTS:
        assert (run / artefact).stat().st_size > 0, artefact
    assert (run / "raw" / name).read_bytes() == source.read_bytes()
    # the manifest says it was imported, and from what
    assert manifest["method"] == "import"
    assert manifest["spec"] == str(source)
    assert manifest["params"] == {"source": str(source.resolve()), "format": FORMATS[name]}
    assert manifest["status"] == "ok" and manifest["duration"] is None
    # and the run reads back as the file reads (report, compare and the notebook API use this)
    again, direct = loading.load(run), readers.read(source)
    assert again.unit == direct.unit == manifest["unit"]
    assert again.total == direct.total
    assert [r.frame for r in again.top(10)] == [r.frame for r in direct.top(10)]
    assert again.metadata["method"] == "import"
    report = profwork("report", str(run), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["bottlenecks"]


def test_every_committed_profile_imports(tmp_path: Path) -> None:
    for name in FORMATS:
        result = import_profile(DATA / name, output=tmp_path)
        assert result.manifest.params["format"] == FORMATS[name], name
        written = set(result.manifest.artefacts)
        for renderer_name in RENDERERS:
            filename = get_renderer(renderer_name).filename
            if filename in ARTEFACTS:
                assert filename in written, (name, filename)


def test_a_folded_file_keeps_the_unit_it_was_read_in(tmp_path: Path) -> None:
    # GIVEN a folded file read as milliseconds
    first = import_profile(DATA / "pyspy-threads.txt", output=tmp_path / "a", unit="ms")
    assert first.manifest.unit == "seconds" and first.manifest.options == {"unit": "ms"}
    assert loading.load(first.path).total == first.profile.total  # read again as ms

    # WHEN the folded file of that run (microseconds, the unit in its run's manifest) is imported
    second = import_profile(first.path / "profile.folded", output=tmp_path / "b")

    # THEN it is read in the run's unit, not as samples, and so again later
    assert second.manifest.options == {"unit": "us"}
    assert second.profile.unit == "seconds"
    assert second.profile.total == pytest.approx(first.profile.total, abs=1e-5)
    assert loading.load(second.path).total == second.profile.total


def test_a_profile_given_through_a_fifo_is_read_once_and_imported(tmp_path: Path) -> None:
    # a pipe or FIFO can be read only once: its copy in raw/ is what is read after
    fifo = tmp_path / "stacks"
    os.mkfifo(fifo)
    text = (DATA / "pyspy-threads.txt").read_bytes()
    writer = threading.Thread(target=fifo.write_bytes, args=(text,))
    writer.start()
    try:
        done = profwork("import", str(fifo), "-o", str(tmp_path / "runs"))
    finally:
        writer.join(timeout=10)
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path / "runs")
    assert (run / "raw" / "stacks").read_bytes() == text
    assert json.loads((run / "manifest.json").read_text())["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/profile.pstats"], "no such file"),
        ([str(DATA)], "a directory without manifest.json"),
        ([str(DATA / "tiny_app.py")], "tiny_app.py"),
        ([str(DATA / "cprofile.pstats"), "--unit", "ms"], "cprofile.pstats: the file records"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_run(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = profwork("import", *args, "-o", str(tmp_path / "results"))

    assert done.returncode == 2
    assert done.stderr.startswith("profwork: error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    # nothing half-made under -o: no run, no temporary directory
    results = tmp_path / "results"
    assert not results.exists() or not [p for p in results.rglob("*") if p.is_file()]
