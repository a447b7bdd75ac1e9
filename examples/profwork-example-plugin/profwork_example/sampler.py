"""The `sampler` method: a tiny pure-Python sampling profiler, as an example of a method.

A method is an object with a `name`, the `unit` of its profiles, the `options` it takes (declared
with `profwork.methods.flag`, `integer`, `number`, `text`, `texts`: `run --help` lists them, and
an option it does not declare is refused before anything runs), `run(bound, raw_dir, options)`,
which runs the target through `profwork.runner.execute` (setup, the body between the hook's
`start` and `stop`, teardown) and leaves its tool's output in `raw/` with the facts of the run
(`RawArtefact`), and `normalise(raw)`, which turns `raw/` into a `Profile`, again whenever the run
is reported later. It is registered in the `profwork.methods` entry-point group, so `run -m
sampler`, its options and `report RUN_DIR` find it.

How it samples: a thread wakes every interval (10 ms, or `--rate HZ`), reads the stack of the
thread that runs the body from `sys._current_frames()`, and counts it. Only that thread is seen
(like pyinstrument). Its raw output is folded stacks (`raw/sampler.folded`, one `frame;frame
count` line per distinct stack, each frame `qualname (path:line)`), a format profwork reads, so
normalising is `read_folded`, which also applies the stack rules (the frames of profwork's CLI and
runner above the body are trimmed).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from profwork import runner
from profwork.frames import Classifier, SysPaths
from profwork.methods import MethodOption, MethodOptions, RawArtefact, integer, sampling_rate
from profwork.model import Profile, Unit
from profwork.readers import read_folded
from profwork.targets import BoundTarget

FOLDED = "sampler.folded"
DEFAULT_INTERVAL = 0.01  # seconds: 100 Hz, py-spy's default rate
RATE = sampling_rate("100")  # `--rate HZ`: a positive finite number, None unless given


def _at_least_one(depth: int | None) -> int | None:
    if depth is not None and depth < 1:
        raise ValueError("is not a depth: give 1 or more frames")
    return depth


# An option of this method alone: `run -m sampler --max-depth 3`, listed by `run --help`.
MAX_DEPTH = integer(
    "max-depth",
    help="Keep the N innermost frames of each sample (default: every frame).",
    example="20",
    check=_at_least_one,
)
# `;` separates frames and a line ends a stack: neither may appear inside one
_FOLDED_ESCAPES = str.maketrans({";": ",", "\n": " ", "\r": " "})


class _Sampler(runner.Hook):
    """The runner's hook: `start` (called in the body's thread, right before the body) starts
    the sampling thread, `stop` ends it. (`runner.Hook` declares `before_body`/`after_body`
    too, which do nothing unless overridden.)"""

    def __init__(self, interval: float, depth: int | None) -> None:
        self.interval = interval
        self.depth = depth
        self.counts: Counter[str] = Counter()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        body = threading.get_ident()
        self._thread = threading.Thread(target=self._sample, args=(body,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self, body: int) -> None:
        while not self._stopped.wait(self.interval):
            frame = sys._current_frames().get(body)
            # a sample taken as the body ends, in `stop`, is the sampler's, not the body's
            if frame is not None and frame.f_code.co_filename != __file__:
                self.counts[_folded(frame, self.depth)] += 1

    def folded(self) -> str:
        return "".join(f"{stack} {count}\n" for stack, count in sorted(self.counts.items()))


def _folded(frame: FrameType | None, depth: int | None) -> str:
    labels: list[str] = []
    while frame is not None and (depth is None or len(labels) < depth):
        code = frame.f_code
        label = f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
        labels.append(label.translate(_FOLDED_ESCAPES))
        frame = frame.f_back
    return ";".join(reversed(labels))


class SamplerMethod:
    name = "sampler"
    unit: Unit = "seconds"
    options: tuple[MethodOption[Any], ...] = (RATE, MAX_DEPTH)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        rate = RATE.of(options)  # parsed and checked already
        interval = 1.0 / rate if rate else DEFAULT_INTERVAL
        sampler = _Sampler(interval, MAX_DEPTH.of(options))
        facts = runner.execute(bound, sampler)
        (raw_dir / FOLDED).write_text(sampler.folded(), encoding="utf-8")
        raw = RawArtefact(
            directory=raw_dir,
            format="folded",
            files=(FOLDED,),
            facts=facts,
            meta={
                # where the profiled interpreter's stdlib and site-packages are: frame kinds
                "sys_paths": SysPaths.current(bound.target.user_paths).to_json(),
                "rate": 1.0 / interval,
                "interval": interval,
            },
        )
        raw.save()  # raw/meta.json: what `normalise` needs when the run is reported later
        return raw

    def normalise(self, raw: RawArtefact) -> Profile:
        profile = read_folded(
            raw.directory / FOLDED,
            classifier=Classifier(SysPaths.from_json(raw.meta["sys_paths"])),
            unit="seconds",
            scale=raw.meta["interval"],  # a sample stands for one interval
            threads=False,
            qualified=True,  # co_qualname already
        )
        notes = [*raw.facts.notes, "the sampler sees only the thread that runs the body"]
        return Profile(
            unit="seconds",
            stacks=profile.stacks,
            metadata={
                **profile.metadata,
                "stacks": "sampled",
                **raw.run_metadata(self.name, rate=raw.meta["rate"], threads=1, notes=notes),
            },
        )


METHOD = SamplerMethod()
