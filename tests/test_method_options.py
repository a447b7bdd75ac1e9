"""Each method declares its own options; the CLI offers them, and the method gets them checked.

A method lists `MethodOption`s (a flag, a whole number, a number, a text, a repeatable text);
`method_options` parses and checks what was given against the chosen method's declarations and
refuses, in one line naming the methods that take it, an option that method does not declare.
`run` builds its options from every registered method when it is parsed (`attach` from the
attaching method's), so a plug-in's options appear without editing profwork.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from profwork.cli_params import SQL_OPTIONS
from profwork.errors import MethodError, ProfworkError
from profwork.methods import (
    N1_THRESHOLD,
    NO_SQL,
    MethodOption,
    MethodOptions,
    RawArtefact,
    flag,
    integer,
    method_options,
    number,
    positive,
    text,
    texts,
)
from profwork.model import Profile, Unit
from profwork.targets import BoundTarget
from tests.conftest import only_run, profwork

# The options issue 18's memory and line methods need: a frame depth, repeatable functions.
FRAME_DEPTH = integer("frame-depth", help="Frames kept per allocation.", default=32, example="32")
FUNCTIONS = texts("function", help="A function to time line by line.", metavar="MOD:FUNC")
INTERVAL = number("interval", help="Seconds between RSS samples.", default=0.1, check=positive)
LEAKS = flag("leak-check", help="Compare snapshots.")
MODE = text("mode", help="What the clock measures.", example="wall")


class _Declaring:
    """A method as a plug-in writes one, with options of every kind."""

    name = "declaring"
    unit: Unit = "bytes"
    options: tuple[MethodOption[Any], ...] = (FRAME_DEPTH, FUNCTIONS, INTERVAL, LEAKS, MODE)

    def run(self, bound: BoundTarget, raw_dir: Path, options: MethodOptions) -> RawArtefact:
        raise NotImplementedError

    def normalise(self, raw: RawArtefact) -> Profile:
        raise NotImplementedError


METHOD = _Declaring()


def test_a_method_gets_its_declared_options_typed_with_defaults_filled_in() -> None:
    options = method_options(
        METHOD,
        {
            "frame-depth": "8",
            "function": ("app.py:slow", "pkg.mod:g"),
            "threads": True,
            "mode": "wall",
        },
    )

    assert FRAME_DEPTH.of(options) == 8
    assert FUNCTIONS.of(options) == ("app.py:slow", "pkg.mod:g")
    assert INTERVAL.of(options) == 0.1  # not given: its default
    assert LEAKS.of(options) is False
    assert MODE.of(options) == "wall"
    assert options.threads is True  # a common option, taken by every method
    assert options.to_json() == {
        "threads": True,
        "repeat": None,  # a common option too: run the body once
        "no-sql": False,
        "n1-threshold": 5,
        "frame-depth": 8,
        "function": ["app.py:slow", "pkg.mod:g"],
        "interval": 0.1,
        "leak-check": False,
        "mode": "wall",
    }


def test_python_values_are_taken_as_well_as_command_line_text() -> None:
    options = method_options(METHOD, {"frame-depth": 4, "interval": 1, "function": "m:f"})
    assert (FRAME_DEPTH.of(options), INTERVAL.of(options)) == (4, 1.0)
    assert FUNCTIONS.of(options) == ("m:f",)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"frame-depth": "deep"}, "--frame-depth deep is not a whole number"),
        ({"frame-depth": "2.5"}, "--frame-depth 2.5 is not a whole number"),
        ({"interval": "-1"}, "--interval -1 is not a positive finite number"),
        ({"interval": "nan"}, "--interval nan is not a positive finite number"),
        ({"leak-check": "yes"}, "--leak-check yes takes no value: it is a flag"),
        ({"mode": 3}, "--mode 3 is not a text"),
    ],
)
def test_a_value_an_option_cannot_take_is_one_line_saying_why(
    given: dict[str, Any], message: str
) -> None:
    with pytest.raises(MethodError) as refused:
        method_options(METHOD, given)
    assert refused.value.message == message


def test_a_check_that_refuses_with_an_example_names_it_in_the_remedy() -> None:
    with pytest.raises(MethodError) as refused:
        method_options(METHOD, {"frame-depth": "x"})
    assert refused.value.remedy == "e.g. --frame-depth 32"


def test_an_option_is_a_dashed_lowercase_name() -> None:
    with pytest.raises(ValueError, match="lowercase words and dashes"):
        flag("--native", help="written with its dashes by mistake")


def test_an_option_the_method_does_not_declare_names_the_methods_that_take_it() -> None:
    with pytest.raises(MethodError) as refused:
        method_options(METHOD, {"rate": "100"})
    assert refused.value.message == "-m declaring takes no --rate"
    assert refused.value.remedy is not None
    assert "-m pyinstrument" in refused.value.remedy


def test_cprofile_refuses_a_rate_before_anything_runs(results: Path) -> None:
    done = profwork("run", "example", "--rate", "50", "-o", str(results))

    assert done.returncode == 2
    assert done.stderr.startswith("profwork: error: -m cprofile takes no --rate — drop it, or ")
    assert "-m pyinstrument" in done.stderr and "-m pyspy" in done.stderr
    assert not results.exists()


def test_run_help_lists_each_option_with_the_methods_that_take_it() -> None:
    helped = profwork("run", "--help")

    assert helped.returncode == 0, helped.stderr
    text = " ".join(helped.stdout.split())
    assert "--threads Root every stack in its thread." in text
    assert "--rate HZ" in text and "-m pyinstrument:" in text and "-m pyspy:" in text
    assert "--native" in text and "[-m pyspy]" in text


def test_attach_offers_the_options_of_the_method_that_attaches() -> None:
    helped = profwork("attach", "--help")

    assert helped.returncode == 0, helped.stderr
    for option in ("--rate", "--native", "--subprocesses", "--idle", "--gil", "--threads"):
        assert option in helped.stdout


@pytest.mark.parametrize("option", [["--no-sql"], ["--n1-threshold", "3"]])
def test_attach_does_not_offer_sql_capture_which_needs_a_process_profwork_starts(
    option: list[str], results: Path
) -> None:
    """The SQL probe runs inside a process profwork starts; an attached one has none."""
    helped = profwork("attach", "--help")
    assert "--no-sql" not in helped.stdout and "--n1-threshold" not in helped.stdout
    assert "--no-sql" in profwork("run", "--help").stdout

    done = profwork("attach", str(os.getpid()), *option, "-o", str(results))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"profwork: error: No such option '{option[0]}'")
    assert not results.exists()


def test_the_library_refuses_sql_options_for_attach_too(results: Path) -> None:
    from profwork import pipeline

    with pytest.raises(ProfworkError, match="attach takes no --no-sql") as refused:
        pipeline.attach(os.getpid(), options={"no-sql": True}, output=results)
    assert "profwork run" in (refused.value.remedy or "")
    assert not results.exists()


def test_the_cli_names_the_sql_options_as_the_methods_declare_them() -> None:
    assert (NO_SQL.name, N1_THRESHOLD.name) == SQL_OPTIONS


def test_the_manifest_records_the_options_of_the_method_that_ran(results: Path) -> None:
    args = ["-m", "pyinstrument", "--rate", "500", "-p", "rounds=1", "-o", str(results)]
    done = profwork("run", "example", *args)

    assert done.returncode == 0, done.stderr
    manifest = json.loads((only_run(results) / "manifest.json").read_text())
    # pyinstrument's own options and the common ones, not py-spy's
    assert manifest["options"] == {
        "threads": False,
        "repeat": None,
        "no-sql": False,
        "n1-threshold": 5,
        "rate": 500.0,
    }
