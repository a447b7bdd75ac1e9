"""The pstats, speedscope and folded renderers, round-tripped through the real readers:
`pstats.Stats` and snakeviz, the speedscope schema and `read_speedscope`, and `read_folded`."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import marshal
import pstats
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from snakeviz.stats import json_stats, table_rows  # type: ignore[import-untyped]

from profwork import pipeline, readers
from profwork.model import Frame, FrameKind, Profile
from profwork.renderers import (
    RENDERERS,
    OptionalRenderer,
    Renderer,
    StreamingRenderer,
    get_renderer,
)
from profwork.renderers.folded import frame_text
from profwork.renderers.pstats import frame_key
from tests.fixtures_profiles import (
    DATA,
    EVERY_PROFILE,
    SCHEMA,
    build,
    frame,
    nasty,
    simple,
    summary,
    thread,
    threaded,
)

MINE = ("pstats", "speedscope", "folded")


def render(name: str, profile: Profile) -> bytes:
    return get_renderer(name).render(profile, summary(profile))


def write(tmp_path: Path, name: str, profile: Profile) -> Path:
    renderer = get_renderer(name)
    path = tmp_path / renderer.filename
    path.write_bytes(renderer.render(profile, summary(profile)))
    return path


def load_stats(path: Path) -> pstats.Stats:
    return pstats.Stats(str(path), stream=io.StringIO())


def entries(path: Path) -> dict[Any, Any]:
    """What `pstats.Stats` loaded from the file."""
    stats: dict[Any, Any] = load_stats(path).stats  # type: ignore[attr-defined]
    return stats


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# ---- one contract for every renderer of this module --------------------------------------------


@pytest.mark.parametrize("name", MINE)
def test_each_is_registered_with_its_file_name(name: str) -> None:
    renderer: Renderer = get_renderer(name)
    assert name in RENDERERS
    assert renderer.name == name
    assert (
        renderer.filename
        == {
            "pstats": "profile.pstats",
            "speedscope": "profile.speedscope.json",
            "folded": "profile.folded",
        }[name]
    )
    module = importlib.import_module(type(renderer).__module__)
    assert "Spec:" in (module.__doc__ or "")  # a format module cites the spec it follows


@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("make", EVERY_PROFILE.values(), ids=EVERY_PROFILE.keys())
def test_every_profile_renders_and_reads_back(
    name: str, make: Callable[[], Profile], tmp_path: Path
) -> None:
    profile = make()
    path = write(tmp_path, name, profile)

    data = path.read_bytes()

    assert isinstance(data, bytes) and data == render(name, profile)  # deterministic
    if name == "pstats":
        assert entries(path)
    elif name == "speedscope":
        assert readers.sniff(path) == "speedscope"
        back = readers.read_speedscope(path)
        assert back.total == pytest.approx(profile.stack_total)
    elif data:
        back = readers.read_folded(path)
        assert back.total == pytest.approx(
            sum(int(line.rpartition(b" ")[2]) for line in data.splitlines())
        )


# ---- pstats ------------------------------------------------------------------------------------


def test_pstats_of_a_cprofile_run_keeps_its_exact_numbers(tmp_path: Path) -> None:
    profile = readers.read_pstats(DATA / "cprofile.pstats")
    assert profile.stats is not None

    stats = entries(write(tmp_path, "pstats", profile))

    assert len(stats) == len(profile.stats)
    for frame_, s in profile.stats.items():
        cc, nc, tt, ct, callers = stats[frame_key(frame_)]
        assert (cc, nc, tt, ct) == (s.primitive_calls, s.calls, s.self, s.cumulative)
        assert callers == {
            frame_key(c): (e.calls, e.primitive_calls, e.self, e.cumulative)
            for c, e in s.callers.items()
        }


def test_pstats_round_trips_through_the_reader(tmp_path: Path) -> None:
    first = readers.read_pstats(DATA / "cprofile.pstats")

    again = readers.read_pstats(write(tmp_path, "pstats", first))

    assert again.stats == first.stats
    assert again.stacks == pytest.approx(first.stacks)


def test_pstats_keys_built_ins_as_cprofile_does(tmp_path: Path) -> None:
    sleep = Frame("sleep", "<built-in>", 0, FrameKind.NATIVE)  # pyinstrument's spelling
    profile = build({(frame("main"), sleep): 1.0, (frame("main"),): 0.5})

    stats = entries(write(tmp_path, "pstats", profile))

    assert ("~", 0, "<built-in method sleep>") in stats
    spelt = pstats.func_std_string(("~", 0, "<built-in method sleep>"))  # type: ignore[attr-defined]
    assert spelt == "{built-in method sleep}"


def test_pstats_of_samples_counts_samples_and_leaves_threads_out(tmp_path: Path) -> None:
    profile = threaded()  # rate 100 Hz, in seconds
    path = write(tmp_path, "pstats", profile)

    stats = entries(path)

    assert not [key for key in stats if key[2].startswith("thread (")]
    for cc, nc, _tt, ct, callers in stats.values():
        assert cc == nc >= 1
        assert nc == max(1, round(ct * 100))
        assert all(caller in stats for caller in callers)  # snakeviz needs every caller
        assert all(value[0] >= 1 for value in callers.values())
    main = stats[frame_key(frame("main", line=10))]
    assert main[3] == pytest.approx(3.0)  # cumulative: 1.0 + 2.0 under MainThread
    assert main[2] == pytest.approx(1.0)  # self


def test_pstats_counts_without_a_rate(tmp_path: Path) -> None:
    fib = frame("fib", line=30)
    seconds = build({(fib,): 0.5, (fib, fib): 0.25})
    samples = build({(fib,): 3, (fib, fib): 4}, unit="samples")

    by_stacks = entries(write(tmp_path, "pstats", seconds))
    counted = marshal.loads(render("pstats", samples))

    assert by_stacks[frame_key(fib)][:2] == (2, 2)  # the distinct stacks holding it
    assert counted[frame_key(fib)][:2] == (7, 7)  # the samples, recursion counted once
    assert counted[frame_key(fib)][4][frame_key(fib)][0] == 4  # the recursive edge


@pytest.mark.parametrize("make", [simple, threaded, nasty], ids=["simple", "threaded", "nasty"])
def test_snakeviz_reads_the_pstats(make: Callable[[], Profile], tmp_path: Path) -> None:
    stats = load_stats(write(tmp_path, "pstats", make()))

    rows = table_rows(stats)
    tree = json_stats(stats)

    assert len(rows) == len(entries(tmp_path / "profile.pstats"))
    assert tree
    assert all(row[0][0] != "-1" for row in rows)


def test_snakeviz_reads_the_pstats_of_a_cprofile_run(tmp_path: Path) -> None:
    stats = load_stats(write(tmp_path, "pstats", readers.read_pstats(DATA / "cprofile.pstats")))

    assert table_rows(stats) and json_stats(stats)


# ---- speedscope --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", EVERY_PROFILE.values(), ids=EVERY_PROFILE.keys())
def test_speedscope_is_valid_against_the_official_schema(
    make: Callable[[], Profile], validator: jsonschema.Draft7Validator
) -> None:
    document = json.loads(render("speedscope", make()))

    validator.validate(document)
    assert document["activeProfileIndex"] == 0
    assert document["exporter"].startswith("profwork ")
    assert all("col" not in f for f in document["shared"]["frames"])


@pytest.mark.parametrize(
    "source", ["pyspy.speedscope.json", "pyspy-threads.txt", "cprofile.pstats"]
)
def test_speedscope_of_recorded_profiles_is_valid(
    source: str, validator: jsonschema.Draft7Validator
) -> None:
    profile = readers.read(DATA / source)

    validator.validate(json.loads(render("speedscope", profile)))


def test_speedscope_has_one_profile_per_thread_with_its_total(tmp_path: Path) -> None:
    profile = threaded()
    document = json.loads(render("speedscope", profile))

    totals = {p["name"]: sum(p["weights"]) for p in document["profiles"]}
    assert totals == pytest.approx(
        {"thread (101): MainThread": 3.0, "thread (202): worker-1": 2.0, "pyspy": 0.25}
    )
    assert all(p["endValue"] == pytest.approx(sum(p["weights"])) for p in document["profiles"])
    names = {f["name"] for f in document["shared"]["frames"]}
    assert not any(n.startswith("thread (") for n in names)  # pseudo-frames name profiles

    back = readers.read_speedscope(write(tmp_path, "speedscope", profile))

    per_thread: dict[str, float] = defaultdict(float)
    for stack, weight in back.stacks.items():
        per_thread[stack[0].function if stack and stack[0].is_pseudo else ""] += weight
    assert per_thread == pytest.approx(
        {"thread (101): MainThread": 3.0, "thread (202): worker-1": 2.0, "pyspy": 0.25}
    )


def test_speedscope_keeps_data_collapsed_and_frames_shared() -> None:
    profile = simple()
    document = json.loads(render("speedscope", profile))

    (only,) = document["profiles"]
    assert only["name"] == "app (pyspy)"
    assert len(only["samples"]) == len(profile.stacks)
    frames = document["shared"]["frames"]
    assert len(frames) == len({f for s in profile.stacks for f in s})
    assert {"name": "Repository.query", "file": "/srv/app/db.py", "line": 5} in frames
    assert {"name": "<built-in method builtins.len>"} in frames


def test_speedscope_units() -> None:
    for make, unit in [(simple, "seconds"), (EVERY_PROFILE["memory"], "bytes")]:
        assert json.loads(render("speedscope", make()))["profiles"][0]["unit"] == unit
    assert (
        json.loads(render("speedscope", EVERY_PROFILE["samples"]()))["profiles"][0]["unit"]
        == "none"
    )


def test_markup_in_names_stays_data_in_speedscope(tmp_path: Path) -> None:
    profile = nasty()
    back = readers.read_speedscope(write(tmp_path, "speedscope", profile))

    original = {(f.function, f.file, f.line) for s in profile.stacks for f in s}
    again = {(f.function, f.file, f.line) for s in back.stacks for f in s}
    assert again == original
    assert "<script>alert('x')</script>" in {f[0] for f in again}


# ---- folded ------------------------------------------------------------------------------------


def read_back(path: Path) -> Profile:
    """Our folded file holds microseconds."""
    return readers.read_folded(path, unit="seconds", scale=1e-6, threads=True)


def test_folded_round_trips_stacks_in_microseconds(tmp_path: Path) -> None:
    profile = threaded()

    back = read_back(write(tmp_path, "folded", profile))

    def spelled(p: Profile) -> dict[tuple[tuple[str, str, int], ...], float]:
        return {tuple((f.function, f.file, f.line) for f in s): w for s, w in p.stacks.items()}

    assert spelled(back) == pytest.approx(spelled(profile), abs=1e-6)
    assert {r.function for r in back.threads} == {r.function for r in profile.threads}


def test_folded_lines_are_sorted_integer_and_labelled(tmp_path: Path) -> None:
    text = render("folded", simple()).decode()

    lines = text.splitlines()
    # ordered by their frames' texts, frame by frame (so equal profiles give equal files)
    assert lines == sorted(lines, key=lambda line: line.rpartition(" ")[0].split(";"))
    assert (
        "main (/srv/app/service.py:10);Handler.get (/srv/app/service.py:20);"
        "Repository.query (/srv/app/db.py:5) 1250000"
    ) in lines
    assert all(line.rpartition(" ")[2].isdigit() for line in lines)
    assert any(line.endswith(";<built-in method builtins.len> 125000") for line in lines)


def test_folded_escapes_semicolons_and_line_breaks(tmp_path: Path) -> None:
    profile = nasty()
    path = write(tmp_path, "folded", profile)

    text = path.read_text(encoding="utf-8")
    back = read_back(path)

    assert "with,semicolon (/srv/a,b/c.py:7)" in text
    assert "line break (/srv/app/nl.py:13)" in text
    assert len(text.splitlines()) == len(profile.stacks)
    got = {f.function for s in back.stacks for f in s}
    assert {
        "with,semicolon",
        "name with spaces",
        "grüße.日本語",
        "<script>alert('x')</script>",
    } <= got
    assert back.total == pytest.approx(profile.stack_total, abs=1e-6)


def test_folded_drops_what_rounds_to_nothing_and_keeps_weight_only_lines() -> None:
    tiny = build({(frame("a"),): 4e-7, (frame("b"),): 2e-6, (): 3e-6})

    lines = render("folded", tiny).decode().splitlines()

    assert lines == ["3", "b (/srv/app/service.py:1) 2"]


def test_folded_weights_in_bytes_and_samples() -> None:
    assert render("folded", EVERY_PROFILE["memory"]()).decode().splitlines()[0].endswith(" 4096")
    assert (
        "main (/srv/app/service.py:10) 3" in render("folded", EVERY_PROFILE["samples"]()).decode()
    )


def test_folded_of_a_py_spy_recording_reads_back_the_same(tmp_path: Path) -> None:
    recorded = readers.read_folded(DATA / "pyspy-threads.txt", unit="seconds", scale=1 / 200)

    back = read_back(write(tmp_path, "folded", recorded))

    assert back.stacks == pytest.approx(recorded.stacks, abs=1e-6)


def test_frame_text_is_the_label_with_separators_escaped() -> None:
    assert frame_text(frame("f;g", "/a;b.py", 3)) == "f,g (/a,b.py:3)"
    assert frame_text(thread(7, "Main;Thread")) == "thread (7): Main,Thread"


# ---- streaming -----------------------------------------------------------------------------------


class Recorder(io.BytesIO):
    """A binary file that remembers how many writes made its content."""

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


@pytest.mark.parametrize("name", RENDERERS.names())
def test_a_streaming_renderer_streams_what_it_renders(name: str) -> None:
    profile = simple()
    renderer = get_renderer(name)
    files: dict[str, Recorder] = {}

    def open_artefact(filename: str) -> contextlib.nullcontext[Recorder]:
        return contextlib.nullcontext(files.setdefault(filename, Recorder()))

    pipeline.write_artefacts(profile, summary(profile), open_artefact, names=[name])

    if isinstance(renderer, OptionalRenderer) and not renderer.applies(profile, summary(profile)):
        assert renderer.filename not in files  # an artefact only some runs have (memory.json)
        return
    out = files[renderer.filename]
    assert out.getvalue() == renderer.render(profile, summary(profile))
    # only the folded stacks, which can be hundreds of megabytes, are written a batch of lines
    # at a time (tests/test_flatstacks.py); every other artefact in one write
    assert isinstance(renderer, StreamingRenderer) is (name == "folded")
    assert out.writes == 1
