"""User-facing errors: one base class, one formatter, located problems."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Field paths are tuples of keys (str) and list indexes (int).
FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


# Suggestions are bounded work: difflib compares every candidate, at a cost that grows with both
# lengths, and a profile can hold thousands of unknown names. Longer words get no suggestion,
# and a word asked about again (each GPU type's flag set is checked) is answered from the cache.
MAX_SUGGESTION_WORD = 64


def did_you_mean(word: str, candidates) -> str:
    if not isinstance(word, str) or len(word) > MAX_SUGGESTION_WORD:
        return ""
    names = tuple(sorted(str(c) for c in candidates))
    # The same name in other case is the one meant (`b200` is B200, not the nearer-spelt H200).
    same = [c for c in names if c.lower() == word.lower()]
    if same:
        return f"did you mean {same[0]}?"
    match = _closest(word, names)
    return f"did you mean {match}?" if match else ""


@lru_cache(maxsize=4096)
def _closest(word: str, candidates: tuple[str, ...]) -> str | None:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


# --- What the CLI prints ----------------------------------------------------------------------
# Profile-derived text (file names, values, `extends` references, OS errors about them) reaches
# terminals and CI logs. In the text format every control character (C0, DEL, C1) and every
# invisible or direction-changing format character is printed as its escape, so one message is
# one line and cannot move the cursor, recolour the log or start a workflow command.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` as one printable line: control and format characters as backslash escapes."""
    return _UNPRINTABLE.sub(_escape_char, str(text))


@dataclass(frozen=True)
class Location:
    file: Path
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        try:
            name = str(self.file.resolve().relative_to(Path.cwd()))
        except (ValueError, OSError):  # OSError: a name too long for the file system
            name = str(self.file)
        name = printable(name)
        if self.line is None:
            return name
        return f"{name}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile, with where it is and what would fix it."""

    message: str
    location: Location | None = None
    path: FieldPath | None = None
    hint: str = ""
    severity: str = "error"  # "error" or "warning"
    rule: str = ""

    def __str__(self) -> str:
        parts = []
        if self.location:
            parts.append(f"{self.location}:")
        if self.severity == "warning":
            parts.append("warning:")
        if self.rule:
            parts.append(f"[{self.rule}]")
        if self.path is not None:
            parts.append(f"{printable(format_path(self.path))}:")
        parts.append(printable(self.message))
        text = " ".join(parts)
        return f"{text} ({printable(self.hint)})" if self.hint else text


class UserError(Exception):
    """A mistake the user can fix. The CLI prints it without a traceback and exits 1."""

    exit_code = 1

    def __init__(
        self, message: str, problems: list[Problem] | None = None, location: Location | None = None
    ):
        super().__init__(message)
        self.problems = problems or []
        self.location = location  # where the one problem is, when there is no list of them

    def __str__(self) -> str:
        message = printable(self.args[0])
        head = f"{self.location}: {message}" if self.location else message
        if not self.problems:
            return head
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class ProfileError(UserError):
    """The profile cannot be loaded or is invalid."""


class UsageError(UserError):
    """The command line itself is wrong."""

    exit_code = 2
