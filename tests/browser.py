"""Headless chromium for the tests whose product is a page (DESIGN §7: a real browser).

- `chromium()` finds Debian's `chromium` (or `PROFWORK_CHROMIUM`); when it is missing the test is
  skipped with the remedy, or fails under `CI=true`, where a missing prerequisite is an error.
- `screenshot(url)` and `dump_dom(url)` run it with the flags this machine needs (NOTES.md,
  "Headless chromium here"): no sandbox as root, no GPU, no network chatter, a fresh profile.
- `decode_png(data)` reads the screenshot with the standard library only (zlib + struct), so a
  test can tell a drawn page from a blank one without Pillow.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from profwork.model import Frame, FrameKind, Profile, Stack
from tests.conftest import require

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
)
TIMEOUT = 90.0


def find_chromium() -> str | None:
    configured = os.environ.get("PROFWORK_CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium() -> str:
    """The chromium executable; skips the test without it (fails under CI=true)."""
    found = find_chromium()
    require(
        found is not None,
        "headless chromium not found (install it: apt-get install -y chromium)",
    )
    assert found is not None
    return found


def run(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    """Run chromium once with a fresh profile directory; raises on a non-zero exit."""
    with tempfile.TemporaryDirectory(prefix="profwork-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
            stdin=subprocess.DEVNULL,
        )


def screenshot(url: str, out: Path, size: tuple[int, int] = (1200, 800)) -> Png:
    """A picture of `url` at `size`, saved to `out` (kept for a look when a test fails)."""
    run([f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", url])
    return decode_png(out.read_bytes())


def dump_dom(url: str, budget_ms: int = 2000) -> str:
    """The DOM of `url` serialised after its scripts ran (virtual time lets them finish)."""
    return run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url]).stdout.decode("utf-8")


def file_url(path: Path, query: str = "") -> str:
    return path.resolve().as_uri() + (f"?{query}" if query else "")


# ---- PNG (RFC 2083), 8-bit, non-interlaced: what chromium writes --------------------------------


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start : start + self.channels])

    def colours(self, step: int = 1) -> set[bytes]:
        """The distinct pixel values (of every `step`-th row)."""
        n = self.channels
        seen: set[bytes] = set()
        for row in self.rows[::step]:
            seen.update(row[i : i + n] for i in range(0, len(row), n))
        return seen

    def share_of(self, colour: bytes) -> float:
        """The share of pixels exactly `colour` (a blank page is ~1.0 of its background)."""
        n = self.channels
        count = sum(
            1 for row in self.rows for i in range(0, len(row), n) if row[i : i + n] == colour
        )
        return count / (self.width * self.height)


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def decode_png(data: bytes) -> Png:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat = 8, bytearray()
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or colour_type not in _CHANNELS:
                raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
            channels = _CHANNELS[colour_type]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    rows: list[bytes] = []
    prior = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, channels)
        rows.append(row)
        prior = row
    return Png(width, height, channels, rows)


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    # Fast paths for the flat rows a page is mostly made of; the general loops otherwise.
    if kind == 0:
        return line
    if kind == 2 and line.count(0) == len(line):
        return prior
    if kind == 1 and line.count(0, bpp) == len(line) - bpp:
        return line[:bpp] * (len(line) // bpp)
    out = bytearray(line)
    n = len(out)
    if kind == 1:
        for i in range(bpp, n):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(n):
            out[i] = (out[i] + prior[i]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = out[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[i] = (out[i] + predictor) & 0xFF
    else:
        raise ValueError(f"bad PNG filter type {kind}")
    return bytes(out)


# ---- profiles the page tests draw ----------------------------------------------------------------

EVIL_NAME = "<script>alert(1)</script>"
EVIL_FILE = "/srv/<script>alert(2)</script>/\"q&'u]]>ote.py"
CDATA_NAME = "end]]>of<![CDATA[\"&'"


def tricky_profile(**metadata: object) -> Profile:
    """Threads as roots, every kind of code, and names that try to break out of XML, CDATA,
    attributes and scripts; unicode; `;` and spaces; a control character."""
    main_thread = Frame("thread (1): MainThread", kind=FrameKind.THREAD)
    worker = Frame("thread (2): worker-1", kind=FrameKind.THREAD)
    main = Frame("main", "/srv/app/run.py", 1)
    generate = Frame("Scheduler.generate", "/srv/app/scheduler.py", 40)
    validate = Frame("Scheduler.validate", "/srv/app/scheduler.py", 90)
    evil = Frame(EVIL_NAME, EVIL_FILE, 7)
    cdata = Frame(CDATA_NAME, "/srv/app/cdata.py", 3)
    unicode = Frame("größe.berechnen·λ 日本語", "/srv/app/ünï/mödule.py", 3)
    spaced = Frame("a;b c", "/srv/app/semi colon; dir/x y.py", 5)
    control = Frame("bad\x01name\x7f", "/srv/app/ctl.py", 9)
    dumps = Frame("dumps", "/usr/lib/python3.11/json/__init__.py", 183, FrameKind.STDLIB)
    encode = Frame(
        "JSONEncoder.encode", "/usr/lib/python3.11/json/encoder.py", 183, FrameKind.STDLIB
    )
    execute = Frame(
        "Session.execute",
        "/venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py",
        2200,
        FrameKind.THIRD_PARTY,
    )
    sleep = Frame("<built-in method time.sleep>", "~", 0, FrameKind.NATIVE)
    runner = Frame("runner.run_body", "/srv/profwork/runner.py", 10, FrameKind.PROFWORK)
    stacks = {
        (main_thread, main, generate, validate): 3.0,
        (main_thread, main, generate, validate, dumps, encode): 1.2,
        (main_thread, main, generate): 0.8,
        (main_thread, main, evil): 0.5,
        (main_thread, main, cdata): 0.3,
        (main_thread, main, unicode, spaced): 0.4,
        (main_thread, main, control): 0.2,
        (main_thread, main, execute, sleep): 1.1,
        (worker, runner, execute): 0.9,
        (worker, runner, sleep): 0.3,
    }
    return Profile(
        "seconds", stacks, metadata={"method": "pyspy", "target": "scheduler", **metadata}
    )


def large_profile(n_stacks: int = 200_000, depth: int = 50, seed: int = 20240601) -> Profile:
    """`n_stacks` distinct stacks `depth` frames deep over 20,000 functions, deterministic: four
    threads, a shared 5-frame entry path, six levels of 8-way branching, then one of 1,024
    random 38-frame tails; Pareto weights, so a few deep paths are heavy and most are thin."""
    rng = random.Random(seed)
    kinds = (FrameKind.USER, FrameKind.STDLIB, FrameKind.THIRD_PARTY, FrameKind.NATIVE)
    pool = [
        Frame(f"pkg{i % 211}.mod.func_{i}", f"/srv/app/pkg{i % 211}/mod.py", 10 + i, kinds[i % 4])
        for i in range(20_000)
    ]
    threads = [Frame(f"thread ({7000 + t}): worker-{t}", kind=FrameKind.THREAD) for t in range(4)]
    entry = tuple(pool[:5])
    levels = [pool[100 + 8 * level : 108 + 8 * level] for level in range(6)]
    tail_length = depth - 1 - len(entry) - len(levels)
    tails = [tuple(rng.sample(pool, tail_length)) for _ in range(1024)]
    heads = [(thread, *entry) for thread in threads]
    # the six branching levels as two halves of three (8**3 combinations each)
    halves = [
        [tuple(levels[base + k][(j >> (3 * k)) & 7] for k in range(3)) for j in range(512)]
        for base in (0, 3)
    ]
    stacks: dict[Stack, float] = {}
    randrange, pareto = rng.randrange, rng.paretovariate
    for i in range(n_stacks):
        stack = (
            heads[randrange(4)]
            + halves[0][i & 511]
            + halves[1][(i >> 9) & 511]
            + tails[randrange(1024)]
        )
        stacks[stack] = pareto(1.2) * 1e-4
    return Profile("seconds", stacks, metadata={"method": "pyspy", "target": "synthetic"})
