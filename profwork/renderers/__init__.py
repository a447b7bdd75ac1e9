"""Renderers: a `Profile` and its `Summary` → the bytes of one artefact.

Each renderer module exposes an object with `name`, `filename` and `render(profile, summary)`;
options go to its constructor. The registry maps names to import paths so that nothing heavy is
imported until a renderer is used. Every renderer escapes text that comes from profiled code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from profwork.registry import Registry

if TYPE_CHECKING:
    from profwork.analyses import Summary
    from profwork.model import Profile


class Renderer(Protocol):
    """`render` gives the artefact's bytes."""

    name: str
    filename: str

    def render(self, profile: Profile, summary: Summary) -> bytes: ...


@runtime_checkable
class StreamingRenderer(Renderer, Protocol):
    """A renderer whose artefact can be very large (folded stacks of a long recording) also has
    `stream(profile, summary, out)`, which writes the same bytes as `render` to a binary file
    without holding them in memory; `pipeline.write_artefacts` prefers it."""

    def stream(self, profile: Profile, summary: Summary, out: BinaryIO) -> None: ...


@runtime_checkable
class OptionalRenderer(Renderer, Protocol):
    """A renderer whose artefact only some runs have (`memory.json`, for runs with memory
    figures): `applies(profile, summary)` says whether to write it for this run."""

    def applies(self, profile: Profile, summary: Summary) -> bool: ...


# Registered in the `profwork.renderers` entry-point group (profwork's own in pyproject.toml).
RENDERERS: Registry[Renderer] = Registry(
    "profwork.renderers",
    "output format",
    lambda value: (
        isinstance(getattr(value, "filename", None), str)
        and callable(getattr(value, "render", None))
    ),
)


def get_renderer(name: str) -> Renderer:
    """The renderer registered under `name`, imported on first use."""
    return RENDERERS.get(name)
