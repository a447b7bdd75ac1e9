"""Targets: what is profiled, and the registry of named ones.

A `Target` is a named body with optional setup and teardown and typed parameters. Setup and
teardown are never profiled. Parameters come from the signatures: the body's keyword parameters,
plus any of the setup's that the body does not take; each callable receives the ones it names.
When a setup is declared, its return value (the *state*) is passed to the body and the teardown
as their first positional argument.

Named targets (the built-ins included) are registered in the `profwork.targets` entry-point
group and found through `TARGETS`, as every plug-in is. How a spec on the command line (a name,
a script, a function, a module) becomes a `Target` is `profwork.specs`.

The functions that call a body (`BODY_CALLERS`) are the marker the stack rules trim at
(`profwork.stacks`): whatever is above them is profwork's, not the target's.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from profwork.errors import TargetError
from profwork.registry import Registry


class Metrics(dict[str, dict[str, float]]):
    """Figures a target body reports about itself (e.g. per-endpoint latency percentiles).

    A body returns `Metrics({"GET /calendar": {"p50": 0.004, "p95": 0.009}})`; they land in the
    summary's "Target metrics" section and in the manifest."""


@dataclass(frozen=True)
class Parameter:
    """One typed target parameter."""

    name: str
    annotation: Any
    default: Any
    required: bool

    @property
    def type_name(self) -> str:
        choices = self.choices
        if choices:
            return "|".join(str(c) for c in choices)
        annotation = self.annotation
        if annotation is inspect.Parameter.empty:
            return "str"
        return getattr(annotation, "__name__", str(annotation))

    @property
    def choices(self) -> tuple[Any, ...]:
        if typing.get_origin(self.annotation) is typing.Literal:
            return typing.get_args(self.annotation)
        return ()

    def parse(self, text: str) -> Any:
        """The typed value of `text`, or a TargetError saying what was expected."""
        choices = self.choices
        if choices:
            for choice in choices:
                if str(choice) == text:
                    return choice
            raise TargetError(
                f"parameter {self.name!r} cannot be {text!r}",
                remedy=f"choose one of: {', '.join(map(str, choices))}",
            )
        kind = self.annotation
        if kind in (inspect.Parameter.empty, str, Any):
            return text
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if kind in (int, float, Path):
                return kind(text)
        except ValueError:
            raise TargetError(
                f"parameter {self.name!r} expects {self.type_name}, got {text!r}",
                remedy=f"pass e.g. -p {self.name}={self.default!r}"
                if not self.required
                else f"pass -p {self.name}=<{self.type_name}>",
            ) from None
        return text


def _signature_parameters(fn: Callable[..., Any] | None, skip_first: bool) -> list[Parameter]:
    if fn is None:
        return []
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: fall back to the raw ones
        hints = {}
    out = []
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (ValueError, TypeError):  # a builtin without a signature: no parameters to offer
        return []
    if skip_first and params:
        params = params[1:]
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, p.annotation)
        if annotation is inspect.Parameter.empty and p.default is not inspect.Parameter.empty:
            annotation = type(p.default) if p.default is not None else inspect.Parameter.empty
        out.append(
            Parameter(
                name=p.name,
                annotation=annotation,
                default=None if p.default is inspect.Parameter.empty else p.default,
                required=p.default is inspect.Parameter.empty,
            )
        )
    return out


