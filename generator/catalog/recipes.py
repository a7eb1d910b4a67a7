"""Upstream SGLang recipes as data (generator/catalog/recipes.yaml, checked by recipes.schema.json).

Each recipe is the flag list sgl-project publishes for one model, GPU type and serving mode,
kept exactly as written, with the repository, path and commit it was read from. Reading it
into SGLang's own terms (which option a spelling means in the pinned version) is the sglang
wing's job (generator/sglang/recipes.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import jsonschema

from generator.catalog import CATALOG_DIR, CatalogError, _read, entries, gpus

__all__ = ["MODES", "RecipeSource", "UpstreamRecipe", "recipes", "recipes_for", "sources"]

# The recipes' own mode names, in the order a profile without `sglang.recipe` tries them.
MODES = ("low-latency", "balanced", "high-throughput")
# docs_new (in the sglang repository) is the newer edition of the cookbook.
_EDITIONS = ("docs_new", "cookbook")


@dataclass(frozen=True)
class RecipeSource:
    id: str
    repo: str
    path: str
    commit: str
    edition: str
    note: str

    @property
    def cite(self) -> str:
        """repo/path@commit, the commit shortened to 12 digits."""
        return f"{self.repo}/{self.path}@{self.commit[:12]}"

    @property
    def short(self) -> str:
        """repo:file@commit, for a one-line note (recipes.yaml and docs/recipes.md hold the path)."""
        name = self.path.rsplit("/", 1)[-1]
        if name.startswith("index."):  # a component folder names it better than its index file
            name = "/".join(self.path.split("/")[-2:])
        return f"{self.repo}:{name}@{self.commit[:12]}"


@dataclass(frozen=True)
class UpstreamRecipe:
    model: str
    gpu: str
    mode: str
    source: RecipeSource
    flags: tuple[str, ...]  # one flag and its values per entry, as the recipe writes it
    env: tuple[str, ...]
    verified: bool | None  # the recipe file's own mark; None where it has none
    configuration: str | None  # the cookbook's configuration name


@cache
def _data() -> dict:
    data = _read("recipes.yaml")
    schema = json.loads((CATALOG_DIR / "recipes.schema.json").read_text(encoding="utf-8"))
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        where = ".".join(str(p) for p in e.absolute_path) or "(top)"
        raise CatalogError(f"recipes.yaml: {where}: {e.message}") from None
    return data


@cache
def sources() -> dict[str, RecipeSource]:
    return {key: RecipeSource(id=key, **value) for key, value in _data()["sources"].items()}


@cache
def recipes() -> tuple[UpstreamRecipe, ...]:
    """Every recorded recipe; a reference to an unknown source, model or GPU type is refused."""
    known_sources, models, gpu_types = sources(), entries(), gpus()
    out, seen = [], set()
    for index, r in enumerate(_data()["recipes"]):
        where = f"recipes.yaml: recipes.{index}"
        for field, known in (("source", known_sources), ("model", models), ("gpu", gpu_types)):
            if r[field] not in known:
                raise CatalogError(f"{where}.{field}: {r[field]!r} is not in the catalog")
        key = (r["model"], r["gpu"], r["mode"], r["source"])
        if key in seen:
            raise CatalogError(f"{where}: a second recipe for {key}")
        seen.add(key)
        out.append(
            UpstreamRecipe(
                model=r["model"],
                gpu=r["gpu"],
                mode=r["mode"],
                source=known_sources[r["source"]],
                flags=tuple(r["flags"]),
                env=tuple(r.get("env", ())),
                verified=r.get("verified"),
                configuration=r.get("configuration"),
            )
        )
    return tuple(out)


@cache
def recipes_for(model_id: str, gpu_type: str) -> dict[str, UpstreamRecipe]:
    """The recipes for one model on one GPU type by mode, from the newest edition that has any."""
    mine = [r for r in recipes() if r.model == model_id and r.gpu == gpu_type]
    for edition in _EDITIONS:
        chosen = [r for r in mine if r.source.edition == edition]
        if chosen:  # within an edition, the first recipe listed for a mode
            by_mode: dict[str, UpstreamRecipe] = {}
            for r in chosen:
                by_mode.setdefault(r.mode, r)
            return {mode: by_mode[mode] for mode in MODES if mode in by_mode}
    return {}
