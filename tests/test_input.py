"""What `report` and `convert` are given (issue 15, items 10–12, 14, 15): units made explicit where
a file is read, pipes and FIFOs read once, bad weights refused in one line, names kept verbatim.
And the shape of the readers (issue 16): a registry of readers that import no method or renderer.
"""

from __future__ import annotations

import ast
import io
import json
import marshal
import os
import pstats
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from profwork import loading, pipeline, readers
from profwork.errors import InputError
from profwork.model import Profile
from profwork.readers.source import UNITS
from profwork.renderers import get_renderer
from tests.conftest import PROFWORK, profwork
from tests.fixtures_profiles import DATA, build, frame, summary

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("pstats", "speedscope", "folded")
EXTENSION = {"pstats": "pstats", "speedscope": "speedscope.json", "folded": "folded"}


def top_names(profile: Profile, n: int = 5) -> list[str]:
    return [row.frame.function for row in profile.top(n)]


def pstats_total(path: Path) -> float:
    stats = pstats.Stats(str(path), stream=io.StringIO())
    total: float = stats.total_tt  # type: ignore[attr-defined]
    return total


# ---- item 10: the unit is explicit where a file is read -----------------------------------------


def test_the_issue_round_trip_keeps_seconds_when_the_folded_unit_is_given(tmp_path: Path) -> None:
    # GIVEN cProfile's pstats, converted to speedscope and then to folded (integer microseconds)
    original = pstats_total(DATA / "cprofile.pstats")
    speedscope, folded, back = (tmp_path / n for n in ("p.speedscope.json", "p.folded", "b.pstats"))
    assert profwork("convert", str(DATA / "cprofile.pstats"), "--to", "speedscope", "-o",
                    str(speedscope)).returncode == 0  # fmt: skip
    assert profwork("convert", str(speedscope), "--to", "folded", "-o", str(folded)).returncode == 0
    assert "#" not in folded.read_text(encoding="utf-8")  # our folded files stay pure
    # WHEN the folded file goes back to pstats saying what its weights are
    done = profwork("convert", str(folded), "--to", "pstats", "--unit", "us", "-o", str(back))
    # THEN the total is still the seconds cProfile measured, not a million times more
    assert done.returncode == 0, done.stderr
    assert pstats_total(back) == pytest.approx(original, rel=1e-3)
    assert "sample" not in done.stdout


def test_sample_counts_written_as_pstats_seconds_are_said_in_one_line(tmp_path: Path) -> None:
    folded = tmp_path / "foreign.txt"
    folded.write_text("main;work 30\nmain 10\n", encoding="utf-8")

    done = profwork("convert", str(folded), "--to", "pstats", "-o", str(tmp_path / "out.pstats"))
    report = profwork("report", str(folded))

    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if "counts of samples" in line]
    assert len(said) == 1 and "seconds" in said[0]
    assert pstats_total(tmp_path / "out.pstats") == 40  # one sample a second, as said
    assert "total 40 samples" in report.stdout and "counts of samples" in report.stdout


@pytest.mark.parametrize("unit", ["us", "ms", "s", "bytes", "samples"])
def test_unit_of_a_folded_file(unit: str, tmp_path: Path) -> None:
    folded = tmp_path / "stacks.txt"
    folded.write_text("main;work 3000\n", encoding="utf-8")

    profile = readers.read(folded, unit=unit)  # type: ignore[arg-type]

    expected_unit, scale = UNITS[unit]
    assert (profile.unit, profile.total) == (expected_unit, pytest.approx(3000 * scale))


def test_a_folded_file_in_a_run_directory_takes_the_manifests_unit(tmp_path: Path) -> None:
    run = pipeline.run("example", params={"rounds": "1", "orders": "300"}, output=tmp_path)

    folded = readers.read(run.path / "profile.folded")
    told = readers.read(run.path / "profile.folded", unit="samples")

    assert folded.unit == "seconds"  # the manifest says seconds: the file holds microseconds
    assert folded.total == pytest.approx(run.profile.stack_total, abs=1e-6 * len(folded.stacks))
    assert told.unit == "samples" and told.total == pytest.approx(folded.total * 1e6)


def test_a_unit_that_contradicts_the_file_is_refused_in_one_line() -> None:
    done = profwork("report", str(DATA / "cprofile.pstats"), "--unit", "bytes")

    assert done.returncode != 0
    assert "records its unit (seconds)" in done.stderr and "--unit bytes" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert readers.read(DATA / "cprofile.pstats", unit="s").unit == "seconds"  # repeating is fine


def test_the_cli_offers_the_units_the_readers_know() -> None:
    from profwork.cli_params import INPUT_UNITS

    assert set(INPUT_UNITS) == set(UNITS)


