"""Loading a pstats file's marshalled dict without trusting it.

`marshal` trusts its input: a corrupt size makes it allocate gigabytes, and a back reference to a
tuple still being filled crashes the interpreter when the tuple is hashed (`pstats.Stats` crashes
on ten such bytes). `load_pstats` walks the bytes once first (`is_safe`), then checks the shape
of what `marshal.loads` gives: `{(file, line, name): (cc, nc, tt, ct, {caller: …})}`.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any


def load_pstats(raw: bytes) -> dict[Any, Any] | None:
    """The pstats dict when `raw` is one, else None."""
    if raw[:1] not in (b"{", b"\xfb") or not is_safe(raw):
        return None
    try:
        data = marshal.loads(raw)
    except (ValueError, EOFError, TypeError, OverflowError, MemoryError):
        return None
    if not isinstance(data, dict):
        return None
    for key, value in list(data.items())[:50]:
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(value, tuple)):
            return None
        if len(value) != 5 or not isinstance(value[4], dict):
            return None
    return data


_INT32 = struct.Struct("<i")
_FLAG_REF = 0x80
_DICT = -1
_SKIP4 = -2


def is_safe(data: bytes) -> bool:
    """Whether `data` is one well-formed marshal object that is safe to give `marshal.loads`.

    `marshal` trusts its input: a corrupt size makes it allocate gigabytes, and a back reference
    to a tuple still being filled crashes the interpreter when the tuple is hashed. This walks the
    bytes once (about 40 ms for an 8,000-function pstats) and checks every size against the bytes
    left and every reference against the objects already complete."""
    n = len(data)
    pos = 0
    unpack = _INT32.unpack_from
    pending: list[int] = [1]
    owners: list[int] = [-1]
    complete: list[bool] = []
    while pending:
        top = pending[-1]
        if top == 0:
            pending.pop()
            owner = owners.pop()
            if owner >= 0:
                complete[owner] = True
            continue
        if top == _SKIP4:
            pending.pop()
            owners.pop()
            pos += 4
            if pos > n:
                return False
            continue
        if top == _DICT:
            if pos >= n:
                return False
            if data[pos] & 0x7F == 0x30:  # the NULL that ends a dict
                pos += 1
                pending[-1] = 0
                continue
            pending.append(2)
            owners.append(-1)
            continue
        pending[-1] = top - 1
        if pos >= n:
            return False
        byte = data[pos]
        pos += 1
        code = byte & 0x7F
        ref = -1
        if byte & _FLAG_REF:
            ref = len(complete)
            complete.append(False)
        container = -3  # not a container
        if code in b"NFTS.":
            pass
        elif code == 0x72:  # r: a back reference, only to a finished object
            if pos + 4 > n:
                return False
            index = unpack(data, pos)[0]
            pos += 4
            if not 0 <= index < len(complete) or not complete[index]:
                return False
        elif code == 0x69:  # i
            pos += 4
        elif code == 0x67:  # g
            pos += 8
        elif code == 0x79:  # y
            pos += 16
        elif code in b"zZ":
            if pos >= n:
                return False
            size = data[pos]
            pos += 1
            if not data[pos : pos + size].isascii():
                return False
            pos += size
        elif code in b"stuaA":
            if pos + 4 > n:
                return False
            size = unpack(data, pos)[0]
            pos += 4
            if size < 0 or size > n - pos:
                return False
            if code in b"aA" and not data[pos : pos + size].isascii():
                return False
            pos += size
        elif code == 0x6C:  # l
            if pos + 4 > n:
                return False
            size = unpack(data, pos)[0]
            pos += 4 + 2 * abs(size)
        elif code == 0x29:  # ) small tuple
            if pos >= n:
                return False
            container = data[pos]
            pos += 1
        elif code in b"([<>":
            if pos + 4 > n:
                return False
            container = unpack(data, pos)[0]
            pos += 4
            if container < 0 or container > n - pos:
                return False
        elif code == 0x7B:  # {
            container = _DICT
        elif code == 0x63:  # c: a code object (3.11+ layout), as the `profile` module stores
            pos += 20
            pending.extend((2, _SKIP4, 8))
            owners.extend((ref, -1, -1))
            continue
        else:
            return False
        if pos > n:
            return False
        if container != -3:
            pending.append(container)
            owners.append(ref)
        elif ref >= 0:
            complete[ref] = True
    return pos == n
