"""A flag set against its model's upstream recipe, in the pinned SGLang's own terms.

A recipe (generator/catalog/recipes.yaml) is compared with the final flag set of one GPU type,
flag by flag. Both sides are read through the version's manifest the way its argparse reads
them: an alias or an abbreviation names the same setting (`--tp` is `--tp-size`, `--ep` is
`--ep-size`, `--speculative-algo` is `--speculative-algorithm`), so a layout flag is compared
whatever the profile setting that emits it. A flag the recipe passes is a departure when the
flag set lacks it or gives it another value; what the profile adds beyond the recipe is the
profile's own choice, not a departure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache

from generator.catalog.recipes import MODES, UpstreamRecipe, recipes_for
from generator.profile.credentials import looks_secret
from generator.profile.deployment import Deployment
from generator.sglang.versions import Argument, Flag, _resolve_option, dialect, manifest

__all__ = [
    "Departure",
    "RecipeFlag",
    "departures",
    "recipe_flags",
    "recipe_note",
    "recipe_of",
    "setting",
]

# The deployment's own flags: where the weights are and where the server listens.
_NOT_COMPARED = {"model_path", "host", "port"}


@dataclass(frozen=True)
class RecipeFlag:
    option: str  # as the recipe writes it
    values: tuple[str, ...]
    setting: str  # the argparse dest in the pinned version; the option itself if unknown there
    known: bool  # whether the pinned version has this flag at all
    renamed: bool = False  # a deprecated flag read as its successor's setting

    @property
    def text(self) -> str:
        return shlex.join((self.option, *self.values))


@dataclass(frozen=True)
class Departure:
    gpu: str
    recipe: UpstreamRecipe
    wanted: RecipeFlag
    found: Flag | None  # the flag set's flag for the same setting, or None when it has none

    @property
    def found_text(self) -> str:
        """The flag set's flag as argv text; a value that looks like a credential is redacted."""
        if self.found is None:
            return "not set"
        if any(looks_secret(v) for v in self.found.values):
            return f"{self.found.option} <redacted>"
        return shlex.join(self.found.argv)


def _argument(option: str, version: str) -> Argument | None:
    return _resolve_option(option, manifest(version))[0]


@cache
def setting(option: str, version: str) -> str | None:
    """The setting (argparse dest) an option names in `version`, or None if it names none.

    A deprecated flag the manifest says is replaced names its replacement's setting (0.5.23:
    `--enable-dp-attention` is `--attn-dp-size <dp-size>`). `--enable-flashinfer-allreduce-fusion`
    is read as the backend flag where the version moved fusion to a backend choice (dialect():
    the profile's fusion switch is emitted that way).
    """
    arg = _argument(option, version)
    if arg is None:
        return None
    if arg.deprecated and arg.replaced_by:
        successor = _argument(arg.replaced_by.split()[0], version)
        if successor is not None:
            return successor.dest
    fusion = dialect(version).allreduce_fusion[0]
    if arg.dest == "enable_flashinfer_allreduce_fusion" and fusion != option:
        moved = _argument(fusion, version)
        return moved.dest if moved else arg.dest
    return arg.dest


def recipe_of(d: Deployment) -> UpstreamRecipe | None:
    """The recipe for the deployment's model on its (primary) GPU type and mode.

    The mode is `sglang.recipe`; unset, the first mode whose recipe runs the profile's tensor
    parallel size, else the first mode the model has on this GPU type.
    """
    offered = recipes_for(d.model.id, d.gpu.type)
    if not offered:
        return None
    if d.sglang.recipe:
        return offered.get(d.sglang.recipe)
    for mode in MODES:
        if (
            mode in offered
            and _tp(offered[mode], d.sglang.version) == d.sglang.tensor_parallel_size
        ):
            return offered[mode]
    return next(iter(offered.values()))


def _tp(recipe: UpstreamRecipe, version: str) -> int | None:
    for flag in recipe_flags(recipe, version).values():
        if flag.setting == "tp_size" and flag.values:
            return int(flag.values[0])
    return None


@cache
def recipe_flags(recipe: UpstreamRecipe, version: str) -> dict[str, RecipeFlag]:
    """The recipe's flags by setting, without the deployment's own (--model-path, --host, --port)."""
    out = {}
    for entry in recipe.flags:
        option, *values = entry.split()
        dest = setting(option, version)
        if dest in _NOT_COMPARED:
            continue
        own = _argument(option, version)
        renamed = own is not None and own.dest != dest
        out[dest or option] = RecipeFlag(
            option, tuple(values), dest or option, dest is not None, renamed
        )
    return out


def _same(wanted: RecipeFlag, found: Flag) -> bool:
    if wanted.renamed and not wanted.values and found.values:
        # The recipe's old switch for a setting that now takes a value (fusion on: any
        # backend; DP attention on: any attention-DP size): on is what it asks.
        return True
    if len(wanted.values) != len(found.values):
        return False
    for a, b in zip(wanted.values, found.values, strict=True):
        if a == b:
            continue
        try:
            if float(a) != float(b):
                return False
        except ValueError:
            return False
    return True


def departures(d: Deployment, flags: list[Flag]) -> list[Departure]:
    """Where `flags` (the deployment's final flag set on its GPU type) departs from its recipe."""
    recipe = recipe_of(d)
    if recipe is None:
        return []
    version = d.sglang.version
    emitted: dict[str, Flag] = {}
    for flag in flags:
        dest = setting(flag.option.split("=")[0], version)
        if dest:
            emitted[dest] = flag
    wants = recipe_flags(recipe, version)
    if "attn_dp_size" in wants and "attn_dp_size" in emitted and "dp_size" not in emitted:
        # 0.5.23 reads the recipes' `--dp N --enable-dp-attention` as `--attn-dp-size N`
        # (srt/arg_groups/parallel_hook.py:50-57, dp_size moves to attn_dp_size), the spelling the
        # flag set emits.
        emitted["dp_size"] = emitted["attn_dp_size"]
    out = []
    for wanted in wants.values():
        found = emitted.get(wanted.setting)
        if found is None or not _same(wanted, found):
            out.append(Departure(d.gpu.type, recipe, wanted, found))
    return out


def recipe_note(d: Deployment, flag: Flag) -> str:
    """'recipe: <value> (<source>)' where the deployment's recipe passes this flag, else ''."""
    recipe = recipe_of(d)
    if recipe is None:
        return ""
    dest = setting(flag.option.split("=")[0], d.sglang.version)
    wanted = recipe_flags(recipe, d.sglang.version).get(dest) if dest else None
    if wanted is None:
        return ""
    value = " ".join(wanted.values) if wanted.values else "on"
    return f"recipe: {value} ({recipe.mode}, {recipe.source.short})"
