"""The command line's parameter types and the option declarations its commands share.

Kept apart from `cli.py`, which holds the commands. Nothing here reads the entry points or imports
a plug-in at import time: a registry is read when a value is checked or a command's own help
lists its names, so `profwork --help` stays fast.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from profwork.errors import ProfworkError

if TYPE_CHECKING:
    from pathlib import Path

    from click.shell_completion import CompletionItem

    from profwork.methods import Method, MethodOption
    from profwork.registry import Registry

if TYPE_CHECKING:  # click ≥ 8.2 types its parameter types by value and input
    FloatParam = click.ParamType[float, Any]
    NameParam = click.ParamType[str, Any]
    PathParam = click.ParamType[Path, Any]
else:
    FloatParam = NameParam = PathParam = click.ParamType


class PathType(PathParam):
    """A path, as `click.Path(path_type=Path)` gives it, with `pathlib` imported only when a
    value is converted: `profwork --help` has no path to convert (pathlib and the `urllib` and
    `ipaddress` it imports are ~3 ms of a 60 ms start)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from pathlib import Path

        return value if isinstance(value, Path) else Path(value)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


PATH = PathType()


class PositiveNumber(FloatParam):
    """A finite number above zero (`attach -d`): `inf`, `nan`, 0 and negative numbers are
    refused when the command line is parsed, before anything runs or is written."""

    name = "number"

    def __init__(self, example: str) -> None:
        self.example = example

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            self.fail(
                f"{value!r} is not a positive finite number (e.g. {self.example})", param, ctx
            )
        return number


class RegistryChoice(NameParam):
    """A plug-in name (`-m`, `convert --to`, `report --format`) checked against its registry
    when the command line is parsed, in any case; the registered spelling is passed on.

    The registry is named by import path and read only when a value is checked or a
    command's own help lists the names, so `profwork --help` never reads the entry points."""

    name = "name"

    def __init__(self, registry: str, extra: Sequence[str] = ()) -> None:
        self.registry = registry  # "module:attribute" of a `profwork.registry.Registry`
        self.extra = tuple(extra)  # names the command itself handles (`report --format text`)

    def _registry(self) -> Registry[Any]:
        module, _, attribute = self.registry.partition(":")
        registry: Registry[Any] = getattr(importlib.import_module(module), attribute)
        return registry

    def names(self) -> tuple[str, ...]:
        return (*self.extra, *self._registry().names())

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        for name in self.extra:
            if text.lower() == name.lower():
                return name
        registry = self._registry()
        if text in registry:
            return registry.entry_point(text).name
        self.fail(
            f"unknown {registry.kind} {text!r}; choose one of: {', '.join(self.names())}",
            param,
            ctx,
        )

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(self.names()) + "]"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in self.names() if n.startswith(incomplete.lower())]


METHOD = RegistryChoice("profwork.methods:METHODS")


# Options shared by the commands that run a target (`run`, `serve`).
param_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A target parameter (repeatable), typed from the target's signature.",
)


def parse_params(values: tuple[str, ...]) -> dict[str, str]:
    """`-p name=value` options as a mapping (the value a string; the target types it)."""
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProfworkError(f"-p expects name=value, got {item!r}", remedy="e.g. -p size=10")
        params[key.strip()] = value
    return params


save_baseline_option = click.option(
    "--save-baseline", metavar="NAME", help="Also keep this run as the baseline NAME."
)

