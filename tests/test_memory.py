"""`--method memory` and the leak check, run as the installed `profwork` script on real workloads:
real tracemalloc, real memory_profiler, real files read back."""

from __future__ import annotations

import json
import pstats
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROFWORK, only_run, profwork, profwork_interrupted, write

KNOWN = 30_000_000  # bytes the known allocator holds at once

WORKLOAD = """
    KEPT = []


    def allocate(n):
        return bytearray(n)


    def chatter():
        return [str(i) for i in range(20_000)]


    def body():
        block = allocate({known})
        words = chatter()
        KEPT.append(allocate(100_000))
        return len(block) + len(words)
"""

LEAKY = """
    CACHE = []


    def remember(i):
        CACHE.append(bytearray(1_000_000))  # the leak: a new megabyte every call


    def body():
        scratch = [bytearray(1000) for _ in range(1000)]
        remember(len(scratch))
"""

TIDY = """
    def body():
        scratch = [bytearray(1000) for _ in range(3000)]
        table = {{i: str(i) for i in range(10_000)}}
        return len(scratch) + len(table)
"""


def run_memory(tmp_path: Path, results: Path, source: str, *args: str) -> Path:
    file = write(tmp_path / "work.py", source)
    done = profwork("run", f"{file}:body", "-m", "memory", *args, "-o", str(results))
    assert done.returncode == 0, done.stderr
    return only_run(results)


def test_the_known_allocation_is_the_top_site_within_ten_percent(
    tmp_path: Path, results: Path
) -> None:
    run = run_memory(tmp_path, results, WORKLOAD.format(known=KNOWN))
    summary = json.loads((run / "summary.json").read_text())
    memory = summary["memory"]
    top = memory["sites_by_peak"][0]
    assert top["function"] == "allocate" and top["line"] == 6  # `return bytearray(n)`
    assert abs(top["peak_bytes"] - KNOWN) <= KNOWN * 0.10
    # what is still allocated at the end: the kept 100 kB, from the same line
    end = memory["sites_by_end"][0]
    assert end["function"] == "allocate" and abs(end["end_bytes"] - 100_000) <= 10_000
    assert end["end_count"] >= 1 and top["peak_count"] >= 1
    # the peak of traced memory covers the known allocation
    assert memory["traced_peak_bytes"] >= KNOWN
    # the profile is in bytes: every stack-based artefact works unchanged
    assert summary["unit"] == "bytes"
    assert summary["hotspots"][0]["function"] == "allocate"
    stats = pstats.Stats(str(run / "profile.pstats"))
    assert any(func[2] == "allocate" for func in stats.stats)  # type: ignore[attr-defined]
    folded = (run / "profile.folded").read_text()
    heaviest = max(folded.splitlines(), key=lambda line: int(line.rsplit(" ", 1)[1]))
    assert heaviest.split(" (")[0] == "body" and "allocate (" in heaviest
    assert abs(int(heaviest.rsplit(" ", 1)[1]) - KNOWN) <= KNOWN * 0.10


def test_manifest_memory_json_and_report_carry_the_figures_and_the_rss_timeline(
    tmp_path: Path, results: Path
) -> None:
    run = run_memory(tmp_path, results, WORKLOAD.format(known=KNOWN), "--interval", "0.02")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"] == "memory" and manifest["unit"] == "bytes"
    assert manifest["options"]["frame-depth"] == 32  # the default, recorded
    assert manifest["options"]["interval"] == 0.02
    assert "memory.json" in manifest["artefacts"]
    assert any("bytes" in note and "not seconds" in note for note in manifest["notes"])
    memory = json.loads((run / "memory.json").read_text())
    assert memory["frame_depth"] == 32
    # RSS: at the start, at the end, the peak, and a timeline with the body marked inside it
    assert 0 < memory["rss_start_bytes"] <= memory["rss_peak_bytes"]
    assert 0 < memory["rss_end_bytes"] <= memory["rss_peak_bytes"]
    # the known 30 MB block was resident at some point during the body
    assert memory["rss_peak_bytes"] - memory["rss_start_bytes"] >= KNOWN * 0.5
    times = [point["t"] for point in memory["rss_timeline"]]
    assert times == sorted(times) and len(times) >= 3
    marks = memory["marks"]
    assert times[0] <= marks["body_start"] < marks["body_end"] <= times[-1]
    assert memory["sites_by_peak"][0]["function"] == "allocate"
    # the raw files: tracemalloc's stacks and memory_profiler's own mprof format
    assert (run / "raw" / "tracemalloc.json").exists()
    mprofile = (run / "raw" / "mprofile.dat").read_text().splitlines()
    assert mprofile[0].startswith("CMDLINE") and mprofile[1].startswith("MEM ")
    page = (run / "report.html").read_text()
    assert '<section id="memory">' in page and '<svg class="rss-timeline"' in page
    assert "mark-body-start" in page and "mark-body-end" in page
    assert "Allocation sites by bytes at the peak" in page
    summary_md = (run / "summary.md").read_text()
    assert "## Memory" in summary_md and "`allocate`" in summary_md


