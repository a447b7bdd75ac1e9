"""How a spec on the command line becomes a `Target` (`resolve`).

- a registered name (`profwork.targets` entry points, the built-ins included);
- `path/to/script.py` — run as `__main__`, arguments after `--` become `sys.argv[1:]`;
- `path/to/file.py:function` and `package.module:function` — the function is the body;
- `--module package.module` (`module=True`) — run as `python -m` would.

Importing the user's code (a module, a file, a script's compilation) is part of resolving; a
failure there is one line naming the error and where it happened.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from profwork.errors import TargetError
from profwork.targets import (
    TARGETS,
    Target,
    load_registered,
    registered,
    run_module_code,
    with_user_paths,
)

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
    if not colon and spec in TARGETS:
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
        return with_user_paths(obj, obj.body, spec)
    if not callable(obj):
        functions = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        )
        raise TargetError(
            f"{module.__name__.removeprefix('_profwork_target_')} has no function {func!r}",
            remedy=f"functions there: {', '.join(functions) or 'none'}",
        )
    description = (inspect.getdoc(obj) or "").split("\n")[0]
    return with_user_paths(Target(name=spec, body=obj, description=description), obj, spec)


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

    return Target(
        name=slug(spec),
        body=run_module_code,
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

    top = name.split(".")[0]
    top_spec = importlib.util.find_spec(top)
    user = tuple(top_spec.submodule_search_locations or ()) if top_spec else ()
    return Target(
        name=name,
        body=run_module_code,
        description=f"module {name}",
        setup=setup,
        spec=name,
        user_paths=tuple(str(Path(p).resolve()) for p in user) or (str(Path(origin).resolve()),),
        argv=argv,
        module=True,
    )
