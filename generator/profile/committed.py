"""Committed data files (checkpoints.lock.json, deploys/<profile>/history.json) come in pull
requests as profiles do: read them with the same kind of bounds, and fail with a located error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generator.errors import Location, UserError

MAX_DATA_BYTES = 16 * 1024 * 1024  # a deploy record is a few KiB; thousands of deploys fit
MAX_DATA_DEPTH = 32  # nesting of objects and arrays (the files here use 6)
MAX_DATA_DIGITS = 30  # digits of one number: far past any byte count or port


class DataFileError(UserError):
    """A committed data file that cannot be trusted as it is."""


def _number(text: str) -> int | float:
    if len(text.lstrip("-").replace(".", "")) > MAX_DATA_DIGITS:
        raise ValueError(f"a number of {len(text)} digits")
    return float(text) if any(c in text for c in ".eE") else int(text)


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


def read_json(path: Path, restore: str) -> Any:
    """The JSON in `path`, or a DataFileError naming it and `restore` (how to fix it).

    Bounded: size, nesting and number length are refused before they cost a traceback (deep
    nesting overflows the parser's recursion, 5,000 digits exceed Python's int conversion);
    NaN and Infinity are not JSON and are refused too.
    """
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_DATA_BYTES + 1)
    except OSError as exc:
        raise DataFileError(f"{Location(path)}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_DATA_BYTES:
        raise DataFileError(f"{Location(path)}: larger than {MAX_DATA_BYTES >> 20} MiB; {restore}")
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_int=_number,
            parse_float=_number,
            parse_constant=_refuse_constant,
        )
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
