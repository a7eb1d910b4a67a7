"""What `validate` reports: text for people, GitHub workflow commands for PR annotations, or JSON.

`plan --json` lists its findings in the same problem shape (`problem_record`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.errors import Location, Problem, ProfileError, UserError, format_path, printable

FORMATS = ("text", "github", "json")


@dataclass(frozen=True)
class ProfileResult:
    """One profile's validation: its problems (errors first), and the error that failed it."""

    name: str
    file: Path | None  # None when the reference names no file
    problems: list[Problem]
    error: UserError | None = None

    @property
    def valid(self) -> bool:
        return self.error is None


def check(refs: Iterable[str]) -> Iterator[ProfileResult]:
    """Validate each profile reference in turn."""
    from generator.pipeline import load
    from generator.profile.load import resolve_profile_path

    for ref in refs:
        try:
            file = resolve_profile_path(ref).resolve()
        except (ProfileError, OSError):
            file = None
        try:
            loaded = load(ref)
        except (UserError, OSError) as exc:  # one profile's problem; the others still run
            if isinstance(exc, OSError):
                where = f"{exc.filename}: " if exc.filename else ""
                exc = ProfileError(f"cannot read profile: {where}{exc.strerror or exc}")
            problems = exc.problems or [Problem(exc.args[0], exc.location)]
            yield ProfileResult(file.stem if file else Path(ref).stem[:100], file, problems, exc)
        else:
            yield ProfileResult(loaded.profile.name, loaded.profile.path, loaded.warnings)


def repository_root() -> Path:
    """$GITHUB_WORKSPACE in a workflow, else the git work tree holding the current directory."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        return Path(workspace).resolve()
    here = Path.cwd().resolve()
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), here)


def repository_path(file: Path, root: Path) -> str:
    """`file` relative to the repository root (where a PR annotation lands), else absolute."""
    resolved = file.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return str(resolved)


def problem_record(problem: Problem, root: Path) -> dict:
    """The JSON shape of one problem; every key is always present (null when unknown)."""
    where = problem.location
    return {
        "file": repository_path(where.file, root) if where else None,
        "line": where.line if where else None,
        "column": where.column if where else None,
        "path": format_path(problem.path) if problem.path is not None else None,
        "rule": problem.rule or None,
        "severity": problem.severity,
        "message": problem.message,
        "hint": problem.hint or None,
    }


# GitHub's workflow-command escaping, as in actions/toolkit packages/core/src/command.ts
# (`escapeData`, `escapeProperty`): a value cannot end its command or start another line. What
# is left of the control characters is then escaped as in the text format (errors.printable).
def escape_data(text: str) -> str:
    return printable(str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def emit_line(text: str, output_format: str) -> str:
    """One line of the CLI's output that is not a workflow command, for `output_format`: every
    line holding profile-derived text is printed through here or through `workflow_command`."""
    return escape_data(text) if output_format == "github" else printable(text)


def workflow_command(problem: Problem, root: Path) -> str:
    """`::error file=...,line=...,col=...,title=...::message` (or `::warning`, `::notice`)."""
    properties: dict[str, object] = {}
    where: Location | None = problem.location
    if where:
        properties["file"] = repository_path(where.file, root)
        if where.line is not None:
            properties["line"] = where.line
            properties["col"] = where.column
    field = format_path(problem.path) if problem.path is not None else ""
    title = problem.rule or field
    if title:
        properties["title"] = title
    message = f"{field}: {problem.message}" if problem.rule and field else problem.message
    if problem.hint:
        message += f" ({problem.hint})"
    command = problem.severity if problem.severity in ("error", "notice") else "warning"
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{command}{' ' if props else ''}{props}::{escape_data(message)}"


def write_text(results: Iterable[ProfileResult]) -> bool:
    """Today's output: `ok: NAME` on stdout; errors and warnings on stderr."""
    valid = True
    for result in results:
        if result.error:
            valid = False
            print(result.error, file=sys.stderr)
            continue
        warned = f" ({len(result.problems)} warnings)" if result.problems else ""
        print(emit_line(f"ok: {result.name}{warned}", "text"), flush=True)
        for warning in result.problems:
            print(f"  - {warning}", file=sys.stderr)
    return valid


def write_github(results: Iterable[ProfileResult]) -> bool:
    """A status line per profile, then one workflow command per problem (each printed once)."""
    root = repository_root()
    valid = True
    printed: set[str] = set()
    for result in results:
        valid &= result.valid
        print(emit_line(f"{'ok' if result.valid else 'invalid'}: {result.name}", "github"))
        for problem in result.problems:
            line = workflow_command(problem, root)
            if line not in printed:
                printed.add(line)
                print(line)
    return valid


def write_json(results: Iterable[ProfileResult]) -> bool:
    """One document: {status, profiles: [{profile, file, status, errors, warnings, problems}]}."""
    root = repository_root()
    profiles = []
    for result in results:
        errors = sum(p.severity == "error" for p in result.problems)
        profiles.append(
            {
                "profile": result.name,
                "file": repository_path(result.file, root) if result.file else None,
                "status": "ok" if result.valid else "invalid",
                "errors": errors,
                "warnings": len(result.problems) - errors,
                "problems": [problem_record(p, root) for p in result.problems],
            }
        )
    valid = all(p["status"] == "ok" for p in profiles)
    document = {"status": "ok" if valid else "invalid", "profiles": profiles}
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return valid


WRITERS = {"text": write_text, "github": write_github, "json": write_json}


def report(refs: Iterable[str], output_format: str) -> bool:
    """Validate the profiles and write the report; True when every profile is valid."""
    return WRITERS[output_format](check(refs))
