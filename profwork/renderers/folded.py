"""`profile.folded`: folded (collapsed) stacks, one `frame;frame;frame weight` line per stack.

Spec: the input of Brendan Gregg's flamegraph.pl (github.com/brendangregg/FlameGraph, "the
folded format") and of inferno-flamegraph: frames root first, separated by `;`, then a space and
the weight. Each frame is `qualname (path:line)` (`Frame.label`, the spelling of py-spy's
`-f raw --function --full-filenames`); pseudo-frames (threads, processes) and native frames are
just their name. A `;` inside a name or path would split the frame, so it becomes `,`; line
breaks become spaces. Weights are integers, since inferno truncates fractions: microseconds for
seconds, bytes, or samples; a line that rounds to 0 is dropped. A stack with no frames (a sample
in no Python code) is a weight-only line, which flamegraph.pl, inferno and speedscope accept.
Lines are sorted, so equal profiles give equal files.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from profwork.model import Frame, Profile

if TYPE_CHECKING:
    from profwork.analyses import Summary

_SCALE = {"seconds": 1e6, "bytes": 1.0, "samples": 1.0}
_ESCAPES = str.maketrans({";": ",", "\n": " ", "\r": " "})


def frame_text(frame: Frame) -> str:
    """One frame as the folded format spells it."""
    return frame.label.translate(_ESCAPES)


class FoldedRenderer:
    name = "folded"
    filename = "profile.folded"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        scale = _SCALE[profile.unit]
        texts: dict[Frame, str] = {}
        lines: dict[str, float] = defaultdict(float)
        for stack, weight in profile.stacks.items():
            parts = []
            for frame in stack:
                text = texts.get(frame)
                if text is None:
                    text = texts[frame] = frame_text(frame)
                parts.append(text)
            lines[";".join(parts)] += weight
        out = []
        for text in sorted(lines):
            weight = round(lines[text] * scale)
            if weight < 1:
                continue
            out.append(f"{text} {weight}\n" if text else f"{weight}\n")
        return "".join(out).encode("utf-8", errors="replace")


RENDERER = FoldedRenderer()
