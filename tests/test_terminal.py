"""The terminal (issue 21): the verdict first, tables that fit the width without breaking a word,
progress that leaves nothing on screen, and `ls` telling runs of one target apart.

Real runs of the installed script: piped at `COLUMNS=80`, and in a pseudo-terminal (the `pty`
module) whose final screen is replayed from what was written to it.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.conftest import PROFWORK, only_run, profwork

BOX = re.compile(r"^[\u2500-\u257f]+$")  # a run of box-drawing characters (a table's rule)


@pytest.fixture(scope="module")
def scheduler_80(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`COLUMNS=80 profwork run scheduler | cat`: the run directory and what was printed."""
    results = tmp_path_factory.mktemp("results")
    done = profwork("run", "scheduler", "-o", str(results), env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    return only_run(results), done.stdout


def test_a_piped_run_at_80_columns_has_no_longer_line(scheduler_80: tuple[Path, str]) -> None:
    _, stdout = scheduler_80
    lines = stdout.splitlines()
    assert len(lines) > 20
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long


def test_a_piped_run_at_80_columns_splits_no_word(scheduler_80: tuple[Path, str]) -> None:
    """Every word printed at 80 columns is a word of the same summary printed 250 wide, or one
    shortened with an ellipsis (a name's end, a path's leading directories): never a piece of
    a word broken across two lines."""
    run, narrow = scheduler_80
    wide = profwork("report", str(run), env={"COLUMNS": "250"}).stdout
    words = set(wide.split()) | {"run", "directory:", str(run)}  # `run` says where it wrote
    for word in narrow.split():
        if word in words or BOX.match(word):
            continue
        assert "…" in word, f"{word!r} is not a whole word of the summary"
        head, _, tail = word.partition("…")
        assert any(w.startswith(head) and w.endswith(tail) for w in words), word
    # the headers are short enough never to break
    assert re.search(r"^ *# +function · location +calls +self +own +cum +share$", narrow, re.M)


def test_the_verdict_comes_first_and_names_the_hotspot(scheduler_80: tuple[Path, str]) -> None:
    run, stdout = scheduler_80
    hotspot = json.loads((run / "summary.json").read_text())["verdict"]["hotspot"]
    assert hotspot["function"] == "Ledger.shifts_in_window"  # the scheduler's quadratic scan
    # the terminal: the first sentence, before the facts and the tables
    first = " ".join(stdout.split("\ntarget scheduler", 1)[0].split())
    assert re.fullmatch(
        r"Hotspot: Ledger\.shifts_in_window \(\S*scheduler\.py:\d+\) — \d+\.\d% of [\d.]+ m?s "
        r"with the library code it calls, [\d,]+ calls\.",
        first,
    ), first
    # summary.md: right under the title
    md = (run / "summary.md").read_text(encoding="utf-8").splitlines()
    assert md[2].startswith("**Hotspot:** `Ledger.shifts_in_window` (`") and "**%" not in md[2]
    # report.html: the first section of the page, naming it and its share
    page = (run / "report.html").read_text(encoding="utf-8")
    main = page.split('<main class="wrap">', 1)[1]
    assert main.lstrip().startswith('<section id="verdict"')
    assert '<code class="v-name">Ledger.shifts_in_window</code>' in main.split("</section>")[0]


def test_the_reports_heaviest_paths_read_apart_before_they_are_opened(
    scheduler_80: tuple[Path, str],
) -> None:
    """All five end in `Ledger.shifts_in_window`: each one-line summary shows the callers where
    it parts from the others, not the same leaf five times."""
    run, _ = scheduler_80
    section = (run / "report.html").read_text(encoding="utf-8").split('<section id="paths">')[1]
    summaries = [
        html.unescape(re.sub(r"<[^>]+>", "", line))
        for line in re.findall(r"<summary>(.*?)</summary>", section.split("</section>")[0])
    ]
    assert len(summaries) == 5
    # `23.0% · 933.9 ms … → validate → week_hours → Ledger.shifts_in_window targets/…:79`
    chains = [re.sub(r"^\S+ · \S+ \S+ (.*) \S+$", r"\1", s) for s in summaries]
    assert len(set(chains)) == 5, chains
    assert all(c.startswith("… → ") and c.endswith("→ Ledger.shifts_in_window") for c in chains)
    assert any("→ validate → week_hours →" in c for c in chains)


def test_wrappers_are_not_ranked_as_bottlenecks(scheduler_80: tuple[Path, str]) -> None:
    run, stdout = scheduler_80
    summary = json.loads((run / "summary.json").read_text())
    ranked = [row["function"] for row in summary["bottlenecks"]]
    # the body and build_schedule, which every path runs through, are named apart
    assert {"body", "build_schedule"} <= {w["function"] for w in summary["wrappers"]}
    assert "body" not in ranked and "build_schedule" not in ranked
    assert ranked[0] == "Ledger.shifts_in_window"
    table = stdout.split("Bottlenecks", 1)[1].split("Hotspots", 1)[0]
    assert not re.search(r"^ *1 +body\b", table, re.M)
    assert "not ranked (wrappers every path runs through" in " ".join(table.split())


# ---- progress ------------------------------------------------------------------------------------


def in_terminal(args: list[str], cwd: Path, columns: int = 120) -> tuple[int, bytes]:
    """Run the installed script with a pseudo-terminal as stdin, stdout and stderr; its exit
    status and every byte it wrote to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [PROFWORK, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    written = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child has closed the terminal
                    break
                if not data:
                    break
                written += data
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=120), bytes(written)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


_CONTROL = re.compile(r"\x1b\[(\??)([\d;]*)([A-Za-z])|\r|\n")


def screen(written: bytes) -> list[str]:
    """The lines left on a terminal after `written`: the cursor moves, line erasing and colours
    rich writes are replayed (everything else an escape may do is ignored)."""
    lines = [""]
    row = col = 0
    text = written.decode("utf-8", errors="replace")
    pos = 0
    for match in [*_CONTROL.finditer(text), None]:
        end = match.start() if match else len(text)
        for char in text[pos:end]:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1 :]
            col += 1
        if match is None:
            break
        pos = match.end()
        token = match.group()
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        elif not match.group(1):
            count = int(match.group(2) or 1) if match.group(2).isdigit() else 1
            kind = match.group(3)
            if kind == "A":
                row = max(0, row - count)
            elif kind == "B":
                row += count
                lines += [""] * (row + 1 - len(lines))
            elif kind == "K" and match.group(2) == "2":
                lines[row] = ""
            elif kind == "K":
                lines[row] = lines[row][:col]
            elif kind == "G":
                col = count - 1
    return [line.rstrip() for line in lines]


STAGE = re.compile(r"profiling example with cprofile|writing flame\.svg|normalising")


def test_progress_on_a_terminal_is_shown_and_then_erased(tmp_path: Path) -> None:
    status, written = in_terminal(
        ["run", "example", "-p", "rounds=2", "-o", str(tmp_path / "results")], tmp_path
    )
    assert status == 0, written[-2000:]
    raw = written.decode("utf-8", errors="replace")
    # while it worked: the stage and its elapsed time, redrawn in place
    assert "profiling example with cprofile…" in raw and "writing flame.svg…" in raw
    assert re.search(r"writing \S+… \S*0:00:\d\d", raw)
    # when it is done, nothing of it is left: the screen opens with the verdict
    lines = [line for line in screen(written) if line]
    assert not [line for line in lines if STAGE.search(line)], lines[:5]
    assert lines[0].startswith("Hotspot: is_duplicate (")
    assert lines[-1].startswith("run directory: ")


def test_progress_is_absent_when_piped(tmp_path: Path) -> None:
    done = profwork("run", "example", "-p", "rounds=2", "-o", str(tmp_path / "results"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "\x1b" not in done.stdout and not STAGE.search(done.stdout)
    assert done.stdout.startswith("Hotspot: is_duplicate (")


# ---- ls ------------------------------------------------------------------------------------------


def test_ls_shows_the_parameters_and_size_that_tell_runs_apart(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for variant, size in (("naive", "small"), ("fast", "medium")):
        args = ["run", "example", "-p", f"variant={variant}", "-p", "rounds=1", "--size", size]
        done = profwork(*args, "-o", str(results))
        assert done.returncode == 0, done.stderr
    listed = profwork("ls", str(results), env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    header = listed.stdout.splitlines()[1].split()
    assert header == ["started", "target", "method", "size", "status", "duration"]
    blocks = listed.stdout.split("\n20")[1:]  # one block per run, each from its start time
    assert len(blocks) == 2
    newest, oldest = (" ".join(block.split()) for block in blocks)
    assert " example cprofile medium ok " in newest and "variant=fast" in newest
    assert " example cprofile small ok " in oldest and "variant=naive" in oldest
    assert "params: " in oldest and "rounds=1" in oldest and "orders=1000" in oldest
