"""jinja2's bytecode cache for the page templates, in the user's cache directory.

Compiling `report.html.j2` (and what it includes) is most of a first render's cost after
jinja2's import (~25 ms of CPU here, more under load), paid by every run, since each run is a
new process. jinja2 keeps the compiled code of a template in a `FileSystemBytecodeCache` keyed
by the template's name and path and checked against a checksum of its source (and the Python
and jinja2 bytecode versions), so an edited template is compiled again. The key here also holds
jinja2's version and the environment's settings: code compiled under other options is never
reused.

The directory is `$XDG_CACHE_HOME/profwork/jinja2` (`~/.cache/profwork/jinja2`), made private
to the user. A directory that cannot be made, or that belongs to someone else or is writable by
others (the files are code that is loaded), means no cache: the template is compiled as before.
A cache file that cannot be written or read is skipped the same way; the page is the same
either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2
    from jinja2.bccache import Bucket


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "profwork" / "jinja2"


def _private(directory: Path) -> bool:
    """Made if missing; ours and writable by no one else."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and os.access(directory, os.W_OK | os.X_OK)
    )


def bytecode_cache(salt: str) -> jinja2.BytecodeCache | None:
    """The cache for an environment whose settings `salt` describes; None when no directory
    fit for it can be had."""
    from jinja2 import FileSystemBytecodeCache, __version__

    directory = cache_directory()
    if not _private(directory):
        return None

    class Cache(FileSystemBytecodeCache):
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            key = f"{name}\0{filename}\0{__version__}\0{salt}"
            return hashlib.sha1(key.encode("utf-8")).hexdigest()

        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # unreadable, or torn (jinja2 lets a cut checksum's error out)
                bucket.reset()

        def dump_bytecode(self, bucket: Bucket) -> None:
            # a full disk, a directory removed meanwhile: compiled again next time
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    return Cache(str(directory), "%s.cache")
