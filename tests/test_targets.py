"""Targets: how specs resolve, how parameters are typed, and setup/teardown stay out of the body."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from profwork import runner
from profwork.errors import TargetError
from profwork.specs import slug
from profwork.targets import Metrics, registered, resolve, target
from tests.conftest import write


def test_builtin_example_is_registered_through_the_entry_point_group() -> None:
    assert "example" in registered()
    example = resolve("example")
    assert example.name == "example"
    assert {p.name for p in example.parameters} == {"orders", "rounds", "variant"}
    assert set(example.sizes) == {"small", "medium", "large"}
    # the target's own package is user code wherever it is installed
    assert any(p.endswith("targets") for p in example.user_paths)


def test_parameters_are_typed_from_the_signature_and_sizes_apply_first() -> None:
    bound = resolve("example").bind({"rounds": "3", "variant": "fast"}, size="small")
    assert bound.params == {"orders": 1000, "rounds": 3, "variant": "fast"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nope": "1"}, "valid parameters: orders, rounds, variant"),
        ({"rounds": "many"}, "expects int"),
        ({"variant": "slow"}, "choose one of: naive, fast"),
    ],
)
def test_a_bad_parameter_is_one_clear_error(params: dict[str, str], message: str) -> None:
    with pytest.raises(TargetError) as info:
        resolve("example").bind(params)
    assert message in str(info.value)


def test_unknown_size_lists_the_sizes() -> None:
    t = target("t", sizes={"small": {}})(lambda: None)
    with pytest.raises(TargetError, match="sizes of t: small"):
        t.bind(size="large")


def test_unknown_target_lists_the_registered_ones() -> None:
    with pytest.raises(TargetError, match="registered targets: .*example"):
        resolve("no_such_target")


def test_missing_script_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such script"):
        resolve(str(tmp_path / "missing.py"))


def test_file_function_spec_reads_the_function_signature(tmp_path: Path) -> None:
    file = write(
        tmp_path / "etl_pipeline.py",
        """
        def main(rows: int = 10, dry: bool = False) -> int:
            return rows * (0 if dry else 1)
        """,
    )
    t = resolve(f"{file}:main")
    bound = t.bind({"rows": "5", "dry": "no"})
    assert bound.params == {"rows": 5, "dry": False}
    assert bound.body_call(None)() == 5
    assert str(file.resolve()) in t.user_paths


def test_file_function_spec_with_unknown_function_lists_the_functions(tmp_path: Path) -> None:
    file = write(tmp_path / "jobs.py", "def nightly(): pass\ndef hourly(): pass\n")
    with pytest.raises(TargetError, match="functions there: hourly, nightly"):
        resolve(f"{file}:weekly")


def test_package_module_function_spec() -> None:
    t = resolve("json:dumps")
    assert t.body.__name__ == "dumps"


def test_script_runs_as_main_with_its_arguments(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    script = write(
        tmp_path / "report.py",
        f"""
        import sys
        if __name__ == "__main__":
            import pathlib; pathlib.Path({str(out)!r}).write_text(" ".join(sys.argv[1:]))
        """,
    )
    t = resolve(str(script), argv=["--limit", "3"])
    facts = runner.execute(t.bind(), runner.Hook())
    assert facts.status == "ok", facts.error
    assert out.read_text() == "--limit 3"
    assert sys.argv[1:] != ["--limit", "3"]  # restored


def test_module_spec_runs_like_python_dash_m(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.txt"
    pkg = tmp_path / "jobpkg"
    pkg.mkdir()
    write(pkg / "__init__.py", "")
    write(
        pkg / "nightly.py",
        "import pathlib\n"
        f"if __name__ == '__main__':\n    pathlib.Path({str(out)!r}).write_text('ran')\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    t = resolve("jobpkg.nightly", module=True)
    assert runner.execute(t.bind(), runner.Hook()).status == "ok"
    assert out.read_text() == "ran"
    assert t.name == "jobpkg.nightly"


def test_slugs_name_run_directories() -> None:
    assert slug("etl_pipeline.py:main") == "etl_pipeline-main"
    assert slug("pkg.mod:func") == "pkg.mod-func"
    assert slug("path/to/script.py") == "script"
    assert slug("pkg.mod", module=True) == "pkg.mod"


def test_teardown_runs_even_when_the_body_fails_and_setup_is_outside_the_body() -> None:
    """And the hook's `after_body` runs too, however the body ended: under py-spy it is what
    stops the sampling before the teardown."""
    events: list[str] = []

    def setup() -> str:
        events.append("setup")
        return "state"

    def teardown(state: str) -> None:
        events.append(f"teardown {state}")

    class Hook(runner.Hook):
        def before_body(self) -> None:
            events.append("before body")

        def start(self) -> None:
            events.append("start")

        def stop(self) -> None:
            events.append("stop")

        def after_body(self) -> None:
            events.append("after body")

    def body(state: str) -> None:
        events.append("body")
        raise ValueError("boom")

    t = target("t", setup=setup, teardown=teardown)(body)
    facts = runner.execute(t.bind(), Hook())
    assert events == [
        "setup",
        "before body",
        "start",
        "body",
        "stop",
        "after body",
        "teardown state",
    ]
    assert facts.status == "error"
    assert facts.error is not None and "ValueError: boom" in facts.error


def test_a_hook_that_overrides_only_start_and_stop_runs_the_body_between_them() -> None:
    events: list[str] = []

    class Timer(runner.Hook):  # the optional members are declared no-ops on `runner.Hook`
        def start(self) -> None:
            events.append("start")

        def stop(self) -> None:
            events.append("stop")

    t = target("t")(lambda: events.append("body"))
    assert runner.execute(t.bind(), Timer()).status == "ok"
    assert events == ["start", "body", "stop"]


def test_a_body_reports_target_metrics() -> None:
    t = target("t")(lambda: Metrics({"GET /": {"p50": 0.01}}))
    assert runner.execute(t.bind(), runner.Hook()).metrics == {"GET /": {"p50": 0.01}}


def test_keyboard_interrupt_in_the_body_is_status_interrupted() -> None:
    def body() -> None:
        raise KeyboardInterrupt

    facts = runner.execute(target("t")(body).bind(), runner.Hook())
    assert facts.status == "interrupted"


def test_script_exit_zero_is_ok_and_nonzero_is_an_error(tmp_path: Path) -> None:
    ok = resolve(str(write(tmp_path / "ok.py", "import sys\nsys.exit(0)\n")))
    bad = resolve(str(write(tmp_path / "bad.py", "import sys\nsys.exit(3)\n")))
    assert runner.execute(ok.bind(), runner.Hook()).status == "ok"
    assert runner.execute(bad.bind(), runner.Hook()).status == "error"