def _as(fmt: str, source: Path, out: Path, unit: str | None) -> Path:
    return loading.convert(source, fmt, out / f"as.{EXTENSION[fmt]}", unit=unit)  # type: ignore[arg-type]


@pytest.mark.parametrize("first", FORMATS)
@pytest.mark.parametrize("second", FORMATS)
def test_a_round_trip_through_every_format_keeps_the_total_and_the_top_functions(
    first: str, second: str, tmp_path: Path
) -> None:
    # GIVEN a real cProfile recording in format `first`
    a_dir, b_dir, c_dir = (tmp_path / d for d in "abc")
    for d in (a_dir, b_dir, c_dir):
        d.mkdir()
    start = _as(first, DATA / "cprofile.pstats", a_dir, None)
    unit = {"folded": "us"}  # the one format that does not carry its unit
    before = readers.read(start, unit=unit.get(first))  # type: ignore[arg-type]
    # WHEN it goes to `second` and back
    there = _as(second, start, b_dir, unit.get(first))
    back = _as(first, there, c_dir, unit.get(second))
    # THEN the unit, the total and the top functions are the same both ways
    for path, fmt in ((there, second), (back, first)):
        again = readers.read(path, unit=unit.get(fmt))  # type: ignore[arg-type]
        assert again.unit == before.unit == "seconds"
        assert again.total == pytest.approx(before.total, rel=1e-3)
        assert top_names(again) == top_names(before)


# ---- item 11: pipes and FIFOs are read once ----------------------------------------------------


def _bash(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "250", "PROFWORK": PROFWORK},
    )


def test_a_pipe_of_folded_stacks_is_read_once() -> None:
    done = _bash("\"$PROFWORK\" report <(printf 'a;b 10\\n')")

    assert done.returncode == 0, done.stderr
    assert "total 10 samples" in done.stdout


def test_a_pipe_of_pstats_is_read_once() -> None:
    done = _bash(f'"$PROFWORK" report <(cat {DATA / "cprofile.pstats"})')

    assert done.returncode == 0, done.stderr
    assert "fib" in done.stdout


def test_a_fifo_that_nobody_writes_is_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "stacks.fifo"
    os.mkfifo(fifo)

    done = profwork("report", str(fifo), timeout=60)

    assert done.returncode != 0
    assert "a FIFO that nothing wrote to" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_fifo_whose_writer_comes_later_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "stacks.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(
        [PROFWORK, "report", str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.5)  # profwork is waiting for a writer by now (or opens the FIFO after us)

        def write() -> None:
            with fifo.open("w", encoding="utf-8") as out:
                out.write("a;b 7\n")
                out.flush()
                time.sleep(0.3)  # a writer that takes its time
                out.write("a;c 5\n")

        writer = threading.Thread(target=write)
        writer.start()
        out, err = reader.communicate(timeout=60)
        writer.join()
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    assert "total 12 samples" in " ".join(out.split())  # piped: lines fold at 80 columns


# ---- item 12: bad weights are refused, naming where they are ------------------------------------


def _speedscope(weight: str) -> str:
    return (
        '{"$schema": "https://www.speedscope.app/file-format-schema.json", '
        '"shared": {"frames": [{"name": "f"}]}, "profiles": [{"type": "sampled", "name": "main", '
        f'"unit": "seconds", "startValue": 0, "endValue": 1, "samples": [[0], [0]], '
        f'"weights": [1, {weight}]}}]}}'
    )


def _pstats(tt: float) -> bytes:
    return marshal.dumps(
        {
            ("/srv/app.py", 1, "main"): (1, 1, 0.5, 1.0, {}),
            ("/srv/app.py", 9, "work"): (
                1,
                1,
                tt,
                0.5,
                {("/srv/app.py", 1, "main"): (1, 1, tt, 0.5)},
            ),
        }
    )


BAD_WEIGHTS: dict[str, tuple[bytes, str]] = {
    "folded negative": (b"a;b 5\na;b -10\n", "line 2: weight -10 is negative"),
    "folded nan": (b"a;b 5\na;c nan\n", "line 2: weight nan is not a number"),
    "folded inf": (b"a;b 5\na;c inf\n", "line 2: weight inf is infinite"),
    "folded 400 digits": (b"a;b 5\na;c " + b"9" * 400 + b"\n", "line 2: weight 999"),
    "speedscope negative": (_speedscope("-5").encode(), "profile 'main', sample 1"),
    "speedscope NaN": (_speedscope("NaN").encode(), "sample 1: weight nan is not a number"),
    "speedscope Infinity": (_speedscope("Infinity").encode(), "sample 1: weight inf is infinite"),
    "pstats negative": (_pstats(-0.25), "function work (/srv/app.py:9)"),
    "pstats nan": (_pstats(float("nan")), "is not a number"),
    "pstats inf": (_pstats(float("inf")), "is infinite"),
    "pyinstrument negative": (
        json.dumps({"frame_records": [[["main\x00/srv/app.py\x001"], -1.0]]}).encode(),
        "frame record 0: weight -1.0 is negative",
    ),
}


