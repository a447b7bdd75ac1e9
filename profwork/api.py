"""The Python API behind `import profwork` (DESIGN §6): the same power as the CLI, from a script,
a test or a notebook.

    run = profwork.run("scheduler", method="pyinstrument", size="small")
    run.profile.top(5, by="own")        # a Profile: views, DataFrame, callers/callees
    run                                 # in a notebook: verdict, summary table, flame graph

    with profwork.profile(method="cprofile") as p:
        work()
    p.profile.to_dataframe()

    profwork.load("profiling_results/scheduler/…")   # any run directory or profile file

Everything here goes through `pipeline` (the one place that knows the order of the arrows);
this module only shapes the results for Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.display import NotebookProfile
    from profwork.pipeline import RunResult
    from profwork.rundir import Manifest


@dataclass(frozen=True)
class Run:
    """A finished run: its directory, manifest, `Profile` and summary."""

    path: Path
    manifest: Manifest
    profile: NotebookProfile
    summary: Summary

    @property
    def status(self) -> str:
        """`ok`, `error` (the body raised) or `interrupted`."""
        return str(self.manifest.status)

    @property
    def error(self) -> str | None:
        return self.manifest.error

    def artefact(self, name: str) -> Path:
        """The path of one artefact of the run (`flame.svg`, `profile.pstats`, …)."""
        return self.path / name

    @classmethod
    def from_result(cls, result: RunResult) -> Run:
        from profwork.display import drawable

        return cls(result.path, result.manifest, drawable(result.profile), result.summary)

    @classmethod
    def open(cls, path: str | Path, *, top: int = 15) -> Run:
        """A run directory written earlier, analysed again."""
        from profwork.loading import summarise
        from profwork.rundir import Manifest

        directory = Path(path)
        manifest = Manifest.load(directory)
        from profwork.display import drawable

        profile, summary = summarise(directory, top=top)
        return cls(directory, manifest, drawable(profile), summary)

    def _repr_html_(self) -> str:
        from profwork.display import profile_html

        return profile_html(self.profile, self.summary, self.path)

    def __repr__(self) -> str:
        facts = f"{self.manifest.target} · {self.manifest.method} · {self.status}"
        return f"<profwork.Run {facts} · {self.path}>"


def run(
    target: str,
    *,
    method: str = "cprofile",
    size: str | None = None,
    params: Mapping[str, Any] | None = None,
    output: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    top: int = 15,
    module: bool = False,
    argv: tuple[str, ...] = (),
) -> Run:
    """Profile `target` (a registered target, `script.py`, `file.py:function`,
    `package.module:function`, or a module with `module=True`) with `method` and write its run
    directory under `output` (default `./profiling_results`), exactly as `profwork run` does.

    `params` are the target's parameters by name, typed from its signature (values may be given
    as Python values or as the strings `-p` takes); `options` are the method's options by name
    (`{"rate": 250}`, `{"threads": True}`, as `--rate`, `--threads` give them). A body that
    raises still gives a run, with `status == "error"`; bad input raises `ProfworkError`, with
    its remedy."""
    from profwork import pipeline

    given = {name: _as_text(value) for name, value in (params or {}).items()}
    result = pipeline.run(
        target,
        module=module,
        argv=argv,
        method=method,
        params=given,
        size=size,
        options=options,
        output=Path(output) if output is not None else None,
        top=top,
        command=["python", "-c", f"profwork.run({target!r}, method={method!r})"],
    )
    return Run.from_result(result)


def _as_text(value: Any) -> str:
    """A parameter value as `-p` would spell it (the target types it again)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load(path: str | Path) -> NotebookProfile:
    """Any run directory or profile file profwork reads (pstats, speedscope, folded stacks,
    pyinstrument session), as a `Profile` that also draws itself (`flame_svg()`, and its rich
    display in a notebook)."""
    from profwork.display import drawable
    from profwork.loading import load as load_path

    return drawable(load_path(Path(path)))