db_url_option = click.option(
    "--db-url",
    metavar="URL",
    help="Shorthand for -p db_url=URL (database targets; default: embedded SQLite).",
)
top_option = click.option(
    "--top",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="Rows in the ranked summary.",
)
size_option = click.option(
    "--size",
    metavar="SIZE",
    help="A size preset of the target (`profwork targets` lists each target's sizes).",
)
# What the weights of a file without a unit are (profwork.readers.source.UNITS, kept equal by a
# test: importing the readers here would slow `--help`).
INPUT_UNITS = ("us", "ms", "s", "bytes", "samples")
unit_option = click.option(
    "--unit",
    type=click.Choice(INPUT_UNITS),
    help="The unit of a file that records none (folded stacks): samples unless given, or the "
    "unit in the manifest of the run directory holding it.",
)


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where a run goes and how much of its ranking is shown (`run`, `attach`)."""
    fn = top_option(fn)
    return click.option(
        "-o",
        "--output",
        type=PATH,
        metavar="DIR",
        help="Write the run under DIR instead of ./profiling_results.",
    )(fn)


# ---- the methods' own options ------------------------------------------------------------------

# The common options of SQL capture (`profwork.methods.NO_SQL`, `N1_THRESHOLD`; kept equal by a
# test): the probe runs in a process profwork starts, so `attach` does not offer them.
SQL_OPTIONS = ("no-sql", "n1-threshold")

GIVEN = "profwork.method_options"  # ctx.meta key: the method options given, by name


def given_method_options(ctx: click.Context) -> dict[str, Any]:
    """The method options given on the command line, by name (see `MethodOptionsCommand`)."""
    given: dict[str, Any] = ctx.meta.get(GIVEN, {})
    return given


class MethodOptionsCommand(click.Command):
    """A command that also takes the options the methods declare (`run`: every registered
    method's; `attach`: the attaching method's), as `--NAME` options built from the
    declarations when the command line is parsed or the command's help is shown (never for
    `profwork --help`), so a plug-in's options appear without editing profwork.

    The values reach the command as given (text, a flag's True, a repeatable's texts), in
    `given_method_options(ctx)`; the library parses and checks them against the chosen method
    (`profwork.methods.method_options`), which refuses an option that method does not take."""

    def __init__(
        self,
        *args: Any,
        methods: Callable[[], Sequence[Method]],
        without: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.methods = methods
        self.without = tuple(without)  # common options this command does not offer, by name
        self._generated: list[click.Parameter] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self._generated is None:
            self._generated = _method_option_params(self.methods(), self.params, self.without)
        own = [*self.params, *self._generated]
        help_option = self.get_help_option(ctx)
        return [*own, help_option] if help_option is not None else own


def _method_option_params(
    methods: Sequence[Method], taken: Sequence[click.Parameter], without: Sequence[str] = ()
) -> list[click.Parameter]:
    """One click option per option name the methods declare (common ones first, but those
    named in `without`); the first declaration of a name gives its shape; a name the command
    already uses is left out."""
    from profwork.methods import COMMON_OPTIONS

    used = {opt for param in taken for opt in getattr(param, "opts", ())}
    declared: dict[str, list[tuple[str | None, MethodOption[Any]]]] = {}
    for option in COMMON_OPTIONS:
        if option.name not in without:
            declared.setdefault(option.name, []).append((None, option))
    for method in methods:
        for option in method.options:
            declared.setdefault(option.name, []).append((method.name, option))
    params: list[click.Parameter] = []
    for name, declarations in declared.items():
        first = declarations[0][1]
        if first.cli_name in used:
            continue
        shape: dict[str, Any] = {}
        if first.kind == "flag":
            shape = {"is_flag": True, "default": False}
        elif first.kind == "repeatable":
            shape = {"multiple": True, "metavar": first.metavar}
        else:
            shape = {"type": click.STRING, "metavar": first.metavar}
        params.append(
            click.Option(
                [first.cli_name, "method_option_" + name.replace("-", "_")],
                expose_value=False,
                callback=_keep_given(name),
                help=_help(declarations),
                **shape,
            )
        )
    return params


def _keep_given(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, False, ()):
            ctx.meta.setdefault(GIVEN, {})[name] = value
        return value

    return keep


def _help(declarations: Sequence[tuple[str | None, MethodOption[Any]]]) -> str:
    """The option's help, naming the methods that take it (a common option's is its own)."""
    if declarations[0][0] is None:
        return declarations[0][1].help
    helps = {option.help for _, option in declarations}
    if len(helps) == 1:
        methods = ", ".join(str(m) for m, _ in declarations)
        return f"{declarations[0][1].help} [-m {methods}]"
    return " ".join(f"-m {m}: {option.help}" for m, option in declarations)


class LazyCommand(NamedTuple):
    """A command kept in a module of its own, imported only when it is used."""

    target: str  # "module:attribute", the click command
    summary: str  # its help's first paragraph, for the group's list of commands


class LazyGroup(click.Group):
    """A group whose commands in modules of their own (`lazy`) are imported only when one is
    run or asked for its help: `profwork --help` lists them from their summaries (the way
    click would list them: a test compares the two), so start-up does not pay for
    their imports and their options' construction."""

    def __init__(
        self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self.lazy.get(cmd_name)
        if found is not None and cmd_name not in self.commands:
            module, _, attribute = found.target.partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own list of commands, with a summary for each lazy one not yet imported."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command: click.Command | None
            if name in self.lazy and name not in self.commands:
                # a stand-in with the summary, shortened by click's own rule
                command = click.Command(name, help=self.lazy[name].summary)
            else:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])