@pytest.mark.parametrize(("content", "message"), BAD_WEIGHTS.values(), ids=BAD_WEIGHTS.keys())
def test_a_bad_weight_is_refused_naming_where_it_is(
    content: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.profile"
    path.write_bytes(content)

    with pytest.raises(InputError) as raised:
        readers.read(path)

    assert message in str(raised.value)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_bad_weight_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.folded"
    path.write_bytes(b"a;b 1\na;c " + b"7" * 400 + b"\n")

    done = profwork("convert", str(path), "--to", "speedscope", "-o", str(tmp_path / "x.json"))

    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "line 2: weight" in done.stderr and "too large" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


# ---- items 14 and 15: names are kept verbatim, control characters escaped visibly ---------------


def test_a_whitespace_only_frame_name_is_kept(tmp_path: Path) -> None:
    # FlameGraph's perf-vertx sample has a frame " "; only the line end and the space before the
    # weight are syntax
    path = tmp_path / "vertx.txt"
    path.write_text(" ;java;read 5\njava; ;write 3\njava;  2\n", encoding="utf-8")

    profile = readers.read(path)
    folded = tmp_path / "again.folded"
    folded.write_bytes(get_renderer("folded").render(profile, summary(profile)))
    again = readers.read(folded)

    stacks = {tuple(f.function for f in s): w for s, w in profile.stacks.items()}
    assert stacks == {(" ", "java", "read"): 5, ("java", " ", "write"): 3, ("java", " "): 2}
    assert again.stacks == profile.stacks
    document = json.loads(get_renderer("speedscope").render(profile, summary(profile)))
    assert "" not in {f["name"] for f in document["shared"]["frames"]}


def test_a_nul_in_a_function_name_survives_our_own_folded_file(tmp_path: Path) -> None:
    # GIVEN a function whose co_name holds a NUL (legal in Python)
    odd = frame("bad\x00name", "/srv/app.py", 3)
    profile = build({(frame("main"), odd): 2.0, (frame("main"),): 1.0})
    folded = tmp_path / "profile.folded"
    folded.write_bytes(get_renderer("folded").render(profile, summary(profile)))
    # WHEN profwork reads its own folded file back
    back = readers.read(folded, unit="us")
    # THEN it reads, with the NUL shown as its visible symbol, and the total kept
    assert "\x00" not in folded.read_text(encoding="utf-8")
    assert "bad\u2400name" in {f.function for s in back.stacks for f in s}
    assert back.total == pytest.approx(3.0)
    svg = get_renderer("svg").render(profile, summary(profile))
    assert b"\x00" not in svg and "bad\ufffdname".encode() in svg


# ---- issue 16: the readers' shape --------------------------------------------------------------


def test_every_reader_is_registered_and_names_itself_in_the_remedy(tmp_path: Path) -> None:
    assert set(readers.READERS.names()) >= {"pstats", "speedscope", "pyinstrument", "folded"}
    prose = tmp_path / "README"
    prose.write_text("Just words.\nNo stacks here.\n", encoding="utf-8")

    with pytest.raises(InputError) as raised:
        readers.read(prose)

    for name in readers.READERS:
        assert readers.get_reader(name).description in str(raised.value.remedy)


def test_readers_import_no_method_and_no_renderer() -> None:
    code = (
        "import sys, profwork.readers as r\n"
        "from pathlib import Path\n"
        f"r.read(Path({str(DATA / 'cprofile.pstats')!r}))\n"
        "bad = [m for m in sys.modules if m.startswith(('profwork.methods', 'profwork.renderers',"
        " 'profwork.cli', 'profwork.pipeline'))]\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # nor lazily, inside a function (the old readers.py imported `methods` to read a run)
    modules = sorted((ROOT / "profwork" / "readers").glob("*.py"))
    assert modules
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.startswith(("profwork.methods", "profwork.renderers"))]


def test_the_model_imports_nothing_of_profwork_and_no_reader_module_is_long() -> None:
    tree = ast.parse((ROOT / "profwork" / "model.py").read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith("profwork")]
    for module in [*(ROOT / "profwork" / "readers").glob("*.py"), ROOT / "profwork" / "stacks.py"]:
        assert len(module.read_text(encoding="utf-8").splitlines()) <= 500, module
