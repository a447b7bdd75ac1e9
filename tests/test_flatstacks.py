"""Collapsed stacks as a stack table (`profwork.flatstacks`, issue 22): leads and bodies interned,
the views counted once per distinct body, the renderers writing from the table.

- The folded reader gives a table whose stacks, in order, and every view are exactly what the
  same stacks as a dict give (the views' code on tuples is the reference), on the committed
  py-spy recordings, on copies of them under several process roots (as `--subprocesses` writes
  them), in samples and in seconds, with each thread rule.
- `profile.folded` and `profile.speedscope.json` are byte for byte, and `profile.pstats`'s
  statistics (in their order) exactly, what the renderers wrote before the table
  (tests/data/golden-artefacts.json).
- The reader gives the stacks the line-by-line reader before it gave, odd lines included.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from profwork import readers
from profwork.analyses import analyse
from profwork.errors import InputError
from profwork.flatstacks import FlatStacks, stack_table
from profwork.frames import FrameMaker, default_classifier
from profwork.model import Frame, FrameKind, FunctionRow, Profile, RankBy, Stack
from profwork.readers import folded as folded_reader
from profwork.readers.folded import _folded_frame, _odd_line
from profwork.renderers.folded import _BATCH as BATCH
from profwork.renderers.folded import RENDERER as FOLDED
from profwork.stacks import finish
from tests.fixtures_profiles import DATA
from tests.golden_artefacts import artefacts, replicated, variants

GOLDEN = json.loads((DATA / "golden-artefacts.json").read_text(encoding="utf-8"))
NAMES = list(GOLDEN)


@pytest.mark.parametrize("name", NAMES)
def test_the_stack_based_artefacts_are_byte_for_byte_what_they_were(
    name: str, tmp_path: Path
) -> None:
    read = dict(variants(tmp_path))[name]
    assert artefacts(read()) == GOLDEN[name]


def as_dict(profile: Profile) -> Profile:
    """The same profile with its stacks as a plain dict (the views' reference code)."""
    return dataclasses.replace(profile, stacks=dict(profile.stacks.items()))


def every_view(profile: Profile) -> dict[str, Any]:
    return {
        "stacks": list(profile.stacks.items()),
        "total": profile.total,
        "stack_total": profile.stack_total,
        "threads": profile.threads,
        "self": profile.self_times(),
        "cumulative": profile.cumulative(),
        "own": profile.own_times(),
        "edges": profile.edges(),
        "heaviest": profile.heaviest_paths(8),
        "top": [_ranked(profile, by) for by in ("cumulative", "self", "own")],
        # what the flame graph's views read: the frames in the same order, the same numbers
        "numbered": (
            profile.numbered_stacks().frames,
            profile.numbered_stacks().real,
            list(profile.numbered_stacks().stacks),
        ),
    }


def _ranked(profile: Profile, by: RankBy) -> list[FunctionRow]:
    """Every row as `top` ranks it; rows that tie on the figure and the name come in no fixed
    order (the profile's function order follows set order), so they are ordered here."""
    rows = profile.top(len(profile.rows()), by)
    return sorted(rows, key=lambda r: (-getattr(r, by), r.frame.function, r.frame.label))


@pytest.mark.parametrize("threads", [None, False, True])
@pytest.mark.parametrize("copies", [1, 3])
@pytest.mark.parametrize("name", ["pyspy-threads.txt", "pyspy-one-thread.txt"])
def test_a_recording_read_as_a_table_has_exactly_the_views_of_its_stacks_as_a_dict(
    name: str, copies: int, threads: bool | None, tmp_path: Path
) -> None:
    path = replicated(tmp_path, name, copies)
    for unit, scale in (("samples", 1.0), ("seconds", 1 / 250)):
        profile = readers.read_folded(path, unit=unit, scale=scale, threads=threads)  # type: ignore[arg-type]

        assert isinstance(profile.stacks, FlatStacks)
        assert every_view(profile) == every_view(as_dict(profile))


def test_a_big_folded_file_is_written_in_batches_of_lines_never_whole(tmp_path: Path) -> None:
    # GIVEN a recording whose folded file is several megabytes (600 copies under process roots)
    profile = readers.read(replicated(tmp_path, "pyspy-threads.txt", 600))
    out = Recorder()

    FOLDED.stream(profile, analyse(profile), out)

    data = out.getvalue()
    assert len(data) > 3 * BATCH
    assert data == FOLDED.render(profile, analyse(profile))
    assert len(out.sizes) > 3  # batches, never the whole file at once
    assert all(size < BATCH + 64 * 1024 for size in out.sizes)
    assert all(chunk.endswith(b"\n") for chunk in out.chunks)  # whole lines


class Recorder(io.BytesIO):
    """A binary file that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    @property
    def sizes(self) -> list[int]:
        return [len(chunk) for chunk in self.chunks]

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return super().write(data)


# ---- the reader, against the line-by-line reader before the table ------------------------------


def line_by_line(path: Path, threads: bool | None) -> list[tuple[Stack, float]]:
    """What the folded reader gave before the table: each line's text split into frames, the
    stacks collapsed in a dict, then the stack rules."""
    make = FrameMaker(default_classifier(None))
    frames: dict[str, Frame] = {}
    counts: dict[Stack, float] = defaultdict(float)
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line or line[0] == "#" or line[:2] == "//":
            continue
        stack_text, _, weight_text = line.rpartition(" ")
        try:
            weight: float = int(weight_text)
        except ValueError:
            odd = _odd_line(line)
            if odd is None:
                continue
            stack_text, _, weight = odd
        if not stack_text:
            counts[()] += weight
            continue
        parts = stack_text.split(";")
        for part in parts:
            if part not in frames:
                frames[part] = _folded_frame(part, make)
        counts[tuple(frames[part] for part in parts)] += weight
    return list(finish(counts, threads=threads).items())


ODD = [
    "# a comment",
    "// another",
    "",
    "   ",
    'process 1:"app";thread (7);main (/app/a.py:1);work (/app/a.py:5) 3',
    'process 1:"app";thread (7);main (/app/a.py:1);work (/app/a.py:5) 2\r',  # CRLF
    'process 1:"app";thread (7): MainThread;main (/app/a.py:1) 1',
    'process 2:"app";thread (7);main (/app/a.py:1);work (/app/a.py:5) 4',
    'process 2:"app";thread (7) 5',  # only roots
    "process 2;thread (8);main (/app/a.py:1) 1",
    "thread (a)(b);main (/app/a.py:1) 2",  # starts like a thread, is not one
    "process x;main (/app/a.py:1) 2",  # starts like a process, is not one
    'process 1:"app";thread (7);main (/app/a.py:1); 2',  # an empty last frame
    'process 1:"app";;main (/app/a.py:1) 2',  # an empty frame after the roots
    ";main (/app/a.py:1) 1",
    "main (/app/a.py:1) 1.5",  # a fraction
    "main (/app/a.py:1) 2 ",  # blank space after the weight
    "main (/app/a.py:1) \u0663",  # a digit that is not ASCII
    "main (/app/a.py:1);oopDesc* Foo::bar<false> (x) 1_000",
    "7",  # a weight-only line
    " 2",
    "main (/app/a.py:1) 0",
    "no weight here",
    "main (/app/a.py:1);thread (9);work (/app/a.py:5) 1",  # a thread frame inside a stack
    "main (/app/a.py:1) 1",  # the last line, without a line end
]


@pytest.mark.parametrize("threads", [None, False, True])
@pytest.mark.parametrize("block", [1 << 23, 7])
def test_the_reader_gives_what_the_line_by_line_reader_gave_odd_lines_included(
    threads: bool | None, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "odd.folded"
    path.write_text("\n".join(ODD), encoding="utf-8")
    # blocks of 7 bytes: lines cut anywhere between blocks read as whole lines
    monkeypatch.setattr(folded_reader, "_blocks", partial(folded_reader._blocks, chunk=block))

    profile = readers.read_folded(path, threads=threads)

    assert list(profile.stacks.items()) == line_by_line(path, threads)
    assert every_view(profile) == every_view(as_dict(profile))


def test_a_recording_under_many_process_roots_holds_each_body_once(tmp_path: Path) -> None:
    # GIVEN one recording copied under 5 process roots (py-spy --subprocesses on a worker fleet)
    one = readers.read(DATA / "pyspy-threads.txt")
    many = readers.read(replicated(tmp_path, "pyspy-threads.txt", 5))

    # THEN the table has an entry per stack, but each body (the stack below its roots) once
    assert isinstance(one.stacks, FlatStacks) and isinstance(many.stacks, FlatStacks)
    assert len(many.stacks) == 5 * len(one.stacks)
    assert len(many.stacks.bodies) == len(one.stacks.bodies) == len(one.stacks)
    assert len(many.stacks.leads) == 5 * len(one.stacks.leads)
    # and the views count each body's figures 5 times over
    assert many.cumulative() == {f: 5 * w for f, w in one.cumulative().items()}
    assert stack_table(many) is many.stacks


def test_stacks_spelt_alike_are_one_folded_line_with_their_weights_added() -> None:
    # GIVEN two frames that differ only by kind, so the folded format spells them alike
    mine = Frame("f", "/app/a.py", 1, FrameKind.USER)
    vendored = Frame("f", "/app/a.py", 1, FrameKind.THIRD_PARTY)
    root = Frame("main", "/app/a.py", 9)
    profile = Profile(
        unit="samples", stacks={(root, mine): 1.0, (root, vendored): 2.0, (root,): 0.25}
    )

    text = FOLDED.render(profile, analyse(profile))

    # THEN one line holds both stacks; a line that rounds to nothing is left out
    assert text == b"main (/app/a.py:9);f (/app/a.py:1) 3\n"


@pytest.mark.parametrize("block", [1 << 23, 7])
def test_a_refused_weight_is_named_by_its_line_whatever_the_blocks(
    block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.folded"
    path.write_text("# made by hand\na;b 1\n\na;c 2\na;d -4\na;e 1\n", encoding="utf-8")
    monkeypatch.setattr(folded_reader, "_blocks", partial(folded_reader._blocks, chunk=block))

    with pytest.raises(InputError, match=r"line 5\b.*-4"):
        readers.read_folded(path)


def test_past_its_budget_for_kept_texts_the_reader_still_finds_each_body_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a reader that may keep only 1 KB of body texts (a recording whose bodies do not
    # repeat would otherwise be held whole)
    path = replicated(tmp_path, "pyspy-threads.txt", 4)
    expected = readers.read(path)
    monkeypatch.setattr(folded_reader, "_KEPT_TEXT", 1024)

    profile = readers.read(path)

    # THEN the bodies it could not keep are split again and found by their frames: the same table
    assert isinstance(profile.stacks, FlatStacks) and isinstance(expected.stacks, FlatStacks)
    assert list(profile.stacks.items()) == list(expected.stacks.items())
    assert profile.stacks.bodies == expected.stacks.bodies
    assert len(profile.stacks.bodies) < len(profile.stacks)
