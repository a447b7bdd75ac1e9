"""`profwork import FILE`: any profile profwork reads, as a complete run directory (DESIGN §3).

A profile from elsewhere (a pstats file from a colleague, a py-spy or Go flame graph's folded
stacks, a speedscope or pyinstrument file) gets what a fresh run gets: every artefact, the
summary, a manifest, and a directory that `report`, `compare`, `view` and `profwork.load` take.
It goes through the same pipeline as a run (`pipeline._complete`: normalise → analyse → render →
finish, keeping what it can when a step fails), with the file in the part of a method:

- `raw/` holds a copy of the file, under its own name, so the run stands on its own and is
  normalised again (`METHOD.normalise`) by the reader that read it the first time;
- the manifest's method is `import`, its spec the file's path as given, its params the file's
  absolute path (`source`) and format (`format`, the reader's name), its options the `--unit`
  the file was read in (a folded file's, which carries none; inherited from the manifest of a
  run directory the file came from);
- the run is `profiling_results/<file name up to its first dot>/<stamp>-import/` (or under `-o`).

Nothing ran, so the run has no duration and no SQL capture.
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profwork.errors import InputError, ProfworkError
from profwork.methods import MethodOption, MethodOptions, RawArtefact
from profwork.model import Profile, Unit

if TYPE_CHECKING:
    from profwork.pipeline import RunResult
    from profwork.readers.source import InputUnit
    from profwork.targets import BoundTarget

NAME = "import"
# A folded file inside a run directory holds the manifest's unit in these numbers (`--unit`).
_FOLDED_UNIT: dict[str, InputUnit | None] = {"seconds": "us", "bytes": "bytes", "samples": None}


class ImportMethod:
    """The method of an imported run: reading its `raw/` file again. It runs nothing (it is not
    a registered method, so `run -m` does not offer it); `loading.load` asks it by name."""

    name = NAME
    unit: Unit = "samples"  # until the file is read
    options: tuple[MethodOption[Any], ...] = ()

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        raise ProfworkError(
            "the import method reads a profile file; it runs no target",
            remedy="use `profwork import FILE`, or run the target with another --method",
        )

    def normalise(self, raw: RawArtefact) -> Profile:
        return self.read(raw.directory / raw.files[0], raw)

    def read(self, file: Path, raw: RawArtefact) -> Profile:
        """The profile in `file`: `raw`'s own copy, or the file it is a copy of."""
        from profwork import readers

        unit: InputUnit | None = raw.meta.get("unit")
        profile = readers.read(file, unit=unit)
        metadata = {
            **profile.metadata,
            "method": NAME,
            "format": raw.format,
            "source": raw.meta.get("source", profile.metadata.get("source")),
        }
        return dataclasses.replace(profile, metadata=metadata)


METHOD = ImportMethod()


class _Read:
    """The method for the first pass: the profile is read already (sniffing needed the file)."""

    name = NAME
    options: tuple[MethodOption[Any], ...] = ()

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.unit = profile.unit

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        return METHOD.run(bound, raw_dir, options)

    def normalise(self, raw: RawArtefact) -> Profile:
        return self.profile


def import_profile(
    path: Path,
    *,
    output: Path | None = None,
    unit: InputUnit | None = None,
    top: int = 15,
    command: Sequence[str] = (),
    on_stage: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Turn the profile file `path` into a run directory under `output` (default
    `profiling_results/`); see the module's docstring."""
    from profwork import pipeline, readers, specs
    from profwork.readers.source import Source, remedy
    from profwork.rundir import DEFAULT_BASE, RunDir, RunInfo

    path = Path(path)
    if path.is_dir() or not path.exists():
        readers.sniff(path)  # the reader's own line: a run directory, a missing file …
        raise InputError(f"{path} is not a profile file", remedy=remedy())
    started = datetime.now().astimezone()
    name = specs.slug(path.name.split(".")[0] or path.name)
    run_dir = RunDir(output or DEFAULT_BASE, name, NAME, started)
    copier: _Copier | None = None
    try:
        on_stage(f"importing {path}")
        if path.is_file():
            # a file is read while it is copied into raw/ (the copy is the kernel's work)
            copier = _Copier(path, run_dir.raw / _raw_name(path))
            copy, source = copier.copy, path
        else:  # a pipe or FIFO is read once: into raw/, and the copy is what is read
            copy = source = _copy(path, run_dir.raw)
        fmt = readers.sniff(source)
        # a folded file in a run directory is in that run's unit (a pipe is read once: the copy)
        folded_in_a_run = fmt == "folded" and unit is None and path.is_file()
        inherited = Source(path).manifest_unit() if folded_in_a_run else None
        used = unit if inherited is None else _FOLDED_UNIT[inherited]
        raw = RawArtefact(
            directory=run_dir.raw,
            format=fmt,
            files=(copy.name,),
            meta={"source": str(path.resolve()), "unit": used},
        )
        raw.save()
        with pipeline.fewer_collections():
            profile = METHOD.read(source, raw)
        if copier is not None:
            copier.finish()
    except InputError as error:  # named by the file given, not by its copy
        if copier is not None:
            copier.join()
        run_dir.discard()
        raise InputError(
            error.message.replace(str(run_dir.raw / _raw_name(path)), str(path)),
            remedy=error.remedy,
        ) from None
    except OSError as error:  # writing raw/ (the copy, meta.json) or reading the file
        if copier is not None:
            copier.join()
        run_dir.discard()
        raise _unreadable(path, error) from None
    except BaseException:
        if copier is not None:
            copier.join()
        run_dir.discard()
        raise
    info = RunInfo(
        target=name,
        spec=str(path),
        method=NAME,
        params={"source": str(path.resolve()), "format": fmt},
        options={"unit": used},
        started_at=started.isoformat(timespec="seconds"),
        command=tuple(command),
    )
    return pipeline.complete(_Read(profile), raw, run_dir, info, top=top, on_stage=on_stage)


def _raw_name(path: Path) -> str:
    """The copy's name in `raw/`: the file's own, unless it is the name of raw/'s own file."""
    from profwork.methods import META_FILE

    name = path.name or "profile"
    return f"imported-{name}" if name == META_FILE else name


class _Copier(threading.Thread):
    """A file copied into `raw/` beside the reading of it (`finish` waits for it)."""

    def __init__(self, path: Path, copy: Path) -> None:
        super().__init__(name="profwork-import-copy", daemon=True)
        self.path, self.copy = path, copy
        self.error: OSError | None = None
        self.start()

    def run(self) -> None:
        try:
            shutil.copyfile(self.path, self.copy)
        except OSError as error:
            self.error = error

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise _unreadable(self.path, self.error)


def _unreadable(path: Path, error: OSError) -> ProfworkError:
    """Importing failed on a file: the disk's (writing raw/), or the profile's (reading it)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ProfworkError(
            f"cannot write the run of {path}: {error.strerror or error}",
            remedy="free some space, or give -o a directory on another file system",
            exit_code=1,
        )
    return InputError(
        f"{path}: cannot be read ({error.strerror or error})",
        remedy="give a readable profile file",
    )


def _copy(path: Path, raw_dir: Path) -> Path:
    """The file copied into `raw/` under its own name (a pipe or FIFO: what it gives)."""
    copy = raw_dir / _raw_name(path)
    try:
        if path.is_file():
            shutil.copyfile(path, copy)
        else:
            with path.open("rb") as source, copy.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except OSError as error:
        raise _unreadable(path, error) from None
    return copy
