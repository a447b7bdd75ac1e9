"""Reading every profile format into one `Profile`: real files from real tools (tests/data/, and
profiles recorded here with cProfile and pyinstrument), sniffed by content, and bad input."""

from __future__ import annotations

import contextlib
import cProfile
import importlib.util
import json
import marshal
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pyinstrument import Profiler
from pyinstrument.session import Session

from profwork import loading, pipeline, readers
from profwork.errors import InputError
from profwork.frames import PROFWORK_DIR, Classifier, SysPaths
from profwork.methods import MethodOptions
from profwork.methods import cprofile as cprofile_method
from profwork.methods import pyinstrument as pyinstrument_method
from profwork.model import Frame, FrameKind, Profile
from profwork.stacks import collapse
from profwork.targets import target
from tests.fixtures_profiles import DATA

FORMATS = {
    "cprofile.pstats": "pstats",
    "profile-module.pstats": "pstats",
    "pyspy-threads.txt": "folded",
    "pyspy-one-thread.txt": "folded",
    "foreign-crlf.txt": "folded",
    "foreign-utf16.folded": "folded",
    "foreign-utf8-bom.folded": "folded",
    "pyspy.speedscope.json": "speedscope",
    "evented.speedscope.json": "speedscope",
    "pyinstrument-session.json": "pyinstrument",
    "pyinstrument-renderer.json": "pyinstrument",
}

# Deliberately wrong names: sniffing must look at the content.
MISLEADING = {"pstats": "profile.json", "folded": "stacks.pstats", "speedscope": "x.folded"}


def names(profile: Profile) -> set[str]:
    return {f.function for stack in profile.stacks for f in stack}


def assert_no_repeats(profile: Profile) -> None:
    for stack in profile.stacks:
        assert len(set(stack)) == len(stack), [f.function for f in stack]


# ---- sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), sorted(FORMATS.items()))
def test_every_recorded_file_is_recognised_by_its_content(
    name: str, fmt: str, tmp_path: Path
) -> None:
    misnamed = tmp_path / MISLEADING.get(fmt, "data.txt")
    shutil.copy(DATA / name, misnamed)

    assert readers.sniff(misnamed) == fmt
    profile = readers.read(misnamed)

    assert profile.metadata["format"] == fmt
    assert profile.metadata["source"] == str(misnamed)
    assert profile.stacks
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-6)


def test_a_run_directory_is_left_to_the_pipeline_which_knows_the_methods(tmp_path: Path) -> None:
    # readers import no method: normalising a run again is `loading.load`'s job
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match=r"a run directory, which the pipeline reads"):
        readers.read(tmp_path)


def test_a_run_directory_with_a_broken_manifest_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="run directory"):
        loading.load(tmp_path)


def test_a_directory_that_is_not_a_run_is_an_input_error(tmp_path: Path) -> None:
    for load in (readers.read, loading.load):
        with pytest.raises(InputError, match="manifest.json"):
            load(tmp_path)


# ---- bad input: one InputError naming the file, never another exception ------------------------


def _mutations(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    good = (DATA / "cprofile.pstats").read_bytes()
    for _ in range(count):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data[: rng.randint(1, len(data))]) if rng.random() < 0.3 else bytes(data)


