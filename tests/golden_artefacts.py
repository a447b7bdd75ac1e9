"""The stack-based artefacts (`profile.folded`, `profile.speedscope.json`, `profile.pstats`'s
statistics in their order) of the committed test profiles and of py-spy recordings under several
process roots, by SHA-256, as the code gave them before the stack table of issue 22 (renderers
writing from the table). `tests/test_flatstacks.py` checks that the current code writes exactly
these; regenerate only when a file is meant to change:

    .venv/bin/python -m tests.golden_artefacts > tests/data/golden-artefacts.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import marshal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from profwork import readers
from profwork.analyses import analyse
from profwork.model import Profile
from profwork.renderers.folded import RENDERER as FOLDED
from profwork.renderers.pstats import RENDERER as PSTATS
from profwork.renderers.speedscope import RENDERER as SPEEDSCOPE
from tests.fixtures_profiles import DATA
from tests.golden_views import PROFILES

# py-spy's recording of two threads, copied under process roots as `--subprocesses` writes them
COPIES = 3


def replicated(directory: Path, name: str = "pyspy-threads.txt", copies: int = COPIES) -> Path:
    """`name`'s lines under `copies` process roots (the big benchmark's file, in small)."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    path = directory / f"processes-{name}"
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            root = f'process {1000 + copy}:"python tiny_app.py --threads"'
            out.writelines(f"{root};{line}\n" for line in lines)
    return path


def variants(directory: Path) -> Iterator[tuple[str, Callable[[], Profile]]]:
    """Every profile the golden digests are taken of, by name."""
    for name in PROFILES:
        yield name, lambda name=name: readers.read(DATA / name)
    many = replicated(directory)
    yield "processes", lambda: readers.read(many)
    for threads in (None, False, True):
        yield (
            f"processes-seconds-threads={threads}",
            lambda threads=threads: readers.read_folded(
                many, unit="seconds", scale=1 / 200, threads=threads
            ),
        )
        yield (
            f"one-thread-seconds-threads={threads}",
            lambda threads=threads: readers.read_folded(
                DATA / "pyspy-one-thread.txt", unit="seconds", scale=1 / 200, threads=threads
            ),
        )


def artefacts(profile: Profile) -> dict[str, Any]:
    # the title is the file's path: left out, so that the digests hold in any checkout
    profile = dataclasses.replace(profile, metadata={})
    summary = analyse(profile)
    return {
        "folded": _digest(FOLDED.render(profile, summary)),
        "speedscope": _digest(SPEEDSCOPE.render(profile, summary)),
        # marshal's bytes depend on which strings are shared elsewhere in the process (it marks
        # an object with more than one reference): the statistics are compared, in their order
        "pstats": _digest(repr(marshal.loads(PSTATS.render(profile, summary))).encode()),
    }


def _digest(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = {name: artefacts(read()) for name, read in variants(Path(tmp))}
    json.dump(snapshot, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
