"""`profile.csv`: the per-function table as comma-separated values (RFC 4180).

A renderer is an object with a `name`, the `filename` of its artefact in a run directory, and
`render(profile, summary) -> bytes`; options would go to its constructor. It is registered in
the `profwork.renderers` entry-point group, so `convert --to csv` and `report --format csv`
offer it and every new run directory gets `profile.csv`.

One row per function, heaviest cumulative first: function (qualified name), file, line, kind,
calls (empty when the method counts none: samplers), self, own (user code only), cumulative, share
(of the total, 0 to 1) and the unit of the figures (`seconds`, `bytes` or `samples`). Names and
paths come from profiled code, so they may hold commas, quotes and line breaks: the `csv` module
quotes such fields (a quote is doubled), which every CSV reader (Excel, pandas, `csv.reader`)
reads back verbatim.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from profwork.model import FrameKind

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile

COLUMNS = (
    "function",
    "file",
    "line",
    "kind",
    "calls",
    "self",
    "own",
    "cumulative",
    "share",
    "unit",
)


class CsvTable:
    name = "csv"
    filename = "profile.csv"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes only where needed
        writer.writerow(COLUMNS)
        rows = sorted(profile.rows(), key=lambda r: (-r.cumulative, r.frame.function))
        for row in rows:
            frame = row.frame
            writer.writerow(
                (
                    frame.function,
                    frame.file,
                    frame.line or "",
                    frame.kind.value,
                    "" if row.calls is None else row.calls,
                    repr(row.self),
                    repr(row.own) if frame.kind is FrameKind.USER else "",
                    repr(row.cumulative),
                    repr(row.share),
                    profile.unit,
                )
            )
        # A name from a foreign profile may hold a lone surrogate, which UTF-8 cannot carry.
        return out.getvalue().encode("utf-8", errors="replace")


RENDERER = CsvTable()
