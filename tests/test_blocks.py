"""`with profwork.profile()` beyond time: a memory block in bytes, the SQL a block executes, and
the pipeline's public second half that every block and run ends through (issue 19 item 1)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import profwork
from profwork import pipeline, sqlcapture
from profwork.block import recorder_for
from profwork.facts import RunFacts
from profwork.methods import get_method, method_options
from profwork.model import Frame, FrameKind
from profwork.rundir import RunDir, RunInfo
from tests.conftest import write

# ---- functions the blocks run (module level, so their frames have a file) --------------------


def allocate(n: int) -> list[bytearray]:
    """`n` KB kept alive."""
    return [bytearray(1024) for _ in range(n)]


def names_of_clients(db: sqlite3.Connection) -> list[str]:
    """One query for the appointments, then one more per appointment: an N+1."""
    names = []
    for (client_id,) in db.execute("SELECT client_id FROM appointments").fetchall():
        row = db.execute("SELECT name FROM clients WHERE id = ?", (client_id,)).fetchone()
        names.append(row[0])
    return names


def seeded() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TABLE appointments (id INTEGER PRIMARY KEY, client_id INTEGER)")
    db.executemany("INSERT INTO clients (name) VALUES (?)", [(f"c{i}",) for i in range(20)])
    db.executemany(
        "INSERT INTO appointments (client_id) VALUES (?)", [(i % 20 + 1,) for i in range(40)]
    )
    return db


def statements(run: Path) -> list[str]:
    """The statements a run's `queries.json` holds, in the order they ran."""
    log = sqlcapture.load(run)
    assert log is not None
    return [q.statement for q in log.queries]


# ---- memory ------------------------------------------------------------------------------------


SCRIPT = """\
import json, sys
import profwork

def build_index(n):
    return {i: str(i) * 20 for i in range(n)}

def main():
    with profwork.profile(method="memory", output=sys.argv[1], name="index") as p:
        index = build_index(100_000)
    top = p.profile.top(3, by="self")
    print(json.dumps({
        "status": p.run.status,
        "unit": p.profile.unit,
        "total": p.profile.total,
        "kept": len(index),
        "functions": sorted(f.function for f in p.profile.functions()),
        "roots": sorted({s[0].function for s in p.profile.stacks}),
        "top": top[0].frame.function,
        "files": sorted(f.name for f in p.run.path.iterdir()),
    }))

main()
"""


