"""The commit a run records is `git rev-parse HEAD`'s, read from `.git` without starting git.

Every repository here is a real one made by git; each answer is compared with git's own. With
no `git` on PATH the plain cases still give the commit: they are read from the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from profwork.gitrepo import head_commit
from profwork.rundir import git_commit
from tests.conftest import require

GIT = shutil.which("git")


def git(cwd: Path, *args: str) -> str:
    """git itself, found before any test empties PATH."""
    assert GIT is not None
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        [GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def rev_parse(cwd: Path) -> str:
    return git(cwd, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require(GIT is not None, "git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "one")
    (root / "a.txt").write_text("two\n")
    git(root, "commit", "-q", "-am", "two")
    return root


@pytest.fixture
def no_git_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What follows cannot start git: the commit must come from the files."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_branch_checked_out_is_read_from_its_loose_ref(repo: Path, no_git_on_path: None) -> None:
    assert head_commit(repo) == rev_parse(repo)
    assert git_commit(repo) == rev_parse(repo)


def test_the_working_directory_is_used_when_none_is_given(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert git_commit() == rev_parse(repo)


def test_a_packed_ref_is_read_from_packed_refs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    monkeypatch.setenv("PATH", "")
    assert head_commit(repo) == rev_parse(repo)


def test_a_detached_head_is_the_commit_it_names(repo: Path, no_git_on_path: None) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo) == rev_parse(repo) == first


def test_a_linked_worktree_reads_its_own_head_and_the_shared_refs(
    repo: Path, tmp_path: Path, no_git_on_path: None
) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    git(repo, "branch", "older", first)
    git(repo, "pack-refs", "--all")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "older")
    assert (linked / ".git").is_file()
    assert head_commit(linked) == rev_parse(linked) == first
    assert head_commit(repo) == rev_parse(repo) != first


def test_a_repository_without_commits_has_none(tmp_path: Path) -> None:
    require(GIT is not None, "git is not installed")
    git(tmp_path, "init", "-q")
    assert head_commit(tmp_path) is None


def test_outside_any_repository_there_is_none(tmp_path: Path, no_git_on_path: None) -> None:
    assert head_commit(tmp_path) is None  # no git to ask: nothing was found to ask it about


def test_a_git_dir_chosen_by_the_environment_is_left_to_git(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert head_commit(other) == rev_parse(repo)
