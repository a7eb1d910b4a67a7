"""Committed data files (checkpoints.lock.json, deploys/<profile>/history.json and the rendered
copies beside it, bench and smoke outputs) come in pull requests as profiles do. This module is
the one way they are read and the one check before they are written:

- a path must lie inside its root (the repository, or the output folder a user named), and no
  part of it below that root may be a symbolic link: a committed link is never followed, for
  reading or writing, wherever it points;
- reads open with O_NOFOLLOW | O_NONBLOCK (a FIFO cannot block a run) and take regular files
  only, at most MAX_DATA_BYTES; a JSON file is parsed once per run (kept by inode, mtime and
  size: a profile set that reads one lock a hundred times parses it once);
- JSON carries finite numbers only (NaN and Infinity are not JSON), bounded in digits and depth.
"""

from __future__ import annotations

import copy
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from generator import REPO_ROOT
from generator.errors import Location, UserError

MAX_DATA_BYTES = 16 * 1024 * 1024  # a deploy record is a few KiB; thousands of deploys fit
MAX_DATA_DEPTH = 32  # nesting of objects and arrays (the files here use 6)
MAX_DATA_DIGITS = 30  # digits of one number: far past any byte count or port


class DataFileError(UserError):
    """A committed data file that cannot be trusted as it is."""


def _number(text: str) -> int | float:
    if len(text.lstrip("-").replace(".", "")) > MAX_DATA_DIGITS:
        raise ValueError(f"a number of {len(text)} digits")
    if not any(c in text for c in ".eE"):
        return int(text)
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise ValueError(f"{text} is not a finite number")
    return value


def check_committed_path(path: Path, root: Path) -> Path:
    """`path` as an absolute path, once it is known to lie inside `root` (lexically: nothing is
    resolved) with no symbolic link at or under `root` on the way to it."""
    base = Path(os.path.abspath(root))
    absolute = Path(os.path.abspath(path))
    if not absolute.is_relative_to(base):
        raise DataFileError(f"{Location(path)}: outside {base}; refusing to use it")
    current = base
    for part in absolute.relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            raise DataFileError(
                f"{Location(current)}: is a symbolic link; committed records are read and "
                f"written only as regular files (replace it with a file or folder in {base})"
            )
    return absolute


def output_root(folder: Path) -> Path:
    """The root an output folder's files are checked under: the repository when the folder is in
    it (build/bench, build/smoke: a committed link anywhere below the checkout is refused), else
    the folder the user named."""
    absolute = Path(os.path.abspath(folder))
    return REPO_ROOT if absolute.is_relative_to(REPO_ROOT) else absolute


def committed_exists(path: Path, root: Path) -> bool:
    """Whether anything (a link included) is at `path`, after the path check."""
    return os.path.lexists(check_committed_path(path, root))


def read_committed(path: Path, root: Path, restore: str, limit: int = MAX_DATA_BYTES) -> bytes:
    """The bytes of a committed regular file: no link followed, no blocking open, bounded."""
    absolute = check_committed_path(path, root)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(absolute, flags)
    except OSError as exc:
        raise DataFileError(f"{Location(path)}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataFileError(f"{Location(path)}: not a regular file; {restore}")
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise DataFileError(f"{Location(path)}: larger than {limit:,} B; {restore}")
    return raw


# absolute path -> ((path, inode, mtime, size), parsed value): one parse per file version.
_PARSED: dict[Path, tuple[tuple, Any]] = {}


def forget(path: Path) -> None:
    """Drop a parse kept for this run (the writer calls it after replacing the file)."""
    _PARSED.pop(Path(os.path.abspath(path)), None)


def dumps(value: Any, path: Path, **options: Any) -> str:
    """`value` as the JSON text of a committed file; NaN or an infinity is refused (it is not
    JSON, and a reader would take it for a measurement), with nothing written."""
    try:
        return json.dumps(value, indent=2, allow_nan=False, **options) + "\n"
    except ValueError as exc:
        raise DataFileError(f"{Location(path)}: {exc}; nothing written") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (the value came from a parser that already bounded it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    return deepest


def read_json(path: Path, restore: str, root: Path) -> Any:
    """The JSON in `path` (under `root`, see read_committed), or a DataFileError naming it and
    `restore` (how to fix it). Parsed once per run; each call gets its own copy.

    Bounded: size, nesting and number length are refused before they cost a traceback (deep
    nesting overflows the parser's recursion, 5,000 digits exceed Python's int conversion);
    NaN and Infinity are not JSON and are refused too.
    """
    absolute = check_committed_path(path, root)
    try:
        st = os.stat(absolute, follow_symlinks=False)
    except OSError as exc:
        raise DataFileError(f"{Location(path)}: cannot read: {exc.strerror}") from None
    key = (absolute, st.st_ino, st.st_mtime_ns, st.st_size)
    if _PARSED.get(absolute, (None,))[0] != key:
        _PARSED[absolute] = (key, _parse(path, read_committed(path, root, restore), restore))
    return copy.deepcopy(_PARSED[absolute][1])


def loads(text: str) -> Any:
    """JSON text with finite numbers of at most MAX_DATA_DIGITS digits (ValueError otherwise;
    RecursionError past the parser's depth)."""
    return json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_refuse_constant)


def _parse(path: Path, raw: bytes, restore: str) -> Any:
    try:
        data = loads(raw.decode("utf-8"))
    except RecursionError:
        raise DataFileError(
            f"{Location(path)}: nested deeper than {MAX_DATA_DEPTH} levels; {restore}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DataFileError(f"{Location(path)}: not valid JSON ({exc}); {restore}") from None
    if _depth(data) > MAX_DATA_DEPTH:
        raise DataFileError(
            f"{Location(path)}: nested deeper than {MAX_DATA_DEPTH} levels; {restore}"
        )
    return data


# What a committed record keeps of text and numbers an endpoint reported (gate details in the
# deploy history): bounded in size, finite numbers only (a NaN or infinity becomes null).
MAX_KEPT_TEXT = 500  # characters of one string
MAX_KEPT_ITEMS = 50  # entries of one list or mapping
MAX_KEPT_DEPTH = 4


def bounded(value: Any, depth: int = 0) -> Any:
    """`value` cut to what a committed record keeps (MAX_KEPT_*): JSON types only."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        cut = len(value) - MAX_KEPT_TEXT
        return value if cut <= 0 else f"{value[:MAX_KEPT_TEXT]}... ({cut:,} characters cut)"
    if depth >= MAX_KEPT_DEPTH:
        return bounded(str(value)[:MAX_KEPT_TEXT])
    if isinstance(value, dict):
        items = list(value.items())[:MAX_KEPT_ITEMS]
        return {str(k)[:100]: bounded(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [bounded(v, depth + 1) for v in value[:MAX_KEPT_ITEMS]]
    return bounded(str(value))
