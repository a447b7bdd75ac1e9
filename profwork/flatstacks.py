"""Collapsed stacks as a flat table: each entry a lead and a body, both interned, and a weight.

A stack's **lead** is its leading pseudo-frames (a process, a thread); its **body** is the rest.
Leads and bodies are tuples of frame numbers (frames are numbered once), each distinct one held
once, and an entry is (lead number, body number, weight), in the order the stacks came. This is
what makes a big sampled recording cheap: a py-spy file with `--subprocesses` repeats the same
bodies under each worker's process root (a million samples of 41 workers are ~150,000 stacks but
~3,600 bodies), and every view but the thread roots depends on the body alone (pseudo-frames are
never ranked). So a view is computed once per distinct body, weighted by how many stacks hold it,
and a renderer spells each body once (`profile.folded`'s text, speedscope's sample arrays).

`FlatStacks` is a `Mapping[Stack, float]`, so it stands wherever collapsed stacks do
(`Profile.stacks`): its entries are the stacks in order, each materialised as a tuple only when
asked for. `stack_table(profile)` gives every profile's stacks in this form (the renderers write
from it), from its numbered stacks when they are not a table already; the folded reader builds
one directly (`profwork.readers.folded`).

Every view gives exactly the numbers the same stacks as a dict give: stacks are grouped by weight
as `Profile` groups them, and a view counts, per weight, how many stacks hold each key, which is
an exact integer however the stacks are grouped into bodies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import (
    Callable,
    Hashable,
    ItemsView,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    ValuesView,
)
from itertools import chain, compress, groupby, repeat
from operator import add, lshift, or_
from typing import Any, TypeVar

from profwork.model import Frame, FrameKind, NumberedStacks, Profile, Stack

Ids = tuple[int, ...]
K = TypeVar("K", bound=Hashable)
_PSEUDO = (FrameKind.THREAD, FrameKind.PROCESS)


def stack_table(profile: Profile) -> FlatStacks:
    """The profile's stacks as a table, computed once per profile: its own stacks when they are
    one, else made from its numbered stacks (which the flame graph's views share)."""
    return profile.view(_table_of)


def _table_of(profile: Profile) -> FlatStacks:
    if isinstance(profile.stacks, FlatStacks):
        return profile.stacks
    return FlatStacks.of_numbered(profile.numbered_stacks())


class FlatStacks(Mapping[Stack, float]):
    """Collapsed stacks as leads, bodies and entries (see the module's docstring).

    Invariants: `frames` are numbered in the order they first occur (entry by entry, lead then
    body), the real frames (not pseudo) first, so that `frames[:real]` are the real ones; a lead
    holds only pseudo-frames and a body never starts with one; every lead and body is used by an
    entry; no two entries have the same lead and body."""

    __slots__ = (
        "_body_frames",
        "_groups",
        "_index",
        "_lead_frames",
        "bodies",
        "body",
        "frames",
        "lead",
        "leads",
        "real",
        "weight",
    )

    def __init__(
        self,
        frames: list[Frame],
        leads: list[Ids],
        bodies: list[Ids],
        lead: list[int],
        body: list[int],
        weight: list[float],
    ) -> None:
        self.frames = frames
        self.real = sum(1 for frame in frames if frame.kind not in _PSEUDO)
        self.leads, self.bodies = leads, bodies
        self.lead, self.body, self.weight = lead, body, weight
        self._lead_frames: list[Stack | None] = [None] * len(leads)
        self._body_frames: list[Stack | None] = [None] * len(bodies)
        self._groups: dict[bool, list[tuple[float, Counter[int]]]] = {}
        # frame → number, lead → number, body → number, (lead, body) → entry; made when asked
        self._index: (
            tuple[dict[Frame, int], dict[Ids, int], dict[Ids, int], dict[tuple[int, int], int]]
            | None
        ) = None

    @classmethod
    def of(cls, stacks: Mapping[Stack, float]) -> FlatStacks:
        """The table of collapsed stacks (the same table when given one)."""
        if isinstance(stacks, FlatStacks):
            return stacks
        from profwork.tablebuilder import TableBuilder  # which makes FlatStacks

        builder = TableBuilder()
        number, pseudo = builder.number, builder.is_pseudo
        # Frames are looked up by `id` (in C, where a lookup by frame runs the kind's Python
        # `__hash__`); the ids are stable while the stacks hold their frames, and equal frames
        # held by different objects share a number.
        by_id: dict[int, int] = {}
        get = by_id.__getitem__
        for stack, weight in stacks.items():
            try:
                ids = tuple(map(get, map(id, stack)))
            except KeyError:
                for frame in stack:
                    if id(frame) not in by_id:
                        by_id[id(frame)] = number(frame)
                ids = tuple(map(get, map(id, stack)))
            lead = 0
            while lead < len(ids) and pseudo(ids[lead]):
                lead += 1
            builder.add_entry(builder.lead_of(ids[:lead]), builder.body_of(ids[lead:]), weight)
        return builder.table()

    @classmethod
    def of_numbered(cls, numbered: NumberedStacks) -> FlatStacks:
        """The table of numbered stacks (`Profile.numbered_stacks`), whose frames are in the
        table's order already: first occurrence, real ones first."""
        leads: dict[Ids, int] = {}
        bodies: dict[Ids, int] = {}
        entry_lead: list[int] = []
        entry_body: list[int] = []
        weights: list[float] = []
        for numbers, lead, weight in numbered.stacks:
            head, rest = numbers[:lead], numbers[lead:]
            entry_lead.append(leads.setdefault(head, len(leads)))
            entry_body.append(bodies.setdefault(rest, len(bodies)))
            weights.append(weight)
        return cls(
            list(numbered.frames), list(leads), list(bodies), entry_lead, entry_body, weights
        )

    # ---- the mapping ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.weight)

    def __iter__(self) -> Iterator[Stack]:
        # in C: each lead's and body's frames made once, then joined per entry
        leads = list(map(self.lead_frames, range(len(self.leads))))
        bodies = list(map(self.body_frames, range(len(self.bodies))))
        return map(add, map(leads.__getitem__, self.lead), map(bodies.__getitem__, self.body))

    def __getitem__(self, stack: Stack) -> float:
        if self._index is None:
            leads = {ids: n for n, ids in enumerate(self.leads)}
            bodies = {ids: n for n, ids in enumerate(self.bodies)}
            entries = {key: i for i, key in enumerate(zip(self.lead, self.body, strict=True))}
            self._index = ({f: n for n, f in enumerate(self.frames)}, leads, bodies, entries)
        number, leads, bodies, entries = self._index
        try:
            ids = tuple(map(number.__getitem__, stack))
        except (KeyError, TypeError):
            raise KeyError(stack) from None
        cut = 0
        while cut < len(stack) and stack[cut].kind in _PSEUDO:
            cut += 1
        lead, body = leads.get(ids[:cut]), bodies.get(ids[cut:])
        entry = None if lead is None or body is None else entries.get((lead, body))
        if entry is None:
            raise KeyError(stack)
        return self.weight[entry]

    def items(self) -> ItemsView[Stack, float]:
        return _Items(self)

    def values(self) -> ValuesView[float]:
        return _Values(self)

    def __repr__(self) -> str:
        return (
            f"<FlatStacks: {len(self.weight)} stacks, {len(self.bodies)} bodies, "
            f"{len(self.leads)} leads, {len(self.frames)} frames>"
        )

    def stack(self, entry: int) -> Stack:
        """The stack of an entry, root first."""
        return self.lead_frames(self.lead[entry]) + self.body_frames(self.body[entry])

    def lead_frames(self, lead: int) -> Stack:
        found = self._lead_frames[lead]
        if found is None:
            found = self._lead_frames[lead] = tuple(map(self.frames.__getitem__, self.leads[lead]))
        return found

    def body_frames(self, body: int) -> Stack:
        found = self._body_frames[body]
        if found is None:
            found = self._body_frames[body] = tuple(map(self.frames.__getitem__, self.bodies[body]))
        return found

    # ---- views (see the same names on Profile) ----------------------------------------------

    def weighted_counts(
        self, per_body: Callable[[Ids], Iterable[K]], *, empty: bool = False
    ) -> dict[K, float]:
        """For each key `per_body` gives, the weight of the stacks whose body gives it, a key
        counted once per stack as often as `per_body` repeats it.

        The same sums, to the last bit and in the same key order, as counting on the stacks as
        tuples (`Profile`, the pstats renderer): stacks are grouped by weight, in the order the
        weights first come (`empty`: the stack with no frames opens a group too, as it does for
        the pstats renderer), and each group adds `weight × count` per key, where count (an
        exact integer) is the number of the group's stacks that give the key. Within a group,
        each distinct body is asked once, in the order bodies first come, in C; a body that
        several stacks share (one per process) adds its other stacks' counts afterwards."""
        bodies = self.bodies
        out: dict[K, float] = {}
        for weight, times in self._weight_groups(empty):
            counted = _group_counts(per_body, bodies, times)
            for key, count in counted.items():
                out[key] = out.get(key, 0.0) + weight * count
        return out

    def _weight_groups(self, empty: bool) -> list[tuple[float, Counter[int]]]:
        """The stacks grouped by weight, in the order weights first come: each weight with how
        many of its stacks each body has (bodies in the order they first come); computed once
        (every view counts over the same groups)."""
        found = self._groups.get(empty)
        if found is not None:
            return found
        weights = self.weight
        entries = list(self._framed())
        if empty and len(entries) < len(weights):
            entries = list(range(len(weights)))
        elif empty:  # every stack has frames: the same groups
            self._groups[True] = self._weight_groups(False)
            return self._groups[True]
        # in C: each weight's place in the order weights first come, then the entries sorted by
        # it (stably: the profile's order within a weight)
        place = {w: n for n, w in enumerate(dict.fromkeys(map(weights.__getitem__, entries)))}
        order = list(place)
        placed = list(map(place.get, weights, repeat(-1)))  # -1: a stack left out
        groups = [
            (order[number], Counter(map(self.body.__getitem__, group)))
            for number, group in groupby(
                sorted(entries, key=placed.__getitem__), placed.__getitem__
            )
        ]
        self._groups[empty] = groups
        return groups

    def self_weights(self) -> dict[Frame, float]:
        """Self weight per real frame: each stack's weight to its body's last frame."""
        frames = self.frames
        counted = self.weighted_counts(lambda ids: ids[-1:])
        return {frames[n]: w for n, w in counted.items() if not frames[n].is_pseudo}

    def cumulative_weights(self) -> dict[Frame, float]:
        """Cumulative weight per real frame, a recursive one counted once per stack."""
        frames = self.frames
        counted = self.weighted_counts(set)
        return {frames[n]: w for n, w in counted.items() if not frames[n].is_pseudo}

    def edge_weights(self) -> dict[tuple[Frame, Frame], float]:
        """Caller → callee cumulative weight, once per stack; pseudo callers left out."""
        frames = self.frames
        shift = max(len(frames), 1).bit_length()
        mask = (1 << shift) - 1
        # a pair of frame numbers as one integer, `caller << shift | callee`
        counted = self.weighted_counts(
            lambda ids: set(map(or_, map(lshift, ids, repeat(shift)), ids[1:]))
        )
        return {
            (frames[pair >> shift], frames[pair & mask]): w
            for pair, w in counted.items()
            if not frames[pair >> shift].is_pseudo
        }

    def stack_counts(self, per_body: Callable[[Ids], Iterable[K]]) -> Counter[K]:
        """For each key `per_body` gives, how many stacks' bodies give it."""
        counted: Counter[K] = Counter()
        bodies = self.bodies
        for body, times in Counter(self.body).items():
            for key in per_body(bodies[body]):
                counted[key] += times
        return counted

    def deepest(self, keep: Callable[[Frame], bool]) -> dict[Frame, float]:
        """Each stack's weight added to the deepest frame of its body that `keep` keeps (own
        time: the deepest user frame); stacks without one add nothing."""
        kept = [keep(frame) for frame in self.frames]
        deepest: list[int] = []
        for ids in self.bodies:
            found = -1
            for number in reversed(ids):
                if kept[number]:
                    found = number
                    break
            deepest.append(found)
        out = _sums(list(map(deepest.__getitem__, self.body)), self.weight)
        return {self.frames[number]: weight for number, weight in out.items()}

    def heaviest(self, n: int) -> list[tuple[Stack, float]]:
        """The n heaviest non-empty stacks, heaviest first (ties in entry order)."""
        weight = self.weight
        # what heapq.nlargest gives (ties in order), sorted in C
        ranked = sorted(self._framed(), key=weight.__getitem__, reverse=True)[:n]
        return [(self.stack(i), weight[i]) for i in ranked]

    def root_weights(self) -> dict[Frame, float]:
        """The total weight under each first frame of a stack."""
        firsts = [ids[0] if ids else -1 for ids in self.leads]
        body_firsts = [ids[0] if ids else -1 for ids in self.bodies]
        # the lead's first frame, or the body's when the lead has none (-1: no frame at all)
        first = [
            a if a >= 0 else body_firsts[b]
            for a, b in zip(map(firsts.__getitem__, self.lead), self.body, strict=True)
        ]
        out = _sums(first, self.weight)
        return {self.frames[number]: weight for number, weight in out.items()}

    def _framed(self) -> Iterator[int]:
        """The entries whose stack has frames (a lead's or a body's), in order."""
        framed_lead = [bool(ids) for ids in self.leads]
        framed_body = [bool(ids) for ids in self.bodies]
        framed = map(
            or_, map(framed_lead.__getitem__, self.lead), map(framed_body.__getitem__, self.body)
        )
        return compress(range(len(self.weight)), framed)

    def numbered(self) -> NumberedStacks:
        """The stacks as `Profile.numbered_stacks` gives them (computed as they are read)."""
        return NumberedStacks(self.frames, self.real, _Numbered(self))


class _Numbered(Sequence[tuple[Ids, int, float]]):
    """(numbers, lead, weight) per entry, made as they are read: a long recording's stacks as
    tuples would hold every frame occurrence of the run at once."""

    def __init__(self, table: FlatStacks) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table.weight)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        table = self._table
        lead = table.leads[table.lead[index]]
        return (lead + table.bodies[table.body[index]], len(lead), table.weight[index])

    def __iter__(self) -> Iterator[tuple[Ids, int, float]]:
        table = self._table
        numbers = map(
            add, map(table.leads.__getitem__, table.lead), map(table.bodies.__getitem__, table.body)
        )
        lengths = map(list(map(len, table.leads)).__getitem__, table.lead)
        return zip(numbers, lengths, table.weight, strict=True)


