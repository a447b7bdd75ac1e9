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

from profwork.flatstacks import FlatStacks
from profwork.model import Frame, FrameKind, Stack
from profwork.runner import BODY_CALLERS
from profwork.stacktree import ROOT, StackTree
from profwork.tablebuilder import TableBuilder


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


def thread_rule(stacks: Mapping[Stack, float], *, threads: bool) -> Mapping[Stack, float]:
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
) -> Mapping[Stack, float]:
    """Apply the thread rule and the trim above the body to collapsed stacks, and collapse again.

    `threads`: False drops a lone thread (process) root, True keeps it, None keeps the roots as
    recorded (a method applies `thread_rule` later, knowing whether `--threads` was given).
    `frames`, when given, are all the distinct frames of the stacks (saves a pass over every
    frame of a big recording). A `StackTree` gives a `StackTree` (see `_finish_tree`), in time
    linear in its nodes; a `FlatStacks` gives a `FlatStacks` (see `_finish_table`), in time
    linear in its distinct leads and bodies; a mapping of tuples gives a dict."""
    processes: set[Frame] = set()
    thread_frames: set[Frame] = set()
    if isinstance(stacks, StackTree | FlatStacks):
        frames = stacks.frames
        leading = (
            _lead_frames(stacks)
            if isinstance(stacks, StackTree)
            else {stacks.frames[n] for lead in stacks.leads for n in lead}
        )
        for frame in leading:
            (processes if frame.kind is FrameKind.PROCESS else thread_frames).add(frame)
    else:
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
    if isinstance(stacks, StackTree):
        if not change_roots and not has_profwork:
            return stacks
        return _finish_tree(stacks, rename, drop if change_roots else set(), has_profwork)
    if isinstance(stacks, FlatStacks):
        if not change_roots and not has_profwork:
            return stacks
        return _finish_table(stacks, rename, drop if change_roots else set(), has_profwork)
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


def _lead_frames(tree: StackTree) -> set[Frame]:
    """The pseudo-frames that lead the tree's stacks (a process and its threads), as
    `finish` collects them from stacks of tuples: only on the paths of entries."""
    frames, parent, numbers = tree.frames, tree.parent, tree.frame
    count = len(parent)
    below = [False] * count  # whether the node's subtree holds an entry
    for node, _ in tree.entries():
        below[node] = True
    for node in range(count - 1, ROOT, -1):
        if below[node]:
            below[parent[node]] = True
    leading = [True] * count
    found: set[Frame] = set()
    for node in range(1, count):
        frame = frames[numbers[node]]
        leading[node] = leading[parent[node]] and frame.is_pseudo
        if leading[node] and below[node]:
            found.add(frame)
    return found


# States of a node's stack while `_finish_tree` walks down (see `trim_above_body`).
_LEAD = 0  # only pseudo-frames so far
_SKIP = 1  # no body caller yet, and only profwork frames below the lead: dropped
_KEEP = 2  # kept from here on (below a body caller, or below the skipped profwork frames)
_AT_CALLER = 3  # ends at a body caller: dropped
_AROUND = 4  # the first frame below the body caller is profwork's: dropped


def _finish_tree(
    tree: StackTree, rename: Mapping[Frame, Frame], drop: set[FrameKind], trim: bool
) -> StackTree:
    """`finish` on a tree: each node's stack maps to one node of a new tree (or is dropped),
    decided from its parent's in one pass, so the work is linear in the nodes. The rules are
    `trim_above_body`'s, read top-down: a body caller restarts the kept stack below the lead."""
    out = StackTree()
    count = len(tree.parent)
    state = [_LEAD] * count
    mapped = [ROOT] * count  # the new node of the stack (meaningless when dropped)
    lead = [ROOT] * count  # the new node of the stack's lead (its pseudo-frames)
    frames, parent, numbers = tree.frames, tree.parent, tree.frame
    profwork = [trim and f.kind is FrameKind.PROFWORK for f in frames]
    caller = [trim and calls_body(f) for f in frames]
    pseudo = [f.is_pseudo for f in frames]
    dropped_kind = [f.kind in drop for f in frames]
    renamed = [rename.get(f, f) for f in frames] if rename else frames
    number_of, child = out.number, out.child
    for node in range(1, count):
        up = parent[node]
        was = state[up]
        here = numbers[node]
        base = lead[up]
        lead[node] = base
        if caller[here]:
            state[node] = _AT_CALLER
        elif was == _LEAD:
            if pseudo[here]:
                new = base if dropped_kind[here] else child(base, number_of(renamed[here]))
                lead[node] = mapped[node] = new
            elif profwork[here]:
                state[node] = _SKIP
            else:
                state[node], mapped[node] = _KEEP, child(base, number_of(frames[here]))
        elif was in (_SKIP, _AT_CALLER):
            if profwork[here]:
                state[node] = _SKIP if was == _SKIP else _AROUND
            else:
                state[node], mapped[node] = _KEEP, child(base, number_of(frames[here]))
        elif was == _KEEP:
            state[node], mapped[node] = _KEEP, child(mapped[up], number_of(frames[here]))
        else:
            state[node] = _AROUND
    kept = (_LEAD, _KEEP)
    for node, weight in tree.entries():
        if state[node] in kept:
            out.add(mapped[node], weight)
    return out


def _finish_table(
    table: FlatStacks, rename: Mapping[Frame, Frame], drop: set[FrameKind], trim: bool
) -> FlatStacks:
    """`finish` on a stack table: the roots rule once per distinct lead, the trim once per
    distinct body (`trim_above_body` on a body alone is its cut below the lead), and the stacks
    that become equal added up in order."""
    out = TableBuilder()
    number = out.number
    renumber = list(map(number, table.frames))  # old frame number → new
    leads = [
        tuple(number(rename.get(f, f)) for f in table.lead_frames(n) if f.kind not in drop)
        for n in range(len(table.leads))
    ]
    bodies: list[tuple[int, ...] | None]
    if trim:
        new_of = dict(zip(table.frames, renumber, strict=True)).__getitem__
        bodies = []
        for n in range(len(table.bodies)):
            kept = trim_above_body(table.body_frames(n))
            bodies.append(None if kept is None else tuple(map(new_of, kept)))
    else:
        get = renumber.__getitem__
        bodies = [tuple(map(get, ids)) for ids in table.bodies]
    new_lead = list(map(out.lead_of, leads))
    # each body's new number; -1: dropped; -2: it starts with a pseudo-frame now (the trim cut
    # above a thread root), which `add` moves to the lead
    new_body = [
        -1 if ids is None else -2 if ids and out.is_pseudo(ids[0]) else out.body_of(ids)
        for ids in bodies
    ]
    if (
        min(new_body, default=0) >= 0
        and len(set(new_lead)) == len(new_lead)
        and len(set(new_body)) == len(new_body)
    ):  # no stack dropped, none merged: the entries as they were, renumbered (in C)
        leads_of = map(new_lead.__getitem__, table.lead)
        keys = zip(leads_of, map(new_body.__getitem__, table.body), strict=True)
        out.entries = dict(zip(keys, range(len(table.weight)), strict=True))
        out.weights = list(table.weight)
        return out.table()
    add, add_entry = out.add, out.add_entry
    for lead, body, weight in zip(table.lead, table.body, table.weight, strict=True):
        found = new_body[body]
        if found >= 0:
            add_entry(new_lead[lead], found, weight)
        elif found == -2:
            add(leads[lead], bodies[body] or (), weight)
    return out.table()
