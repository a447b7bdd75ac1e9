"""report.html's template is compiled once and kept in the user's cache directory: each run is a
new process, and a later one renders from the compiled code, to the same page.

Each render here is a fresh process (as a run is) with its own `XDG_CACHE_HOME`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures_profiles import DATA

RENDER = """
import sys
from pathlib import Path
from profwork import readers
from profwork.analyses import analyse
from profwork.renderers.html import HtmlReport, _environment

profile = readers.read_pstats(Path(sys.argv[1]))
page = HtmlReport().render(profile, analyse(profile))
Path(sys.argv[2]).write_bytes(page)
print(_environment().bytecode_cache is not None)
"""


def render(cache_home: Path, page: Path) -> str:
    """report.html of a committed profile, in a fresh process; whether a cache was used."""
    done = subprocess.run(
        [sys.executable, "-c", RENDER, str(DATA / "cprofile.pstats"), str(page)],
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def cached(cache_home: Path) -> list[Path]:
    directory = cache_home / "profwork" / "jinja2"
    return sorted(directory.glob("*.cache")) if directory.exists() else []


def test_the_compiled_template_is_kept_and_a_later_render_gives_the_same_page(
    tmp_path: Path,
) -> None:
    home = tmp_path / "cache"
    assert render(home, tmp_path / "first.html") == "True"
    kept = cached(home)
    assert kept, "the first render keeps the compiled template"
    assert (home / "profwork" / "jinja2").stat().st_mode & 0o077 == 0  # private to the user
    modified = [path.stat().st_mtime_ns for path in kept]
    assert render(home, tmp_path / "second.html") == "True"
    assert [path.stat().st_mtime_ns for path in cached(home)] == modified  # read, not rewritten
    assert (tmp_path / "second.html").read_bytes() == (tmp_path / "first.html").read_bytes()


def test_without_a_usable_cache_directory_the_page_is_the_same(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    render(home, tmp_path / "cached.html")
    render(home, tmp_path / "from-cache.html")
    # a cache home that is a file: no directory can be made under it
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    assert render(blocked, tmp_path / "uncached.html") == "False"
    # a directory others may write to is not trusted with code
    shared = tmp_path / "shared"
    (shared / "profwork" / "jinja2").mkdir(parents=True)
    (shared / "profwork" / "jinja2").chmod(0o777)
    assert render(shared, tmp_path / "shared.html") == "False"
    assert cached(shared) == []
    page = (tmp_path / "uncached.html").read_bytes()
    assert (tmp_path / "cached.html").read_bytes() == page
    assert (tmp_path / "from-cache.html").read_bytes() == page
    assert (tmp_path / "shared.html").read_bytes() == page


def test_a_torn_cache_file_is_compiled_again(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    render(home, tmp_path / "first.html")
    for path in cached(home):
        path.write_bytes(path.read_bytes()[:40])  # cut short, as by a full disk
    render(home, tmp_path / "second.html")
    assert (tmp_path / "second.html").read_bytes() == (tmp_path / "first.html").read_bytes()
    assert all(path.stat().st_size > 40 for path in cached(home))  # written whole again