def accepted(fn: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The `values` that `fn` takes by name (all of them when it takes `**kwargs`)."""
    try:
        names = inspect.signature(fn).parameters
    except (ValueError, TypeError):  # no signature (a builtin): it takes none of ours
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values()):
        return dict(values)
    return {k: v for k, v in values.items() if k in names}


@dataclass(frozen=True)
class Target:
    """A named, parameterised piece of work with an optional setup and teardown."""

    name: str
    body: Callable[..., Any]
    description: str = ""
    setup: Callable[..., Any] | None = None
    teardown: Callable[..., Any] | None = None
    sizes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # an ASGI app factory, for targets that `profwork serve` can run (the targets issue)
    app: Callable[..., Any] | None = None
    spec: str = ""
    # files and directories whose code is the target's own (user code wherever installed)
    user_paths: tuple[str, ...] = ()
    # a script's arguments (sys.argv[1:] while the body runs)
    argv: tuple[str, ...] | None = None
    # resolved from `--module NAME` (so a child process can resolve the same spec again)
    module: bool = False
    # a registered target's entry point (`package.module:NAME`): what a child process imports,
    # without reading every installed distribution's entry points again
    entry: str | None = None

    @cached_property
    def parameters(self) -> tuple[Parameter, ...]:
        body = _signature_parameters(self.body, skip_first=self.setup is not None)
        names = {p.name for p in body}
        extra = [p for p in _signature_parameters(self.setup, False) if p.name not in names]
        return tuple(body + extra)

    def bind(self, params: Mapping[str, str] | None = None, size: str | None = None) -> BoundTarget:
        """Check and type `params` (strings from `-p`) over the `size` preset and the defaults."""
        by_name = {p.name: p for p in self.parameters}
        values: dict[str, Any] = {p.name: p.default for p in self.parameters if not p.required}
        if size is not None:
            if size not in self.sizes:
                available = ", ".join(self.sizes) or "none"
                raise TargetError(
                    f"target {self.name!r} has no size {size!r}",
                    remedy=f"sizes of {self.name}: {available}",
                )
            values.update(self.sizes[size])
        for key, text in (params or {}).items():
            if key not in by_name:
                valid = ", ".join(sorted(by_name)) or "none"
                raise TargetError(
                    f"target {self.name!r} has no parameter {key!r}",
                    remedy=f"valid parameters: {valid}",
                )
            values[key] = by_name[key].parse(text)
        missing = [p.name for p in self.parameters if p.required and p.name not in values]
        if missing:
            raise TargetError(
                f"target {self.name!r} needs {', '.join(missing)}",
                remedy=" ".join(f"-p {m}=VALUE" for m in missing),
            )
        return BoundTarget(self, values, size, dict(params or {}))


@dataclass(frozen=True)
class BoundTarget:
    """A target with checked, typed parameter values."""

    target: Target
    params: Mapping[str, Any]
    size: str | None = None
    # the `-p` strings as given, so that another process can bind the same target again
    given: Mapping[str, str] = field(default_factory=dict)

    def run_setup(self) -> Any:
        if self.target.setup is None:
            return None
        return self.target.setup(**accepted(self.target.setup, self.params))

    def body_call(self, state: Any) -> Callable[[], Any]:
        """A zero-argument callable that runs the body with its parameters (through one of
        `BODY_CALLERS`, or the body itself when it takes nothing)."""
        body = self.target.body
        kwargs = accepted(body, self.params)
        if self.target.setup is not None:
            return partial(_call_with_state, body, state, kwargs)
        if not kwargs:
            return body
        return partial(_call_with_params, body, kwargs)

    def direct_call(self, state: Any) -> Callable[[], Any]:
        """`body_call(state)`, less the frame of `run_module_code` for a script or `--module`
        target: the module's code itself, whose `<module>` frame is then the first on the stack.
        For the memory method, which runs the body on a stack of its own (see
        `runner._on_fresh_stack`): tracemalloc walks every frame of that stack on every
        allocation. Other bodies keep their caller, the frame the stack rules trim at."""
        if self.target.body is run_module_code and not accepted(run_module_code, self.params):
            return typing.cast(Callable[[], Any], state)
        return self.body_call(state)

    def run_teardown(self, state: Any) -> None:
        if self.target.teardown is None:
            return
        if self.target.setup is not None:
            self.target.teardown(state, **accepted(self.target.teardown, self.params))
        else:
            self.target.teardown(**accepted(self.target.teardown, self.params))

    @contextmanager
    def environment(self) -> Iterator[None]:
        """sys.argv / sys.path / `sys.modules["__main__"]` as the target expects while it runs
        (scripts, -m modules), profwork's own restored afterwards."""
        if self.target.argv is None:
            yield
            return
        saved_argv, saved_path = sys.argv[:], sys.path[:]
        saved_main = sys.modules.get("__main__")
        sys.argv = [self.target.spec, *self.target.argv]
        script_dir = str(Path(self.target.spec).resolve().parent)
        if Path(self.target.spec).suffix == ".py":
            sys.path.insert(0, script_dir)
        try:
            yield
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path
            if saved_main is not None:
                sys.modules["__main__"] = saved_main


def target(
    name: str,
    *,
    description: str = "",
    sizes: Mapping[str, Mapping[str, Any]] | None = None,
    setup: Callable[..., Any] | None = None,
    teardown: Callable[..., Any] | None = None,
    app: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Target]:
    """Declare a target from its body:

    @target("example", description="...", sizes={"small": {"n": 1000}})
    def example(n: int = 100_000) -> None: ...
    """

    def wrap(body: Callable[..., Any]) -> Target:
        return Target(
            name=name,
            body=body,
            description=description or (inspect.getdoc(body) or "").split("\n")[0],
            setup=setup,
            teardown=teardown,
            sizes=dict(sizes or {}),
            app=app,
        )

    return wrap


# ---- what calls a body -----------------------------------------------------------------------


def _call_with_state(body: Callable[..., Any], state: Any, kwargs: Mapping[str, Any]) -> Any:
    return body(state, **kwargs)


def _call_with_params(body: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    return body(**kwargs)


def run_module_code(main: Callable[[], Any]) -> Any:
    """The body of a script or `--module` target: its setup made the module's code a function
    (`main`), whose `<module>` frame is then the profiled root."""
    return main()


# Every function of this module that calls a body: the stack rules cut above the last of them
# (with `runner.execute`, see `runner.BODY_CALLERS`). A new caller of a body goes here too.
BODY_CALLERS: tuple[Callable[..., Any], ...] = (
    _call_with_state,
    _call_with_params,
    run_module_code,
)


# ---- the registry ------------------------------------------------------------------------------

# Registered in the `profwork.targets` entry-point group (the built-ins in profwork's own
# pyproject.toml), like methods, readers and renderers.
TARGETS: Registry[Target] = Registry(
    "profwork.targets",
    "target",
    lambda value: isinstance(value, Target),
    load_remedy="install what it needs (profwork's own: pip install 'profwork[demo]'), "
    "or uninstall the package that provides it",
)


def registered() -> tuple[str, ...]:
    """The names of the registered targets (none is imported)."""
    return TARGETS.names()


def load_registered(name: str) -> Target:
    """The registered target `name` (any case), its package's code counted as user code."""
    value = TARGETS.get(name)
    entry = TARGETS.entry_point(name)
    return dataclasses.replace(with_user_paths(value, value.body, entry.name), entry=entry.value)


def with_user_paths(t: Target, fn: Callable[..., Any], spec: str) -> Target:
    """The target's own package (or file) is user code wherever it is installed."""
    paths: list[str] = []
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    top = (getattr(module, "__name__", "") or "").split(".")[0]
    top_module = sys.modules.get(top)
    if top_module is not None and getattr(top_module, "__path__", None):
        paths.extend(str(Path(p).resolve()) for p in top_module.__path__)
    elif module is not None and getattr(module, "__file__", None):
        paths.append(str(Path(module.__file__).resolve()))  # type: ignore[arg-type]
    return dataclasses.replace(t, spec=spec, user_paths=tuple(paths))


def resolve(spec: str, *, module: bool = False, argv: Sequence[str] = ()) -> Target:
    """`profwork.specs.resolve`: a spec from the command line as a `Target`."""
    from profwork import specs

    return specs.resolve(spec, module=module, argv=argv)
