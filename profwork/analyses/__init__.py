"""Analyses: pure functions from a `Profile` (and later the captured queries) to findings.

`analyse` builds the `Summary` every renderer formats. It has one section per analysis:
bottlenecks and hotspots (bottlenecks.py), heaviest paths, target metrics, notes; N+1 findings and
memory figures plug in here when their issues land.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from profwork.model import FunctionRow, Profile, Stack, Unit


@dataclass(frozen=True, slots=True)
class HotPath:
    """One heavy call path, root first."""

    stack: Stack
    weight: float
    share: float


@dataclass(frozen=True)
class Summary:
    """What a run found, as plain data for renderers."""

    unit: Unit
    total: float
    exact: bool
    bottlenecks: tuple[FunctionRow, ...]
    hotspots: tuple[FunctionRow, ...]
    hot_paths: tuple[HotPath, ...]
    target_metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (`summary.json`)."""

        def row(r: FunctionRow) -> dict[str, Any]:
            return {
                "function": r.frame.function,
                "file": r.frame.file,
                "line": r.frame.line,
                "kind": r.frame.kind.value,
                "calls": r.calls,
                "primitive_calls": r.primitive_calls,
                "self": r.self,
                "own": r.own,
                "cumulative": r.cumulative,
                "share": r.share,
            }

        return {
            "unit": self.unit,
            "total": self.total,
            "exact": self.exact,
            "metadata": dict(self.metadata),
            "bottlenecks": [row(r) for r in self.bottlenecks],
            "hotspots": [row(r) for r in self.hotspots],
            "hot_paths": [
                {
                    "frames": [f.label for f in p.stack],
                    "weight": p.weight,
                    "share": p.share,
                }
                for p in self.hot_paths
            ],
            "target_metrics": {k: dict(v) for k, v in self.target_metrics.items()},
            "notes": list(self.notes),
        }


def analyse(
    profile: Profile,
    *,
    top: int = 15,
    target_metrics: Mapping[str, Mapping[str, float]] | None = None,
) -> Summary:
    """Run every analysis that applies to `profile`."""
    from profwork.analyses import bottlenecks

    return Summary(
        unit=profile.unit,
        total=profile.total,
        exact=profile.is_exact,
        bottlenecks=tuple(bottlenecks.rank(profile, top)),
        hotspots=tuple(bottlenecks.hotspots(profile, top)),
        hot_paths=tuple(bottlenecks.hot_paths(profile, 5)),
        target_metrics=dict(target_metrics or {}),
        notes=tuple(profile.metadata.get("notes", ())),
        metadata={
            k: v
            for k, v in profile.metadata.items()
            if k in ("method", "target", "rate", "duration", "threads", "stacks", "status")
        },
    )
