"""The `pyspy` method: sampling from outside the process with py-spy, and attaching to live ones.

`run`: the target runs in a child process (`profwork.child`). The child does its setup and
reports ready; py-spy attaches by PID; the body is released only once py-spy samples: after its
`Sampling process …` banner on stdout, its first sample of the waiting process
(`Recorder.wait_first_sample`, ~1/rate later); when the body ends (returns, raises or is
interrupted), the child reports done, py-spy is stopped with SIGINT (it then writes its file) and
only then does the child run its teardown. So neither setup nor teardown is ever sampled. A setup
that fails is one error and no run, as in process.

`attach` (the `Attachable` protocol): records a running process until a duration, its exit or
Ctrl-C; `dump`: every thread's current stack.

py-spy records as `-f raw --function --full-filenames --threads`: one frame per function at its
first line, qualified names, full paths, and a `thread (TID): NAME` root on every stack, kept or
dropped by the one thread rule (DESIGN §1). Its raw output is the folded format, read by
`readers.read_folded` like any folded file. The binary, its command lines, its errors and the
recorder are `pyspy_tool`'s; what is known of a process is `profwork.processes`'.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from profwork import signals
from profwork.child import GRACE, TEARDOWN_TIMEOUT, Child, Word
from profwork.errors import TargetSetupError
from profwork.facts import RunFacts
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOptions, RawArtefact
from profwork.methods.pyspy_tool import (
    DEFAULT_RATE,
    OPTIONS,
    RATE,
    Recorder,
    binary,
    rate_argument,
    record_command,
)
from profwork.methods.pyspy_tool import dump as dump_threads
from profwork.model import FrameKind, Profile, Stack, Unit
from profwork.processes import ThreadDump, interpreter_paths, require_process
from profwork.runner import SETUP_REMEDY
from profwork.targets import BoundTarget

RECORDING = "pyspy.txt"
CHILD_RESULT = "child.json"


class PyspyMethod:
    name = "pyspy"
    unit: Unit = "seconds"
    options = OPTIONS

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        binary()  # fail before starting anything when py-spy is missing
        child = Child(bound, raw_dir / CHILD_RESULT, options.repeat)
        recorder: Recorder | None = None
        interrupts: list[KeyboardInterrupt] = []
        went = ended = None  # when the body was released, and when it ended
        first_sample: float | None = None  # seconds from py-spy's banner to its first sample
        paths: dict[str, Any] = {}
        done = killed = False
        try:
            try:
                # while the target's process starts: what the rest of the run needs
                paths = SysPaths.current(bound.target.user_paths).to_json()
                _load_the_rest()
                if child.hear() == Word.READY:
                    recorder = Recorder.start(
                        record_command(child.process.pid, raw_dir / RECORDING, options, None),
                        child.process.pid,
                    )
                    recorder.wait_sampling()
                    # its banner says py-spy has attached and started its timer: the body
                    # goes once a first sample of the waiting process shows that it samples
                    first_sample = recorder.wait_first_sample()
                    signals.check()  # a Ctrl-C swallowed here so far still interrupts
                    went = time.perf_counter()
                    child.say(Word.GO)
                    done = child.hear() == Word.DONE  # EOF: the child died in its body
                    ended = time.perf_counter()
            except KeyboardInterrupt as exc:
                # Ctrl-C (or SIGTERM, SIGHUP): interrupt the body as Ctrl-C would have
                interrupts.append(exc)
                child.interrupt()
                try:
                    word = child.hear(GRACE)
                except KeyboardInterrupt as again:  # pressed again: stop waiting for the body
                    interrupts.append(again)
                    word = None
                ended = time.perf_counter()
                if word is None:  # the body did not stop: end it, keep what was sampled
                    child.kill()
                    killed = True
                done = word == Word.DONE
            if recorder is not None:
                recorder.stop(interrupts)
            child.say(Word.TEARDOWN)
            killed = not child.wait(interrupts) or killed
        except BaseException:
            child.kill()
            if recorder is not None:
                recorder.kill()
            child.close()
            raise
        child.close()
        duration = None if went is None or ended is None else ended - went
        facts = child.facts()
        if facts is not None and facts.setup_failed:  # one error and no run, as in process
            raise TargetSetupError(facts.error or "the setup failed", remedy=SETUP_REMEDY)
        if facts is not None:
            facts = replace(facts, duration=facts.duration or duration)
        elif done:
            facts = RunFacts(
                status="error",
                duration=duration,
                error=f"the target's teardown did not end within {TEARDOWN_TIMEOUT:g} s; "
                "its process was killed"
                if killed
                else f"the target process ended during its teardown ({child.how_it_ended()})",
            )
        else:
            facts = RunFacts(
                status="error",
                duration=duration,
                error=f"the target process ended before its body finished ({child.how_it_ended()})",
            )
        if interrupts:
            error = signals.describe(interrupts[0])
            if killed:
                error += f"; the target process did not stop within {GRACE:g} s and was killed"
            facts = replace(facts, status="interrupted", error=error)
        return self._artefact(
            raw_dir,
            options,
            facts,
            {
                "sys_paths": paths or SysPaths.current(bound.target.user_paths).to_json(),
                "first_sample": first_sample,
            },
        )

    def attach(
        self,
        pid: int,
        raw_dir: Callable[[], Path],
        options: MethodOptions,
        duration: float | None,
    ) -> RawArtefact:
        """Record a running process for `duration` seconds, until it exits, or until Ctrl-C
        (or SIGTERM, SIGHUP). Nothing is written until py-spy has recorded: the recording goes
        to a staging directory and, once it is over, into the `raw_dir()` it asks for then."""
        require_process(pid)
        paths = interpreter_paths(pid)
        staging = Path(tempfile.mkdtemp(prefix="profwork-attach-"))
        recorder: Recorder | None = None
        try:
            recorder = Recorder.start(
                record_command(pid, staging / RECORDING, options, duration), pid
            )
            recorder.wait_sampling()
            interrupted: KeyboardInterrupt | None = None
            try:
                window = recorder.wait()
            except KeyboardInterrupt as exc:
                window = recorder.stop()
                # without a duration, Ctrl-C is how a recording normally ends
                if duration is not None:
                    interrupted = exc
            exited = recorder.process_exited
            directory = raw_dir()
            for name in os.listdir(staging):
                shutil.move(staging / name, directory / name)
        except BaseException:
            if recorder is not None and recorder.process.poll() is None:
                recorder.kill()
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        facts = RunFacts(
            status="ok" if interrupted is None else "interrupted",
            duration=window,
            error=None if interrupted is None else signals.describe(interrupted),
            notes=(f"the process exited after {window:.1f} s of recording",) if exited else (),
        )
        meta = {"sys_paths": paths.to_json(), "pid": pid, "process_exited": exited}
        return self._artefact(directory, options, facts, meta)

    def dump(self, pid: int) -> list[ThreadDump]:
        """The current stack of every thread of a running process (`py-spy dump`)."""
        return dump_threads(pid)

    def _artefact(
        self, raw_dir: Path, options: MethodOptions, facts: RunFacts, meta: dict[str, Any]
    ) -> RawArtefact:
        files = tuple(n for n in (RECORDING, CHILD_RESULT) if (raw_dir / n).exists())
        raw = RawArtefact(
            directory=raw_dir,
            format="pyspy-raw",
            files=files,
            facts=facts,
            meta={
                **meta,
                "rate": rate_argument(RATE.of(options)),
                "options": options.to_json(),
            },
        )
        raw.save()
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        from profwork import readers

        rate = float(raw.meta.get("rate") or DEFAULT_RATE)
        notes = list(raw.facts.notes)
        recording = raw.directory / RECORDING
        stacks: Mapping[Stack, float] = {}
        if recording.exists() and recording.stat().st_size:
            classifier = Classifier(SysPaths.from_json(raw.meta["sys_paths"]))
            part = readers.read_folded(
                recording,
                classifier=classifier,
                unit="seconds",
                scale=1.0 / rate,
                threads=bool(raw.meta.get("options", {}).get("threads")),
            )
            stacks = part.stacks  # the reader's stack table, kept (a long recording's is big)
            if "pid" in raw.meta:  # attached: profwork's own process has no runner marker
                stacks = _without_profwork_entry(dict(stacks))
        elif raw.facts.status == "ok":
            notes.append("py-spy recorded no samples (the body may have been too short)")
        threads = Profile(unit="seconds", stacks=stacks).threads  # the pseudo-frames rooting stacks
        return Profile(
            unit="seconds",
            stacks=stacks,
            stats=None,
            metadata={
                **raw.run_metadata(self.name, rate=rate, threads=max(1, len(threads)), notes=notes),
                "stacks": "sampled",
            },
        )


def _load_the_rest() -> None:
    """Import what the rest of the run will need: py-spy's reader, the analyses and every
    renderer (jinja2 for `report.html`), ~45 ms that would otherwise follow the body. Called
    while the target's process starts (~80 ms of its own imports and setup), so that the two
    overlap on a machine with a core to spare. A Ctrl-C meanwhile interrupts as it would
    during the wait for the target."""
    import jinja2  # noqa: F401 - imported by `report.html`'s renderer when it renders

    from profwork.analyses import bottlenecks, verdict  # noqa: F401
    from profwork.readers import folded  # noqa: F401 - `normalise`
    from profwork.renderers import RENDERERS

    for name in RENDERERS:
        RENDERERS.get(name)


def _without_profwork_entry(stacks: dict[Stack, float]) -> dict[Stack, float]:
    """An attached process may be profwork's own (`profwork serve`, a `profwork run`): its
    entry (a console script's or `-m`'s `<module>`), CLI, `serve` and runner are above the
    body, as in a run. Each stack loses everything up to its last profwork frame reached
    before any user code (the root `<module>` that calls profwork is profwork's entry); a stack
    that is all above the body is dropped. Profwork code that user code calls stays."""
    out: dict[Stack, float] = {}
    for stack, weight in stacks.items():
        lead = 0
        while lead < len(stack) and stack[lead].is_pseudo:
            lead += 1
        cut = None
        for index in range(lead, len(stack)):
            kind = stack[index].kind
            if kind is FrameKind.PROFWORK:
                cut = index
            elif kind is FrameKind.USER and not (
                index == lead
                and stack[index].function == "<module>"
                and index + 1 < len(stack)
                and stack[index + 1].kind is FrameKind.PROFWORK
            ):
                break
        if cut is not None:
            if cut == len(stack) - 1:
                continue
            stack = stack[:lead] + stack[cut + 1 :]
        out[stack] = out.get(stack, 0.0) + weight
    return out


METHOD = PyspyMethod()