BAD_INPUTS: dict[str, bytes] = {
    "empty": b"",
    "blank": b" \n\n\t\n",
    "binary": bytes(random.Random(7).randrange(256) for _ in range(4096)),
    "nul bytes": b"\x00" * 64,
    "marshal of a list": marshal.dumps([1, 2, 3]),
    "marshal of a dict of the wrong shape": marshal.dumps({"a": 1}),
    "truncated pstats": (DATA / "cprofile.pstats").read_bytes()[:500],
    "json that is no profile": b'{"hello": "world"}',
    "a json list": b"[1, 2, 3]",
    "truncated json": (DATA / "pyspy.speedscope.json").read_bytes()[:300],
    "truncated pretty json": (DATA / "evented.speedscope.json").read_bytes()[:700],
    "prose": b"This is a README.\nIt has no stacks.\n",
    "comments only": b"# nothing\n// here\n",
    "utf-16 garbage": b"\xff\xfe" + bytes(range(1, 255, 3)),
    "speedscope with a bad frame index": json.dumps(
        {"shared": {"frames": []}, "profiles": [{"type": "sampled", "samples": [[3]]}]}
    ).encode(),
    "speedscope with a negative frame index": json.dumps(
        {
            "shared": {"frames": [{"name": "a"}]},
            "profiles": [{"type": "sampled", "unit": "none", "samples": [[-1]], "weights": [1]}],
        }
    ).encode(),
    "speedscope with an unknown unit": json.dumps(
        {
            "shared": {"frames": [{"name": "a"}]},
            "profiles": [{"type": "sampled", "unit": "parsecs", "samples": [[0]], "weights": [1]}],
        }
    ).encode(),
    "pyinstrument records of the wrong shape": json.dumps({"frame_records": [1, 2]}).encode(),
    "pyinstrument tree of the wrong shape": json.dumps(
        {"root_frame": {"x": 1}, "duration": 1}
    ).encode(),
}


