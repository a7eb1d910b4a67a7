"""User-facing errors: one base class, one formatter, located problems."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

# Field paths are tuples of keys (str) and list indexes (int).
FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def did_you_mean(word: str, candidates) -> str:
    match = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean {match[0]}?" if match else ""


@dataclass(frozen=True)
class Location:
    file: Path
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        try:
            name = str(self.file.resolve().relative_to(Path.cwd()))
        except ValueError:
            name = str(self.file)
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
            parts.append(f"{format_path(self.path)}:")
        parts.append(self.message)
        text = " ".join(parts)
        return f"{text} ({self.hint})" if self.hint else text


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
        head = f"{self.location}: {self.args[0]}" if self.location else self.args[0]
        if not self.problems:
            return head
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class ProfileError(UserError):
    """The profile cannot be loaded or is invalid."""


class UsageError(UserError):
    """The command line itself is wrong."""

    exit_code = 2
