"""The registries find every installed package's entry points as `importlib.metadata` does,
without importing it on a run: reading them is part of every run's fixed cost (the CLI's method
options, a target's name looked up) and of a `-m pyspy` target's start-up.

Each check runs in a fresh interpreter with real distribution directories on `sys.path`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import write

COMPARE = """
import json, sys
from profwork import registry
mine = registry._installed_points()
imported = "importlib.metadata" in sys.modules
from importlib.metadata import entry_points
found = entry_points()
theirs = [registry.EntryPoint(e.group, e.name, e.value)
          for g in registry.GROUPS for e in found.select(group=g)]
print(json.dumps({
    "mine": sorted(map(list, ((p.group, p.name, p.value) for p in mine))),
    "theirs": sorted(map(list, ((p.group, p.name, p.value) for p in theirs))),
    "imported": imported,
}))
"""


def distribution(site: Path, directory: str, entry_points: str) -> None:
    info = site / directory
    info.mkdir(parents=True)
    name = directory.partition("-")[0]
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def compare(*paths: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    done = subprocess.run(
        [sys.executable, "-c", COMPARE], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_entry_points_are_importlib_metadatas_read_without_it(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    distribution(
        first,
        "acme_tools-1.0.dist-info",
        "# a comment\n[profwork.methods]\nacme = acme.method:METHOD\n\n"
        "[profwork.renderers]\n csv = acme.csv:RENDERER \n[console_scripts]\nacme = acme:main\n",
    )
    distribution(first, "Other.Pkg-2.0.egg-info", "[profwork.targets]\nother = other:TARGET\n")
    # the same distributions again, later on sys.path: shadowed, as importlib.metadata has it
    distribution(second, "Acme.Tools-0.9.dist-info", "[profwork.methods]\nold = acme.old:METHOD\n")
    distribution(second, "other_pkg-1.0.dist-info", "[profwork.targets]\nstale = other:OLD\n")
    distribution(second, "third-3.0.dist-info", "[profwork.readers]\nthird = third:READER\n")
    (second / "no_entry_points-1.0.dist-info").mkdir()
    result = compare(first, second)
    assert result["imported"] is False
    assert result["mine"] == result["theirs"]
    assert ["profwork.methods", "acme", "acme.method:METHOD"] in result["mine"]
    assert ["profwork.readers", "third", "third:READER"] in result["mine"]
    assert not any(point[1] in ("old", "stale") for point in result["mine"])  # type: ignore[index]


def test_a_zip_on_sys_path_is_left_to_importlib_metadata(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\n")
        zipped.writestr(
            "zipped-1.0.dist-info/entry_points.txt", "[profwork.methods]\nzipped = z:METHOD\n"
        )
    result = compare(archive)
    assert result["imported"] is True
    assert result["mine"] == result["theirs"]
    assert ["profwork.methods", "zipped", "z:METHOD"] in result["mine"]


def test_a_run_does_not_import_importlib_metadata(tmp_path: Path) -> None:
    script = write(tmp_path / "tiny.py", "print(sum(range(10)))\n")
    check = (
        "import sys\n"
        "from profwork.cli import main\n"
        "try:\n"
        f"    main(['run', {str(script)!r}, '-o', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('importlib.metadata' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stderr.strip().splitlines()[-1] == "False"