@pytest.mark.parametrize("content", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_unreadable_input_is_one_input_error_naming_the_file(
    content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "input.prof"
    path.write_bytes(content)

    with pytest.raises(InputError) as raised:
        readers.read(path)

    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.remedy


@pytest.mark.parametrize(
    "reader",
    [readers.read_pstats, readers.read_speedscope, readers.read_pyinstrument, readers.read_folded],
)
@pytest.mark.parametrize("content", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_each_reader_refuses_what_it_cannot_read_with_an_input_error(
    reader: Callable[[Path], Profile], content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    with contextlib.suppress(InputError):  # some are fine for one reader (an empty folded file)
        reader(path)


@pytest.mark.parametrize(
    "reader",
    [
        readers.read,
        readers.sniff,
        readers.read_pstats,
        readers.read_folded,
        readers.read_speedscope,
    ],
)
def test_a_missing_file_is_an_input_error(reader: Callable[[Path], object], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        reader(tmp_path / "nowhere.pstats")


def test_a_corrupted_pstats_file_never_raises_anything_but_input_error(tmp_path: Path) -> None:
    path = tmp_path / "mutated.pstats"
    for data in _mutations(seed=3, count=300):
        path.write_bytes(data)
        with contextlib.suppress(InputError):
            readers.read(path)


def test_a_hostile_pstats_file_does_not_crash_the_interpreter(tmp_path: Path) -> None:
    # A back reference to a tuple still being built, used as a dict key: `marshal.loads` (and so
    # `pstats.Stats`) segfaults on these 10 bytes. Read in a child so a regression fails here only.
    path = tmp_path / "hostile.pstats"
    path.write_bytes(b"\xfb\xa9\x01r\x01\x00\x00\x00N0")
    code = (
        "import sys; from pathlib import Path; from profwork import readers\n"
        "from profwork.errors import InputError\n"
        "try: readers.read(Path(sys.argv[1]))\n"
        "except InputError as e: print('InputError', e)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("InputError")


# ---- pstats ------------------------------------------------------------------------------------

WORKLOAD = """
import json


class Shape:
    def area(self, n):
        return sum(i * i for i in range(n))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def leaf(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def left(n):
    return leaf(n)


def right(n):
    return leaf(3 * n)


def outer(n):
    def inner():
        return json.dumps([Shape().area(300) for _ in range(n)])

    return inner()


def main():
    for _ in range(3):
        fib(21)
        left(20000)
        right(20000)
        outer(200)
"""


@pytest.fixture
def workload(tmp_path: Path) -> ModuleType:
    """A module on disk (so that the source lookup has a file): a class, a closure, recursion and
    a diamond (left and right both call leaf)."""
    path = tmp_path / "workload_app.py"
    path.write_text(textwrap.dedent(WORKLOAD), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("workload_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_cprofile(body: Callable[[], object], path: Path) -> Path:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        body()
    finally:
        profiler.disable()
    profiler.dump_stats(path)
    return path


def by_name(profile: Profile) -> dict[str, Frame]:
    assert profile.stats is not None
    return {f.function: f for f in profile.stats}


def test_pstats_keeps_cprofile_numbers_and_qualifies_names(
    workload: ModuleType, tmp_path: Path
) -> None:
    path = record_cprofile(workload.main, tmp_path / "run.pstats")

    profile = readers.read_pstats(path)

    frames = by_name(profile)
    assert {"Shape.area", "outer.<locals>.inner", "fib", "leaf"} <= set(frames)
    assert profile.stats is not None
    fib = profile.stats[frames["fib"]]
    assert fib.primitive_calls == 3 and fib.calls > 1000  # recursion: calls / primitive calls
    leaf = profile.stats[frames["leaf"]]
    assert set(leaf.callers) == {frames["left"], frames["right"]}
    assert profile.metadata["stacks"] == "rebuilt from the caller graph"
    assert "rebuilt from cProfile's caller graph" in profile.metadata["notes"][0]


def test_pstats_drops_the_profiler_switching_itself_off(
    workload: ModuleType, tmp_path: Path
) -> None:
    raw = marshal.loads(record_cprofile(workload.main, tmp_path / "run.pstats").read_bytes())
    assert any("_lsprof.Profiler" in key[2] for key in raw)

    profile = readers.read_pstats(tmp_path / "run.pstats")

    assert not any("_lsprof.Profiler" in name for name in names(profile))
    assert profile.stats is not None
    assert not any("_lsprof" in f.function for f in profile.stats)


def test_rebuilt_stacks_add_up_to_the_total_and_never_repeat_a_function(
    workload: ModuleType, tmp_path: Path
) -> None:
    profile = readers.read_pstats(record_cprofile(workload.main, tmp_path / "run.pstats"))

    assert profile.stack_total == pytest.approx(profile.total, rel=1e-9)
    assert_no_repeats(profile)
    frames = by_name(profile)
    fib_paths = [s for s in profile.stacks if frames["fib"] in s]
    assert fib_paths and all(s.count(frames["fib"]) == 1 for s in fib_paths)


def test_a_diamond_splits_the_shared_callee_in_proportion_to_its_edges(
    workload: ModuleType, tmp_path: Path
) -> None:
    profile = readers.read_pstats(record_cprofile(workload.main, tmp_path / "run.pstats"))
    assert profile.stats is not None
    frames = by_name(profile)
    leaf = profile.stats[frames["leaf"]]

    def under(caller: str) -> float:
        return sum(
            w for s, w in profile.stacks.items() if s[-2:] == (frames[caller], frames["leaf"])
        )

    for caller in ("left", "right"):
        assert under(caller) == pytest.approx(leaf.callers[frames[caller]].self, rel=1e-6)


WRAPPER_AT_TWO_LEVELS = """
def wrapped(app, arg):
    return app(arg)


def router(arg):
    return wrapped(endpoint, arg)


def endpoint(arg):
    return sum(i * i for i in range(arg))


def main():
    for _ in range(20):
        wrapped(router, 20000)
"""


def test_a_function_entered_at_two_levels_keeps_the_time_below_its_inner_call(
    tmp_path: Path,
) -> None:
    # GIVEN a wrapper around both the router and the endpoint (Starlette's exception wrapper)
    path = tmp_path / "two_levels.py"
    path.write_text(WRAPPER_AT_TWO_LEVELS, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("two_levels", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    profile = readers.read_pstats(record_cprofile(module.main, tmp_path / "run.pstats"))

    # THEN the endpoint's time is under the endpoint, not left with the router as self time
    assert profile.stats is not None
    endpoint = by_name(profile)["endpoint"]
    under = sum(w for s, w in profile.stacks.items() if endpoint in s)
    assert under == pytest.approx(profile.stats[endpoint].cumulative, rel=0.05)
    assert_no_repeats(profile)
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-9)


def test_paths_below_the_minimum_are_merged_into_their_caller(
    workload: ModuleType, tmp_path: Path
) -> None:
    path = record_cprofile(workload.main, tmp_path / "run.pstats")
    fine = readers.read_pstats(path, min_share=0)
    coarse = readers.read_pstats(path, min_share=0.05)

    assert len(coarse.stacks) < len(fine.stacks)
    assert coarse.stack_total == pytest.approx(fine.stack_total, rel=1e-9)
    # every call path below a root carries at least the minimum; lighter ones went to the caller
    below: dict[tuple[Frame, ...], float] = {}
    for stack, weight in coarse.stacks.items():
        for end in range(2, len(stack) + 1):
            below[stack[:end]] = below.get(stack[:end], 0.0) + weight
    assert below and min(below.values()) >= 0.05 * coarse.total * (1 - 1e-9)
    assert coarse.stats == fine.stats  # the exact numbers do not depend on the views


def test_given_qualified_names_win(workload: ModuleType, tmp_path: Path) -> None:
    path = record_cprofile(workload.main, tmp_path / "run.pstats")
    fib = workload.fib.__code__
    key = f"{fib.co_filename}:{fib.co_firstlineno}:fib"

    profile = readers.read_pstats(path, names={key: "Maths.fib"})

    assert "Maths.fib" in by_name(profile)


def test_frames_above_the_body_are_trimmed_and_profwork_code_it_calls_is_kept(
    workload: ModuleType, tmp_path: Path
) -> None:
    # GIVEN a body run by profwork's cprofile method that itself calls profwork code (`collapse`)
    def body(rounds: int = 1) -> None:
        for _ in range(rounds):
            collapse(iter([((), 1.0)]))
            workload.main()

    cprofile_method.METHOD.run(target("t")(body).bind({"rounds": "1"}), tmp_path, MethodOptions())

    profile = readers.read_pstats(tmp_path / "cprofile.pstats")

    assert profile.stats is not None
    ours = {f.function for f in profile.stats if f.kind is FrameKind.PROFWORK}
    assert ours == {"collapse"}  # the runner, the target wrapper and the profiler's stop are gone
    roots = {s[0].function for s in profile.stacks}
    assert roots == {
        "test_frames_above_the_body_are_trimmed_and_profwork_code_it_calls_is_kept.<locals>.body"
    }
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-9)


def test_the_profile_module_stores_a_count_per_caller(tmp_path: Path) -> None:
    raw = marshal.loads((DATA / "profile-module.pstats").read_bytes())
    assert any(isinstance(v, int) for value in raw.values() for v in value[4].values())

    profile = readers.read_pstats(DATA / "profile-module.pstats")

    assert profile.stats is not None
    assert not [f for f in profile.stats if f.file == "profile"]  # its fake frames
    assert "fib" in {f.function for f in profile.stats}
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-6)
    assert_no_repeats(profile)


def test_a_recorded_cprofile_file_reads_the_same_anywhere() -> None:
    profile = readers.read_pstats(DATA / "cprofile.pstats")

    assert profile.unit == "seconds"
    assert {"fib", "leaf", "left", "right", "main"} <= names(profile)
    assert profile.stack_total == pytest.approx(profile.total, rel=1e-6)
    assert_no_repeats(profile)


# ---- pyinstrument ------------------------------------------------------------------------------


def record_pyinstrument(body: Callable[[], object], path: Path) -> Path:
    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        body()
    finally:
        session = profiler.stop()
    session.save(path)
    return path


def test_pyinstrument_session_gives_qualified_names_and_its_times(
    workload: ModuleType, tmp_path: Path
) -> None:
    path = record_pyinstrument(workload.main, tmp_path / "session.json")
    records = json.loads(path.read_text())["frame_records"]

    profile = readers.read_pyinstrument(path)

    assert {"Shape.area", "outer.<locals>.inner", "fib"} <= names(profile)
    assert profile.stack_total == pytest.approx(sum(w for _, w in records), rel=1e-9)
    assert profile.metadata["stacks"] == "sampled"
    assert profile.metadata["interval"] == 0.001


def test_pyinstrument_thread_root_only_when_asked(workload: ModuleType, tmp_path: Path) -> None:
    path = record_pyinstrument(workload.main, tmp_path / "session.json")

    plain = readers.read_pyinstrument(path)
    rooted = readers.read_pyinstrument(path, threads=True)

    assert not any(s and s[0].is_pseudo for s in plain.stacks)
    roots = {s[0] for s in rooted.stacks}
    assert len(roots) == 1
    (root,) = roots
    assert root.kind is FrameKind.THREAD
    assert root.function.startswith("thread (") and root.function.endswith("): MainThread")
    assert (root.file, root.line) == ("", 0)


def test_pyinstrument_frames_above_the_body_are_trimmed(
    workload: ModuleType, tmp_path: Path
) -> None:
    def body(rounds: int = 1) -> None:
        for _ in range(rounds):
            workload.main()

    bound = target("t")(body).bind({"rounds": "1"})
    pyinstrument_method.METHOD.run(bound, tmp_path, MethodOptions())

    profile = readers.read_pyinstrument(tmp_path / "pyinstrument.json")

    assert not any(f.kind is FrameKind.PROFWORK for s in profile.stacks for f in s)
    in_body = [s for s in profile.stacks if any(f.function == "fib" for f in s)]
    assert in_body
    assert all(s[0].function.rpartition(".")[2] == "body" for s in in_body)


def test_a_pyinstrument_run_keeps_one_record_per_stack_that_pyinstrument_still_loads(
    tmp_path: Path,
) -> None:
    def body(rounds: int = 1) -> None:
        # the same few stacks sampled a few hundred times
        for _ in range(rounds):
            sum(i * i for i in range(300_000))

    bound = target("t")(body).bind({"rounds": "3"})
    pyinstrument_method.METHOD.run(bound, tmp_path, MethodOptions())
    path = tmp_path / "pyinstrument.json"
    data = json.loads(path.read_text())
    stacks = [tuple(stack) for stack, _ in data["frame_records"]]

    assert len(stacks) == len(set(stacks))  # equal stacks are one record
    assert len(stacks) < data["sample_count"] / 5
    # pyinstrument's own loader reads it, with every sample's time
    session = Session.load(str(path))
    assert session.root_frame() is not None
    total = sum(seconds for _, seconds in data["frame_records"])
    assert session.root_frame().time == pytest.approx(total, rel=1e-9)  # type: ignore[union-attr]
    assert readers.read_pyinstrument(path).stack_total == pytest.approx(total, rel=1e-9)


def test_pyinstrument_stem_above_the_start_is_trimmed(workload: ModuleType, tmp_path: Path) -> None:
    # pytest's own frames are above the test function that started the profiler
    path = record_pyinstrument(workload.main, tmp_path / "session.json")

    profile = readers.read_pyinstrument(path)

    roots = {s[0].function for s in profile.stacks if s}
    assert roots == {"record_pyinstrument"}


def test_pyinstrument_classifies_with_the_recorded_interpreter_paths() -> None:
    profile = readers.read_pyinstrument(DATA / "pyinstrument-session.json")

    kinds = {f.function: f.kind for s in profile.stacks for f in s}
    assert kinds["main"] is FrameKind.USER
    assert FrameKind.STDLIB in kinds.values()  # json, recorded under the session's sys_prefixes


def test_pyinstrument_renderer_json_tree_is_read_too() -> None:
    tree = json.loads((DATA / "pyinstrument-renderer.json").read_text())

    profile = readers.read_pyinstrument(DATA / "pyinstrument-renderer.json")

    assert profile.stack_total == pytest.approx(tree["root_frame"]["time"], rel=1e-3)
    assert "fib" in names(profile)


# ---- folded ------------------------------------------------------------------------------------


def py_spy_classifier(path: Path) -> Classifier:
    """The recording machine's stdlib, read from the file (threading.py is in it)."""
    text = path.read_text()
    start = text.index("/threading.py") if "/threading.py" in text else -1
    stdlib = text[text.rindex("(", 0, start) + 1 : start] if start > 0 else "/nowhere"
    return Classifier(SysPaths(stdlib=(stdlib,)))


def test_py_spy_raw_with_threads_keeps_one_root_per_thread() -> None:
    path = DATA / "pyspy-threads.txt"

    profile = readers.read_folded(path, threads=False, classifier=py_spy_classifier(path))

    roots = profile.threads
    assert len(roots) == 2  # `thread (TID)` and `thread (TID): MainThread` are one thread
    assert all(r.kind is FrameKind.THREAD and r.function.startswith("thread (") for r in roots)
    assert {r.function.split(": ")[-1] for r in roots} == {"MainThread", "worker-1"}
    assert "Thread._bootstrap" in names(profile)  # py-spy's own qualified names
    bootstrap = next(f for s in profile.stacks for f in s if f.function == "Thread._bootstrap")
    assert bootstrap.kind is FrameKind.STDLIB


def test_py_spy_raw_with_one_thread_has_no_root_unless_asked() -> None:
    path = DATA / "pyspy-one-thread.txt"

    plain = readers.read_folded(path, threads=False)
    rooted = readers.read_folded(path, threads=True)
    as_written = readers.read_folded(path)

    assert not any(s and s[0].is_pseudo for s in plain.stacks)
    assert len(rooted.threads) == 1 and rooted.threads[0].function.startswith("thread (")
    assert as_written.threads == rooted.threads
    assert plain.total == rooted.total == 86


def test_py_spy_weights_scale_to_seconds() -> None:
    samples = readers.read_folded(DATA / "pyspy-threads.txt")
    seconds = readers.read_folded(DATA / "pyspy-threads.txt", unit="seconds", scale=1 / 200)

    assert seconds.unit == "seconds"
    assert seconds.total == pytest.approx(samples.total / 200)


def test_a_sample_with_no_python_frame_is_an_empty_stack() -> None:
    profile = readers.read_folded(DATA / "pyspy-one-thread.txt", threads=False)
    assert profile.stacks[()] == 2


def test_foreign_folded_text_with_crlf_comments_and_duplicates() -> None:
    assert b"\r\n" in (DATA / "foreign-crlf.txt").read_bytes()  # kept as written by git

    profile = readers.read(DATA / "foreign-crlf.txt")

    stacks = {tuple(f.function for f in s): w for s, w in profile.stacks.items()}
    assert profile.unit == "samples"
    assert stacks[("java.lang.Thread.run", "oopDesc* Foo::bar<false>", "memcpy")] == 15
    assert stacks[("java.lang.Thread.run", "Foo::baz(int, char const*)")] == 7
    assert stacks[("main", "handle request (v2)", "<lambda>")] == 3
    assert stacks[()] == 6
    assert profile.total == 37
    render = next(f for s in profile.stacks for f in s if f.function == "render")
    assert (render.file, render.line) == ("/srv/my app (copy)/views.py", 12)


def test_foreign_folded_in_utf16_and_utf8_with_a_bom() -> None:
    utf16 = readers.read(DATA / "foreign-utf16.folded")
    bom = readers.read(DATA / "foreign-utf8-bom.folded")

    assert {"grüße", "日本語", "main"} <= names(utf16)
    deepest = max(utf16.stacks, key=len)
    assert [(f.function, f.file, f.line) for f in deepest] == [
        ("main", "/srv/app.py", 1),
        ("grüße", "/srv/app.py", 10),
        ("日本語", "/srv/app.py", 20),
    ]
    assert names(bom) == {"a", "b", "c"}


def test_folded_profwork_frames_are_trimmed_below_the_thread_root(tmp_path: Path) -> None:
    runner = f"{PROFWORK_DIR}/runner.py"
    path = tmp_path / "run.txt"
    path.write_text(
        f"thread (1): MainThread;<module> (/usr/bin/profwork:1);execute ({runner}:10);"
        "body (/srv/app.py:5);work (/srv/app.py:9) 5\n"
        f"thread (2): worker;execute ({runner}:10);body (/srv/app.py:5) 2\n",
        encoding="utf-8",
    )

    profile = readers.read_folded(path, threads=False)

    stacks = {tuple(f.function for f in s): w for s, w in profile.stacks.items()}
    assert stacks == {
        ("thread (1): MainThread", "body", "work"): 5,
        ("thread (2): worker", "body"): 2,
    }


def test_a_process_root_from_py_spy_subprocesses(tmp_path: Path) -> None:
    path = tmp_path / "procs.txt"
    path.write_text(
        'process 11:"python a.py";thread (11): MainThread;a (/srv/a.py:1) 3\n'
        'process 12:"python b.py";thread (12): MainThread;b (/srv/b.py:1) 4\n',
        encoding="utf-8",
    )

    profile = readers.read(path)

    kinds = {tuple(f.kind for f in s[:2]) for s in profile.stacks}
    assert kinds == {(FrameKind.PROCESS, FrameKind.THREAD)}


def test_lines_without_a_weight_are_ignored_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.folded"
    path.write_text("a;b 3\nthis line has no weight\na;b 2\n", encoding="utf-8")

    profile = readers.read(path)

    assert profile.total == 5
    assert "did not end in a weight" in profile.metadata["notes"][0]


# ---- speedscope --------------------------------------------------------------------------------


def test_evented_and_sampled_profiles_in_one_older_file() -> None:
    profile = readers.read(DATA / "evented.speedscope.json")

    stacks = {tuple(f.function for f in s): w for s, w in profile.stacks.items()}
    assert profile.unit == "seconds"
    assert stacks == pytest.approx(
        {
            ("main", "main"): 0.005,
            ("main", "main", "Handler.get"): 0.003,
            ("main", "main", "json.dumps"): 0.002,
            ("worker", "main", "Handler.get"): 0.0003,
            ("worker", "main"): 0.00005,
        }
    )
    assert {r.function for r in profile.threads} == {"main", "worker"}
    assert all(r.kind is FrameKind.THREAD for r in profile.threads)


def test_py_spy_speedscope_with_nulls_and_one_profile_per_thread() -> None:
    raw = json.loads((DATA / "pyspy.speedscope.json").read_text())
    assert raw["activeProfileIndex"] is None

    profile = readers.read_speedscope(DATA / "pyspy.speedscope.json")

    assert {r.function for r in profile.threads} == {p["name"] for p in raw["profiles"]}
    for root in profile.threads:
        expected = next(sum(p["weights"]) for p in raw["profiles"] if p["name"] == root.function)
        got = sum(w for s, w in profile.stacks.items() if s and s[0] == root)
        assert got == pytest.approx(expected)
    assert profile.metadata["exporter"].startswith("py-spy")


def test_speedscope_units(tmp_path: Path) -> None:
    def one(unit: str) -> Profile:
        path = tmp_path / f"{unit}.json"
        path.write_text(
            json.dumps(
                {
                    "$schema": "https://www.speedscope.app/file-format-schema.json",
                    "shared": {"frames": [{"name": "f", "file": "/srv/f.py", "line": 3}]},
                    "profiles": [
                        {
                            "type": "sampled",
                            "name": "p",
                            "unit": unit,
                            "startValue": 0,
                            "endValue": 2000,
                            "samples": [[0]],
                            "weights": [2000],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        return readers.read(path)

    assert (one("none").unit, one("none").total) == ("samples", 2000)
    assert (one("bytes").unit, one("bytes").total) == ("bytes", 2000)
    assert one("nanoseconds").total == pytest.approx(2e-6)
    assert one("microseconds").total == pytest.approx(2e-3)
    assert one("milliseconds").total == pytest.approx(2.0)
    assert one("seconds").unit == "seconds"
    (frame,) = {f for s in one("none").stacks for f in s}
    assert (frame.function, frame.file, frame.line) == ("f", "/srv/f.py", 3)


# ---- run directories ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cprofile", "pyinstrument"])
def test_a_run_directory_is_normalised_again_by_its_method(method: str, tmp_path: Path) -> None:
    run = pipeline.run(
        "example", method=method, params={"rounds": "2", "orders": "1500"}, output=tmp_path
    )

    profile = loading.load(run.path)

    assert profile.metadata["format"] == "run"
    assert profile.metadata["method"] == method
    assert profile.stacks == run.profile.stacks
    assert "dedupe_naive" in names(profile)
    assert not any(f.kind is FrameKind.PROFWORK for s in profile.stacks for f in s)
