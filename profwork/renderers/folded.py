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
from itertools import chain, compress, groupby, islice, repeat
from operator import add, ge, itemgetter, mul
from typing import TYPE_CHECKING, Any, BinaryIO

from profwork.flatstacks import FlatStacks, stack_table
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
        table = stack_table(profile)
        texts = [frame_text(frame) for frame in table.frames]
        unique = sorted(set(texts))
        position = {text: rank for rank, text in enumerate(unique)}
        rank_of = [position[text] for text in texts].__getitem__
        leads = [tuple(map(rank_of, ids)) for ids in table.leads]
        bodies = [tuple(map(rank_of, ids)) for ids in table.bodies]
        text_of = unique.__getitem__

        def spelt(ranks: tuple[int, ...]) -> bytes:
            return ";".join(map(text_of, ranks)).encode("utf-8", "replace")

        entries = zip(table.lead, table.body, table.weight, strict=True)
        ordered: list[tuple[Any, int, int, float]]
        if len({len(ids) for ids in leads}) <= 1:
            # every lead as long: ordered by the lead's place among the leads, then the body's
            # (equal spellings share a place), one integer per stack
            lead_places, body_places = _places(leads), _places(bodies)
            width = len(bodies)
            rooted = bool(leads and leads[0])
            if (
                len(unique) == len(texts)
                and 2 * len(bodies) <= len(table.body)
                and (rooted or all(bodies))
            ):
                # no two stacks spelt alike, and bodies shared by several stacks (a recording
                # of several processes): every line in C, each body spelt once (with the `;`
                # after the lead, so that a stack of roots alone is its lead and weight)
                head_places = map(mul, map(lead_places.__getitem__, table.lead), repeat(width))
                keys = list(map(add, head_places, map(body_places.__getitem__, table.body)))
                heads = list(map(spelt, leads))
                ends = [
                    b";" + spelt(ranks) if ranks and rooted else spelt(ranks) for ranks in bodies
                ]
                _write_lines(out, table, keys, heads, ends, scale)
                return
            ordered = sorted(
                (
                    (lead_places[lead] * width + body_places[body], body, lead, weight)
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
        left = [0] * len(bodies)  # the lines still to write with each body
        for body in table.body:
            left[body] += 1
        if len(unique) != len(texts):  # frames spelt alike: their stacks are one line
            ordered = _merged(ordered, left)
        heads = [spelt(ranks) for ranks in leads]  # each lead's text, once
        # each shared body's text, spelt once and dropped after its last line (a body only one
        # stack has is never kept)
        tails: list[bytes | None] = [None] * len(bodies)
        batch: list[bytes] = []
        append = batch.append
        size = 0
        for _, body, lead, weight in ordered:
            uses = left[body] = left[body] - 1
            tail = tails[body]
            if tail is None:
                tail = spelt(bodies[body]) if bodies[body] else b""
                if uses:
                    tails[body] = tail
            elif not uses:
                tails[body] = None
            rounded = round(weight * scale)
            if rounded < 1:
                continue
            head = heads[lead]
            if head and tail:
                append(head)
                append(b";")
            append(tail or head)
            append(b" %d\n" % rounded if head or tail else b"%d\n" % rounded)
            size += len(tail) + 64
            if size >= _BATCH:
                out.write(b"".join(batch))
                batch.clear()
                size = 0
        if batch:
            out.write(b"".join(batch))


def _write_lines(
    out: BinaryIO,
    table: FlatStacks,
    keys: list[int],
    heads: list[bytes],
    tails: list[bytes],
    scale: float,
) -> None:
    """Write one line per stack, in the order of `keys` (a stable sort), each its lead's `head`,
    its body's `tail` and its weight, leaving out the weights that round to nothing: in C, a
    batch of about a megabyte at a time."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    rounded = list(map(round, map(mul, table.weight, repeat(scale))))
    kept = list(compress(order, map(ge, map(rounded.__getitem__, order), repeat(1))))
    lines = zip(
        map(heads.__getitem__, map(table.lead.__getitem__, kept)),
        map(tails.__getitem__, map(table.body.__getitem__, kept)),
        map(b" %d\n".__mod__, map(rounded.__getitem__, kept)),
        strict=True,
    )
    parts = chain.from_iterable(lines)
    length = sum(map(len, tails)) / max(len(tails), 1) + max(map(len, heads), default=0) + 16
    per_batch = 3 * max(1, int(_BATCH / length))
    while batch := b"".join(islice(parts, per_batch)):
        out.write(batch)


def _merged(
    ordered: list[tuple[Any, int, int, float]], left: list[int]
) -> list[tuple[Any, int, int, float]]:
    """Stacks with equal keys (their frames spelt alike) as one, their weights added up in the
    profile's order; the bodies of the stacks merged into another are written no more."""
    out = []
    for key, group in groupby(ordered, key=itemgetter(0)):
        items = list(group)
        if len(items) == 1:
            out.append(items[0])
            continue
        for item in items[1:]:
            left[item[1]] -= 1
        out.append((key, items[0][1], items[0][2], sum(item[3] for item in items)))
    return out


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
