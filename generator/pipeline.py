"""The one-way flow: load profile -> merge -> validate -> deployment model -> render -> write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.deployment import Deployment, build_deployment
from generator.errors import Location, Problem, ProfileError
from generator.profile import Profile, load_profile
from generator.render import (
    PREFLIGHT_NAME,
    app_context,
    check_output_path,
    default_output,
    format_python,
    render_template,
    write_files,
)
from generator.rules import run_rules
from generator.validate import validate_profile


@dataclass(frozen=True)
class Loaded:
    profile: Profile
    deployment: Deployment
    warnings: list[Problem]


def load(ref: str | Path) -> Loaded:
    """Load, merge and validate a profile and build its deployment; raise on any error."""
    profile = validate_profile(load_profile(ref))
    deployment = build_deployment(profile)
    problems = profile.notes + run_rules(deployment, profile)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        warnings = [p for p in problems if p.severity != "error"]
        raise ProfileError(
            f"{Location(profile.path)}: profile '{profile.name}' is invalid", errors + warnings
        )
    return Loaded(profile, deployment, problems)


def _context(loaded: Loaded, output: Path) -> dict:
    chain = loaded.profile.chain
    return app_context(
        loaded.deployment,
        output,
        extends=chain[1].stem if len(chain) > 1 else None,
        description=loaded.profile.data.get("description", ""),
    )


def render_app(loaded: Loaded, output: Path | None = None) -> tuple[Path, str]:
    """The Modal app file for a profile (default build/<profile>/modal_app.py)."""
    output = output or default_output(loaded.deployment)
    return output, format_python(render_template("modal_app.py.j2", _context(loaded, output)))


def render_preflight(loaded: Loaded, output: Path | None = None) -> tuple[Path, str]:
    """The preflight app, written beside the app file as preflight.py."""
    output = output or default_output(loaded.deployment)
    path = output.with_name(PREFLIGHT_NAME)
    return path, format_python(render_template("preflight.py.j2", _context(loaded, output)))


def render_to_file(loaded: Loaded, output: Path | None = None) -> Path:
    """Render the app and its preflight, then write both as one unit (both or neither)."""
    output = output or default_output(loaded.deployment)
    check_output_path(output)
    files = [render_app(loaded, output), render_preflight(loaded, output)]
    write_files(files)
    return files[0][0]
