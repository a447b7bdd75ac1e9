"""`platform.platform()` for the manifest, without the process it starts on Linux.

`platform.platform()` unpacks `platform.uname()`, whose `processor` runs `uname -p` in a new
process (10–60 ms of a run on a loaded machine, for a field that is then dropped): on Linux,
coreutils' and busybox's `uname -p` print `unknown` or the machine, and `platform.platform()`
leaves the processor out in both cases. So on Linux the string is composed here as
`platform.platform()` composes it with the processor left out; on any other system it is
`platform.platform()` itself.
"""

from __future__ import annotations

import platform
import sys


def platform_name() -> str:
    """What `platform.platform()` returns (on Linux without starting `uname -p`)."""
    if sys.platform != "linux":
        return platform.platform()
    system, release, machine = platform.system(), platform.release(), platform.machine()
    if system != "Linux":  # pragma: no cover - an emulation reporting another system
        return platform.platform()
    libc, version = platform.libc_ver()
    return _compose(system, release, machine, "with", libc + version)


def _compose(*parts: str) -> str:
    """`platform._platform`: the parts joined with dashes, cleaned of characters unfit for a
    file name and of `unknown`, repeated dashes folded."""
    text = "-".join(part.strip() for part in parts if part)
    for character in ' /\\:;"()':
        text = text.replace(character, "_" if character == " " else "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")
