"""A third-party plug-in package extends profwork without editing it (DESIGN §8).

The example package in `examples/profwork-example-plugin/` is really installed (by pip, into a
temporary directory put on `PYTHONPATH` of the `profwork` processes, so the shared virtualenv is
left alone), and then its method, reader and renderer are used through the ordinary commands:
they are found through the entry-point groups exactly as the built-ins are.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profwork.analyses import analyse
from profwork.model import Frame, FrameKind, Profile
from profwork.readers.source import Source
from tests.conftest import ROOT, only_run, profwork, require, write
from tests.test_cli import ARTEFACTS  # every built-in renderer's artefact, and the manifest

EXAMPLE = ROOT / "examples" / "profwork-example-plugin"
CSV_HEADER = [
    "function",
    "file",
    "line",
    "kind",
    "calls",
    "self",
    "own",
    "cumulative",
    "share",
    "unit",
]

# A Node script whose functions the CPU profile must name: one whose name needs CSV quoting.
NODE_SCRIPT = """
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
const table = {
  'say "hi", twice': function () { let s = 0; for (let i = 0; i < 2e7; i++) s += i; return s; },
};
table['say "hi", twice']();
fib(31);
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed by pip into a directory of its own (built from a copy, so
    that the build leaves nothing in the repository)."""
    base = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, base / "source")
    site = base / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(site.glob("profwork_example_plugin-*.dist-info/entry_points.txt"))
    return site


def with_plugin(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`profwork ARGS` with the example package importable, as if it were installed."""
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return profwork(*args, env={"PYTHONPATH": path})


@pytest.fixture(scope="module")
def cpuprofile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `.cpuprofile`, recorded by `node --cpu-prof`."""
    node = shutil.which("node")
    require(node is not None, "node is not installed (Debian: apt-get install nodejs)")
    assert node is not None
    directory = tmp_path_factory.mktemp("node")
    script = write(directory / "work.js", NODE_SCRIPT)
    subprocess.run(
        [node, "--cpu-prof", "--cpu-prof-dir", str(directory), "--cpu-prof-name", "work.cpuprofile"]
        + [str(script)],
        check=True,
        timeout=120,
    )
    return directory / "work.cpuprofile"


@pytest.fixture
def example_module(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`import profwork_example` in this process, for the tests of one module's behaviour."""
    monkeypatch.syspath_prepend(str(plugin_site))
    import profwork_example

    yield profwork_example
    for name in [m for m in sys.modules if m.startswith("profwork_example")]:
        del sys.modules[name]


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ---- the method ----------------------------------------------------------------------------------


