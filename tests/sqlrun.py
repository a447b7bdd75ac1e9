"""Running a target's body under the SQL probe, in the test's process (setup and teardown
outside what is recorded, as `profwork run` does)."""

from __future__ import annotations

from collections.abc import Mapping

from profwork.sqlprobe import QueryLog, SqlProbe
from profwork.targets import resolve


def probed(spec: str, params: Mapping[str, str] | None = None, size: str | None = None) -> QueryLog:
    """The statements the body of `spec` executes, recorded by a probe installed before setup."""
    target = resolve(spec)
    bound = target.bind(dict(params or {}), size)
    probe = SqlProbe(target.user_paths)
    probe.install()
    try:
        state = bound.run_setup()
        try:
            probe.start()
            bound.body_call(state)()
            probe.stop()
        finally:
            bound.run_teardown(state)
    finally:
        probe.uninstall()
    return probe.log()
