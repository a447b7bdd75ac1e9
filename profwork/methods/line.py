"""The `line` method: line_profiler on chosen functions, in process.

Functions are named with `--function module:function` or `--function file.py:function`
(repeatable). With none named, a quick cProfile pass of the target (setup, body and teardown,
unmeasured by line_profiler) picks the three hottest user functions line_profiler can reach,
and the manifest records them as if named (see `profwork.linetrace`). The profile holds one
stack per timed function (unit seconds); the per-line figures go to the summary's line section.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from profwork import linetrace, runner
from profwork.errors import MethodError
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOption, MethodOptions, RawArtefact, texts
from profwork.model import Profile, Unit
from profwork.targets import BoundTarget

FUNCTION = texts(
    "function",
    help="A function to time line by line (line; module:function or file.py:function; "
    "repeatable; default: the 3 hottest user functions).",
    metavar="FUNC",
    example="mypkg.orders:total",
)

NOTE = (
    "line timing: a line's time includes the calls made on it, so a timed function that calls "
    "another timed one counts in both; the stacks hold one frame per timed function"
)


def _quick_pass(bound: BoundTarget) -> Profile:
    """The target once under cProfile, for choosing the hottest functions."""
    from profwork.methods import cprofile, method_options

    with tempfile.TemporaryDirectory(prefix="profwork-line-") as scratch:
        raw = cprofile.METHOD.run(bound, Path(scratch), method_options(cprofile.METHOD))
        if raw.facts.status == "interrupted":
            raise KeyboardInterrupt
        return cprofile.METHOD.normalise(raw)


class LineMethod:
    name = "line"
    unit: Unit = "seconds"
    options: tuple[MethodOption[Any], ...] = (FUNCTION,)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        named = FUNCTION.of(options)
        notes: list[str] = []
        if named:
            with bound.environment():  # a script's directory on sys.path, as the body sees it
                chosen = [linetrace.resolve(spec) for spec in named]
            chosen_by = "named"
        else:
            chosen, skipped = linetrace.hottest(lambda: _quick_pass(bound))
            chosen_by = "hottest"
            if not chosen:
                raise MethodError(
                    "no user function that line_profiler can time was found in a cProfile pass"
                    + (f" (skipped: {', '.join(skipped[:5])})" if skipped else ""),
                    remedy="name the functions with --function module:function",
                )
            notes.append(
                "line timing of the hottest user functions of a quick cProfile pass: "
                + ", ".join(c.name for c in chosen)
                + (
                    f" (skipped, line_profiler cannot reach them: {', '.join(skipped[:5])})"
                    if skipped
                    else ""
                )
            )
        recorder = linetrace.LineRecorder(chosen)
        facts = runner.execute(bound, recorder, repeat=options.repeat)
        facts = dataclasses.replace(facts, notes=(*facts.notes, *notes))
        files = recorder.write(raw_dir)
        raw = RawArtefact(
            directory=raw_dir,
            format="line_profiler",
            files=files,
            facts=facts,
            meta={
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "options": options.to_json(),
                # the manifest records the functions timed, however they were chosen
                "options_used": {"function": [c.name for c in chosen]},
                "chosen_by": chosen_by,
                "rate": None,
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork.readers.lines import read_lines

        classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
        notes = [*raw.facts.notes, NOTE]
        path = raw.directory / linetrace.LINES_FILE
        if not path.exists():
            return Profile("seconds", {}, None, {"method": self.name, "notes": notes})
        part = read_lines(path, classifier=classifier)
        lines = {**part.metadata["lines"], "chosen_by": raw.meta.get("chosen_by", "named")}
        return Profile(
            unit="seconds",
            stacks=part.stacks,
            stats=None,
            metadata={
                **part.metadata,
                "lines": lines,
                **raw.run_metadata(self.name, rate=None, threads=1, notes=notes),
            },
        )


METHOD = LineMethod()