def test_a_memory_block_in_a_plain_python_script_is_a_run_in_bytes(tmp_path: Path) -> None:
    script = write(tmp_path / "index.py", SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.splitlines()[-1])
    assert facts["status"] == "ok" and facts["unit"] == "bytes" and facts["kept"] == 100_000
    # 100,000 strings of 100+ bytes and the dict holding them: several MB, all in build_index
    assert facts["total"] > 5_000_000
    assert "build_index" in facts["functions"] and facts["roots"] == ["main"]
    assert facts["top"] in ("build_index", "build_index.<locals>.<dictcomp>")
    # the memory method's artefacts: its figures, its RSS timeline (mprof), its flame graph
    assert {"memory.json", "flame.svg", "profile.pstats", "report.html"} <= set(facts["files"])
    run = next((tmp_path / "out" / "index").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"] == "memory" and manifest["unit"] == "bytes"
    assert (run / "raw" / "mprofile.dat").read_text().startswith("CMDLINE")


def test_a_memory_block_keeps_only_the_block_below_its_caller(tmp_path: Path) -> None:
    with profwork.profile(method="memory", output=tmp_path) as p:
        kept = allocate(2000)
    assert len(kept) == 2000
    assert p.profile.unit == "bytes" and p.run.manifest.method == "memory"
    allocating = p.profile.find("allocate")
    assert allocating and allocating[0].kind is FrameKind.USER
    # about 2 MB in the block's allocate; nothing from pytest above it, nothing of profwork's
    assert p.profile.cumulative()[allocating[0]] >= 2000 * 1024
    roots = {stack[0].function for stack in p.profile.stacks}
    assert roots == {"test_a_memory_block_keeps_only_the_block_below_its_caller"}
    assert not any(f.kind is FrameKind.PROFWORK for s in p.profile.stacks for f in s)
    assert not any("_pytest" in f.file or "pluggy" in f.file for f in p.profile.functions())
    memory = json.loads((p.path / "memory.json").read_text())
    assert memory["traced_peak_bytes"] >= 2000 * 1024


def test_a_memory_block_takes_the_memory_methods_options(tmp_path: Path) -> None:
    with profwork.profile(method="memory", output=tmp_path, options={"frame-depth": 1}) as p:
        allocate(100)
    assert p.run.manifest.options["frame-depth"] == 1
    with pytest.raises(profwork.ProfworkError, match="takes no --rate"):
        profwork.profile(method="memory", rate=100)


# ---- SQL ---------------------------------------------------------------------------------------


def test_a_block_captures_the_sqlite_queries_it_runs_and_finds_the_n_plus_one(
    tmp_path: Path,
) -> None:
    with profwork.profile(output=tmp_path) as p:
        db = seeded()  # connected inside the block: the probe wraps sqlite3.connect
        names = names_of_clients(db)
    assert len(names) == 40
    assert "queries.json" in p.run.manifest.artefacts
    assert statements(p.path).count("SELECT name FROM clients WHERE id = ?") == 40
    worst = p.run.summary.nplusone.worst
    assert worst is not None and worst.what == "SELECT name FROM clients WHERE id = ?"
    assert worst.total == 40 and "names_of_clients" in worst.site
    assert "N+1" in (p.path / "summary.md").read_text()


def test_a_block_captures_sqlalchemy_statements_under_every_method(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")  # made before the block: SQLAlchemy is seen anyway
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f')"))
    for method in ("pyinstrument", "memory"):
        with profwork.profile(method=method, output=tmp_path) as p, engine.connect() as conn:
            for i in range(1, 7):
                conn.execute(text("SELECT v FROM t WHERE id = :id"), {"id": i}).one()
        assert statements(p.path) == ["SELECT v FROM t WHERE id = ?"] * 6, method
        assert p.run.summary.nplusone.worst is not None
    engine.dispose()


def test_sql_false_leaves_the_blocks_sql_uncaptured(tmp_path: Path) -> None:
    with profwork.profile(output=tmp_path, sql=False) as p:
        names_of_clients(seeded())
    assert not (p.path / "queries.json").exists()
    assert p.run.summary.nplusone.statements is None
    assert p.run.manifest.options["no-sql"] is True
    # and the probe is gone afterwards: a block leaves sqlite3 as it found it
    from profwork import sqlprobe

    assert sqlprobe.active() is None
    assert sqlite3.connect(":memory:").__class__ is sqlite3.Connection


def test_a_block_inside_a_block_records_its_sql_once_in_the_outer_one(tmp_path: Path) -> None:
    with (
        profwork.profile(output=tmp_path, name="outer") as outer,
        profwork.profile(method="pyinstrument", output=tmp_path, name="inner") as inner,
    ):
        names_of_clients(seeded())
    assert not (inner.path / "queries.json").exists()
    assert statements(outer.path).count("SELECT name FROM clients WHERE id = ?") == 40


def test_a_block_prints_as_its_run(tmp_path: Path) -> None:
    block = profwork.profile(name="index", output=tmp_path)
    assert repr(block) == "<profwork.profile index · cprofile · not finished>"
    with block:
        allocate(10)
    assert repr(block) == f"<profwork.Run index · cprofile · ok · {block.path}>"


def test_a_block_runs_once(tmp_path: Path) -> None:
    with pytest.raises(profwork.ProfworkError, match="runs once"):
        profwork.profile(options={"repeat": 3})


# ---- the pipeline's public second half --------------------------------------------------------


def test_pipeline_complete_turns_a_recorded_artefact_into_a_finished_run(tmp_path: Path) -> None:
    """What a block does, by hand: record with the method's recorder, then `complete`."""
    from datetime import datetime

    method = get_method("cprofile")
    recorder = recorder_for(method, method_options(method), sys._getframe())
    recorder.start()
    allocate(10)
    recorder.stop()
    started = datetime.now().astimezone()
    run_dir = RunDir(tmp_path, "by-hand", method.name, started)
    raw = recorder.artefact(run_dir.raw, RunFacts(status="error", duration=0.5, error="boom"))
    info = RunInfo(
        target="by-hand",
        spec="by hand",
        method=method.name,
        started_at=started.isoformat(timespec="seconds"),
        command=("test",),
    )
    result = pipeline.complete(method, raw, run_dir, info, top=3)
    assert result.path.parent == tmp_path / "by-hand" and not run_dir.temp.exists()
    assert result.manifest.status == "error" and result.manifest.error == "boom"
    assert result.manifest.duration == 0.5
    assert {"manifest.json", "profile.pstats", "flame.svg"} <= {
        f.name for f in result.path.iterdir()
    }
    assert result.profile.find("allocate")


# ---- a block's edges ---------------------------------------------------------------------------


def test_a_sample_taken_while_a_block_starts_or_stops_is_not_part_of_the_block() -> None:
    """A sampler may land in `Block.__exit__` before the profiler stops (a loaded machine makes
    it likely): that time is profwork's, around the block, under every method."""
    from profwork import block
    from profwork.stacks import trim_above_body

    here = Frame("test_fn", __file__, 1, FrameKind.USER)
    edge = Frame("Block.__exit__", block.__file__, 400, FrameKind.PROFWORK)
    stop = Frame("_PyinstrumentRecorder.stop", block.__file__, 180, FrameKind.PROFWORK)
    tool = Frame(
        "Profiler.stop", "/venv/site-packages/pyinstrument/profiler.py", 1, FrameKind.THIRD_PARTY
    )
    work = Frame("allocate", __file__, 27, FrameKind.USER)
    assert trim_above_body((here, edge, stop, tool)) is None
    assert trim_above_body((here, edge)) is None
    assert trim_above_body((here, work)) == (here, work)


def test_the_garbage_collectors_thresholds_are_the_programs_in_the_block_and_after(
    tmp_path: Path,
) -> None:
    import gc

    before = gc.get_threshold()
    inside = []
    with profwork.profile(output=tmp_path):
        inside.append(gc.get_threshold())
        allocate(10)
    # profwork collects less often only while it processes the profile, after the block
    assert inside == [before]
    assert gc.get_threshold() == before