def test_frame_depth_is_an_option_of_the_method(tmp_path: Path, results: Path) -> None:
    run = run_memory(tmp_path, results, WORKLOAD.format(known=1_000_000), "--frame-depth", "1")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["options"]["frame-depth"] == 1
    # one frame per stack: only the allocating line is known, the callers are not
    folded = (run / "profile.folded").read_text().splitlines()
    assert folded and all(";" not in line for line in folded)


def test_a_leaking_body_is_flagged_under_repeat_with_the_line_responsible(
    tmp_path: Path, results: Path
) -> None:
    run = run_memory(tmp_path, results, LEAKY, "--repeat", "5")
    memory = json.loads((run / "memory.json").read_text())
    leak = memory["leak_check"]
    assert leak["repeat"] == 5 and leak["probable_leak"] is True
    culprit = leak["sites"][0]
    assert culprit["function"] == "remember" and culprit["line"] == 6
    assert len(culprit["retained_per_iteration"]) == 5
    assert all(abs(r - 1_000_000) <= 100_000 for r in culprit["retained_per_iteration"]), culprit
    assert len(leak["rss_after_each_iteration"]) == 5
    # the flame graph's stacks start at the body, under --repeat too
    folded = (run / "profile.folded").read_text().splitlines()
    assert folded and all(line.startswith("body (") for line in folded)
    done = profwork("report", str(run))
    assert done.returncode == 0, done.stderr
    assert "probable leak" in done.stdout and "remember" in done.stdout
    assert "probable leak" in (run / "report.html").read_text()


def test_a_body_that_frees_what_it_allocates_is_not_flagged(tmp_path: Path, results: Path) -> None:
    run = run_memory(tmp_path, results, TIDY.format(), "--repeat", "5")
    leak = json.loads((run / "memory.json").read_text())["leak_check"]
    assert leak["repeat"] == 5
    assert leak["probable_leak"] is False, leak
    assert leak["traced_growth_bytes"] < 1_000_000


def test_the_threshold_flags_growth_that_is_not_steady(tmp_path: Path, results: Path) -> None:
    # 8 MB retained once (in the first iteration) is not a leak at 50 MB, but is at 5 MB
    source = """
        CALLS = []
        HELD = []


        def body():
            CALLS.append(None)
            if len(CALLS) == 2:  # the first measured iteration (the warm-up is the first call)
                HELD.append(bytearray(8_000_000))
    """
    run = run_memory(tmp_path, results, source, "--repeat", "3")
    assert not json.loads((run / "memory.json").read_text())["leak_check"]["probable_leak"]
    again = results / "again"
    run = run_memory(tmp_path, again, source, "--repeat", "3", "--leak-threshold", "5")
    leak = json.loads((run / "memory.json").read_text())["leak_check"]
    assert leak["probable_leak"] and leak["sites"][0]["line"] == 9


@pytest.mark.parametrize("method", ["cprofile", "pyspy"])
def test_repeat_runs_the_body_n_times_after_one_unmeasured_warm_up_under_any_method(
    method: str, tmp_path: Path, results: Path
) -> None:
    log = tmp_path / "calls.log"
    file = write(
        tmp_path / "counted.py",
        f"""
        def step():
            with open({str(log)!r}, "a") as out:
                out.write("call\\n")


        def body():
            step()
        """,
    )
    done = profwork("run", f"{file}:body", "-m", method, "--repeat", "3", "-o", str(results))
    assert done.returncode == 0, done.stderr
    assert log.read_text().count("call") == 4  # one warm-up, three measured
    run = only_run(results)
    assert json.loads((run / "manifest.json").read_text())["options"]["repeat"] == 3
    if method == "pyspy":  # in its own process: the count above is what shows the repeats
        return
    stats = pstats.Stats(str(run / "profile.pstats"))
    calls = {func[2]: entry[1] for func, entry in stats.stats.items()}  # type: ignore[attr-defined]
    assert calls["step"] == 3  # the warm-up is not in the profile
    # the repeat loop is profwork's, above the body: trimmed like the rest of the runner
    assert all(
        line.startswith("body (") for line in (run / "profile.folded").read_text().splitlines()
    )
    assert json.loads((run / "manifest.json").read_text())["options"]["repeat"] == 3
    done = profwork("run", f"{file}:body", "--repeat", "0", "-o", str(results))
    assert done.returncode != 0 and "--repeat 0" in done.stderr and "Traceback" not in done.stderr


