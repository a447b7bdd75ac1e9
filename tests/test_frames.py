"""Classifying frames by the profiled interpreter's paths, and naming them by qualified name."""

from __future__ import annotations

import cProfile
import json
import pstats
import sqlite3
import textwrap
from pathlib import Path

import click

from profwork import frames, readers
from profwork.frames import PROFWORK_DIR, Classifier, SysPaths, frame_by_name, qualname
from profwork.model import Frame, FrameKind


def test_kinds_follow_the_profiled_interpreters_paths() -> None:
    c = Classifier(SysPaths.current())
    assert c.kind(json.__file__) is FrameKind.STDLIB
    assert c.kind("<frozen importlib._bootstrap>") is FrameKind.STDLIB
    assert c.kind(click.__file__) is FrameKind.THIRD_PARTY
    assert c.kind(f"{PROFWORK_DIR}/runner.py") is FrameKind.PROFWORK
    assert c.kind("~", "<built-in method time.sleep>") is FrameKind.NATIVE
    assert c.kind("/srv/app/views.py") is FrameKind.USER


def test_a_targets_own_package_is_user_code_even_in_site_packages() -> None:
    package = str(Path(click.__file__).parent)
    c = Classifier(SysPaths.current(user=(package,)))
    assert c.kind(click.__file__) is FrameKind.USER


def test_paths_round_trip_through_json_so_a_run_classifies_the_same_elsewhere() -> None:
    paths = SysPaths.current(user=("/srv/app",))
    assert SysPaths.from_json(json.loads(json.dumps(paths.to_json()))) == paths


def test_qualified_names_come_from_the_source(tmp_path: Path) -> None:
    source = tmp_path / "svc.py"
    source.write_text(
        textwrap.dedent(
            """
            class Repo:
                @staticmethod
                def load():
                    pass

                async def save(self):
                    def encode():
                        pass

            def outer():
                def inner():
                    pass
            """
        )
    )
    f = str(source)
    assert qualname(f, 3, "load") == "Repo.load"  # a decorated function starts at its decorator
    assert qualname(f, 7, "save") == "Repo.save"
    assert qualname(f, 8, "encode") == "Repo.save.<locals>.encode"
    assert qualname(f, 12, "inner") == "outer.<locals>.inner"
    assert qualname(f, 12, "other") == "other"  # the source disagrees: keep the given name
    assert qualname("/no/such/file.py", 1, "f") == "f"
    assert qualname(f, 3, "Repo.load") == "Repo.load"


def test_lambdas_and_comprehensions_are_named_by_their_enclosing_function(tmp_path: Path) -> None:
    source = tmp_path / "calc.py"
    source.write_text(
        "def price(ids):\n"
        "    return sum(i * 2 for i in ids)\n"
        "\n"
        "class Cart:\n"
        "    key = lambda self: 1\n"
        "\n"
        "squares = [x * x for x in range(3)]\n"
    )
    f = str(source)
    # the names cProfile's co_qualname gives, so one function has one name under every method
    assert qualname(f, 2, "<genexpr>") == "price.<locals>.<genexpr>"
    assert qualname(f, 5, "<lambda>") == "Cart.<lambda>"
    assert qualname(f, 7, "<listcomp>") == "<listcomp>"


def test_multi_line_signatures_strings_and_calls_do_not_close_a_scope(tmp_path: Path) -> None:
    source = tmp_path / "svc.py"
    source.write_text(
        textwrap.dedent(
            '''
            def handler(
                request,
                limit=10,
            ) -> None:
                query = """
            SELECT * FROM t
            """
                rows = fetch(
            query, "(")
                def render():
                    pass
            '''
        )
    )
    assert qualname(str(source), 11, "render") == "handler.<locals>.render"


