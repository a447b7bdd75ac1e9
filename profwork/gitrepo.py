"""The commit of the working directory's git repository, read from `.git` without starting git.

A run records `git rev-parse HEAD` in its manifest. Starting git costs a fork and an exec on
every run (10–30 ms on a loaded machine), so the commit is read from the files git itself reads:
the repository found by walking up from the working directory (a `.git` directory, or a `.git`
file naming the directory of a linked worktree or a submodule, whose refs live in its
`commondir`), its `HEAD` (a commit id when detached, else `ref: NAME`), and the ref as a loose
file under `refs/` or a line of `packed-refs`.

Whatever is not that plain case is left to git itself (`git rev-parse HEAD`), so the answer is
always git's: a `GIT_*` variable that changes where the repository is, a repository owned by
another user (git may refuse it: `safe.directory`), a search that would cross a file-system
boundary, a directory that may be a bare repository, a ref that is not found in the files (an
unborn branch, the reftable format) or anything unreadable. Outside any repository the answer
is None without starting git.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# the variables that change which repository git finds, or how it searches for one
_GIT_ENVIRONMENT = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_NAMESPACE",
)
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256
_MAX_SYMREFS = 5


class _AskGit(Exception):
    """Not the plain case: the commit is git's to tell."""


def head_commit(cwd: Path | None = None) -> str | None:
    """`git rev-parse HEAD` of the repository holding `cwd` (the working directory when None),
    None when there is none or it has no commit yet."""
    try:
        return _from_files(Path.cwd() if cwd is None else Path(cwd))
    except (_AskGit, OSError, UnicodeDecodeError, ValueError):
        return _from_git(cwd)


def _from_git(cwd: Path | None) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _from_files(cwd: Path) -> str | None:
    if any(name in os.environ for name in _GIT_ENVIRONMENT):
        raise _AskGit
    found = _discover(cwd.absolute())
    if found is None:
        return None
    work_tree, git_dir = found
    if any(path.stat().st_uid != os.geteuid() for path in (work_tree, git_dir)):
        raise _AskGit  # git checks who owns a repository before it reads it (safe.directory)
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():  # a linked worktree: its branches are the main repository's
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    value = _read(git_dir / "HEAD")
    for _ in range(_MAX_SYMREFS):
        if _OBJECT_ID.fullmatch(value):
            return value
        if not value.startswith("ref:"):
            raise _AskGit
        value = _ref(value[4:].strip(), git_dir, common)
    raise _AskGit


def _discover(start: Path) -> tuple[Path, Path] | None:
    """The working tree and the git directory of the repository holding `start`, as git finds
    them; None when there is none up to the root."""
    device = start.stat().st_dev
    for directory in (start, *start.parents):
        if directory.stat().st_dev != device:
            raise _AskGit  # git stops at a file-system boundary, with its own message
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return directory, dot_git
        if dot_git.is_file():  # `gitdir: PATH` (a linked worktree, a submodule)
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                raise _AskGit
            return directory, (directory / text[7:].strip()).resolve()
        if (directory / "HEAD").is_file() and (directory / "objects").is_dir():
            raise _AskGit  # perhaps a bare repository
    return None


def _ref(name: str, git_dir: Path, common: Path) -> str:
    """The content of the ref `name`: a loose file (the worktree's own first), else its line
    of `packed-refs`."""
    if not name.startswith("refs/") or ".." in name.split("/"):
        raise _AskGit
    for directory in dict.fromkeys((git_dir, common)):
        loose = directory / name
        if loose.is_file():
            return _read(loose)
    packed = common / "packed-refs"
    if packed.is_file():
        with packed.open(encoding="utf-8") as lines:
            for line in lines:
                if line.startswith(("#", "^")):
                    continue
                object_id, _, ref = line.rstrip("\n").partition(" ")
                if ref == name:
                    return object_id
    raise _AskGit  # an unborn branch, or refs git keeps elsewhere (reftable)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()
