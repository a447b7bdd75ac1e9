"""The manifest: every fact of a run, built once when they are known, always valid JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from profwork import pipeline
from profwork.rundir import Manifest, RunInfo
from tests.conftest import only_run, profwork, write


def strict_json(text: str) -> Any:
    """JSON as the standard has it: NaN and Infinity are not numbers of JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_target_metric_that_is_not_finite_is_null_in_the_manifest(
    tmp_path: Path, results: Path
) -> None:
    # GIVEN a body that reports a metric that is not a number (no request succeeded, say)
    write(
        tmp_path / "latency.py",
        """
        import math
        from profwork.targets import Metrics

        def work():
            return Metrics({"GET /": {"p50": math.nan, "p99": math.inf, "count": 3.0}})
        """,
    )

    # WHEN it is profiled
    done = profwork("run", "latency.py:work", "-o", str(results), cwd=tmp_path)

    # THEN manifest.json is valid JSON, the figures that are not numbers null, the others kept
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    manifest = strict_json((run / "manifest.json").read_text())
    assert manifest["target_metrics"] == {"GET /": {"p50": None, "p99": None, "count": 3.0}}
    # and the run still reads back, its figures shown as a fresh run shows them
    again = profwork("report", str(run))
    assert again.returncode == 0, again.stderr
    assert "nan" in again.stdout


def test_a_parameter_that_is_not_finite_is_recorded_as_text(tmp_path: Path) -> None:
    write(tmp_path / "scaled.py", "def work(factor: float = 1.0):\n    return factor * 2\n")

    run = pipeline.run(
        f"{tmp_path}/scaled.py:work", params={"factor": "nan"}, output=tmp_path / "runs"
    )

    manifest = strict_json((run.path / "manifest.json").read_text())
    assert manifest["params"] == {"factor": "nan"}


def test_the_manifest_is_built_once_and_cannot_be_changed_afterwards(tmp_path: Path) -> None:
    info = RunInfo(target="t", spec="t", method="cprofile", started_at="2024-01-01T00:00:00")
    manifest = Manifest.build(
        info,
        duration=math.inf,
        status="ok",
        error=None,
        unit="seconds",
        target_metrics={"GET /": {"p95": -math.inf}},
        notes=["a note"],
        artefacts=["profile.pstats", "raw/cprofile.pstats"],
    )

    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.status = "error"  # type: ignore[misc]
    data = strict_json(manifest.to_json())
    assert data["duration"] is None
    assert data["target_metrics"] == {"GET /": {"p95": None}}
    assert data["artefacts"] == ["profile.pstats", "raw/cprofile.pstats"]


def test_a_manifest_with_a_status_of_its_own_is_unreadable(tmp_path: Path) -> None:
    from profwork.errors import InputError

    (tmp_path / "manifest.json").write_text(
        json.dumps({"target": "t", "spec": "t", "method": "cprofile", "status": "meh"})
    )
    with pytest.raises(InputError, match="status is 'meh'"):
        Manifest.load(tmp_path)