class _Items(ItemsView[Stack, float]):
    _mapping: FlatStacks

    def __iter__(self) -> Iterator[tuple[Stack, float]]:
        table = self._mapping
        return zip(iter(table), table.weight, strict=True)


class _Values(ValuesView[float]):
    _mapping: FlatStacks

    def __iter__(self) -> Iterator[float]:
        return iter(self._mapping.weight)


def _sums(keys: list[int], weights: list[float]) -> dict[int, float]:
    """The weights added up per key (-1: none), each sum in the entries' order and the keys in
    the order they first come, as a loop adding each weight to its key's total gives them (in
    C: a stable sort by key, then a sum per key)."""
    order = dict.fromkeys(keys)
    by_key = sorted(range(len(keys)), key=keys.__getitem__)
    sums = {
        key: sum(map(weights.__getitem__, group))
        for key, group in groupby(by_key, keys.__getitem__)
        if key >= 0
    }
    return {key: sums[key] for key in order if key >= 0}


def _group_counts(
    per_body: Callable[[Ids], Iterable[K]], bodies: list[Ids], times: Counter[int]
) -> Counter[K]:
    """How many stacks of one weight give each key, given how many of them each body has (see
    `weighted_counts`)."""
    shared: dict[int, list[Iterable[K]]] = {}  # extra stacks → the keys of bodies with them

    def keys(body: int) -> Iterable[K]:
        found = per_body(bodies[body])
        more = times[body] - 1
        if more:
            found = list(found)
            shared.setdefault(more, []).append(found)
        return found

    counted: Counter[K] = Counter(chain.from_iterable(map(keys, times)))
    for more, shared_keys in shared.items():  # counted in C, then once per key
        for key, count in Counter(chain.from_iterable(shared_keys)).items():
            counted[key] += count * more
    return counted
