"""Sniff and read every profile format profwork accepts into one `Profile`.

Formats (decided by content, never by a file's extension):
- pstats: the marshalled dict written by cProfile, `pstats.Stats.dump_stats` and the pure-Python
  `profile` module (which stores a call count per caller instead of a 4-tuple);
- pyinstrument: a saved session (`Session.save`, pyinstrument 4 and 5: `frame_records`), or the
  tree its JSON renderer writes (`root_frame`);
- speedscope: https://www.speedscope.app/file-format-schema.json, sampled and evented profiles,
  several profiles in one file, and what py-spy and pyinstrument write (`null` where the schema
  wants a number);
- folded: `frame;frame;frame weight` lines as flamegraph.pl, inferno, py-spy (`-f raw`) and our own
  folded renderer write them, with the weight after the last space;
- run: a run directory, normalised again by the method that recorded it.

Rules every reader follows (DESIGN §1): frames above the profiled body are trimmed; a `thread`
(`process`) pseudo-frame starts a stack only when more than one thread (process) was recorded or
`threads=True`; stacks are kept collapsed. A reader never writes or renders, and a file it cannot
read raises `InputError` with the remedy, never a raw exception.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import marshal
import re
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from profwork.errors import InputError
from profwork.frames import Classifier, SysPaths, qualname
from profwork.model import (
    EdgeStats,
    Frame,
    FrameKind,
    FunctionStats,
    Profile,
    Stack,
    Unit,
    calls_body,
    trim_above_body,
)

__all__ = [
    "read",
    "read_folded",
    "read_pstats",
    "read_pyinstrument",
    "read_speedscope",
    "sniff",
]

REMEDY = (
    "give a run directory, a pstats file, a speedscope JSON, a folded-stacks file "
    "or a pyinstrument session JSON"
)

# How much of a file sniffing looks at before deciding it is folded text.
_SNIFF_BYTES = 1 << 20
_SNIFF_LINES = 20

# The entry the pstats renderer writes for an empty profile (pstats.Stats refuses an empty dict).
EMPTY_PSTATS_KEY = ("~", 0, "<empty profile>")

# cProfile's own entries: the profiler being switched off (and on) inside the profiled window.
_LSPROF_ENTRIES = frozenset(
    {
        "<method 'disable' of '_lsprof.Profiler' objects>",
        "<method 'enable' of '_lsprof.Profiler' objects>",
    }
)

_THREAD_TEXT = re.compile(r"^thread \([^()]*\)(?::.*)?$", re.DOTALL)
_PROCESS_TEXT = re.compile(r"^process \d+(?::.*)?$", re.DOTALL)
# `qualname (path:line)`; the name is the shortest prefix, since a path may hold " (" and a Python
# qualified name never does.
_LOCATED = re.compile(r"^(.*?) \((.+):(\d+)\)$", re.DOTALL)
# `name (path)`: py-spy's spelling of a frame without a line (`--nolineno`, native code), when
# the part in parentheses looks like a path and not like C++ arguments or a version.
_FILED = re.compile(r"^(.*?) \(([^()]+)\)$", re.DOTALL)
_PATHLIKE = re.compile(r"[/\\]|\.(?:pyx?|pyw|so(?:\.\d+)*|dylib|dll|c|cc|cpp|h|rs)$")


def _default_classifier(classifier: Classifier | None) -> Classifier:
    return classifier if classifier is not None else Classifier(SysPaths.current())


def _corrupt(path: Path, what: str, reason: str, remedy: str = REMEDY) -> InputError:
    return InputError(f"{path}: {what} ({reason})", remedy=remedy)


# ---- shared stack rules ------------------------------------------------------------------------


def _leading_pseudo(stack: Stack) -> int:
    """How many pseudo-frames start the stack."""
    count = 0
    for frame in stack:
        if not frame.is_pseudo:
            break
        count += 1
    return count


def _finish_stacks(
    stacks: Mapping[Stack, float],
    *,
    threads: bool | None,
    frames: Iterable[Frame] | None = None,
) -> dict[Stack, float]:
    """Apply the thread rule and the trim to collapsed stacks, and collapse again.

    `threads`: False drops a lone thread (process) root, True keeps it, None keeps the roots as
    recorded (the caller applies the rule). A thread seen both with and without its name (py-spy
    cannot always read it) is one thread. `frames`, when given, are all the distinct frames of
    the stacks (saves a pass over every frame)."""
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
            lead = _leading_pseudo(stack)
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


def _name_frame(text: str) -> Frame:
    """A frame known by its name alone: a pseudo-frame, native code, or a foreign frame."""
    if _THREAD_TEXT.match(text):
        return Frame(text, "", 0, FrameKind.THREAD)
    if _PROCESS_TEXT.match(text):
        return Frame(text, "", 0, FrameKind.PROCESS)
    if (
        text.startswith(("<built-in", "<method ", "<native", "<slot wrapper"))
        or "::" in text
        or (text.startswith("[") and text.endswith("]"))
    ):
        return Frame(text, "", 0, FrameKind.NATIVE)
    return Frame(text, "", 0, FrameKind.USER)


class _FrameMaker:
    """Frames for `name`, `file`, `line` triples, classified once each (cached)."""

    def __init__(self, classifier: Classifier, *, qualified: bool = False) -> None:
        self.classifier = classifier
        self.qualified = qualified
        self._cache: dict[tuple[str, str, int], Frame] = {}

    def __call__(self, name: str, file: str, line: int) -> Frame:
        key = (name, file, line)
        frame = self._cache.get(key)
        if frame is None:
            if not file:
                frame = _name_frame(name)
            elif self.qualified:
                frame = Frame(name, file, line, self.classifier.kind(file, name))
            else:
                frame = self.classifier.frame(name, file, line)
            self._cache[key] = frame
        return frame


# ---- sniffing ----------------------------------------------------------------------------------


def sniff(path: Path) -> str:
    """The format of `path`, by content: "pstats", "speedscope", "pyinstrument", "folded" or
    "run" (a run directory). Raises `InputError` for anything else."""
    return _sniff(Path(path))[0]


def _sniff(path: Path) -> tuple[str, Any]:
    """The format and, for pstats and JSON, the already parsed content (read once)."""
    if path.is_dir():
        if (path / "manifest.json").is_file():
            return "run", None
        raise InputError(f"{path}: a directory without manifest.json is not a run", remedy=REMEDY)
    head = _read_head(path)
    if not head.strip():
        raise InputError(f"{path}: the file is empty", remedy=REMEDY)
    if head[:1] in (b"{", b"\xfb"):
        stats = _try_marshal(path)
        if stats is not None:
            return "pstats", stats
    encoding = _text_encoding(head)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not a profile profwork can read (binary data that is not pstats)",
            remedy=REMEDY,
        ) from None
    text = text.lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        data = _try_json(path, encoding)
        if data is None:  # pretty-printed JSON has lines ending in numbers: never call it folded
            raise InputError(f"{path}: JSON that does not parse (cut short?)", remedy=REMEDY)
        return _json_format(path, data), data
    if _looks_folded(text, complete=len(head) < _SNIFF_BYTES):
        return "folded", None
    raise InputError(f"{path}: not a profile profwork can read", remedy=REMEDY)


def _unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError):
        return InputError(f"{path}: no such file or directory", remedy=REMEDY)
    return InputError(f"{path}: cannot be read ({error.strerror or error})", remedy=REMEDY)


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise _unreadable(path, error) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _unreadable(path, error) from None


def _text_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return "utf-8"


def _try_marshal(path: Path) -> dict[Any, Any] | None:
    """The pstats dict when the file is one, else None."""
    raw = _read_bytes(path)
    if raw[:1] not in (b"{", b"\xfb") or not _marshal_is_safe(raw):
        return None
    try:
        data = marshal.loads(raw)
    except (ValueError, EOFError, TypeError, OverflowError, MemoryError):
        return None
    if not isinstance(data, dict):
        return None
    for key, value in list(data.items())[:50]:
        if not (isinstance(key, tuple) and len(key) == 3 and isinstance(value, tuple)):
            return None
        if len(value) != 5 or not isinstance(value[4], dict):
            return None
    return data


_INT32 = struct.Struct("<i")
_FLAG_REF = 0x80
_DICT = -1
_SKIP4 = -2


def _marshal_is_safe(data: bytes) -> bool:
    """Whether `data` is one well-formed marshal object that is safe to give `marshal.loads`.

    `marshal` trusts its input: a corrupt size makes it allocate gigabytes, and a back reference
    to a tuple still being filled crashes the interpreter when the tuple is hashed. This walks the
    bytes once (about 40 ms for an 8,000-function pstats) and checks every size against the bytes
    left and every reference against the objects already complete."""
    n = len(data)
    pos = 0
    unpack = _INT32.unpack_from
    pending: list[int] = [1]
    owners: list[int] = [-1]
    complete: list[bool] = []
    while pending:
        top = pending[-1]
        if top == 0:
            pending.pop()
            owner = owners.pop()
            if owner >= 0:
                complete[owner] = True
            continue
        if top == _SKIP4:
            pending.pop()
            owners.pop()
            pos += 4
            if pos > n:
                return False
            continue
        if top == _DICT:
            if pos >= n:
                return False
            if data[pos] & 0x7F == 0x30:  # the NULL that ends a dict
                pos += 1
                pending[-1] = 0
                continue
            pending.append(2)
            owners.append(-1)
            continue
        pending[-1] = top - 1
        if pos >= n:
            return False
        byte = data[pos]
        pos += 1
        code = byte & 0x7F
        ref = -1
        if byte & _FLAG_REF:
            ref = len(complete)
            complete.append(False)
        container = -3  # not a container
        if code in b"NFTS.":
            pass
        elif code == 0x72:  # r: a back reference, only to a finished object
            if pos + 4 > n:
                return False
            index = unpack(data, pos)[0]
            pos += 4
            if not 0 <= index < len(complete) or not complete[index]:
                return False
        elif code == 0x69:  # i
            pos += 4
        elif code == 0x67:  # g
            pos += 8
        elif code == 0x79:  # y
            pos += 16
        elif code in b"zZ":
            if pos >= n:
                return False
            size = data[pos]
            pos += 1
            if not data[pos : pos + size].isascii():
                return False
            pos += size
        elif code in b"stuaA":
            if pos + 4 > n:
                return False
            size = unpack(data, pos)[0]
            pos += 4
            if size < 0 or size > n - pos:
                return False
            if code in b"aA" and not data[pos : pos + size].isascii():
                return False
            pos += size
        elif code == 0x6C:  # l
            if pos + 4 > n:
                return False
            size = unpack(data, pos)[0]
            pos += 4 + 2 * abs(size)
        elif code == 0x29:  # ) small tuple
            if pos >= n:
                return False
            container = data[pos]
            pos += 1
        elif code in b"([<>":
            if pos + 4 > n:
                return False
            container = unpack(data, pos)[0]
            pos += 4
            if container < 0 or container > n - pos:
                return False
        elif code == 0x7B:  # {
            container = _DICT
        elif code == 0x63:  # c: a code object (3.11+ layout), as the `profile` module stores
            pos += 20
            pending.extend((2, _SKIP4, 8))
            owners.extend((ref, -1, -1))
            continue
        else:
            return False
        if pos > n:
            return False
        if container != -3:
            pending.append(container)
            owners.append(ref)
        elif ref >= 0:
            complete[ref] = True
    return pos == n


def _try_json(path: Path, encoding: str) -> Any:
    try:
        return json.loads(_read_bytes(path).decode(encoding))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _json_format(path: Path, data: Any) -> str:
    if isinstance(data, dict):
        schema = data.get("$schema")
        shared = data.get("shared")
        if (isinstance(schema, str) and "speedscope" in schema) or (
            isinstance(shared, dict) and "frames" in shared and "profiles" in data
        ):
            return "speedscope"
        if "frame_records" in data or (
            "root_frame" in data and ("sample_count" in data or "duration" in data)
        ):
            return "pyinstrument"
    raise InputError(
        f"{path}: a JSON file that is neither speedscope nor a pyinstrument session",
        remedy=REMEDY,
    )


def _looks_folded(text: str, *, complete: bool) -> bool:
    lines = text.splitlines()
    if not complete and lines:
        lines.pop()  # the last line may be cut short
    if "\x00" in text:
        return False
    valid = invalid = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if _parse_weight(line.rpartition(" ")[2]) is None:
            invalid += 1
        else:
            valid += 1
        if valid + invalid >= _SNIFF_LINES:
            break
    # A stray line without a weight is tolerated (and noted by the reader); prose is not.
    return valid > invalid


def _parse_weight(text: str) -> float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


# ---- read: dispatch ----------------------------------------------------------------------------


def read(path: Path) -> Profile:
    """Read any profile file or run directory, whatever its name."""
    path = Path(path)
    fmt, payload = _sniff(path)
    if fmt == "run":
        return _read_run(path)
    if fmt == "pstats":
        return _pstats_profile(path, payload, None, {}, _MIN_SHARE, _RESOLVE_SHARE)
    if fmt == "speedscope":
        return _speedscope_profile(path, payload, classifier=None, threads=False)
    if fmt == "pyinstrument":
        return _pyinstrument_profile(path, payload, classifier=None, threads=False)
    return read_folded(path, threads=False)


def _read_run(path: Path) -> Profile:
    from profwork.methods import RawArtefact, get_method  # lazy: methods import their tools

    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        method = manifest["method"]
        if isinstance(method, dict):  # a manifest may record the method with its options
            method = method["name"]
        raw = RawArtefact.load(path / "raw")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path}: an incomplete or corrupt run directory ({type(error).__name__}: {error})",
            remedy="give a complete run directory, or one of its profile files",
        ) from None
    normaliser = get_method(str(method))
    try:
        profile: Profile = normaliser.normalise(raw)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise InputError(
            f"{path}: its raw/ files cannot be normalised ({type(error).__name__}: {error})",
            remedy="give a complete run directory, or one of its profile files",
        ) from None
    metadata = {**profile.metadata, "source": str(path), "format": "run"}
    return dataclasses.replace(profile, metadata=metadata)


# ---- pstats ------------------------------------------------------------------------------------

_MIN_SHARE = 1 / 20000
# Functions at least this share of the total get their qualified name from the source when
# `names` does not give it: the ones a summary or a readable flame-graph box can show.
_RESOLVE_SHARE = 1 / 1000


def read_pstats(
    path: Path,
    *,
    classifier: Classifier | None = None,
    names: Mapping[str, str] | None = None,
    min_share: float = _MIN_SHARE,
    resolve_share: float = _RESOLVE_SHARE,
) -> Profile:
    """Read a pstats file (cProfile's, `pstats.Stats.dump_stats`'s or the `profile` module's).

    The exact statistics drive every per-function number. Stacks, which pstats does not record,
    are rebuilt from the caller graph for the stack views (flame graph, folded, speedscope): each
    function's time is split among its callees in proportion to their edge times, a path stops at
    the first repeated function, and paths below `min_share` of the total are merged into their
    caller. `names` maps `file:line:name` to a qualified name (our own runs record `co_qualname`).
    """
    path = Path(path)
    data = _try_marshal(path)
    if data is None:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory", remedy=REMEDY)
        raise _corrupt(path, "not a pstats file", "not a marshalled pstats dict")
    return _pstats_profile(path, data, classifier, names or {}, min_share, resolve_share)


def _pstats_profile(
    path: Path,
    data: dict[Any, Any],
    classifier: Classifier | None,
    names: Mapping[str, str],
    min_share: float,
    resolve_share: float,
) -> Profile:
    classifier = _default_classifier(classifier)
    try:
        stats, graph = _pstats_stats(data, classifier, names, resolve_share)
    except (TypeError, ValueError, IndexError, AttributeError) as error:
        raise _corrupt(path, "corrupt pstats file", f"{type(error).__name__}: {error}") from None
    min_weight = max(min_share, 0.0) * sum(s.self for s in stats.values())
    stacks = _finish_stacks(_rebuild_stacks(graph, min_weight), threads=None, frames=graph)
    from profwork.units import format_quantity

    note = (
        "The flame graph, folded and speedscope stacks are rebuilt from cProfile's caller graph: "
        "each function's time is split among its callees in proportion to the edge times, "
        "recursive cycles are cut at the first repeat (passing the repeated call's time on to "
        "its callees), and paths below "
        f"{format_quantity(min_weight, 'seconds')} are merged into their caller; every "
        "per-function figure is cProfile's exact one."
    )
    return Profile(
        unit="seconds",
        stacks=stacks,
        stats=stats,
        metadata={
            "source": str(path),
            "format": "pstats",
            "stacks": "rebuilt from the caller graph",
            "min_weight": min_weight,
            "notes": [note],
        },
    )


def _is_profiler_entry(key: tuple[str, int, str]) -> bool:
    """Entries of the profiler itself, not of the profiled code."""
    file, line, name = key
    return (
        (file == "~" and name in _LSPROF_ENTRIES)
        or (file == "profile" and line == 0)  # the `profile` module's fake frames
        or key == EMPTY_PSTATS_KEY
    )


def _pstats_stats(
    data: Mapping[Any, Any], classifier: Classifier, names: Mapping[str, str], resolve_share: float
) -> tuple[dict[Frame, FunctionStats], dict[Frame, FunctionStats]]:
    """The exact statistics without the profiler's entries and profwork's own, and the caller
    graph the stacks are rebuilt from (with profwork's entries, which `_trim` then cuts away just
    as it cuts a sampled stack).

    Qualified names come from `names`, else from the source, looked up only for the functions
    heavy enough to be shown (`resolve_share` of the total): resolving every function of a large
    profile would read and scan every source file it touched (~0.5 ms each)."""
    keys: dict[Any, tuple[str, int, str]] = {}
    kinds: dict[Any, FrameKind] = {}
    dropped: set[Any] = set()
    for raw_key in data:
        file, line, name = raw_key
        key = (str(file), int(line), name if isinstance(name, str) else str(name))
        kind = classifier.kind(key[0], key[2])
        if _is_profiler_entry(key):
            dropped.add(raw_key)
        else:
            keys[raw_key] = key
            kinds[raw_key] = kind
    # The `profile` module switches itself off with a `setprofile` called only by its own frames.
    for raw_key, key in list(keys.items()):
        callers = data[raw_key][4]
        if (
            key[2] in ("setprofile", "<built-in method sys.setprofile>")
            and callers
            and all(caller in dropped for caller in callers)
        ):
            dropped.add(raw_key)
            del keys[raw_key]

    total = sum(float(data[k][2]) for k in keys if kinds[k] is not FrameKind.PROFWORK)
    resolve_above = max(resolve_share, 0.0) * total
    frames: dict[Any, Frame] = {}
    for raw_key, (file, line, name) in keys.items():
        kind = kinds[raw_key]
        qualified = names.get(f"{file}:{line}:{name}")
        if qualified is None:
            heavy = float(data[raw_key][3]) >= resolve_above
            qualified = (
                qualname(file, line, name) if heavy and kind is not FrameKind.NATIVE else name
            )
        frames[raw_key] = Frame(qualified, file, line, kind)

    graph: dict[Frame, FunctionStats] = {}
    for raw_key, frame in frames.items():
        cc, nc, tt, ct, callers = data[raw_key]
        edges: dict[Frame, EdgeStats] = {}
        raw_edges = list(callers.items())
        counted = sum(int(v) for _, v in raw_edges if not isinstance(v, tuple)) or 1
        for caller_key, value in raw_edges:
            caller = frames.get(caller_key)
            if caller is None:
                continue  # a dropped profiler entry, or a caller the file does not list
            if isinstance(value, tuple):
                e_nc, e_cc, e_tt, e_ct = value
                edge = EdgeStats(int(e_nc), int(e_cc), float(e_tt), float(e_ct))
            else:
                # The `profile` module counts calls per caller but keeps no per-edge time:
                # share the callee's times by call count.
                share = int(value) / counted
                edge = EdgeStats(int(value), int(value), float(tt) * share, float(ct) * share)
            edges[caller] = edges[caller] + edge if caller in edges else edge
        entry = FunctionStats(int(nc), int(cc), float(tt), float(ct), edges)
        graph[frame] = graph[frame] + entry if frame in graph else entry
    above = _above_body(graph)
    stats = {
        frame: FunctionStats(
            s.calls,
            s.primitive_calls,
            s.self,
            s.cumulative,
            {c: e for c, e in s.callers.items() if c not in above},
        )
        for frame, s in graph.items()
        if frame not in above
    }
    return stats, graph


def _above_body(graph: Mapping[Frame, FunctionStats]) -> set[Frame]:
    """profwork's own functions above the body: the runner and target wrapper that call it, its
    roots (the profiler's stop), and what only they call. profwork code that the body itself
    calls is the body's and stays (as `model.trim_above_body` keeps it in stacks)."""
    ours = [f for f in graph if f.kind is FrameKind.PROFWORK]
    above = {f for f in ours if calls_body(f) or not graph[f].callers}
    changed = True
    while changed:
        changed = False
        for frame in ours:
            if frame not in above and all(c in above for c in graph[frame].callers):
                above.add(frame)
                changed = True
    return above


def _rebuild_stacks(stats: Mapping[Frame, FunctionStats], min_weight: float) -> dict[Stack, float]:
    """Stacks from the caller graph by proportional split (see `read_pstats`).

    Paths start at the functions the profiler saw called with nothing of the profile below them
    (more calls than its callers account for, or no callers at all). Walking down, a callee gets
    its edge's cumulative time scaled by the share of the function's cumulative time the path
    carries, and a callee below `min_weight` is merged: its time stays with the path as self time.

    A callee already on the path is cut (no path repeats a function), but the time of that call
    is passed on to the repeated function's own callees that are not on the path yet, in
    proportion to their edges (what is left, its self time, stays with the caller). Without that,
    a function entered at two levels (a middleware wrapper around both the router and the
    endpoint) would leave everything below its inner call as its caller's self time.

    Each path's weights add up to its start's time, so the stacks add up to the starts' times,
    which `_root_budgets` makes the total.
    """
    frames = list(stats)
    index = {frame: i for i, frame in enumerate(frames)}
    count = len(frames)
    cumulative = [max(stats[f].cumulative, 0.0) for f in frames]
    self_time = [max(stats[f].self, 0.0) for f in frames]
    callees: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    incoming = [0.0] * count
    root_calls = [stats[f].calls for f in frames]
    for j, frame in enumerate(frames):
        for caller, edge in stats[frame].callers.items():
            i = index[caller]
            root_calls[j] -= edge.calls
            if i != j and edge.cumulative > 0:
                callees[i].append((j, edge.cumulative))
                incoming[j] += edge.cumulative
    for children in callees:
        children.sort(key=lambda item: -item[1])
    total = sum(max(s.self, 0.0) for s in stats.values())
    budgets = _root_budgets(
        [
            (i, cumulative[i], incoming[i])
            for i, frame in enumerate(frames)
            if root_calls[i] > 0 or not stats[frame].callers
        ],
        total,
    )

    noise = total * 1e-9
    out: dict[tuple[int, ...], float] = defaultdict(float)
    path: list[int] = []
    on_path: set[int] = set()
    for root, budget in budgets:
        if budget <= noise:
            continue
        todo: list[tuple[int, float] | None] = [(root, budget)]
        while todo:
            item = todo.pop()
            if item is None:
                on_path.discard(path.pop())
                continue
            function, weight = item
            path.append(function)
            on_path.add(function)
            todo.append(None)
            remainder = weight
            cum = cumulative[function]
            if cum > 0:
                fraction = weight / cum
                kept: list[tuple[int, float]] = []
                spent = 0.0
                for callee, edge_time in callees[function]:
                    share = edge_time * fraction
                    if share < min_weight:
                        continue
                    if callee not in on_path:
                        kept.append((callee, share))
                        spent += share
                        continue
                    inner = [(c, e) for c, e in callees[callee] if c not in on_path]
                    base = self_time[callee] + sum(e for _, e in inner)
                    for below, edge_below in inner:
                        passed = share * edge_below / base
                        if passed >= min_weight:
                            kept.append((below, passed))
                            spent += passed
                if spent > weight:  # overlapping recursive edges: never more than the path has
                    scale = weight / spent
                    kept = [(callee, share * scale) for callee, share in kept]
                    spent = weight
                remainder = weight - spent
                todo.extend(reversed(kept))
            if remainder > noise:
                out[tuple(path)] += remainder
    return {tuple(frames[i] for i in key): weight for key, weight in out.items()}


def _root_budgets(
    candidates: list[tuple[int, float, float]], total: float
) -> list[tuple[int, float]]:
    """How much time each path start carries: (function, cumulative, time its callers account
    for) → (function, budget).

    A function called from the profile's bottom has at least the time its callers do not account
    for. Its recursive calls can hide the rest (an `exec` that imports modules which exec again:
    the inner calls' edges overlap the outer call's time), so the time still missing from the
    total is shared among the starts in proportion to what they could still take, never more
    than their cumulative time."""
    low = [max(cum - incoming, 0.0) for _, cum, incoming in candidates]
    slack = [max(cum - lo, 0.0) for (_, cum, _), lo in zip(candidates, low, strict=True)]
    missing = total - sum(low)
    room = sum(slack)
    if missing > 0 and room > 0:
        share = min(missing / room, 1.0)
        low = [lo + extra * share for lo, extra in zip(low, slack, strict=True)]
    return [(i, lo) for (i, _, _), lo in zip(candidates, low, strict=True)]


# ---- pyinstrument ------------------------------------------------------------------------------


def read_pyinstrument(
    path: Path, *, classifier: Classifier | None = None, threads: bool = False
) -> Profile:
    """Read a pyinstrument session (`Session.save`) or the tree its JSON renderer writes."""
    path = Path(path)
    data = _read_json(path, "pyinstrument session")
    if not isinstance(data, dict) or not ("frame_records" in data or "root_frame" in data):
        raise _corrupt(path, "not a pyinstrument session", "no frame_records or root_frame")
    return _pyinstrument_profile(path, data, classifier=classifier, threads=threads)


def _read_json(path: Path, what: str) -> Any:
    raw = _read_bytes(path)
    if not raw.strip():
        raise InputError(f"{path}: the file is empty", remedy=REMEDY)
    try:
        return json.loads(raw.decode(_text_encoding(raw[:4])))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _corrupt(path, f"not a valid {what}", f"{type(error).__name__}: {error}") from None


def _session_paths(data: Mapping[str, Any]) -> SysPaths:
    """The recorded interpreter's paths, as pyinstrument saved them (`sys_path`, `sys_prefixes`)."""
    sys_path = [p for p in data.get("sys_path") or () if isinstance(p, str) and p]
    prefixes = [p for p in data.get("sys_prefixes") or () if isinstance(p, str) and p]
    if not sys_path or not prefixes:
        return SysPaths.current()
    sites = tuple(sorted({p for p in sys_path if "site-packages" in p or "dist-packages" in p}))
    stdlib = tuple(
        sorted(
            {
                p
                for p in sys_path
                if p not in sites
                and any(p.startswith(prefix.rstrip("/") + "/lib/python") for prefix in prefixes)
            }
        )
    )
    return SysPaths(stdlib=stdlib, site_packages=sites, prefixes=tuple(sorted(set(prefixes))))


def _pyinstrument_profile(
    path: Path, data: Mapping[str, Any], *, classifier: Classifier | None, threads: bool
) -> Profile:
    classifier = classifier if classifier is not None else Classifier(_session_paths(data))
    try:
        if "frame_records" in data:
            raw_stacks = _session_stacks(data, classifier)
        else:
            raw_stacks = _tree_stacks(data.get("root_frame"), classifier)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as error:
        raise _corrupt(
            path, "corrupt pyinstrument session", f"{type(error).__name__}: {error}"
        ) from None
    metadata: dict[str, Any] = {"source": str(path), "format": "pyinstrument", "stacks": "sampled"}
    interval = data.get("min_interval")
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        metadata["interval"] = float(interval)
    duration = data.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        metadata["duration"] = float(duration)
    return Profile(
        unit="seconds",
        stacks=_finish_stacks(raw_stacks, threads=threads),
        metadata=metadata,
    )


def _identifier(info: str) -> str:
    return info.partition("\x01")[0]


def _session_stacks(data: Mapping[str, Any], classifier: Classifier) -> dict[Stack, float]:
    records = data["frame_records"]
    if not isinstance(records, list):
        raise TypeError("frame_records is not a list")
    # pyinstrument trims the stem above the frame that started the profiler; so do we.
    start = data.get("start_call_stack") or []
    stem = [_identifier(str(info)) for info in start[:-1]]
    make = _FrameMaker(classifier)
    cache: dict[str, Frame] = {}

    def frame_of(info: str) -> Frame:
        frame = cache.get(info)
        if frame is None:
            frame = cache[info] = _pyinstrument_frame(info, make)
        return frame

    collected: dict[tuple[str, ...], float] = defaultdict(float)
    for infos, weight in records:
        if not isinstance(infos, list):
            raise TypeError("a frame record is not a list of frames")
        ids = [_identifier(info) for info in infos]
        cut = 0
        while cut < len(stem) and cut < len(ids) and ids[cut] == stem[cut]:
            cut += 1
        head = infos[:1] if infos and "\x00<thread>\x00" in infos[0] else []
        kept = head + infos[max(cut, len(head)) :]
        collected[tuple(kept)] += float(weight)
    stacks: dict[Stack, float] = defaultdict(float)
    for infos, weight in collected.items():
        stacks[tuple(frame_of(info) for info in infos)] += weight
    return dict(stacks)


def _pyinstrument_frame(info: str, make: _FrameMaker) -> Frame:
    identifier, _, attributes = info.partition("\x01")
    parts = identifier.split("\x00")
    if len(parts) < 3:
        return _name_frame(identifier)  # a synthetic frame: [await], [out-of-context], [self]
    name, file, line_text = parts[0], parts[1], parts[2]
    if file == "<thread>":
        return Frame(f"thread ({line_text}): {name}", "", 0, FrameKind.THREAD)
    line = int(line_text) if line_text.isdigit() else 0
    frame = make(name, file, line)
    class_name = next(
        (a[1:] for a in attributes.split("\x01") if a.startswith("c") and len(a) > 1), None
    )
    if class_name and frame.function == name and "." not in name and not name.startswith("<"):
        frame = Frame(f"{class_name}.{name}", frame.file, frame.line, frame.kind)
    return frame


def _tree_stacks(root: Any, classifier: Classifier) -> dict[Stack, float]:
    """Stacks from pyinstrument's JSON renderer tree: a node's self time is its time minus its
    children's."""
    stacks: dict[Stack, float] = defaultdict(float)
    if root is None:
        return {}
    make = _FrameMaker(classifier)
    todo: list[tuple[Mapping[str, Any], Stack]] = [(root, ())]
    while todo:
        node, parent = todo.pop()
        name = str(node["function"])
        file = str(node.get("file_path") or "")
        line = int(node.get("line_no") or 0)
        frame = make(name, file, line) if file else _name_frame(name)
        class_name = node.get("class_name")
        if class_name and frame.function == name and "." not in name and not name.startswith("<"):
            frame = Frame(f"{class_name}.{name}", frame.file, frame.line, frame.kind)
        stack = (*parent, frame)
        children = node.get("children") or []
        own = float(node["time"]) - sum(float(child["time"]) for child in children)
        if own > 0:
            stacks[stack] += own
        todo.extend((child, stack) for child in children)
    return dict(stacks)


# ---- speedscope --------------------------------------------------------------------------------

_SPEEDSCOPE_UNITS: dict[str, tuple[Unit, float]] = {
    "none": ("samples", 1.0),
    "nanoseconds": ("seconds", 1e-9),
    "microseconds": ("seconds", 1e-6),
    "milliseconds": ("seconds", 1e-3),
    "seconds": ("seconds", 1.0),
    "bytes": ("bytes", 1.0),
}


def read_speedscope(
    path: Path, *, classifier: Classifier | None = None, threads: bool = False
) -> Profile:
    """Read a speedscope file: sampled and evented profiles, one or several per file."""
    path = Path(path)
    data = _read_json(path, "speedscope file")
    if not isinstance(data, dict) or "profiles" not in data or "shared" not in data:
        raise _corrupt(path, "not a speedscope file", "no profiles and shared frames")
    return _speedscope_profile(path, data, classifier=classifier, threads=threads)


def _speedscope_profile(
    path: Path, data: Mapping[str, Any], *, classifier: Classifier | None, threads: bool
) -> Profile:
    make = _FrameMaker(_default_classifier(classifier))
    try:
        unit, stacks = _speedscope_stacks(data, make)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise _corrupt(
            path, "corrupt speedscope file", f"{type(error).__name__}: {error}"
        ) from None
    except _MixedUnits as error:
        raise InputError(
            f"{path}: its profiles mix units ({error})",
            remedy="split the file into one speedscope file per unit",
        ) from None
    metadata: dict[str, Any] = {
        "source": str(path),
        "format": "speedscope",
        "stacks": "sampled",
    }
    for key in ("name", "exporter"):
        if isinstance(data.get(key), str):
            metadata[key] = data[key]
    return Profile(unit=unit, stacks=_finish_stacks(stacks, threads=threads), metadata=metadata)


class _MixedUnits(Exception):
    pass


def _speedscope_stacks(
    data: Mapping[str, Any], make: Callable[[str, str, int], Frame]
) -> tuple[Unit, dict[Stack, float]]:
    raw_frames = data["shared"]["frames"]
    frames: list[Frame] = []
    for raw in raw_frames:
        file = raw.get("file") or ""
        line = raw.get("line")
        frames.append(make(str(raw["name"]), str(file), int(line) if line else 0))
    profiles = data["profiles"]
    if not isinstance(profiles, list):
        raise TypeError("profiles is not a list")
    unit: Unit | None = None
    stacks: dict[Stack, float] = defaultdict(float)
    several = len(profiles) > 1
    for profile in profiles:
        named = str(profile.get("unit", "none"))
        if named not in _SPEEDSCOPE_UNITS:
            raise ValueError(f"unknown unit {named!r}")
        profile_unit, scale = _SPEEDSCOPE_UNITS[named]
        if unit is not None and profile_unit != unit:
            raise _MixedUnits(f"{unit} and {profile_unit}")
        unit = profile_unit
        kind = profile.get("type")
        if kind == "sampled":
            indexed = _sampled(profile)
        elif kind == "evented":
            indexed = _evented(profile)
        else:
            raise ValueError(f"unknown profile type {kind!r}")
        root: Stack = ()
        if several:
            name = str(profile.get("name") or "profile")
            pseudo = FrameKind.PROCESS if name.startswith("process ") else FrameKind.THREAD
            root = (Frame(name, "", 0, pseudo),)
        for key, weight in indexed.items():
            if key and not 0 <= min(key) <= max(key) < len(frames):
                raise IndexError(f"a frame index out of range in profile {profile.get('name')!r}")
            stack = tuple(frames[i] for i in key)
            if root:
                stack = root + stack[_leading_pseudo(stack) :]
            stacks[stack] += weight * scale
    return unit or "samples", dict(stacks)


def _sampled(profile: Mapping[str, Any]) -> dict[tuple[int, ...], float]:
    samples = profile["samples"]
    weights = profile.get("weights")
    if weights is None:
        weights = [1.0] * len(samples)
    if len(weights) != len(samples):
        raise ValueError("samples and weights differ in length")
    out: dict[tuple[int, ...], float] = defaultdict(float)
    for sample, weight in zip(samples, weights, strict=True):
        out[tuple(int(i) for i in sample)] += float(weight)
    return out


def _evented(profile: Mapping[str, Any]) -> dict[tuple[int, ...], float]:
    """Open/close events → the time spent in each stack between consecutive events."""
    out: dict[tuple[int, ...], float] = defaultdict(float)
    open_frames: list[int] = []
    last = float(profile.get("startValue") or 0.0)
    for event in profile["events"]:
        at = float(event["at"])
        frame = int(event["frame"])
        if at > last:
            if open_frames:
                out[tuple(open_frames)] += at - last
            last = at
        if event["type"] == "O":
            open_frames.append(frame)
        elif event["type"] == "C":
            if frame in open_frames:  # tolerate a close out of order: unwind to it
                while open_frames.pop() != frame:
                    pass
        else:
            raise ValueError(f"unknown event type {event['type']!r}")
    end = profile.get("endValue")
    if open_frames and isinstance(end, int | float) and end > last:
        out[tuple(open_frames)] += float(end) - last
    return out


# ---- folded ------------------------------------------------------------------------------------


def read_folded(
    path: Path,
    *,
    classifier: Classifier | None = None,
    unit: Unit = "samples",
    scale: float = 1.0,
    threads: bool | None = None,
    qualified: bool = False,
) -> Profile:
    """Read folded (collapsed) stacks: `frame;frame;frame weight` per line.

    The weight is after the last space; lines with the same stack add up; `#` and `//` lines are
    comments; CRLF, UTF-8 and UTF-16 (with a BOM) are accepted. A frame `qualname (path:line)`
    becomes a located frame; py-spy's `thread (TID): NAME` and `process PID:"cmd"` roots become
    pseudo-frames; anything else is a frame known by its name. Weights are multiplied by `scale`
    (py-spy's samples → seconds, our microseconds → seconds). `qualified=True` takes the names as
    qualified already (py-spy on 3.11+) and skips the source lookup.

    `threads=None` keeps the thread and process roots the file has (a method applies the rule
    itself, knowing whether `--threads` was given); `False` applies the rule of DESIGN §1 (a lone
    thread's root is dropped), which `read` does for a file given on its own; `True` keeps them.
    """
    path = Path(path)
    head = _read_head(path)
    encoding = _text_encoding(head)
    make = _FrameMaker(_default_classifier(classifier), qualified=qualified)
    frames: dict[str, Frame] = {}
    lookup = frames.__getitem__
    # Each line becomes a tuple of shared frames as it is read: keeping the lines' text until the
    # end would hold the whole file (hundreds of megabytes) in memory at once.
    counts: dict[Stack, float] = defaultdict(float)
    ignored = 0
    content = 0
    try:
        for line in _lines(path, encoding):
            line = line.strip()
            if not line or line[0] == "#" or line.startswith("//"):
                continue
            content += 1
            stack_text, _, weight_text = line.rpartition(" ")
            try:
                weight: float = int(weight_text)
            except ValueError:
                parsed = _parse_weight(weight_text)
                if parsed is None:
                    ignored += 1
                    continue
                weight = parsed
            stack_text = stack_text.rstrip()
            if not stack_text:
                counts[()] += weight
                continue
            parts = stack_text.split(";")
            try:
                stack = tuple(map(lookup, parts))
            except KeyError:
                for part in parts:
                    if part not in frames:
                        frames[part] = _folded_frame(part, make)
                stack = tuple(map(lookup, parts))
            counts[stack] += weight
    except UnicodeDecodeError as error:
        raise _corrupt(
            path, "not a folded-stacks file", f"not {encoding} text: {error.reason}"
        ) from None
    except OSError as error:
        raise _unreadable(path, error) from None
    if content and ignored == content:
        raise _corrupt(path, "not a folded-stacks file", "no line ends in a weight")
    stacks = {stack: weight * scale for stack, weight in counts.items()} if scale != 1 else counts

    metadata: dict[str, Any] = {"source": str(path), "format": "folded", "stacks": "sampled"}
    if ignored:
        metadata["notes"] = [f"{ignored} line(s) of {path.name} did not end in a weight: ignored."]
    return Profile(
        unit=unit,
        stacks=_finish_stacks(stacks, threads=threads, frames=frames.values()),
        metadata=metadata,
    )


def _lines(path: Path, encoding: str, chunk: int = 1 << 23) -> Iterator[str]:
    """The lines of a text file, read in large chunks: a text file's own line iterator costs
    several times more on the big files folded stacks come in (hundreds of megabytes)."""
    with path.open(encoding=encoding, errors="strict", newline="") as handle:
        rest = ""
        while True:
            block = handle.read(chunk)
            if not block:
                break
            lines = (rest + block).split("\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest


def _folded_frame(text: str, make: Callable[[str, str, int], Frame]) -> Frame:
    if text.endswith(")"):
        match = _LOCATED.match(text)
        if match is not None:
            return make(match.group(1), match.group(2), int(match.group(3)))
        match = _FILED.match(text)
        if match is not None and _PATHLIKE.search(match.group(2)) and not _THREAD_TEXT.match(text):
            name, file = match.group(1), match.group(2)
            if file.endswith((".py", ".pyw", ".pyx")):
                return make(name, file, 0)
            return Frame(name, file, 0, FrameKind.NATIVE)
    return _name_frame(text)
