"""The run directory: naming, atomic creation, the manifest, and listing runs (DESIGN §4).

A run is written under a temporary name beside its final place and renamed when complete, so a
reader never sees half a run: `<base>/<target>/<YYYYmmdd-HHMMSS>-<method>/`, with a numeric
suffix when that name is taken.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from profwork.errors import InputError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_BASE = Path("profiling_results")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("profwork")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's repository, when there is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass
class Manifest:
    """Every fact of a run (DESIGN §4)."""

    target: str
    spec: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    size: str | None = None
    started_at: str = ""
    duration: float | None = None
    status: str = "ok"
    error: str | None = None
    unit: str = "seconds"
    target_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    artefacts: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    python: str = field(default_factory=lambda: sys.version.split()[0])
    implementation: str = field(default_factory=platform.python_implementation)
    platform: str = field(default_factory=platform.platform)
    git_commit: str | None = None
    profwork_version: str = field(default_factory=_version)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        try:
            data = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(
                f"{run_dir} has no readable manifest.json ({exc})",
                remedy="give a run directory written by profwork",
            ) from None


class RunDir:
    """A run being written: files go into a temporary directory renamed into place by `finish`."""

    def __init__(self, base: Path, target: str, method: str, started: datetime) -> None:
        self.parent = base / target
        self.parent.mkdir(parents=True, exist_ok=True)
        self.name = f"{started:%Y%m%d-%H%M%S}-{method}"
        self.temp = self.parent / f".{self.name}.{os.getpid()}.tmp"
        if self.temp.exists():
            shutil.rmtree(self.temp)
        self.temp.mkdir()
        self.raw = self.temp / "raw"
        self.raw.mkdir()
        self.written: list[str] = []

    def write(self, name: str, data: bytes) -> Path:
        with self.open(name) as out:
            out.write(data)
        return self.temp / name

    def open(self, name: str) -> BinaryIO:
        """A new artefact file of the run, to write into (and close)."""
        self.written.append(name)
        return (self.temp / name).open("wb")

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest and rename the run into place under a free name."""
        raw_files = sorted(p.name for p in self.raw.iterdir())
        manifest.artefacts = [*self.written, *(f"raw/{n}" for n in raw_files)]
        (self.temp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        suffix = 1
        while True:
            final = self.parent / (self.name if suffix == 1 else f"{self.name}-{suffix}")
            try:
                # os.rename refuses to replace a non-empty directory, so a taken name is safe
                if final.exists():
                    raise FileExistsError(final)
                os.rename(self.temp, final)
                return final
            except (FileExistsError, OSError):
                if not final.exists():
                    raise
                suffix += 1


def is_run(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def list_runs(base: Path = DEFAULT_BASE) -> Iterator[tuple[Path, Manifest]]:
    """Runs under `base` (or `base` itself when it is a run), newest first."""
    if is_run(base):
        yield base, Manifest.load(base)
        return
    found = []
    for manifest in base.glob("**/manifest.json"):
        run = manifest.parent
        if run.name.startswith("."):
            continue
        try:
            found.append((run, Manifest.load(run)))
        except InputError:
            continue
    found.sort(key=lambda item: (item[1].started_at, str(item[0])), reverse=True)
    yield from found
