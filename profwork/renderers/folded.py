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
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, BinaryIO

from profwork.flatstacks import FlatStacks
from profwork.model import Frame, Profile

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


def frame_text(frame: Frame) -> str:
    """One frame as the folded format spells it."""
    return frame.label.translate(_ESCAPES)


class FoldedRenderer:
    name = "folded"
    filename = "profile.folded"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        out = io.BytesIO()
        self.stream(profile, summary, out)
        return out.getvalue()

    def stream(self, profile: Profile, summary: Summary, out: BinaryIO) -> None:
        """Write the lines to `out` a batch at a time, from the stack table: each distinct lead
        and body is spelt once, and a long recording's file (hundreds of megabytes) is never
        held in memory. Lines are ordered by their frames' texts, compared frame by frame,
        through integer ranks rather than the texts."""
        scale = _SCALE[profile.unit]
        table = profile.stack_table()
        assert isinstance(table, FlatStacks)
        texts = [frame_text(frame) for frame in table.frames]
        unique = sorted(set(texts))
        position = {text: rank for rank, text in enumerate(unique)}
        rank_of = [position[text] for text in texts].__getitem__
        leads = [tuple(map(rank_of, ids)) for ids in table.leads]
        bodies = [tuple(map(rank_of, ids)) for ids in table.bodies]
        entries = zip(table.lead, table.body, table.weight, strict=True)
        ordered: list[tuple[Any, int, int, float]]
        if len({len(ids) for ids in leads}) <= 1:
            # every lead as long: ordered by lead, then by the body's place among the bodies
            # (equal spellings share a place), without a tuple of ranks per stack
            places = _places(bodies)
            ordered = sorted(
                (
                    ((leads[lead], places[body]), body, lead, weight)
                    for lead, body, weight in entries
                ),
                key=itemgetter(0),  # stable: equal stacks add up in the profile's order
            )
        else:
            ordered = sorted(
                (
                    (leads[lead] + bodies[body], body, lead, weight)
                    for lead, body, weight in entries
                ),
                key=itemgetter(0),
            )
        text_of = unique.__getitem__
        # each lead's and each shared body's text, spelt once (keys: `~lead`, `body`); a body's
        # is dropped after its last line, and one only stack has is never kept
        spelt: dict[int, bytes] = {}
        left = [0] * len(bodies)
        for body in table.body:
            left[body] += 1

        def spelling(key: int, ranks: tuple[int, ...], keep: bool) -> bytes:
            text = spelt.get(key)
            if text is None:
                text = ";".join(map(text_of, ranks)).encode("utf-8", "replace")
                if keep:
                    spelt[key] = text
            return text

        batch: list[bytes] = []
        size = 0
        for _, group in groupby(ordered, key=itemgetter(0)):
            items = list(group)
            _, body, lead, _ = items[0]
            weight = round(sum(item[3] for item in items) * scale)
            if weight >= 1:
                head = spelling(~lead, leads[lead], True) if leads[lead] else b""
                tail = spelling(body, bodies[body], left[body] > 1) if bodies[body] else b""
                if head and tail:
                    line = b"%s;%s %d\n" % (head, tail, weight)
                elif head or tail:
                    line = b"%s %d\n" % (head or tail, weight)
                else:
                    line = b"%d\n" % weight
                batch.append(line)
                size += len(line)
                if size >= _BATCH:
                    out.write(b"".join(batch))
                    batch, size = [], 0
            for item in items:
                left[item[1]] -= 1
                if not left[item[1]]:
                    spelt.pop(item[1], None)
        if batch:
            out.write(b"".join(batch))


def _places(bodies: list[tuple[int, ...]]) -> list[int]:
    """Each body's place in the order of the bodies' ranks (equal ranks, one place)."""
    order = sorted(range(len(bodies)), key=bodies.__getitem__)
    places = [0] * len(bodies)
    place = -1
    previous: tuple[int, ...] | None = None
    for body in order:
        if bodies[body] != previous:
            place += 1
            previous = bodies[body]
        places[body] = place
    return places


_BATCH = 1 << 20


RENDERER = FoldedRenderer()
