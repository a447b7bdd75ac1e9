"""`profwork bench` shows a progress bar on a terminal, and none in a pipe (issue 20 item 4)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

from tests.conftest import PROFWORK, profwork

BENCH = ("bench", "scheduler", "--size", "small", "-n", "6", "--warmup", "0")


def on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run `profwork` with stderr on a real pseudo-terminal; its exit code, stdout, and what the
    terminal received (escape sequences left out)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [PROFWORK, *args],
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=child,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(child)
    received = []
    try:
        while select.select([main], [], [], 120)[0]:
            try:
                data = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            received.append(data)
        assert proc.stdout is not None
        out = proc.stdout.read().decode("utf-8", "replace")
        proc.wait(timeout=60)
    finally:
        os.close(main)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = b"".join(received).decode("utf-8", "replace")
    return proc.returncode, out, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_bench_shows_its_progress_on_a_terminal(tmp_path: Path) -> None:
    code, out, terminal = on_a_terminal(*BENCH, "-o", str(tmp_path))
    assert code == 0, terminal
    assert "bench scheduler" in terminal and "6/6" in terminal
    assert "median" in out  # the figures go to stdout, the bar to the terminal


def test_bench_in_a_pipe_prints_no_progress_bar(tmp_path: Path) -> None:
    done = profwork(*BENCH, "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "6/6" not in done.stderr and "━" not in done.stderr
