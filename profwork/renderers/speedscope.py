"""`profile.speedscope.json`: the speedscope file format.

Spec: https://www.speedscope.app/file-format-schema.json (a copy is in tests/data/, checked with
`jsonschema`). One `sampled` profile per thread (stacks split on their leading pseudo-frames,
which name the profile and are not frames), or a single profile named after the target and
method. Frames are shared and deduplicated; `col` is left out and `activeProfileIndex` is a
number, since the `null` py-spy and pyinstrument write there is invalid under the schema.

The data stays collapsed: one sample per distinct stack with its weight, which speedscope reads
like any other weighted sample (a sampler's per-sample arrays would make a long recording's file
tens of megabytes). Units: seconds → "seconds", bytes → "bytes", a count of samples → "none".
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import TYPE_CHECKING, Any

from profwork.flatstacks import FlatStacks, stack_table
from profwork.model import Frame, Profile

if TYPE_CHECKING:
    from profwork.analyses import Summary

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
_UNITS = {"seconds": "seconds", "bytes": "bytes", "samples": "none"}


def _version() -> str:
    from profwork.registry import own_version

    return own_version("0.1.0")


def _title(profile: Profile) -> str:
    target = profile.metadata.get("target")
    method = profile.metadata.get("method")
    if target and method:
        return f"{target} ({method})"
    return str(target or method or profile.metadata.get("source") or "profile")


class SpeedscopeRenderer:
    name = "speedscope"
    filename = "profile.speedscope.json"

    def render(self, profile: Profile, summary: Summary) -> bytes:
        title = _title(profile)
        # Pseudo-frames only start stacks and name profiles: the shared frames are the others.
        table = stack_table(profile)
        frames, weights = table.frames, table.weight
        # The entries heaviest first (a reversed sort is stable too: the profile's own order
        # among equals), then grouped by lead, the leads in the order they first come there
        # (both sorts stable, in C); the groups heaviest first.
        heaviest = sorted(range(len(weights)), key=weights.__getitem__, reverse=True)
        place = {
            lead: n for n, lead in enumerate(dict.fromkeys(map(table.lead.__getitem__, heaviest)))
        }
        lead_place = list(map(place.__getitem__, table.lead))
        by_lead = sorted(heaviest, key=lead_place.__getitem__)
        leads_in_order = list(place)
        ranked = []
        for lead_number, group in groupby(by_lead, key=lead_place.__getitem__):
            entries = list(group)
            ranked.append(
                (leads_in_order[lead_number], entries, sum(map(weights.__getitem__, entries)))
            )
        ranked.sort(key=lambda item: -item[2])

        unit = _UNITS[profile.unit]
        heads: list[dict[str, Any]] = [
            {
                "type": "sampled",
                "name": " / ".join(frames[n].function for n in table.leads[lead])
                if table.leads[lead]
                else title,
                "unit": unit,
                "startValue": 0,
                "endValue": total,
            }
            for lead, _, total in ranked
        ] or [{"type": "sampled", "name": title, "unit": unit, "startValue": 0, "endValue": 0}]
        document = {
            "$schema": SCHEMA,
            "name": title,
            "exporter": f"profwork {_version()}",
            "activeProfileIndex": 0,
            "shared": {"frames": [_frame_json(frame) for frame in frames[: table.real]]},
            "profiles": [],
        }
        try:
            return _document(document, heads, ranked, table, ascii_only=False)
        except UnicodeEncodeError:  # a name with a lone surrogate: escape everything instead
            return _document(document, heads, ranked, table, ascii_only=True)


def _document(
    document: dict[str, Any],
    heads: list[dict[str, Any]],
    ranked: list[tuple[int, list[int], float]],
    table: FlatStacks,
    *,
    ascii_only: bool,
) -> bytes:
    """The file as `json.dumps(document)` with `profiles` filled in writes it, the sample arrays
    spelt once per distinct body (each body's frame numbers; a long recording's bodies repeat
    under every process)."""

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode()

    # each body's array, once (integers: what json.dumps writes)
    spelt = [b"[%s]" % ",".join(map(str, ids)).encode() for ids in table.bodies]
    parts = [dumps(document)[: -len(b"]}")]]  # `"profiles":[` left open
    bodies, weights = table.body, table.weight
    for index, head in enumerate(heads):
        entries = ranked[index][1] if ranked else []
        parts += [b"," if index else b"", dumps(head)[:-1], b',"samples":[']
        parts.append(b",".join(map(spelt.__getitem__, map(bodies.__getitem__, entries))))
        parts += [b'],"weights":', dumps(list(map(weights.__getitem__, entries))), b"}"]
    parts.append(b"]}")
    return b"".join(parts)


def _frame_json(frame: Frame) -> dict[str, Any]:
    out: dict[str, Any] = {"name": frame.function}
    if frame.file:
        out["file"] = frame.file
        out["line"] = frame.line
    return out


RENDERER = SpeedscopeRenderer()
