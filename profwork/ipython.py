"""The IPython extension: `%load_ext profwork`, then

    %profwork [-m METHOD] [--top N] [-o DIR] [--rate HZ] [--no-sql] STATEMENT
    %%profwork [-m METHOD] [--top N] [-o DIR] [--rate HZ] [--no-sql]
    ...cell...

profile the statement or the cell in the kernel's own namespace (`profwork.profile`, so the same
methods: cprofile, pyinstrument, memory, pyspy; the SQL the cell executes is captured unless
`--no-sql`), save a run directory (`<output>/cell/<stamp>-<method>/`)
and display the verdict, the summary table and the flame graph inline. The run is also left in
the namespace as `_profwork_run`. Bad options are one line (IPython's `UsageError`); an exception
in the cell is recorded in the run and shown as IPython shows any.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from profwork.errors import ProfworkError

RUN_VARIABLE = "_profwork_run"
_WITH_VALUE = ("-m", "--method", "--top", "-o", "--output", "--rate")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%profwork: {message} (usage: {self.format_usage().strip()})")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%profwork", add_help=False)
    parser.add_argument("-m", "--method", default="cprofile")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("-o", "--output", default=None)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--no-sql", action="store_true")
    return parser


def parse(line: str) -> tuple[argparse.Namespace, str]:
    """The options at the start of `line`, and the rest of it (a statement, in line mode)."""
    words = shlex.split(line.split("\n", 1)[0], posix=True) if line.strip() else []
    options: list[str] = []
    rest: list[str] = []
    for index, word in enumerate(words):
        takes_value = bool(options) and options[-1] in _WITH_VALUE
        if takes_value or word.startswith("-"):
            options.append(word)
        else:
            rest = words[index:]
            break
    namespace = _parser().parse_args(options)
    if namespace.top < 1:
        raise UsageError("%profwork: --top must be at least 1")
    # the statement as typed (shlex would have eaten its quotes)
    statement = line[_statement_start(line, options) :] if rest else ""
    return namespace, statement.strip()


def _statement_start(line: str, options: list[str]) -> int:
    """Where the statement begins: after the option words, found in order in the line."""
    at = 0
    for word in options:
        found = line.find(word, at)
        at = found + len(word) if found >= 0 else at
    return at


@magics_class
class ProfworkMagics(Magics):
    @line_cell_magic
    def profwork(self, line: str, cell: str | None = None) -> None:
        """Profile a statement (`%profwork STATEMENT`) or a cell (`%%profwork`), save the run
        and show its summary and flame graph. Options: -m METHOD (cprofile, pyinstrument,
        memory, pyspy), --top N, -o DIR (default ./profiling_results), --rate HZ, --no-sql
        (leave the SQL uncaptured)."""
        from IPython.display import display

        from profwork.block import Block

        options, statement = parse(line)
        if cell is not None and statement:
            raise UsageError(f"%%profwork: unexpected {statement!r} after the options")
        source = cell if cell is not None else statement
        if not source.strip():
            raise UsageError("%profwork: give a statement to profile, or use %%profwork on a cell")
        shell = self.shell
        assert shell is not None
        source = shell.transform_cell(source)  # type: ignore[no-untyped-call]
        filename = shell.compile.cache(source)
        code = compile(source, filename, "exec")
        try:
            block = Block(
                options.method,
                name="cell",
                rate=options.rate,
                sql=not options.no_sql,
                output=options.output,
                top=options.top,
                caller=sys._getframe(),
                spec="%%profwork" if cell is not None else f"%profwork {statement}",
            )
        except ProfworkError as exc:
            raise UsageError(f"profwork: error: {exc.message} — {exc.remedy}") from None
        try:
            with block:
                exec(code, shell.user_ns)
        except ProfworkError as exc:
            raise UsageError(f"profwork: error: {exc.message} — {exc.remedy}") from None
        finally:
            if block._run is not None:
                shell.user_ns[RUN_VARIABLE] = block.run
                display(block.run)  # type: ignore[no-untyped-call]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext profwork`."""
    ipython.register_magics(ProfworkMagics)