def test_the_plugin_method_is_offered_and_writes_a_complete_run(
    plugin_site: Path, results: Path
) -> None:
    helped = with_plugin(plugin_site, "run", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "sampler" in helped.stdout

    done = with_plugin(plugin_site, "run", "example", "-m", "sampler", "-o", str(results))

    assert done.returncode == 0, done.stderr
    run = only_run(results)
    assert run.name.endswith("-sampler")
    assert {p.name for p in run.iterdir()} >= ARTEFACTS | {"profile.csv", "raw"}
    assert (run / "raw" / "sampler.folded").stat().st_size > 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["method"] == "sampler"
    assert manifest["options"]["rate"] == 100.0
    assert all((run / name).exists() for name in manifest["artefacts"])
    summary = json.loads((run / "summary.json").read_text())
    # the example target's known hotspot, with profwork's own frames above the body trimmed
    assert summary["hotspots"][0]["function"] == "dedupe_naive"
    assert not any("/profwork/" in row["file"] for row in summary["bottlenecks"])
    # the run is normalised again by the plug-in method when it is reported later
    again = with_plugin(plugin_site, "report", str(run), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["hotspots"][0]["function"] == "dedupe_naive"


def test_the_plugin_methods_own_option_is_offered_checked_and_used(
    plugin_site: Path, results: Path
) -> None:
    # GIVEN the plug-in, whose method declares `--max-depth N` (profwork knows nothing of it)
    helped = with_plugin(plugin_site, "run", "--help")
    assert "--max-depth N" in helped.stdout and "[-m sampler]" in helped.stdout

    # WHEN it is given to the method that declares it
    done = with_plugin(
        plugin_site, "run", "example", "-m", "sampler", "--max-depth", "2", "-o", str(results)
    )

    # THEN the method gets it, parsed: no sample is deeper than two frames
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    lines = (run / "raw" / "sampler.folded").read_text().splitlines()
    assert lines and all(line.rsplit(" ", 1)[0].count(";") <= 1 for line in lines)
    assert json.loads((run / "manifest.json").read_text())["options"]["max-depth"] == 2

    # and a value its check refuses, or another method given it, is one line before any run
    refused = str(results / "refused")
    bad = with_plugin(
        plugin_site, "run", "example", "-m", "sampler", "--max-depth", "0", "-o", refused
    )
    assert bad.returncode == 2
    assert bad.stderr == (
        "profwork: error: --max-depth 0 is not a depth: give 1 or more frames — "
        "e.g. --max-depth 20\n"
    )
    other = with_plugin(plugin_site, "run", "example", "--max-depth", "2", "-o", refused)
    assert other.returncode == 2
    assert other.stderr == (
        "profwork: error: -m cprofile takes no --max-depth — drop it, or use a method that "
        "takes it: -m sampler\n"
    )
    assert not (results / "refused").exists()


def test_without_the_plugin_its_method_is_unknown(results: Path) -> None:
    done = profwork("run", "example", "-m", "sampler", "-o", str(results))
    assert done.returncode != 0
    assert "sampler" in done.stderr and "cprofile" in done.stderr
    assert "Traceback" not in done.stderr


# ---- the renderer --------------------------------------------------------------------------------


def test_the_plugin_renderer_is_an_output_format_of_convert_and_report(
    plugin_site: Path, tmp_path: Path
) -> None:
    for command in ("convert", "report"):
        helped = with_plugin(plugin_site, command, "--help")
        assert "csv" in helped.stdout, helped.stdout

    pstats = ROOT / "tests" / "data" / "cprofile.pstats"
    out = tmp_path / "table.csv"
    # a plug-in's name is matched without regard to case, as the built-ins' are
    converted = with_plugin(plugin_site, "convert", str(pstats), "--to", "CSV", "-o", str(out))
    reported = with_plugin(plugin_site, "report", str(pstats), "--format", "csv")

    assert converted.returncode == 0, converted.stderr
    assert reported.returncode == 0, reported.stderr
    rows = read_csv(out.read_text(encoding="utf-8"))
    assert rows[0] == CSV_HEADER
    assert len(rows) > 5
    # an exact profile: call counts known, cumulative descending
    assert all(row[4].isdigit() for row in rows[1:])
    cumulative = [float(row[7]) for row in rows[1:]]
    assert cumulative == sorted(cumulative, reverse=True)
    assert read_csv(reported.stdout) == rows


def test_the_csv_table_quotes_commas_quotes_and_line_breaks(example_module: Any) -> None:
    from profwork_example.csv_table import RENDERER

    names = ["Table.add, then sort", 'say "hi"', "two\nlines", "plain"]
    frames = [Frame(name, f"/app/{i}.py", 10 + i, FrameKind.USER) for i, name in enumerate(names)]
    profile = Profile("seconds", {tuple(frames): 1.0, tuple(frames[:2]): 3.0})

    rows = read_csv(RENDERER.render(profile, analyse(profile)).decode("utf-8"))

    # heaviest cumulative first (then by name), each name read back verbatim
    assert [row[0] for row in rows[1:]] == [names[0], names[1], names[3], names[2]]
    assert rows[1][1:4] == ["/app/0.py", "10", "user"]
    assert rows[1][5:10] == ["0.0", "0.0", "4.0", "1.0", "seconds"]
    assert rows[2][5] == "3.0"  # self: the leaf of the heavier stack
    assert rows[1][4] == ""  # a sampled profile has no call counts


# ---- the reader ----------------------------------------------------------------------------------


def test_the_plugin_reader_reads_a_node_cpu_profile_in_report_and_convert(
    plugin_site: Path, cpuprofile: Path, tmp_path: Path
) -> None:
    reported = with_plugin(plugin_site, "report", str(cpuprofile), "--format", "json")
    assert reported.returncode == 0, reported.stderr
    summary = json.loads(reported.stdout)
    assert summary["unit"] == "seconds"
    functions = {row["function"] for row in summary["bottlenecks"]}
    assert {"fib", 'say "hi", twice'} <= functions
    user = {row["function"] for row in summary["bottlenecks"] if row["kind"] == "user"}
    assert "fib" in user

    out = tmp_path / "work.csv"
    converted = with_plugin(plugin_site, "convert", str(cpuprofile), "--to", "csv", "-o", str(out))
    assert converted.returncode == 0, converted.stderr
    rows = {row[0]: row for row in read_csv(out.read_text(encoding="utf-8"))[1:]}
    assert rows['say "hi", twice'][1] == str(cpuprofile.with_name("work.js"))

    flame = tmp_path / "work.svg"
    drawn = with_plugin(plugin_site, "convert", str(cpuprofile), "--to", "svg", "-o", str(flame))
    assert drawn.returncode == 0, drawn.stderr
    assert "fib" in flame.read_text(encoding="utf-8")

    # without the plug-in, the format is not read, and the remedy lists what is
    plain = profwork("report", str(cpuprofile))
    assert plain.returncode != 0
    assert "no reader recognises" in plain.stderr and "Traceback" not in plain.stderr


def cpu_profile(nodes: list[dict[str, Any]], samples: list[int], deltas: list[int]) -> str:
    return json.dumps(
        {
            "nodes": nodes,
            "startTime": 1000,
            "endTime": 1000 + sum(deltas) + 500,
            "samples": samples,
            "timeDeltas": deltas,
        }
    )


def node(key: int, name: str, url: str = "", line: int = -1, children: tuple[int, ...] = ()):
    call_frame = {"functionName": name, "scriptId": "1", "url": url, "lineNumber": line}
    return {"id": key, "callFrame": {**call_frame, "columnNumber": 0}, "children": list(children)}


def test_a_sample_lasts_until_the_next_and_idle_and_root_are_left_out(
    example_module: Any, tmp_path: Path
) -> None:
    from profwork_example.cpuprofile import READER

    path = tmp_path / "hand.cpuprofile"
    # nodes listed children first, as V8 does not promise an order
    nodes = [
        node(3, "work", "file:///app/w%6Frk.js", 4),
        node(4, "(idle)"),
        node(5, "", "node:internal/main", 0),
        node(2, "main", "/app/node_modules/lib/index.js", 0, children=(3,)),
        node(1, "(root)", children=(2, 4, 5)),
    ]
    # samples at 1100, 1300, 1600, 2000; the last lasts until endTime (2500)
    path.write_text(cpu_profile(nodes, [3, 2, 4, 5], [100, 200, 300, 400]), encoding="utf-8")

    source = Source(path)
    assert READER.sniff(source)
    profile = READER.read(source)

    main = Frame("main", "/app/node_modules/lib/index.js", 1, FrameKind.THIRD_PARTY)
    work = Frame("work", "/app/work.js", 5, FrameKind.USER)  # a file URL becomes its path
    internal = Frame("(anonymous)", "node:internal/main", 1, FrameKind.STDLIB)
    assert profile.unit == "seconds"
    assert profile.stacks == pytest.approx(
        {(main, work): 200e-6, (main,): 300e-6, (internal,): 500e-6}
    )
