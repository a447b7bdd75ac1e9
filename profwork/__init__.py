"""profwork: a profiling workbench for Python back ends.

The public API (imported lazily, so `import profwork` and `profwork --help` stay fast):

- `run(target, method=..., size=..., params=...)` — profile a target and write its run
  directory; returns a `Run` (its `path`, `manifest`, `profile` and `summary`);
- `profile(method=...)` — `with profwork.profile() as p:` profiles a block of code (`p.run`);
- `load(path)` — any run directory or profile file as a `Profile`;
- `load_ipython_extension` — `%load_ext profwork` (the `%profwork` / `%%profwork` magics);
- `Profile`, `Frame`, `FrameKind` — the model;
- `target`, `Target`, `Metrics` — declare targets of your own;
- `ProfworkError` — every error a user can fix, with its remedy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from profwork.api import Run, load, run
    from profwork.block import profile
    from profwork.errors import ProfworkError
    from profwork.ipython import load_ipython_extension
    from profwork.model import Frame, FrameKind, Profile
    from profwork.targets import Metrics, Target, target

__all__ = [
    "Frame",
    "FrameKind",
    "Metrics",
    "Profile",
    "ProfworkError",
    "Run",
    "Target",
    "load",
    "load_ipython_extension",
    "profile",
    "run",
    "target",
]

_WHERE = {
    "Frame": "profwork.model",
    "FrameKind": "profwork.model",
    "Profile": "profwork.model",
    "ProfworkError": "profwork.errors",
    "Metrics": "profwork.targets",
    "Target": "profwork.targets",
    "target": "profwork.targets",
    "Run": "profwork.api",
    "load": "profwork.api",
    "run": "profwork.api",
    "profile": "profwork.block",
    "load_ipython_extension": "profwork.ipython",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'profwork' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
