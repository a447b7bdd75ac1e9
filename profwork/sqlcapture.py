"""SQL capture around a run (DESIGN §1): the probe `runner.execute` puts around every body.

The pipeline asks for capture around a method's `run` (`capturing(path)`, `path` being
`queries.json` in the run directory; `--no-sql` asks for none). `runner.execute`, which every
method calls to run a target (cprofile, pyinstrument, the py-spy child, a plug-in method), then
wraps the run in `around`: the probe is installed before the target's setup (so that engines and
connections the setup makes are wrapped), records during the body only (the body is the unit of
work unless the target declares narrower ones, `profwork.work`; setup and teardown statements are
not recorded), is removed after the teardown, and the log is written to `path` when the body
executed any SQL. The py-spy parent passes the path on to its child (`ChildRequest.queries`),
which captures in the target's process and writes the file itself. Nothing is captured when
nothing was asked (`profwork bench`, the `profwork.profile` block, a run inside a run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profwork.sqlprobe import QueryLog, SqlProbe

QUERIES_FILE = "queries.json"

__all__ = ["QUERIES_FILE", "Capture", "around", "capturing", "load", "requested"]

_requested: Path | None = None


@contextmanager
def capturing(path: Path | None) -> Iterator[None]:
    """Runs executed in the block capture their SQL into `path` (None: no capture)."""
    global _requested
    previous, _requested = _requested, path
    try:
        yield
    finally:
        _requested = previous


def requested() -> Path | None:
    """Where the SQL of a run started now goes, if anywhere."""
    return _requested


class Capture:
    """One run's capture; `start` and `stop` bracket the body. A capture that was not asked
    for (`Capture(None)`) does nothing."""

    def __init__(self, probe: SqlProbe | None) -> None:
        self.probe = probe

    def start(self) -> None:
        if self.probe is not None:
            self.probe.start()

    def stop(self) -> None:
        if self.probe is not None:
            self.probe.stop()


@contextmanager
def around(user_paths: Sequence[str]) -> Iterator[Capture]:
    """The probe installed for the block when capture was asked for, its log written to the
    requested path at the end (however the block ends; an `OSError` writing it propagates, as
    a failure to write any raw data does)."""
    from profwork import sqlprobe

    path = _requested
    if path is None or sqlprobe.active() is not None:  # a run inside a run: the outer captures
        yield Capture(None)
        return
    probe = sqlprobe.SqlProbe(user_paths)
    probe.install()
    try:
        yield Capture(probe)
    finally:
        probe.uninstall()
        log = probe.log()
        if log.queries or log.notes:  # a target that runs no SQL gets no queries.json
            _write(path, log)


def _write(path: Path, log: QueryLog) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(log.to_json()), encoding="utf-8")
    os.replace(part, path)


def load(directory: Path) -> QueryLog | None:
    """The queries captured in a run directory; None when none were (or the file is not
    readable: a run whose capture failed reads as one without SQL)."""
    try:
        data = json.loads((directory / QUERIES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from profwork.sqlprobe import QueryLog  # only when there is a log: the probe costs ~9 ms

    try:
        return QueryLog.from_json(data)
    except (ValueError, KeyError, TypeError, IndexError):
        return None
