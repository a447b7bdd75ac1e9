"""The `pyinstrument` method: statistical, low-overhead, async-aware sampling in process.

pyinstrument samples only the thread that starts it (its issue #26), so threads the body starts
are not seen; the summary says so. Its session JSON is kept in `raw/` (not its HTML renderer's
output, which does not escape profiled names inside `<script>`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from profwork import runner
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOption, MethodOptions, RawArtefact, sampling_rate
from profwork.model import Profile, Unit
from profwork.targets import BoundTarget

if TYPE_CHECKING:
    from pyinstrument.session import Session

SESSION = "pyinstrument.json"
DEFAULT_INTERVAL = 0.001  # pyinstrument's own default
RATE = sampling_rate("1000, pyinstrument's 1 ms interval")


def save_session(session: Session, path: Path) -> None:
    """Save pyinstrument's session in its own format (`pyinstrument --load` reads it), with the
    records of equal stacks merged: pyinstrument keeps one record per sample, full stack each,
    so a few seconds of a server made 34 MB where its 1,334 distinct stacks take 7 MB. Only
    pyinstrument's timeline view needs each sample; every total is the same. The session's
    records are merged in place (profwork's own session, saved once)."""
    merged: dict[tuple[str, ...], float] = {}
    for stack, seconds in session.frame_records:
        key = tuple(stack)
        merged[key] = merged.get(key, 0.0) + seconds
    session.frame_records = [(list(stack), seconds) for stack, seconds in merged.items()]
    session.save(str(path))


class _Sampler(runner.Hook):
    def __init__(self, interval: float) -> None:
        from pyinstrument import Profiler

        self.profiler = Profiler(interval=interval, async_mode="enabled")

    def start(self) -> None:
        self.profiler.start()

    def stop(self) -> None:
        if self.profiler.is_running:
            self.profiler.stop()


class PyinstrumentMethod:
    name = "pyinstrument"
    unit: Unit = "seconds"
    options: tuple[MethodOption[Any], ...] = (RATE,)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        rate = RATE.of(options)
        interval = 1.0 / rate if rate else DEFAULT_INTERVAL
        sampler = _Sampler(interval)
        facts = runner.execute(bound, sampler, repeat=options.repeat)
        files: tuple[str, ...] = ()
        if sampler.profiler.last_session is not None:
            save_session(sampler.profiler.last_session, raw_dir / SESSION)
            files = (SESSION,)
        raw = RawArtefact(
            directory=raw_dir,
            format="pyinstrument",
            files=files,
            facts=facts,
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "options": options.to_json(),
                "rate": 1.0 / interval,
                "interval": interval,
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork import readers

        classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
        session = raw.directory / SESSION
        notes = [
            *raw.facts.notes,  # the runner's (os._exit(0), …)
            "pyinstrument samples only the thread that runs the body; threads it starts are "
            "not seen (use -m cprofile or -m pyspy for those)",
        ]
        if not session.exists():
            return Profile("seconds", {}, None, {"method": self.name, "notes": notes})
        part = readers.read_pyinstrument(
            session,
            classifier=classifier,
            threads=bool(raw.meta.get("options", {}).get("threads")),
        )
        return Profile(
            unit="seconds",
            stacks=part.stacks,
            stats=None,
            metadata={
                **part.metadata,
                **raw.run_metadata(
                    self.name,
                    rate=raw.meta.get("rate"),
                    threads=1,
                    notes=[*part.metadata.get("notes", ()), *notes],
                ),
                "stacks": "sampled",
            },
        )


METHOD = PyinstrumentMethod()
