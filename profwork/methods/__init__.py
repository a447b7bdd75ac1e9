"""Methods: one profiler each, producing a raw artefact in `raw/` and normalising it.

A method module exposes `METHOD` with `name`, `unit`, `run(bound, raw_dir, options)` and
`normalise(raw)`. The registry maps names to import paths, so that choosing a method imports only
its own tool.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from profwork.facts import RunFacts, Status
from profwork.registry import Registry

if TYPE_CHECKING:
    from profwork.model import Profile, Unit
    from profwork.processes import ThreadDump
    from profwork.targets import BoundTarget

__all__ = [
    "METHODS",
    "Attachable",
    "Method",
    "MethodOptions",
    "RawArtefact",
    "RunFacts",
    "Status",
    "get_attachable",
    "get_method",
]

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
    """What a profiler wrote in `raw/`, and the facts of the run that produced it (`facts`).

    `meta` carries what normalising needs later, anywhere: the profiled interpreter's paths
    (`sys_paths`), thread names, the rate actually used, qualified names.
    """

    directory: Path
    format: str
    files: tuple[str, ...]
    facts: RunFacts = field(default_factory=RunFacts)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        """Write `raw/meta.json` so that the run can be normalised again (`profwork report`)."""
        data = {
            "format": self.format,
            "files": list(self.files),
            "facts": self.facts.to_json(),
            "meta": dict(self.meta),
        }
        (self.directory / META_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RawArtefact:
        data = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        meta = data.get("meta", {})
        facts = data.get("facts")
        if facts is None:  # written before the facts had a key of their own
            facts = {
                **data,
                "metrics": meta.get("target_metrics"),
                "exit_code": meta.get("exit_code"),
                "notes": meta.get("notes"),
            }
        return cls(
            directory=directory,
            format=data["format"],
            files=tuple(data["files"]),
            facts=RunFacts.from_json(facts),
            meta=meta,
        )


class Method(Protocol):
    name: str
    unit: Unit

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact: ...

    def normalise(self, raw: RawArtefact) -> Profile: ...


@runtime_checkable
class Attachable(Protocol):
    """A method that can also watch a process it did not start (`profwork attach`, `dump`).

    `attach` records process `pid` for `duration` seconds, until it exits, or until Ctrl-C
    (SIGTERM, SIGHUP), into the directory `raw_dir()` gives: it asks for it only once there is
    something to write, so that a PID that cannot be recorded leaves nothing behind. The
    artefact's `meta` may say `process_exited` (the process ended the recording). `dump` gives
    every thread's current stack."""

    name: str

    def attach(
        self,
        pid: int,
        raw_dir: Callable[[], Path],
        options: MethodOptions,
        duration: float | None,
    ) -> RawArtefact: ...

    def dump(self, pid: int) -> list[ThreadDump]: ...


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


def get_attachable(name: str) -> Attachable:
    """The method registered under `name`, if it can attach to a running process (and dump
    its threads); else one line naming the methods that can."""
    from profwork.errors import MethodError, ProfworkError

    method = get_method(name)
    if isinstance(method, Attachable):
        return method
    able = []
    for other in METHODS.names():
        try:
            if isinstance(get_method(other), Attachable):
                able.append(other)
        except ProfworkError:  # a plug-in that does not load is no candidate
            continue
    return_hint = ", ".join(f"-m {n}" for n in able) or "none is installed"
    raise MethodError(
        f"-m {method.name} cannot attach to a running process",
        remedy=f"use a method that can: {return_hint}",
    )
