"""Runs and profile files read back: `load` (a `Profile`), `summarise` (with its `Summary`,
as a fresh run would be analysed) and `convert` (one artefact of either, written safely).

The second half of `pipeline` for what was recorded before: a run directory is normalised again
by the method that recorded it, a profile file is read by `profwork.readers`; the artefacts are
written by `pipeline.write_artefacts`, the code a run writes its own with.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from profwork import rundir, sqlcapture
from profwork.analyses import Summary, analyse
from profwork.errors import ProfworkError
from profwork.methods import N1_THRESHOLD, Method, RawArtefact, get_method
from profwork.model import Profile
from profwork.pipeline import Stage, fewer_collections, n1_threshold_of, quiet, write_artefacts
from profwork.renderers import OptionalRenderer, get_renderer
from profwork.rundir import Manifest, is_run

if TYPE_CHECKING:
    from profwork.readers.source import InputUnit


def load(path: Path, *, unit: InputUnit | None = None) -> Profile:
    """Any run directory or profile file profwork reads, as a `Profile`. A profile file is read
    by `profwork.readers` (`unit`: what a file without a unit holds, see `--unit`); a run
    directory is normalised again by the method that recorded it."""
    from profwork import readers

    path = Path(path)
    if is_run(path):
        return _normalise_again(path, unit)
    return readers.read(path, unit=unit)


def _normalise_again(path: Path, unit: InputUnit | None) -> Profile:
    from profwork.errors import InputError

    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        method = manifest["method"]
        if isinstance(method, dict):  # a manifest may record the method with its options
            method = method["name"]
        if method in ("bench", "compare"):  # runs of figures, with no profile of their own
            what = "bench.json" if method == "bench" else "compare.json and report.html"
            raise InputError(
                f"{path} is a {method} run: it holds no profile to summarise",
                remedy=f"read its {what}, or give it to `profwork compare`",
            )
        if method == "scale":  # links to a run per size, and the fit
            raise InputError(
                f"{path} is a scale run: it holds no profile of its own",
                remedy="read its summary.md or report.html, or report one of the runs it links",
            )
        raw = RawArtefact.load(path / "raw")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path}: an incomplete or corrupt run directory ({type(error).__name__}: {error})",
            remedy="give a complete run directory, or one of its profile files",
        ) from None
    normaliser: Method
    if method == "import":  # a profile file made a run (`profwork import`)
        from profwork.importing import METHOD as normaliser
    else:
        normaliser = get_method(str(method))
    try:
        profile = normaliser.normalise(raw)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise InputError(
            f"{path}: its raw/ files cannot be normalised ({type(error).__name__}: {error})",
            remedy="give a complete run directory, or one of its profile files",
        ) from None
    if unit is not None and unit != {"seconds": "s"}.get(profile.unit, profile.unit):
        raise InputError(
            f"{path}: the run records its unit ({profile.unit}), so --unit {unit} does not apply",
            remedy="drop --unit: it is for files that carry no unit (folded stacks)",
        )
    metadata = {**profile.metadata, "source": str(path), "format": "run"}
    return dataclasses.replace(profile, metadata=metadata)


def summarise(
    path: Path, *, top: int = 15, unit: InputUnit | None = None
) -> tuple[Profile, Summary]:
    """Read a run or a profile file and analyse it, as a fresh run would be."""
    with fewer_collections():
        return _summarise(path, top=top, unit=unit)


def _summarise(path: Path, *, top: int, unit: InputUnit | None) -> tuple[Profile, Summary]:
    profile = load(path, unit=unit)
    metrics: Mapping[str, Mapping[str, float]] = {}
    queries = None
    threshold = N1_THRESHOLD.default
    if is_run(path):
        manifest = Manifest.load(path)
        # a figure recorded as null was not a finite number: shown as a fresh run shows it
        metrics = {
            name: {k: math.nan if v is None else v for k, v in figures.items()}
            for name, figures in manifest.target_metrics.items()
        }
        profile = dataclasses.replace(
            profile, metadata={**profile.metadata, "target": manifest.target}
        )
        queries = sqlcapture.load(path)
        threshold = n1_threshold_of(manifest.options)
    return profile, analyse(
        profile, top=top, target_metrics=metrics, queries=queries, n1_threshold=threshold
    )


def convert(
    path: Path,
    to: str,
    output: Path | None = None,
    *,
    top: int = 15,
    unit: InputUnit | None = None,
    on_note: Stage = quiet,
) -> Path:
    """Write one artefact of `path` in the format `to`; returns where it went. `on_note` is told
    when sample counts go into pstats' seconds fields.

    A finished run is never modified: without `output`, a run directory (or a file inside one)
    is refused, and a profile file elsewhere gets its conversion beside it under the format's
    name (`x.pstats` → `x.speedscope.json`) unless that name is taken. The file is written to a
    temporary name in its directory and renamed into place, so a full disk never leaves a
    truncated file at `output`; a device (`/dev/null`, `/dev/stdout`) is written directly."""
    with fewer_collections():
        return _convert(path, to, output, top=top, unit=unit, on_note=on_note)


def _convert(
    path: Path,
    to: str,
    output: Path | None,
    *,
    top: int,
    unit: InputUnit | None,
    on_note: Stage,
) -> Path:
    renderer = get_renderer(to)
    output = _conversion_output(path, renderer.filename, output)
    profile, summary = _summarise(path, top=top, unit=unit)
    if isinstance(renderer, OptionalRenderer) and not renderer.applies(profile, summary):
        # nothing to write (memory.json of a run without memory figures): no empty file
        raise ProfworkError(
            f"{path} has nothing to write as {renderer.filename}: "
            + getattr(renderer, "needs", f"--to {to} applies to some runs only"),
            remedy=getattr(renderer, "remedy", "choose another format with --to"),
        )
    try:
        with rundir.replacing(output) as out:
            write_artefacts(profile, summary, lambda _: _kept_open(out), names=[renderer.name])
    except OSError as exc:
        raise ProfworkError(
            f"cannot write {output}: {exc.strerror or exc}",
            remedy="free some space, or choose another place with -o OUT",
            exit_code=1,
        ) from None
    if profile.unit == "samples" and renderer.name == "pstats":
        from profwork.readers.source import SAMPLES_NOTE

        on_note(SAMPLES_NOTE)
    return output


def _run_holding(path: Path) -> Path | None:
    """The run directory `path` is in (or is), if any."""
    for candidate in (path, *path.parents):
        if is_run(candidate):
            return candidate
    return None


def _conversion_output(path: Path, filename: str, output: Path | None) -> Path:
    if output is None:
        run = _run_holding(path.resolve())
        if run is not None:
            raise ProfworkError(
                f"{run} is a finished run, which profwork never modifies",
                remedy=f"name the output, e.g. -o {filename}",
            )
        suffix = "".join(Path(filename).suffixes)
        output = path.with_name(path.name.split(".")[0] + suffix)
        if output.exists() or output.is_symlink():
            raise ProfworkError(
                f"{output} already exists", remedy="name the output with -o OUT (it is replaced)"
            )
    if output.is_dir():
        output = output / filename
    run = _run_holding(output.resolve().parent)
    if run is not None:
        raise ProfworkError(
            f"{output} is inside the finished run {run}, which profwork never modifies",
            remedy="write it somewhere else with -o OUT",
        )
    if output.exists() and output.resolve() == path.resolve():
        raise ProfworkError(
            f"converting {path} to itself would overwrite it", remedy="name the output with -o OUT"
        )
    if not output.parent.is_dir():
        raise ProfworkError(
            f"cannot write {output}: {output.parent} is not a directory",
            remedy=f"create it first (mkdir -p {output.parent}) or choose another -o OUT",
        )
    return output


@contextmanager
def _kept_open(out: BinaryIO) -> Iterator[BinaryIO]:
    """`out` for `write_artefacts`, which closes what it is given; `_replacing` closes it."""
    yield out
