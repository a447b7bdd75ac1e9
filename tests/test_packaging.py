"""How profwork is installed: every package is in the wheel, and the built-in targets live under a
name of their own (`profwork_targets`) that a user's `targets` package can neither shadow nor be
shadowed by."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, only_run, profwork, write


def test_every_package_of_the_tree_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    listed = set(config["packages"])
    folders = {name: ROOT / path for name, path in config["package-dir"].items()}
    found = set()
    for top in ("profwork", "profwork_targets"):
        base = folders.get(top, ROOT / top)
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base)
            found.add(".".join((top, *relative.parts)))
    found.add("profwork.renderers.assets")  # data only: the report's and flame graph's assets
    assert found == listed


def _users_own_targets(directory: Path) -> None:
    """A project of the user's with a `targets` package of its own, as many projects have."""
    (directory / "targets").mkdir()
    write(directory / "targets" / "__init__.py", "MINE = True\n")
    write(directory / "targets" / "scheduler.py", "raise RuntimeError('the user module ran')\n")
    write(
        directory / "job.py",
        """
        import targets

        assert targets.MINE, "profwork's built-ins shadowed the user's own targets package"
        print("own targets package", targets.__file__)
        """,
    )


@pytest.mark.parametrize("method", ["cprofile", "pyspy"])
def test_a_users_targets_folder_does_not_shadow_the_built_ins(tmp_path: Path, method: str) -> None:
    _users_own_targets(tmp_path)
    done = profwork("run", "example", "-m", method, "-o", "out", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(tmp_path / "out") / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert "the user module ran" not in done.stdout + done.stderr


def test_the_built_ins_do_not_shadow_a_users_targets_package(tmp_path: Path) -> None:
    _users_own_targets(tmp_path)
    done = profwork("run", "job.py", "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"own targets package {tmp_path / 'targets' / '__init__.py'}" in done.stdout