DEEP = """
    KEPT = []


    def inner():
        KEPT.append(bytearray(2_000_000))


    def middle():
        inner()


    def body():
        middle()
"""


def test_the_body_starts_its_own_stack_so_the_frame_depth_is_all_the_bodys(
    tmp_path: Path, results: Path
) -> None:
    # body → middle → inner (and the one frame that calls the body): 4 frames in all. Below the
    # CLI and the runner (~15 frames of profwork's) every allocation's stack was deeper than 6
    # and tracemalloc walked them all; on a stack of its own the body's stacks are whole
    run = run_memory(tmp_path, results, DEEP, "--frame-depth", "6")
    data = json.loads((run / "raw" / "tracemalloc.json").read_text())
    body_items = [
        item for item in data["end"] if any(file.endswith("work.py") for file, _ in item["frames"])
    ]
    assert body_items
    assert not [item for item in body_items if item["truncated"]]
    block = max(body_items, key=lambda item: item["size"])
    assert block["size"] >= 2_000_000 and len(block["frames"]) <= 4


THREAD_BOUND = """
    import contextvars
    import signal
    import sqlite3
    import threading

    # the setup (importing this module) makes objects bound to its thread and context
    REQUEST = contextvars.ContextVar("request", default="unset")
    REQUEST.set("set by the setup")
    DB = sqlite3.connect(":memory:")  # usable only in the thread that made it
    SETUP_THREAD = threading.get_ident()


    def body():
        assert threading.get_ident() == SETUP_THREAD
        assert threading.current_thread() is threading.main_thread()
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # only the main thread may do this
        assert REQUEST.get() == "set by the setup", REQUEST.get()
        REQUEST.set("set by the body")
        return DB.execute("select 42").fetchall()


    def teardown():
        assert REQUEST.get() == "set by the body", REQUEST.get()
"""


def test_the_body_runs_on_the_setups_thread_with_its_context_and_signals(
    tmp_path: Path, results: Path
) -> None:
    # its own stack is a greenlet on the same thread, not another thread: a sqlite connection
    # the setup made, signal handlers and the setup's context variables all work in the body
    run = run_memory(tmp_path, results, THREAD_BOUND)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest.get("error")


SLEEPER = """
    import time

    KEPT = []


    def hold():
        KEPT.append(bytearray(3_000_000))


    def body():
        hold()
        time.sleep(120)  # blocked in a system call when Ctrl-C comes
"""


def test_ctrl_c_interrupts_a_blocked_body_and_keeps_what_was_measured(
    tmp_path: Path, results: Path
) -> None:
    # the body's own stack is on the main thread: the signal interrupts the sleep at once
    file = write(tmp_path / "sleeper.py", SLEEPER)
    done = profwork_interrupted(
        "run", f"{file}:body", "-m", "memory", "-o", str(results), after=4.0
    )
    assert done.returncode == 130, done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["duration"] < 60
    memory = json.loads((run / "memory.json").read_text())
    assert memory["sites_by_end"][0]["function"] == "hold"


HOG = """
    HELD = []


    def grow():
        HELD.append(bytearray(8_000_000))


    def body():
        while True:
            grow()
"""


def _limit_address_space() -> None:
    limit = 1_000_000_000  # 1 GB: profwork starts in ~300 MB of address space
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_body_that_exhausts_memory_is_an_error_run_with_what_was_measured(
    tmp_path: Path, results: Path
) -> None:
    file = write(tmp_path / "hog.py", HOG)
    done = subprocess.run(
        [PROFWORK, "run", f"{file}:body", "-m", "memory", "-o", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_address_space,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "error"
    assert "MemoryError" in manifest["error"]
    assert all((run / name).exists() for name in manifest["artefacts"])
    # what was measured until then: hundreds of MB traced, charged to the line that grew
    memory = json.loads((run / "memory.json").read_text())
    assert memory["traced_peak_bytes"] > 300_000_000
    assert memory["sites_by_peak"][0]["function"] == "grow"
    assert memory["rss_peak_bytes"] > 300_000_000
    folded = (run / "profile.folded").read_text()
    assert "grow" in folded


def test_converting_a_run_without_memory_figures_to_memory_json_is_one_error_line(
    tmp_path: Path, results: Path
) -> None:
    file = write(tmp_path / "work.py", DEEP)
    assert profwork("run", f"{file}:body", "-o", str(results)).returncode == 0  # cProfile
    out = tmp_path / "memory.json"
    done = profwork("convert", str(only_run(results)), "--to", "memory", "-o", str(out))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith("profwork: error: ")
    assert "memory.json" in line and "-m memory" in line  # what is missing, and the remedy
    assert not out.exists()  # no empty file left behind
