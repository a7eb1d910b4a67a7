"""The flag set against its model's upstream recipe (generator/catalog/recipes.yaml).

Each GPU type's final flag set is compared with the recipe for that type and the profile's
mode (generator/sglang/recipes.py). A departure is a warning unless the profile gives its
reason under `sglang.recipe_departures`; a reason that silences nothing is reported too, so
silences cannot outlive the departure they explain.
"""

from __future__ import annotations

from collections.abc import Iterator

from generator.catalog.recipes import recipes_for
from generator.profile.deployment import Deployment
from generator.profile.load import Profile
from generator.rules.engine import Finding, rule
from generator.sglang.fallback import variants
from generator.sglang.flags import flag_set
from generator.sglang.recipes import Departure, departures, setting

_FIELD = ("sglang", "recipe_departures")


def _silences(profile: Profile) -> dict[str, dict[str | None, str]]:
    """`sglang.recipe_departures` as flag -> {GPU type (None: every type): reason}."""
    raw = (profile.data.get("sglang") or {}).get("recipe_departures") or {}
    return {
        flag: (dict(value) if isinstance(value, dict) else {None: value})
        for flag, value in raw.items()
    }


def _matches(key: str, dep: Departure, version: str) -> bool:
    return (setting(key, version) or key) == dep.wanted.setting


def _reason(dep: Departure, silences: dict[str, dict[str | None, str]], version: str) -> str | None:
    """The reason the profile gives for `dep` (for its GPU type, else for every type), or None."""
    for key, by_gpu in silences.items():
        if _matches(key, dep, version) and (reason := by_gpu.get(dep.gpu, by_gpu.get(None))):
            return reason
    return None


def given_reasons(d: Deployment, profile: Profile) -> list[tuple[Departure, str]]:
    """The departures the profile gives a reason for, with that reason (`plan` prints them)."""
    silences, version = _silences(profile), d.sglang.version
    return [
        (dep, reason)
        for dep in _all_departures(d)
        if (reason := _reason(dep, silences, version)) is not None
    ]


def _all_departures(d: Deployment) -> list[Departure]:
    return [dep for v in variants(d) for dep in departures(v, flag_set(v))]


@rule(
    "sglang-recipe-departure",
    "warning",
    "A flag where the profile's flag set departs from its model's upstream recipe for the GPU "
    "type and mode (generator/catalog/recipes.yaml), with no reason given.",
    reads_profile=True,
)
def _departure(d: Deployment, profile: Profile) -> Iterator[Finding]:
    version = d.sglang.version
    if d.sglang.recipe:
        for gpu in d.gpu.types:
            offered = recipes_for(d.model.id, gpu)
            if offered and d.sglang.recipe not in offered:
                yield Finding(
                    f"{d.model.id} has no {d.sglang.recipe} recipe on {gpu}; it has "
                    f"{', '.join(offered)}. Found: sglang.recipe={d.sglang.recipe}",
                    ("sglang", "recipe"),
                )
    silences = _silences(profile)
    for dep in _all_departures(d):
        if _reason(dep, silences, version) is not None:
            continue
        r = dep.recipe
        missing = (
            ""
            if dep.wanted.known
            else f" (SGLang {version} has no {dep.wanted.option}: the recipe targets another "
            "version)"
        )
        # A flag left out is located at the mode the profile chose, else at its sglang section.
        where = (
            dep.found.field
            if dep.found and dep.found.field
            else ("sglang", "recipe")
            if d.sglang.recipe
            else ("sglang",)
        )
        has = f"this flag set has {dep.found_text}" if dep.found else "this flag set leaves it out"
        yield Finding(
            f"on {dep.gpu}, {r.model}'s {r.mode} recipe passes `{dep.wanted.text}`{missing}; "
            f"{has}. Match the recipe, or give the reason under "
            f'`sglang.recipe_departures: {{"{dep.wanted.option}": reason}}`. Recipe: '
            f"{r.source.cite}. Found: {dep.found_text}",
            where,
        )


@rule(
    "sglang-recipe-silence",
    "warning",
    "A `sglang.recipe_departures` entry that silences nothing: the flag does not depart (any "
    "more) or names a GPU type the profile does not run on.",
    reads_profile=True,
)
def _stale_silence(d: Deployment, profile: Profile) -> Iterator[Finding]:
    version = d.sglang.version
    found = _all_departures(d)
    for key, by_gpu in _silences(profile).items():
        for gpu in by_gpu:
            path = (*_FIELD, key) if gpu is None else (*_FIELD, key, gpu)
            if gpu is not None and gpu not in d.gpu.types:
                yield Finding(
                    f"{key}: the profile does not run on {gpu} ({', '.join(d.gpu.types)}); "
                    f"remove it. Found: {gpu}",
                    path,
                )
                continue
            if not any(_matches(key, dep, version) and gpu in (None, dep.gpu) for dep in found):
                on = f" on {gpu}" if gpu else ""
                yield Finding(
                    f"{key} does not depart from the recipe{on}: remove this reason so it does "
                    f"not outlive the departure it explained. Found: {key}",
                    path,
                )
