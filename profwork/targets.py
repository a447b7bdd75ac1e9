"""Targets: what is profiled, and how a spec on the command line becomes one.

A `Target` is a named body with optional setup and teardown and typed parameters. Setup and
teardown are never profiled. Parameters come from the signatures: the body's keyword parameters,
plus any of the setup's that the body does not take; each callable receives the ones it names.
When a setup is declared, its return value (the *state*) is passed to the body and the teardown
as their first positional argument.

Specs (`resolve`):
- a registered name (`profwork.targets` entry points, the built-ins included);
- `path/to/script.py` — run as `__main__`, arguments after `--` become `sys.argv[1:]`;
- `path/to/file.py:function` and `package.module:function` — the function is the body;
- `--module package.module` (`module=True`) — run as `python -m` would.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from profwork.errors import TargetError

ENTRY_POINT_GROUP = "profwork.targets"
SIZES = ("small", "medium", "large")


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


def _accepted(fn: Callable[..., Any], values: Mapping[str, Any]) -> dict[str, Any]:
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

    @property
    def module_file(self) -> str | None:
        code = getattr(self.body, "__code__", None)
        return code.co_filename if code is not None else None

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
        return self.target.setup(**_accepted(self.target.setup, self.params))

    def body_call(self, state: Any) -> Callable[[], Any]:
        """A zero-argument callable that runs the body with its parameters."""
        body = self.target.body
        kwargs = _accepted(body, self.params)
        if self.target.setup is not None:
            return lambda: body(state, **kwargs)
        if not kwargs:
            return body
        return lambda: body(**kwargs)

    def run_teardown(self, state: Any) -> None:
        if self.target.teardown is None:
            return
        if self.target.setup is not None:
            self.target.teardown(state, **_accepted(self.target.teardown, self.params))
        else:
            self.target.teardown(**_accepted(self.target.teardown, self.params))

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


# ---- the registry ---------------------------------------------------------------------------


def registered() -> dict[str, Any]:
    """Entry points of the `profwork.targets` group by name (not loaded)."""
    from importlib.metadata import entry_points  # lazy: it imports a lot (email, zipfile, …)

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_registered(name: str) -> Target:
    ep = registered()[name]
    try:
        value = ep.load()
    except ImportError as exc:
        raise TargetError(
            f"target {name!r} cannot be imported: {exc}",
            remedy="install the demo extra: pip install 'profwork[demo]'",
        ) from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plug-in's code may raise anything
        raise _import_failed(f"target {name!r} ({ep.value})", exc) from None
    if not isinstance(value, Target):
        raise TargetError(f"entry point {name!r} ({ep.value}) is not a profwork Target")
    return dataclasses.replace(_with_user_paths(value, value.body, name), entry=ep.value)


def _with_user_paths(t: Target, fn: Callable[..., Any], spec: str) -> Target:
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


# ---- spec resolution ------------------------------------------------------------------------

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def slug(spec: str, module: bool = False) -> str:
    """The run directory name of a spec: `etl_pipeline.py:main` → `etl_pipeline-main`."""
    if module:
        return spec
    path, _, func = spec.partition(":")
    if path.endswith(".py"):
        path = Path(path).stem
    text = f"{path}-{func}" if func else path
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "target"


def _importable_from_cwd() -> None:
    """Modules are found from the working directory, as `python -m` and `python -c` find them
    (the `profwork` script's own sys.path[0] is its bin directory)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def resolve(spec: str, *, module: bool = False, argv: Sequence[str] = ()) -> Target:
    """Turn a spec from the command line into a `Target`."""
    if module or (":" in spec and not spec.partition(":")[0].endswith(".py")):
        _importable_from_cwd()
    if module:
        return _module_target(spec, tuple(argv))
    path_part, colon, func = spec.partition(":")
    if not colon and spec in registered():
        return load_registered(spec)
    if path_part.endswith(".py") or "/" in path_part or Path(path_part).is_file():
        file = Path(path_part)
        if not file.is_file():
            raise TargetError(
                f"no such script: {path_part}", remedy="check the path, or run `profwork targets`"
            )
        if colon:
            return _function_target(_import_file(file), func, spec)
        return _script_target(file, spec, tuple(argv))
    if colon and _MODULE_NAME.match(path_part):
        try:
            mod = importlib.import_module(path_part)
        except ImportError as exc:
            raise TargetError(
                f"cannot import module {path_part!r}: {exc}",
                remedy="check the module name and that it is importable (PYTHONPATH, venv)",
            ) from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
            raise _import_failed(path_part, exc) from None
        return _function_target(mod, func, spec)
    names = ", ".join(sorted(registered())) or "none"
    raise TargetError(
        f"unknown target {spec!r}",
        remedy=f"registered targets: {names}; or give script.py, file.py:function, "
        "package.module:function or --module package.module",
    )


def _import_failed(what: str, exc: BaseException) -> TargetError:
    """One line for an import of the user's code that raised or exited."""
    if isinstance(exc, SystemExit):
        return TargetError(
            f"importing {what} called sys.exit({exc.code!r})",
            remedy="keep a module's top level free of sys.exit; put the script's work under "
            '`if __name__ == "__main__":` or profile the script itself',
        )
    return TargetError(
        f"importing {what} failed: {describe_exception(exc)}",
        remedy="fix the error in the module; profwork imports it before profiling",
    )


def describe_exception(exc: BaseException) -> str:
    """`Type: message (at file:line)`, on one line, with the innermost frame outside the
    import machinery."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = f"{name}: {message}" if message else name
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")
    ]
    if frames:
        text += f" (at {_shown(frames[-1].filename)}:{frames[-1].lineno})"
    return text


def _shown(path: str) -> str:
    """A path relative to the working directory when it is under it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except (ValueError, OSError):
        return path


def _import_file(file: Path) -> types.ModuleType:
    name = f"_profwork_target_{re.sub(r'[^A-Za-z0-9_]', '_', file.stem)}"
    spec = importlib.util.spec_from_file_location(name, file.resolve())
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {file}", remedy="give a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(file.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
        raise _import_failed(str(file), exc) from None
    return module


def _function_target(module: types.ModuleType, func: str, spec: str) -> Target:
    obj: Any = module
    for part in func.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if isinstance(obj, Target):
        return _with_user_paths(obj, obj.body, spec)
    if not callable(obj):
        functions = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        )
        raise TargetError(
            f"{module.__name__.removeprefix('_profwork_target_')} has no function {func!r}",
            remedy=f"functions there: {', '.join(functions) or 'none'}",
        )
    description = (inspect.getdoc(obj) or "").split("\n")[0]
    return _with_user_paths(Target(name=spec, body=obj, description=description), obj, spec)


def _become_main(namespace: Mapping[str, Any], argv0: str | None = None) -> dict[str, Any]:
    """A fresh module installed as `sys.modules["__main__"]`, as `runpy` installs a script:
    its `__dict__` is the script's globals, which SQLAlchemy's declarative mapping,
    dataclasses, `typing.get_type_hints` and pickle look up through `sys.modules`.
    `BoundTarget.environment` puts profwork's own `__main__` back when the target is done."""
    module = types.ModuleType("__main__")
    module.__dict__.update(namespace)
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    if argv0 is not None:
        sys.argv[0] = argv0
    return module.__dict__


def _run_code(code: types.CodeType, namespace: dict[str, Any]) -> Callable[[], Any]:
    # A module's code object called as a function runs the module body in `namespace`, so the
    # profiled root is the script's own `<module>` frame, with no exec/runpy frames above it.
    return types.FunctionType(code, namespace)


def _script_target(file: Path, spec: str, argv: tuple[str, ...]) -> Target:
    resolved = file.resolve()
    try:
        source = resolved.read_bytes()
        code = compile(source, str(resolved), "exec")
    except SyntaxError as exc:
        raise TargetError(
            f"{file} does not compile: {exc.msg} (line {exc.lineno})", remedy="fix the script"
        ) from None

    def setup() -> Callable[[], Any]:
        # as runpy.run_path: the script's globals are a real `__main__` module's namespace
        namespace = {"__file__": str(resolved), "__cached__": None}
        return _run_code(code, _become_main(namespace))

    def body(state: Callable[[], Any]) -> Any:
        return state()

    return Target(
        name=slug(spec),
        body=body,
        description=f"script {file}",
        setup=setup,
        spec=str(file),
        user_paths=(str(resolved),),
        argv=argv,
    )


def _module_target(name: str, argv: tuple[str, ...]) -> Target:
    # finding a submodule imports its parent packages, whose code may raise anything
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(f"{name}.__main__")
            if spec is None:
                raise TargetError(
                    f"{name} is a package without __main__", remedy="give the module to run"
                )
    except (ImportError, ValueError) as exc:
        spec, error = None, str(exc)
    except TargetError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code
        raise _import_failed(name, exc) from None
    else:
        error = "not found"
    if spec is None or spec.loader is None:
        raise TargetError(
            f"cannot find module {name!r} ({error})",
            remedy="check the module name and that it is importable (PYTHONPATH, venv)",
        )
    loader = spec.loader
    try:
        code = loader.get_code(spec.name)  # type: ignore[attr-defined]
    except SyntaxError as exc:
        raise TargetError(
            f"{name} does not compile: {exc.msg} (line {exc.lineno})", remedy="fix the module"
        ) from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        raise _import_failed(name, exc) from None
    if code is None:
        raise TargetError(f"module {name!r} has no Python code", remedy="give a Python module")
    origin = spec.origin or name
    main_spec = spec

    def setup() -> Callable[[], Any]:
        # as runpy._run_module_as_main: the module's file is sys.argv[0], its spec is kept
        namespace = {
            "__file__": origin,
            "__cached__": main_spec.cached,
            "__spec__": main_spec,
            "__loader__": loader,
            "__package__": main_spec.parent,
        }
        return _run_code(code, _become_main(namespace, argv0=origin))

    def body(state: Callable[[], Any]) -> Any:
        return state()

    top = name.split(".")[0]
    top_spec = importlib.util.find_spec(top)
    user = tuple(top_spec.submodule_search_locations or ()) if top_spec else ()
    return Target(
        name=name,
        body=body,
        description=f"module {name}",
        setup=setup,
        spec=name,
        user_paths=tuple(str(Path(p).resolve()) for p in user) or (str(Path(origin).resolve()),),
        argv=argv,
        module=True,
    )
