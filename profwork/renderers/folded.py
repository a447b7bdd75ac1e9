"""`profile.folded`: folded (collapsed) stacks, one `frame;frame;frame weight` line per stack.

Spec: the input of Brendan Gregg's flamegraph.pl (github.com/brendangregg/FlameGraph, "the
folded format") and of inferno-flamegraph: frames root first, separated by `;`, then a space and
the weight. Each frame is `qualname (path:line)` (`Frame.label`, the spelling of py-spy's
`-f raw --function --full-filenames`); pseudo-frames (threads, processes) and native frames are
just their name. A `;` inside a name or path would split the frame, so it becomes `,`; line
breaks become spaces; other control characters (a NUL is legal in `co_name`, and makes a file
binary to every reader) become their visible Unicode symbols (`␀` for NUL). Weights are
integers, since inferno truncates fractions: microseconds for seconds, bytes, or samples; a line
that rounds to 0 is dropped. The file carries no unit and no comment (flamegraph.pl warns about
any line that is not a stack): readers take the unit from `--unit` or the run's manifest. A
stack with no frames (a sample in no Python code) is a weight-only line, which flamegraph.pl,
inferno and speedscope accept.
Lines are ordered by their frames' texts, frame by frame, so equal profiles give equal files.
"""

from __future__ import annotations

import io
import weakref
from itertools import chain, groupby
from operator import itemgetter
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from profwork.model import Frame, FrameKind, Profile

if TYPE_CHECKING:
    from profwork.analyses import Summary

_SCALE = {"seconds": 1e6, "bytes": 1.0, "samples": 1.0}
_ESCAPES = str.maketrans(
    {
        **{chr(code): chr(0x2400 + code) for code in range(0x20) if chr(code) != "\t"},
        "\x7f": "\u2421",
        ";": ",",
        "\n": " ",
        "\r": " ",
    }
)
_PSEUDO = (FrameKind.THREAD, FrameKind.PROCESS)


def frame_text(frame: Frame) -> str:
    """One frame as the folded format spells it."""
    return frame.label.translate(_ESCAPES)


class NumberedStacks(NamedTuple):
    """A profile's stacks as tuples of frame numbers, shared by the stack-based renderers.

    `frames` lists the distinct frames, the `real` ones (not pseudo) first, so that a stack
    without its leading pseudo-frames (`numbers[lead:]`) only holds numbers below `real`.
    `stacks` follows the profile's own order: (numbers, lead, weight)."""

    frames: list[Frame]
    real: int
    stacks: list[tuple[tuple[int, ...], int, float]]


_last: tuple[weakref.ref[Profile], NumberedStacks] | None = None


def number_stacks(profile: Profile) -> NumberedStacks:
    """The profile's stacks numbered (cached for the last profile, which the pipeline hands to
    each renderer in turn).

    A long recording has millions of frame occurrences. They are numbered once, looked up by
    `id` (in C, where a lookup by frame runs `Frame.__hash__` each time); the ids are stable
    while the profile holds its frames. Equal frames share a number even as different objects.
    """
    global _last
    if _last is not None and _last[0]() is profile:
        return _last[1]
    occurrences = list(chain.from_iterable(profile.stacks))
    objects = dict(zip(map(id, occurrences), occurrences, strict=True))
    del occurrences
    distinct: dict[Frame, list[int]] = {}
    for key, frame in objects.items():
        distinct.setdefault(frame, []).append(key)
    ordered = sorted(distinct, key=lambda frame: frame.kind in _PSEUDO)  # stable: real first
    by_id: dict[int, int] = {}
    for number, frame in enumerate(ordered):
        for key in distinct[frame]:
            by_id[key] = number
    number_of = by_id.__getitem__
    stacks = []
    for stack, weight in profile.stacks.items():
        lead = 0
        while lead < len(stack) and stack[lead].kind in _PSEUDO:
            lead += 1
        stacks.append((tuple(map(number_of, map(id, stack))), lead, weight))
    real = sum(1 for frame in ordered if frame.kind not in _PSEUDO)
    numbered = NumberedStacks(ordered, real, stacks)
    _last = (weakref.ref(profile), numbered)
    return numbered


class FoldedRenderer:
    name = "folded"
    filename = "profile.folded"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        out = io.BytesIO()
        self.stream(profile, summary, out)
        return out.getvalue()

    def stream(self, profile: Profile, summary: Summary, out: BinaryIO) -> None:
        """Write the lines to `out` one by one: a long recording's file is hundreds of
        megabytes, which this never holds in memory (lines are ordered by their frames'
        texts, compared frame by frame, through integer ranks rather than the texts)."""
        scale = _SCALE[profile.unit]
        numbered = number_stacks(profile)
        texts = [frame_text(frame) for frame in numbered.frames]
        unique = sorted(set(texts))
        position = {text: rank for rank, text in enumerate(unique)}
        rank_of = [position[text] for text in texts].__getitem__
        ranked = sorted(
            ((tuple(map(rank_of, numbers)), weight) for numbers, _, weight in numbered.stacks),
            key=itemgetter(0),
        )
        text_of = unique.__getitem__
        write = out.write
        for key, group in groupby(ranked, key=itemgetter(0)):
            weight = round(sum(w for _, w in group) * scale)
            if weight >= 1:
                stack = ";".join(map(text_of, key))
                line = f"{stack} {weight}\n" if stack else f"{weight}\n"
                write(line.encode("utf-8", errors="replace"))


RENDERER = FoldedRenderer()
