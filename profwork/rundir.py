"""The run directory: naming, atomic creation, the manifest, and listing runs (DESIGN §4).

A run is written under a temporary name beside its final place and renamed when complete, so a
reader never sees half a run: `<base>/<target>/<YYYYmmdd-HHMMSS>-<method>/`, with a numeric
suffix when that name is taken.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, get_args

from profwork.errors import InputError, ProfworkError
from profwork.model import Status, Unit
from profwork.sysinfo import platform_name
from profwork.units import json_safe

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_BASE = Path("profiling_results")


def _version() -> str:
    from profwork.registry import own_version

    return own_version()


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's repository, when there is one (read from `.git`
    without starting git when it can be: `profwork.gitrepo`)."""
    from profwork.gitrepo import head_commit

    return head_commit(cwd)


@dataclass(frozen=True)
class RunInfo:
    """What was run, known once the method has run: the part of the manifest the artefacts do
    not change."""

    target: str
    spec: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    size: str | None = None
    started_at: str = ""
    command: tuple[str, ...] = ()
    git_commit: str | None = None


@dataclass(frozen=True)
class Manifest(RunInfo):
    """Every fact of a run (DESIGN §4): what was run (`RunInfo`) and its outcome, built once its
    artefacts are written (`build`)."""

    duration: float | None = None
    status: Status = "ok"
    error: str | None = None
    unit: Unit = "seconds"
    target_metrics: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    artefacts: tuple[str, ...] = ()
    python: str = field(default_factory=lambda: sys.version.split()[0])
    implementation: str = field(default_factory=platform.python_implementation)
    platform: str = field(default_factory=platform_name)  # platform.platform()
    profwork_version: str = field(default_factory=_version)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def build(
        cls,
        run: RunInfo,
        *,
        duration: float | None,
        status: Status,
        error: str | None,
        unit: Unit,
        target_metrics: Mapping[str, Mapping[str, Any]],
        notes: Sequence[str],
        artefacts: Sequence[str],
    ) -> Manifest:
        """The manifest of `run` with its outcome. JSON has no NaN or Infinity: a figure that is
        not finite (a target metric, a parameter) is recorded as null."""
        what = {f.name: getattr(run, f.name) for f in fields(RunInfo)}
        return cls(
            **what
            | {
                "params": json_safe(run.params),
                "options": json_safe(run.options),
                "command": tuple(run.command),
            },
            duration=json_safe(duration),
            status=status,
            error=error,
            unit=unit,
            target_metrics=json_safe(target_metrics),
            notes=tuple(notes),
            artefacts=tuple(artefacts),
        )

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(json_safe(data), indent=2, default=str, allow_nan=False)

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        try:
            data = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            for key, value in known.items():
                expected = _FIELD_TYPES.get(key)
                # (a bool is an int to isinstance; no field holds one)
                if expected is not None and (
                    not isinstance(value, expected) or isinstance(value, bool)
                ):
                    raise ValueError(f"{key} is {value!r}")
            if known.get("status", "ok") not in get_args(Status):
                raise ValueError(f"status is {known['status']!r}")
            if known.get("unit", "seconds") not in get_args(Unit):
                raise ValueError(f"unit is {known['unit']!r}")
            for key in ("notes", "artefacts", "command"):
                if key in known:
                    known[key] = tuple(known[key])
            return cls(**known)
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(
                f"{run_dir} has no readable manifest.json ({exc})",
                remedy="give a run directory written by profwork",
            ) from None


# What each manifest field may hold; a manifest that disagrees is unreadable, not half-read.
_OPTIONAL_STR = (str, type(None))
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "target": (str,),
    "spec": (str,),
    "method": (str,),
    "params": (dict,),
    "options": (dict,),
    "size": _OPTIONAL_STR,
    "started_at": (str,),
    "duration": (int, float, type(None)),
    "status": (str,),
    "error": _OPTIONAL_STR,
    "unit": (str,),
    "target_metrics": (dict,),
    "notes": (list,),
    "artefacts": (list,),
    "command": (list,),
    "git_commit": _OPTIONAL_STR,
    "schema_version": (int,),
}


class RunDir:
    """A run being written: files go into a temporary directory renamed into place by `finish`.

    Every path is absolute from the start, so a target that changes its working directory does
    not lose the run. Creating it checks, before anything runs, that the output base is a
    directory profwork can write in."""

    def __init__(self, base: Path, target: str, method: str, started: datetime) -> None:
        self.base = base
        self.parent = Path(os.path.abspath(base)) / target
        self.name = f"{started:%Y%m%d-%H%M%S}-{method}"
        self.temp = self.parent / f".{self.name}.{os.getpid()}.tmp"
        self.raw = self.temp / "raw"
        self.written: list[str] = []
        # the directories this run creates, innermost first (removed again by `discard`)
        self.created = [p for p in (self.parent, *self.parent.parents) if not p.exists()]
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            if self.temp.exists():
                import shutil

                shutil.rmtree(self.temp)
            self.temp.mkdir()
            self.raw.mkdir()
        except OSError as exc:
            raise _unwritable(base, exc) from None

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """A new artefact file of the run, to write into; a file that fails part-way (a full
        disk, Ctrl-C) is removed rather than kept half-written."""
        path = self.temp / name
        try:
            with path.open("wb") as out:
                yield out
        except BaseException:
            with suppress(OSError):
                path.unlink()
            raise
        self.written.append(name)

    def artefacts(self) -> list[str]:
        """The files of the run so far: the artefacts written, then `raw/`'s files."""
        raw_files = sorted(p.name for p in self.raw.iterdir()) if self.raw.is_dir() else []
        return [*self.written, *(f"raw/{n}" for n in raw_files)]

    def _write_manifest(self, manifest: Manifest) -> None:
        part = self.temp / f".{MANIFEST}.part"
        try:
            part.write_text(manifest.to_json(), encoding="utf-8")
            os.replace(part, self.temp / MANIFEST)
        except BaseException:
            with suppress(OSError):
                part.unlink()
            raise

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest and rename the run into place under a free name."""
        self._write_manifest(manifest)
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

    def discard(self) -> None:
        """Nothing to keep (the setup failed, an option was refused): remove the temporary
        directory and the directories created for it, when empty."""
        import shutil

        shutil.rmtree(self.temp, ignore_errors=True)
        for directory in self.created:
            try:
                directory.rmdir()
            except OSError:
                break

    def keep(self, manifest: Manifest) -> bool:
        """After a failure to write the run (a full disk): leave the temporary directory where
        it is, with its raw data, and write the manifest into it if it fits. Whether it did."""
        try:
            self._write_manifest(manifest)
        except OSError:
            return False
        return True


def _unwritable(base: Path, exc: OSError) -> ProfworkError:
    """One line for an output base that cannot hold a run, before the target runs."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        where = next((p for p in (base, *base.parents) if p.exists()), base)
        return ProfworkError(
            f"cannot write runs under {base}: {where} is not a directory",
            remedy="give -o a directory (it is created if missing)",
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ProfworkError(
            f"cannot write runs under {base}: {reason}",
            remedy="free some space, or give -o a directory on another file system",
        )
    return ProfworkError(
        f"cannot write runs under {base}: {reason}",
        remedy="give -o a directory you can write to",
    )


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


@contextmanager
def replacing(output: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes `output` only once it is completely written (a temporary name
    beside it, renamed into place), so a failed write never leaves a truncated file at `output`."""
    if output.exists() and not output.is_file():  # a device or a pipe: no rename over it
        with output.open("wb") as direct:
            yield direct
        return
    import tempfile

    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, output)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
