"""Every view of the committed test profiles (tests/data/), as recorded from the code before the
stack tree (issue 22): the totals, the top functions by each ranking, every function's figures
and the folded lines (both by digest), the heaviest paths and the thread roots.
`tests/test_stacktree.py` checks that the current code gives exactly these; regenerate only when
a view is meant to change:

    .venv/bin/python -m tests.golden_views > tests/data/golden-views.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from profwork import readers
from profwork.analyses import analyse
from profwork.model import Profile, RankBy
from profwork.renderers.folded import RENDERER as FOLDED
from tests.fixtures_profiles import DATA

PROFILES = (
    "cprofile.pstats",
    "profile-module.pstats",
    "pyspy-threads.txt",
    "pyspy-one-thread.txt",
    "foreign-crlf.txt",
    "foreign-utf16.folded",
    "foreign-utf8-bom.folded",
    "pyspy.speedscope.json",
    "evented.speedscope.json",
    "pyinstrument-session.json",
    "pyinstrument-renderer.json",
)


def _row(row: Any) -> list[Any]:
    return [row.frame.label, row.frame.kind.value, row.cumulative, row.self, row.own, row.calls]


def _top(profile: Profile, by: RankBy) -> list[list[Any]]:
    """The 12 first rows of `top(by=...)`; rows that tie on the figure and the name come in no
    fixed order (the profile's function order follows set order), so they are ordered here."""
    rows = [_row(row) for row in profile.top(len(profile.rows()), by=by)]
    figure = {"cumulative": 2, "self": 3, "own": 4}[by]
    return sorted(rows, key=lambda row: (-row[figure], row[0].split(" (")[0], row[0]))[:12]


def views(profile: Profile) -> dict[str, Any]:
    """The views, with floats kept exact (JSON writes their shortest round-trip form)."""
    return {
        "unit": profile.unit,
        "total": profile.total,
        "stack_total": profile.stack_total,
        "stacks": len(profile.stacks),
        "threads": [frame.label for frame in profile.threads],
        "top": {by: _top(profile, by) for by in ("cumulative", "self", "own")},
        "rows": _digest(json.dumps(sorted(map(_row, profile.rows()))).encode()),
        "heaviest_paths": [
            [[frame.label for frame in stack], weight]
            for stack, weight in profile.heaviest_paths(5)
        ],
        "folded": _digest(FOLDED.render(profile, analyse(profile))),
    }


def _digest(data: bytes) -> dict[str, Any]:
    """A file's lines by count and SHA-256 (the folded text of a pstats file is ~200 KB)."""
    return {"lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}


def main() -> None:
    snapshot = {name: views(readers.read(DATA / name)) for name in PROFILES}
    json.dump(snapshot, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
