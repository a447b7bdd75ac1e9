"""The figures of a summary read the same and agree with each other everywhere: on the terminal,
in summary.md and in report.html. Shares never pass 100%, own time never falls below self time,
heaviest paths stay distinct when shortened, and names reach Markdown and HTML as written (code
spans, escapes), never as markup or raw control characters.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from profwork.analyses import Summary, analyse, elide
from profwork.model import EdgeStats, Frame, FrameKind, FunctionStats, Profile
from profwork.renderers import get_renderer
from profwork.units import format_calls, format_quantity, format_share
from tests.conftest import only_run, profwork, write

# ---- one formatter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0 s"),
        (3e-7, "300 ns"),  # "paths below 0 µs are merged" said nothing
        (4.3e-5, "43.0 µs"),
        (0.0092, "9.2 ms"),
        (0.99996, "1.00 s"),  # rounds up into the next unit, never "1000.0 ms"
        (0.0009999, "1.0 ms"),
        (2.5, "2.50 s"),
    ],
)
def test_a_time_reads_in_the_unit_that_suits_it(value: float, text: str) -> None:
    assert format_quantity(value, "seconds") == text


def test_sizes_and_counts() -> None:
    assert format_quantity(1023.99 * 1024, "bytes") == "1.0 MiB"
    assert format_quantity(512, "bytes") == "512 B"
    assert format_quantity(1200, "samples") == "1,200 samples"


# ---- shares and own time -----------------------------------------------------------------------

BODY = Frame("body", "/srv/job.py", 1)
LEDGER = Frame("Ledger.__iter__", "/srv/ledger.py", 40)
SUM = Frame("<built-in method builtins.sum>", "~", 0, FrameKind.NATIVE)


def exact_profile() -> Profile:
    """A cProfile-like profile whose numbers disagree the way real ones do: the body's
    cumulative time is above the sum of self times, and `Ledger.__iter__`'s 43 µs of exact self
    time were merged into its caller when the stacks were rebuilt."""
    stats = {
        BODY: FunctionStats(1, 1, 0.9, 1.005),
        LEDGER: FunctionStats(500, 500, 43e-6, 43e-6, {BODY: EdgeStats(500, 500, 43e-6, 43e-6)}),
        SUM: FunctionStats(1, 1, 0.1 - 43e-6, 0.1, {BODY: EdgeStats(1, 1, 0.1, 0.1)}),
    }
    stacks = {(BODY,): 0.9 + 43e-6, (BODY, SUM): 0.1 - 43e-6}
    return Profile("seconds", stacks, stats=stats, metadata={"method": "cprofile"})


@pytest.mark.parametrize(
    ("calls", "primitive", "text"),
    [(None, None, ""), (1200, 1200, "1,200"), (1200, 3, "1,200/3"), (5, None, "5")],
)
def test_call_counts_read_as_pstats_ncalls(
    calls: int | None, primitive: int | None, text: str
) -> None:
    # blank for a sampler; `total/primitive` when recursion made them differ
    assert format_calls(calls, primitive) == text


def test_a_share_is_never_above_100_percent() -> None:
    summary = analyse(exact_profile())
    assert summary.bottlenecks[0].frame == BODY
    assert summary.bottlenecks[0].share == 1.0
    md = get_renderer("md").render(exact_profile(), summary).decode()
    html = get_renderer("html").render(exact_profile(), summary).decode()
    for text in (md, html):
        shares = [float(s) for s in re.findall(r"(\d+(?:\.\d+)?)%", text)]
        assert shares and max(shares) <= 100.0


def test_own_time_is_never_below_self_time_for_user_functions() -> None:
    summary = analyse(exact_profile())
    ledger = next(r for r in summary.bottlenecks if r.frame == LEDGER)
    assert ledger.own >= ledger.self == pytest.approx(43e-6)
    assert LEDGER in [r.frame for r in summary.hotspots]
    # library functions have no own time: blank, not a 0 below their self time
    builtin = next(r for r in summary.to_dict()["bottlenecks"] if r["function"] == SUM.function)
    assert builtin["own"] is None


def test_a_real_cprofile_run_has_consistent_figures(results: Path) -> None:
    done = profwork("run", "scheduler", "--size", "small", "-o", str(results))
    assert done.returncode == 0, done.stderr
    summary = json.loads((only_run(results) / "summary.json").read_text())
    rows = summary["bottlenecks"] + summary["hotspots"]
    for row in rows:
        assert 0.0 <= row["share"] <= 1.0, row
        if row["kind"] == "user":
            assert row["own"] >= row["self"], row
    assert sum(r["own_share"] for r in summary["hotspots"]) <= 1.0 + 1e-9
    assert all(0.0 <= p["share"] <= 1.0 for p in summary["hot_paths"])


# ---- heaviest paths ----------------------------------------------------------------------------


def test_elided_paths_keep_what_tells_them_apart() -> None:
    # two worker threads running the same deep code: only their roots differ
    chain = tuple(Frame(f"level{i}", "/srv/w.py", i) for i in range(10))
    one = (Frame("thread (1): w0", kind=FrameKind.THREAD), *chain)
    two = (Frame("thread (2): w1", kind=FrameKind.THREAD), *chain)
    other = (chain[0], Frame("elsewhere", "/srv/x.py", 1), *chain[5:])
    shown = elide([one, two, other], tail=4)
    assert len(set(shown)) == 3
    assert shown[0] == (one[0], None, *one[-4:])  # the common middle is what gives way
    assert shown[2] == (chain[0], None, *chain[-4:])  # its root is what differs


def test_heaviest_paths_of_worker_threads_are_distinct_on_the_terminal(
    tmp_path: Path, results: Path
) -> None:
    file = write(
        tmp_path / "workers.py",
        """
        import threading

        def crunch(n):
            return sum(i * i for i in range(n))

        def level3(n): return crunch(n)
        def level2(n): return level3(n)
        def level1(n): return level2(n)
        def step(n): return level1(n)

        def worker(n):
            for _ in range(3):
                step(n)

        def main(n: int = 100_000):
            threads = [threading.Thread(target=worker, args=(n,), name=f"w{i}") for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        """,
    )
    assert profwork("run", f"{file}:main", "-o", str(results)).returncode == 0
    done = profwork("report", str(only_run(results)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("Heaviest paths", 1)[1].splitlines()[1:4]
    paths = [line.split("%", 1)[1].strip() for line in lines]
    assert len(paths) == 3 and len(set(paths)) == 3, paths
    # a worker's path keeps its thread's name (which thread's are heaviest varies with the load)
    assert any(": w0 →" in p or ": w1 →" in p for p in paths), paths


# ---- the facts: chosen once, shown alike --------------------------------------------------------


def test_terminal_markdown_and_html_show_the_same_run_facts(results: Path) -> None:
    done = profwork("run", "example", "-p", "rounds=1", "-o", str(results))
    assert done.returncode == 0, done.stderr
    run = only_run(results)
    md = (run / "summary.md").read_text()
    in_md = dict(re.findall(r"^- \*\*(.+?)\*\*: (.+)$", md, re.M))
    html = (run / "report.html").read_text()
    in_html = dict(re.findall(r"<dt>(.+?)</dt><dd>(.+?)</dd>", html.split('class="facts"')[1]))
    line = next(li for li in done.stdout.splitlines() if li.startswith("target "))
    on_terminal = dict(part.split(" ", 1) for part in line.split(" · "))
    assert in_md == in_html
    assert {k.lower(): v for k, v in in_md.items()} == on_terminal
    # the total and the body duration in the same units, by the same formatter
    manifest = json.loads((run / "manifest.json").read_text())
    assert in_md["Duration"] == format_quantity(manifest["duration"], "seconds")
    assert in_md["Total"].endswith((" s", " ms", " µs", " ns"))


# ---- Markdown and control characters ----------------------------------------------------------

NAMES = {
    "snake": Frame("enrich_with_rules", "/srv/rules_engine/enrich_rules.py", 12),
    "tick": Frame("odd`name``here", "/srv/a.py", 1),
    "pipe": Frame("Parser.split|join", "/srv/b|c.py", 2),
    "markup": Frame("<script>alert(1)</script>", "/srv/<b>.py", 3),
    "nul": Frame("bad\x00name\x1b[31m", "/srv/ctl.py", 4),
}
METRICS = {"GET /x|y <i>": {"p50<b>": 0.004, "count": 10}}


def markdown_profile() -> tuple[Profile, Summary]:
    main = Frame("main", "/srv/main.py", 1)
    stacks = {(main, f): float(i + 1) for i, f in enumerate(NAMES.values())}
    profile = Profile("seconds", stacks, metadata={"method": "pyspy", "target": "t_a_r*get"})
    return profile, analyse(profile, target_metrics=METRICS)


def test_markdown_names_are_code_spans_that_read_as_written() -> None:
    profile, summary = markdown_profile()
    md = get_renderer("md").render(profile, summary).decode()
    assert "`enrich_with_rules`" in md and "enrich\\_" not in md  # grep finds it
    assert "`/srv/rules_engine/enrich_rules.py:12`" in md
    # WHEN a CommonMark + GitHub-tables parser reads it
    page = MarkdownIt("commonmark").enable("table").render(md)
    codes = re.findall(r"<code>(.*?)</code>", page)
    shown = [html.unescape(c) for c in codes]
    assert "odd`name``here" in shown
    assert "Parser.split|join" in shown and "/srv/b|c.py:2" in shown
    assert "<script>alert(1)</script>" in shown
    assert "bad\\x00name\\x1b[31m" in shown
    # THEN nothing became markup, and no cell was split by a `|`
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    for table in re.findall(r"<table>.*?</table>", page, re.S):
        widths = {
            len(re.findall(r"<t[hd]", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)
        }
        assert len(widths) == 1, widths
    assert "p50&lt;b&gt;" in page and "GET /x|y &lt;i&gt;" in page
    assert "t_a_r*get" in html.unescape(re.sub(r"<[^>]+>", "", page))


def test_control_characters_never_reach_markdown_or_html_raw() -> None:
    profile, summary = markdown_profile()
    for name in ("md", "html"):
        text = get_renderer(name).render(profile, summary).decode()
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text), name
        assert "bad\\x00name\\x1b[31m" in text, name


def test_format_share_never_shows_more_than_100_percent() -> None:
    assert format_share(1.005) == "100.0%"
    assert format_share(-0.01) == "0.0%"
