"""`profwork import FILE [-o DIR] [--unit U]`: a profile file from elsewhere as a run directory.

The command parses and prints; `profwork.importing` does the work. Added to the click group by
`cli.py`; nothing heavy imported at module level.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from profwork.cli_params import output_options, unit_option

if TYPE_CHECKING:
    from profwork.readers.source import InputUnit


@click.command(name="import")
@click.argument("file", type=click.Path(path_type=Path))
@output_options
@unit_option
@click.pass_context
def import_profile(
    ctx: click.Context, file: Path, output: Path | None, top: int, unit: InputUnit | None
) -> None:
    """Turn FILE, any profile profwork reads (pstats, speedscope, folded, pyinstrument), into a
    complete run directory: every artefact, the summary and a manifest saying where it came
    from."""
    from profwork import console
    from profwork.cli import Invocation, show_run
    from profwork.importing import import_profile as importing

    invocation = ctx.find_object(Invocation)
    command = invocation.command if invocation else ("profwork", *sys.argv[1:])
    result = importing(
        file, output=output, unit=unit, top=top, command=command, on_stage=console.stage
    )
    show_run(result)