def test_generated_code_is_not_user_code_but_typed_in_code_is() -> None:
    c = Classifier(SysPaths.current())
    assert c.kind("<string>") is FrameKind.THIRD_PARTY  # dataclass / namedtuple methods
    assert c.kind("<sqlalchemy generated warned() wrapper>") is FrameKind.THIRD_PARTY
    assert c.kind("<stdin>") is FrameKind.USER
    assert c.kind("<ipython-input-3-abc>") is FrameKind.USER


def test_without_the_interpreters_paths_its_usual_layout_tells_the_stdlib() -> None:
    c = Classifier(SysPaths())  # e.g. attached to an embedded interpreter we would not run
    assert c.kind("/usr/lib/python3.11/json/decoder.py") is FrameKind.STDLIB
    assert c.kind("/srv/venv/lib/python3.11/site-packages/x/y.py") is FrameKind.THIRD_PARTY
    assert c.kind("/srv/app/views.py") is FrameKind.USER


def test_names_come_from_the_cached_bytecode_when_it_matches_the_source(tmp_path: Path) -> None:
    import py_compile

    source = tmp_path / "report.py"
    source.write_text(
        textwrap.dedent(
            """
            class Report:
                def render(self):
                    width = 1 + \\
            2  # a continuation at column 0, which a line scanner takes for the class's end
                    def cell(value):
                        return value
                    return [cell(v) for v in self.values]
            """
        )
    )
    f = str(source)
    assert qualname(f, 6, "cell") == "cell"  # no bytecode yet: the scanner is misled
    py_compile.compile(f, doraise=True)
    frames._compiled.cache_clear()
    # the interpreter's own co_qualname, from __pycache__
    assert qualname(f, 6, "cell") == "Report.render.<locals>.cell"
    assert qualname(f, 8, "<listcomp>") == "Report.render.<locals>.<listcomp>"
    assert qualname(f, 3, "render") == "Report.render"


def test_bytecode_older_than_its_source_is_not_trusted(tmp_path: Path) -> None:
    import os
    import py_compile

    source = tmp_path / "svc.py"
    source.write_text("def old():\n    pass\n")
    py_compile.compile(str(source), doraise=True)
    source.write_text("class Svc:\n    def new(self):\n        pass\n")
    os.utime(source, (1, 1))  # another modification time than the one the bytecode recorded
    frames._compiled.cache_clear()
    assert qualname(str(source), 2, "new") == "Svc.new"  # read from the source again


def test_an_objects_address_in_a_native_name_is_dropped_so_two_runs_match() -> None:
    # cProfile names some C calls by the callable's repr, address included: it differs in every
    # process, so the same function would be "new" in one run and "removed" in the other
    classifier = Classifier(SysPaths.current())
    named = classifier.frame("<function _Cursor.execute at 0x7f15596d2ac0>", "~", 0)
    assert named == Frame("<function _Cursor.execute>", "~", 0, FrameKind.NATIVE)
    assert frame_by_name("<function Cursor.execute at 0x7F00AB>").function == (
        "<function Cursor.execute>"
    )
    # a user's function whose name says "at 0x" keeps its name
    assert classifier.frame("meet at 0x10>", "/srv/app.py", 3).function == "meet at 0x10>"


def test_a_pstats_entry_named_by_an_address_is_read_without_it(tmp_path: Path) -> None:
    # cProfile's own label for a C method called on a subclass that overrides it
    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: object = (), /) -> sqlite3.Cursor:
            return sqlite3.Cursor.execute(self, sql, parameters)  # type: ignore[arg-type]

    db = sqlite3.connect(":memory:")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        db.cursor(Cursor).execute("SELECT 1")
    profiler.disable()
    profiler.dump_stats(tmp_path / "p.pstats")
    assert any(" at 0x" in key[2] for key in pstats.Stats(str(tmp_path / "p.pstats")).stats)

    names = {f.function for f in readers.read_pstats(tmp_path / "p.pstats").stats or {}}
    assert (
        "<function test_a_pstats_entry_named_by_an_address_is_read_without_it.<locals>"
        ".Cursor.execute>" in names
    )
    assert not any(" at 0x" in name for name in names)
