"""The stack rules every method and reader follows (DESIGN §1), in one place.

- **Collapse**: equal stacks are one entry whose weight is the sum (`collapse`).
- **Thread roots**: a `thread` (`process`) pseudo-frame starts a stack only when more than one
  thread (process) was recorded or `--threads` was given, never otherwise (`thread_rule`). A
  thread seen both with and without its name (py-spy cannot always read it) is one thread.
- **Above the body**: profwork's CLI, pipeline, runner and a tool's own roots above the profiled
  body are trimmed (`trim_above_body`), down to the last of the functions that call the body,
  which the runner exports (`runner.BODY_CALLERS`); profwork code the body itself calls stays
  visible.

`finish` applies the last two at once, which is what a reader does with the stacks it read.
Methods that build stacks themselves call `thread_rule` (py-spy's recording, cProfile's threads).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from profwork.model import Frame, FrameKind, Stack
from profwork.runner import BODY_CALLERS


def _marker(callers: Iterable[Callable[..., Any]]) -> dict[str, tuple[str, ...]]:
    """The body's callers as a frame names them, wherever profwork is installed (the profiled
    process's copy may be another): qualified name → path endings (`/profwork/runner.py`)."""
    package = Path(__file__).resolve().parent
    marker: dict[str, tuple[str, ...]] = {}
    for caller in callers:
        code = caller.__code__
        inside = Path(code.co_filename).resolve().relative_to(package).as_posix()
        marker[code.co_qualname] = (*marker.get(code.co_qualname, ()), f"/profwork/{inside}")
    return marker


# Exported by the runner, defined beside the functions that call the body.
_BODY_CALLERS = _marker(BODY_CALLERS)

# profwork's own edges of a profiled block (`with profwork.profile()`, `profwork.block`): a sample
# taken while the block starts or stops its profiler is time around the block, not in it.
_BLOCK_EDGES = frozenset({"Block.__enter__", "Block.__exit__"})


def collapse(items: Iterable[tuple[Stack, float]]) -> dict[Stack, float]:
    """Add up the weights of equal stacks."""
    out: dict[Stack, float] = defaultdict(float)
    for stack, weight in items:
        out[stack] += weight
    return dict(out)


def calls_body(frame: Frame) -> bool:
    """Whether the frame is profwork's own code that calls the profiled body (one of
    `runner.BODY_CALLERS`)."""
    if frame.kind is not FrameKind.PROFWORK:
        return False
    files = _BODY_CALLERS.get(frame.function)
    return files is not None and frame.file.endswith(files)


def leading_pseudo(stack: Stack) -> int:
    """How many pseudo-frames (thread, process) start the stack."""
    count = 0
    for frame in stack:
        if not frame.is_pseudo:
            break
        count += 1
    return count


def trim_above_body(stack: Stack) -> Stack | None:
    """Drop the frames above the profiled body (the CLI, the pipeline, the runner, a tool's own
    roots), keeping the leading pseudo-frames (a process and its thread).

    The cut is after the last frame of profwork's runner (or the target wrapper that calls the
    body), so that profwork code the body itself calls stays visible. A stack without one loses
    only its leading profwork frames. None for a stack that is all profwork, whose first frame
    below the runner is profwork's, or that passes through a profiled block's `__enter__` or
    `__exit__` (time spent around the body, not in it)."""
    lead = leading_pseudo(stack)
    for index in range(len(stack) - 1, lead - 1, -1):
        frame = stack[index]
        if frame.kind is not FrameKind.PROFWORK:
            continue
        if frame.function in _BLOCK_EDGES and frame.file.endswith("/profwork/block.py"):
            return None
        if calls_body(frame):
            rest = stack[index + 1 :]
            # below the runner but not in the body: the hook's start/stop and the py-spy child's
            # handshake (`before_body`/`after_body`) are profwork's time around the body
            if not rest or rest[0].kind is FrameKind.PROFWORK:
                return None
            return stack[:lead] + rest
    start = lead
    while start < len(stack) and stack[start].kind is FrameKind.PROFWORK:
        start += 1
    if start == len(stack) and start > lead:
        return None
    return stack if start == lead else stack[:lead] + stack[start:]


def thread_rule(stacks: Mapping[Stack, float], *, threads: bool) -> dict[Stack, float]:
    """The thread-root rule of DESIGN §1 on collapsed stacks: a lone thread's (process's) root is
    dropped unless `threads` (`--threads`) asks for it; several keep theirs. Stacks that become
    equal are collapsed."""
    return finish(stacks, threads=threads, trim=False)


def finish(
    stacks: Mapping[Stack, float],
    *,
    threads: bool | None,
    frames: Iterable[Frame] | None = None,
    trim: bool = True,
) -> dict[Stack, float]:
    """Apply the thread rule and the trim above the body to collapsed stacks, and collapse again.

    `threads`: False drops a lone thread (process) root, True keeps it, None keeps the roots as
    recorded (a method applies `thread_rule` later, knowing whether `--threads` was given).
    `frames`, when given, are all the distinct frames of the stacks (saves a pass over every
    frame of a big recording)."""
    processes: set[Frame] = set()
    thread_frames: set[Frame] = set()
    for stack in stacks:
        for frame in stack:
            kind = frame.kind
            if kind is FrameKind.PROCESS:
                processes.add(frame)
            elif kind is FrameKind.THREAD:
                thread_frames.add(frame)
            else:
                break
    rename = _thread_names(thread_frames)
    thread_count = len(thread_frames) - len(rename)
    has_profwork = False
    if trim:
        if frames is None:
            frames = {frame for stack in stacks for frame in stack}
        has_profwork = any(frame.kind is FrameKind.PROFWORK for frame in frames)
    drop: set[FrameKind] = set()
    if threads is not None:
        if len(processes) <= 1:
            drop.add(FrameKind.PROCESS)
        if thread_count <= 1 and not threads:
            drop.add(FrameKind.THREAD)
    change_roots = bool(processes or thread_frames) and bool(drop or rename)
    if not change_roots and not has_profwork:
        return dict(stacks)
    out: dict[Stack, float] = defaultdict(float)
    for stack, weight in stacks.items():
        if change_roots and stack and stack[0].is_pseudo:
            lead = leading_pseudo(stack)
            kept = tuple(rename.get(f, f) for f in stack[:lead] if f.kind not in drop)
            stack = kept + stack[lead:]
        if has_profwork:
            trimmed = trim_above_body(stack)
            if trimmed is None:
                continue
            stack = trimmed
        out[stack] += weight
    return dict(out)


def _thread_names(thread_frames: Iterable[Frame]) -> dict[Frame, Frame]:
    """`thread (TID)` → `thread (TID): NAME` when the same thread was also seen with one name."""
    by_id: dict[str, list[Frame]] = defaultdict(list)
    for frame in thread_frames:
        by_id[frame.function.partition(")")[0]].append(frame)
    rename: dict[Frame, Frame] = {}
    for variants in by_id.values():
        named = [f for f in variants if f.function.partition(")")[2].startswith(":")]
        if len(variants) > 1 and len(named) == 1:
            rename.update({f: named[0] for f in variants if f is not named[0]})
    return rename
