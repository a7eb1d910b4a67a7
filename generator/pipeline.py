"""The one-way flow: load profile -> merge -> validate -> deployment model -> render -> write.

`load` builds the complete deployment model once: the validated profile, its deployment, every
GPU type's flag set (with notes and cache folder) and SGLang's cache variables. Rendering then
only lays that model out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import Location, Problem, ProfileError
from generator.profile.deployment import Deployment, build_deployment
from generator.profile.load import Profile, load_profile
from generator.profile.validate import validate_profile
from generator.render.context import app_context
from generator.render.emit import format_python, render_template
from generator.render.write import PREFLIGHT_NAME, check_output_path, default_output, write_files
from generator.rules import run_rules
from generator.sglang.caches import cache_variables
from generator.sglang.fallback import GpuFlagSet, flag_sets


@dataclass(frozen=True)
class Loaded:
    """A valid profile and the complete model of its deployment."""

    profile: Profile
    deployment: Deployment
    warnings: list[Problem]
    flag_sets: tuple[GpuFlagSet, ...]  # one per GPU type Modal may start, the primary first
    cache_variables: dict[str, str]  # SGLang's compile-cache variable -> folder under the root

    def flag_set_for(self, gpu_type: str) -> GpuFlagSet | None:
        return next((s for s in self.flag_sets if s.deployment.gpu.type == gpu_type), None)


def load(ref: str | Path) -> Loaded:
    """Load, merge and validate a profile and build its deployment; raise on any error."""
    return complete(load_profile(ref))


def complete(profile: Profile) -> Loaded:
    """Validate a merged profile and build the complete model of its deployment."""
    profile = validate_profile(profile)
    deployment = build_deployment(profile)
    problems = profile.notes + run_rules(deployment, profile)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        warnings = [p for p in problems if p.severity != "error"]
        raise ProfileError(
            f"{Location(profile.path)}: profile '{profile.name}' is invalid", errors + warnings
        )
    return Loaded(
        profile,
        deployment,
        problems,
        flag_sets(deployment),
        cache_variables(deployment.sglang.version),
    )


def template_context(loaded: Loaded, output: Path) -> dict:
    """What the templates lay out for this app file (and the preflight beside it)."""
    chain = loaded.profile.chain
    return app_context(
        loaded.deployment,
        loaded.flag_sets,
        loaded.cache_variables,
        output,
        extends=chain[1].stem if len(chain) > 1 else None,
        description=loaded.profile.data.get("description", ""),
    )


def render_app(loaded: Loaded, output: Path | None = None) -> tuple[Path, str]:
    """The Modal app file for a profile (default build/<profile>/modal_app.py)."""
    output = output or default_output(loaded.deployment)
    return output, format_python(
        render_template("modal_app.py.j2", template_context(loaded, output))
    )


def render_preflight(loaded: Loaded, output: Path | None = None) -> tuple[Path, str]:
    """The preflight app, written beside the app file as preflight.py."""
    output = output or default_output(loaded.deployment)
    path = output.with_name(PREFLIGHT_NAME)
    return path, format_python(render_template("preflight.py.j2", template_context(loaded, output)))


def render_to_file(loaded: Loaded, output: Path | None = None) -> Path:
    """Render the app and its preflight, then write both as one unit (both or neither)."""
    output = output or default_output(loaded.deployment)
    check_output_path(output)
    files = [render_app(loaded, output), render_preflight(loaded, output)]
    write_files(files)
    return files[0][0]
