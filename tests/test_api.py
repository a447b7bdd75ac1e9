"""The public API is what `profwork/__init__.py` exports (like httpx's test_exported_members)."""

from __future__ import annotations

import subprocess
import sys

import profwork


def test_every_exported_name_is_reachable_and_nothing_else_is_promised() -> None:
    for name in profwork.__all__:
        assert getattr(profwork, name) is not None, name
    assert sorted(profwork.__all__) == [
        "Frame",
        "FrameKind",
        "Metrics",
        "Profile",
        "ProfworkError",
        "Run",
        "Target",
        "load",
        "load_ipython_extension",
        "profile",
        "run",
        "target",
    ]
    assert set(profwork.__all__) <= set(dir(profwork))


def test_importing_profwork_imports_nothing_heavy() -> None:
    code = (
        "import sys, profwork; "
        "print(sorted({'rich', 'click', 'pyinstrument', 'jinja2', 'profwork.pipeline', "
        "'profwork.api', 'profwork.block', 'IPython', 'pandas'} "
        "& set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_target_declared_as_the_readme_shows_runs_from_python(tmp_path) -> None:
    def load_rows(rows: int = 10_000) -> list[dict[str, int]]:
        return [{"id": i} for i in range(rows)]

    @profwork.target(
        "etl", description="Nightly ETL", sizes={"small": {"rows": 100}}, setup=load_rows
    )
    def etl(data: list[dict[str, int]], passes: int = 3) -> int:
        return sum(row["id"] for _ in range(passes) for row in data)

    assert [p.name for p in etl.parameters] == ["passes", "rows"]
    bound = etl.bind({"passes": "2"}, size="small")
    assert bound.body_call(bound.run_setup())() == 2 * sum(range(100))
