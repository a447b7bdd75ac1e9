"""Methods: one profiler each, producing a raw artefact in `raw/` and normalising it.

A method module exposes `METHOD` with `name`, `unit`, `run(bound, raw_dir, options)` and
`normalise(raw)`. The registry maps names to import paths, so that choosing a method imports only
its own tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from profwork.registry import Registry

if TYPE_CHECKING:
    from profwork.model import Profile, Unit
    from profwork.targets import BoundTarget

Status = Literal["ok", "error", "interrupted"]

# Registered in the `profwork.methods` entry-point group (profwork's own in pyproject.toml).
METHODS: Registry[Method] = Registry(
    "profwork.methods",
    "method",
    lambda value: (
        isinstance(getattr(value, "name", None), str)
        and callable(getattr(value, "run", None))
        and callable(getattr(value, "normalise", None))
    ),
)

META_FILE = "meta.json"


@dataclass(frozen=True)
class MethodOptions:
    """Options a user may give a method; each method refuses the ones it cannot honour."""

    rate: float | None = None
    threads: bool = False
    native: bool = False
    subprocesses: bool = False
    idle: bool = False
    gil: bool = False


@dataclass(frozen=True)
class RawArtefact:
    """What a profiler wrote in `raw/`, and the facts of the run that produced it.

    `meta` carries what normalising needs later, anywhere: the profiled interpreter's paths
    (`sys_paths`), thread names, the rate actually used, qualified names, target metrics.
    """

    directory: Path
    format: str
    files: tuple[str, ...]
    status: Status = "ok"
    duration: float | None = None
    error: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        """Write `raw/meta.json` so that the run can be normalised again (`profwork report`)."""
        data = {
            "format": self.format,
            "files": list(self.files),
            "status": self.status,
            "duration": self.duration,
            "error": self.error,
            "meta": dict(self.meta),
        }
        (self.directory / META_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RawArtefact:
        data = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        return cls(
            directory=directory,
            format=data["format"],
            files=tuple(data["files"]),
            status=data.get("status", "ok"),
            duration=data.get("duration"),
            error=data.get("error"),
            meta=data.get("meta", {}),
        )


class Method(Protocol):
    name: str
    unit: Unit

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact: ...

    def normalise(self, raw: RawArtefact) -> Profile: ...


def refuse_sampler_flags(options: MethodOptions, method: str) -> None:
    """In-process methods cannot honour py-spy's flags; say so rather than ignore them."""
    given = [f"--{n}" for n in ("native", "subprocesses", "idle", "gil") if getattr(options, n)]
    if given:
        from profwork.errors import MethodError

        raise MethodError(
            f"{', '.join(given)} only apply to -m pyspy, not -m {method}",
            remedy="drop them, or profile with -m pyspy",
        )


def get_method(name: str) -> Method:
    """The method registered under `name` (any case), imported on first use."""
    return METHODS.get(name)
