"""Building a stack table (`profwork.flatstacks.FlatStacks`) entry by entry: what the folded
reader and the stack rules fill, a stack (or a line) at a time."""

from __future__ import annotations

from itertools import chain
from operator import itemgetter

from profwork.flatstacks import FlatStacks, Ids
from profwork.model import Frame, FrameKind

_PSEUDO = (FrameKind.THREAD, FrameKind.PROCESS)


class TableBuilder:
    """Builds a `FlatStacks` entry by entry: frames numbered as given (`number`), leads and bodies
    interned, equal stacks added up in the order they first came."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._number: dict[Frame, int] = {}
        self._pseudo: list[bool] = []
        self._leads: dict[Ids, int] = {}
        self._bodies: dict[Ids, int] = {}
        # (lead, body) → entry, and each entry's weight: a reader adds to them line by line
        self.entries: dict[tuple[int, int], int] = {}
        self.weights: list[float] = []

    def number(self, frame: Frame) -> int:
        """The frame's number, interning it on first sight."""
        found = self._number.get(frame)
        if found is None:
            found = self._number[frame] = len(self.frames)
            self.frames.append(frame)
            self._pseudo.append(frame.kind in _PSEUDO)
        return found

    def is_pseudo(self, number: int) -> bool:
        return self._pseudo[number]

    def lead_of(self, ids: Ids) -> int:
        found = self._leads.get(ids)
        if found is None:
            found = self._leads[ids] = len(self._leads)
        return found

    def body_of(self, ids: Ids) -> int:
        found = self._bodies.get(ids)
        if found is None:
            found = self._bodies[ids] = len(self._bodies)
        return found

    def add(self, lead: Ids, body: Ids, weight: float) -> None:
        """Add a stack given as its lead (pseudo-frames only) and its body; a body that starts
        with pseudo-frames gives them to the lead."""
        if body and self._pseudo[body[0]]:
            cut = 1
            while cut < len(body) and self._pseudo[body[cut]]:
                cut += 1
            lead, body = lead + body[:cut], body[cut:]
        self.add_entry(self.lead_of(lead), self.body_of(body), weight)

    def add_entry(self, lead: int, body: int, weight: float) -> None:
        """Add a stack by the numbers `lead_of` and `body_of` gave (whose lead is all pseudo and
        whose body does not start with a pseudo-frame)."""
        key = (lead, body)
        found = self.entries.get(key)
        if found is None:
            self.entries[key] = len(self.weights)
            self.weights.append(weight)
        else:
            self.weights[found] += weight

    def table(self) -> FlatStacks:
        """The table, its frames renumbered in the order they occur (real ones first) and the
        leads and bodies no entry uses left out (in C but for the distinct leads and bodies)."""
        keys = list(self.entries)
        lead_numbers, body_numbers = list(self._leads), list(self._bodies)
        lead_order = list(dict.fromkeys(map(itemgetter(0), keys)))
        body_order = list(dict.fromkeys(map(itemgetter(1), keys)))
        lead_new = _inverse(lead_order, len(lead_numbers))
        body_new = _inverse(body_order, len(body_numbers))
        entry_lead = list(map(lead_new.__getitem__, map(itemgetter(0), keys)))
        entry_body = list(map(body_new.__getitem__, map(itemgetter(1), keys)))
        used_leads = [lead_numbers[n] for n in lead_order]
        used_bodies = [body_numbers[n] for n in body_order]
        # frames in the order they first occur, entry by entry (lead, then body): the first
        # entry of each lead and body (in C: the dict keeps the last index it is given), then
        # their frames in that order
        count = len(entry_lead)
        backwards = range(count - 1, -1, -1)
        lead_first = dict(zip(reversed(entry_lead), backwards, strict=True))
        body_first = dict(zip(reversed(entry_body), backwards, strict=True))
        events = sorted(
            chain(
                ((entry, 0, used_leads[lead]) for lead, entry in lead_first.items()),
                ((entry, 1, used_bodies[body]) for body, entry in body_first.items()),
            ),
            key=itemgetter(0, 1),
        )
        order: list[int] = []
        seen = [False] * len(self.frames)
        for _, _, ids in events:
            _first_seen(ids, seen, order)
        pseudo = self._pseudo
        order = [n for n in order if not pseudo[n]] + [n for n in order if pseudo[n]]
        frames = [self.frames[n] for n in order]
        if order != list(range(len(self.frames))):
            get = _inverse(order, len(self.frames)).__getitem__
            used_leads = [tuple(map(get, ids)) for ids in used_leads]
            used_bodies = [tuple(map(get, ids)) for ids in used_bodies]
        return FlatStacks(frames, used_leads, used_bodies, entry_lead, entry_body, self.weights)


def _inverse(order: list[int], size: int) -> list[int]:
    """`inverse[order[i]] == i`; -1 for the numbers `order` leaves out."""
    inverse = [-1] * size
    for new, old in enumerate(order):
        inverse[old] = new
    return inverse


def _first_seen(ids: Ids, seen: list[bool], order: list[int]) -> None:
    for number in ids:
        if not seen[number]:
            seen[number] = True
            order.append(number)
