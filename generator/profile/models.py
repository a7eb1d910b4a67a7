"""The model catalog a profile is sized by: the shipped one with the user catalog merged over it.

The user catalog is the folder `models/` beside the profile (`profiles/models/*.yaml`), so a
model can be added from the repository that holds the profiles, with no file of the package
touched (a pip or pre-commit install cannot be edited). Each file maps Hugging Face ids to
entries; files are merged in name order over generator/catalog/models.yaml, mappings key by key
(a null entry removes a model), so a user file can add a model or change one field of a shipped
one.

Both are read like a profile (`load.load_yaml`: bounded, located, no tags, regular files only,
symlinks followed only inside the profile's repository) and every entry is checked against
generator/catalog/models.schema.json and its recorded config against its attention design
(catalog/architecture.py `config_problems`). A broken entry is an error of every profile that
serves that model, with every problem of the entry at file:line:col; a file that cannot be read
is an error of every profile beside it. An entry no profile uses is checked when one does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from generator import catalog
from generator.catalog import CatalogEntry
from generator.catalog.architecture import config_problems
from generator.errors import FieldPath, Location, Problem, ProfileError, did_you_mean
from generator.profile.load import (
    USER_CATALOG,
    Budget,
    Profile,
    _inside,
    load_yaml,
    profile_root,
)
from generator.profile.validate import located_problems

MAX_CATALOG_FILES = 64
MAX_CATALOG_BYTES = 1024 * 1024  # one catalog file; the shipped models.yaml is ~16 KiB
FILL_IN = "FILL IN"  # what `modal-sglang init` writes where the user must supply a value
MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*"  # schema.json model.id


class _CatalogBudget(Budget):
    """The bounds of one catalog file (a profile's are per `extends` chain)."""

    def __init__(self) -> None:
        super().__init__(bytes=MAX_CATALOG_BYTES, values=100_000, text=4 * MAX_CATALOG_BYTES)

    def over(self, what: str) -> str:
        limit = {"bytes": "1 MiB", "values": "100,000 values", "text": "4 MiB of text"}[what]
        return f"a model catalog file holds at most {limit} (aliases expanded)"


@dataclass
class ModelCatalog:
    """The merged catalog of one profiles folder."""

    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # the file that last set each entry
    errors: dict[str, list[Problem]] = field(default_factory=dict)  # by model id
    warnings: dict[str, list[Problem]] = field(default_factory=dict)  # by model id
    file_errors: list[Problem] = field(default_factory=list)  # files that could not be read
    fingerprints: dict[str, str] = field(default_factory=dict)

    def source(self, model_id: str) -> str:
        path = self.files[model_id]
        if path == catalog.CATALOG_DIR / "models.yaml":
            return "generator/catalog/models.yaml"  # the same wherever the command runs
        return str(Location(path))


def user_catalog_files(folder: Path) -> tuple[list[Path], list[Problem]]:
    """The user catalog's files beside the profiles in `folder`, and why any is refused."""
    directory = folder / USER_CATALOG
    if not directory.is_dir():
        return [], []
    root = profile_root(folder / "x.yaml")
    if not _inside(directory, root):
        return [], [
            Problem(
                f"the user model catalog leads to {directory.resolve()}, outside {root}; it must "
                "be a folder in the profiles' repository",
                Location(directory),
                rule="model-catalog",
            )
        ]
    files, problems = [], []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if not _inside(path, root):
            problems.append(
                Problem(
                    f"leads to {path.resolve()}, outside {root}; a catalog file must be a file in "
                    "the profiles' repository",
                    Location(path),
                    rule="model-catalog",
                )
            )
        else:
            files.append(path)
    if len(files) > MAX_CATALOG_FILES:
        problems.append(
            Problem(
                f"{len(files)} catalog files; at most {MAX_CATALOG_FILES} are read",
                Location(directory),
                rule="model-catalog",
            )
        )
        files = files[:MAX_CATALOG_FILES]
    return files, problems


def _signature(paths: list[Path]) -> tuple:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


def model_catalog(folder: Path) -> ModelCatalog:
    """The catalog the profiles in `folder` are sized by (re-read when a file changes)."""
    shipped = catalog.CATALOG_DIR / "models.yaml"
    files, refused = user_catalog_files(folder)
    return _merged(shipped, tuple(files), tuple(refused), _signature([shipped, *files]))


@dataclass
class Layered:
    """Keyed entries read from a shipped catalog file with user files over it, in order: each
    entry merged (`_overlay`), where each value was written, and what could not be read. Kept
    apart from the model checks so another catalog (recipes, hardware) can be layered alike."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, dict[FieldPath, Location]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # the file that last set each key
    notes: dict[str, list[Problem]] = field(default_factory=dict)  # YAML 1.1 warnings by key
    file_errors: list[Problem] = field(default_factory=list)


def read_layered(paths: tuple[Path, ...], what: str, key_problem, rule: str) -> Layered:
    """`paths` (the shipped file first) read as bounded, located YAML and merged key by key.

    `what` names a file's content for errors ("a model catalog maps Hugging Face ids to
    entries"); `key_problem(key)` says why a top-level key is refused, or None.
    """
    out = Layered()
    for path in paths:
        try:
            layer, where, notes = load_yaml(path, _CatalogBudget())
        except ProfileError as exc:
            out.file_errors += exc.problems or [
                Problem(str(exc.args[0]), exc.location or Location(path), rule=rule)
            ]
            continue
        if layer is None:
            continue
        if not isinstance(layer, dict):
            out.file_errors.append(
                Problem(
                    f"{what}; got {type(layer).__name__}", where.get((), Location(path)), rule=rule
                )
            )
            continue
        for key, value in layer.items():
            key = str(key)
            refused = key_problem(key)
            if refused:
                at = where.get((key, "<key>"), Location(path))
                out.file_errors.append(Problem(refused, at, (key,), rule=rule))
                continue
            out.data[key] = _overlay(out.data.get(key), value)
            mine = out.origins.setdefault(key, {})
            mine.update({p[1:]: loc for p, loc in where.items() if p[:1] == (key,)})
            out.files[key] = path
            out.notes.setdefault(key, []).extend(n for n in notes if n.path[:1] == (key,))
    return out


@lru_cache(maxsize=32)
def _merged(
    shipped: Path, files: tuple[Path, ...], refused: tuple[Problem, ...], _signature: tuple
) -> ModelCatalog:
    layered = read_layered(
        (shipped, *files),
        "a model catalog maps Hugging Face ids to entries",
        lambda key: (
            None if _is_model_id(key) else f"{key!r} is not a Hugging Face id (organization/name)"
        ),
        "model-catalog",
    )
    out = ModelCatalog(
        files=dict(layered.files),
        warnings={k: list(v) for k, v in layered.notes.items()},
        file_errors=[*refused, *layered.file_errors],
    )
    for key, value in layered.data.items():
        if value is None:  # a user file removed a shipped entry
            out.files.pop(key, None)
            continue
        _check(key, value, layered.origins[key], out)
    return out


def _overlay(base: Any, top: Any) -> Any:
    """`top` over `base`: mappings key by key, anything else replaced whole. Unlike a profile's
    `extends`, a null is kept (a recipe's `speculative: null` is a value); a null entry removes
    the model."""
    if not isinstance(top, dict) or not isinstance(base, dict):
        return top
    return {**base, **{k: _overlay(base.get(k), v) for k, v in top.items()}}


def _fill_ins(value: Any, at: FieldPath) -> list[FieldPath]:
    """Where an entry still holds the stub's FILL IN."""
    if isinstance(value, str):
        return [at] if value.startswith(FILL_IN) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _fill_ins(v, (*at, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _fill_ins(v, (*at, i))]
    return []


def _schema_node(at: FieldPath) -> dict:
    node = _schema()
    for part in at:
        props = node.get("properties", {}) if isinstance(node, dict) else {}
        if part not in props:
            return {}
        node = props[part]
    return node


def _expected(at: FieldPath) -> str:
    node = _schema_node(at)
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    want = node.get("type", "a value (see the comment on its line)")
    return " or ".join(want) if isinstance(want, list) else want


def _description(at: FieldPath) -> str:
    return _schema_node(at).get("description", "")


def _arch_listed(config: dict) -> bool:
    archs = config.get("architectures")
    return isinstance(archs, list) and bool(archs) and isinstance(archs[0], str)


def _is_model_id(key: str) -> bool:
    return len(key) <= 200 and re.fullmatch(MODEL_ID, key) is not None


@cache
def _schema() -> dict[str, Any]:
    return json.loads(catalog.MODELS_SCHEMA.read_text(encoding="utf-8"))


def _check(key: str, value: Any, origins: dict[FieldPath, Location], out: ModelCatalog) -> None:
    """Schema, recorded config and family of one merged entry; build it when it holds."""
    path = out.files[key]
    holder = Profile(key, path, value if isinstance(value, dict) else {}, origins)
    pending = _fill_ins(value, ())
    problems = [
        Problem(
            f"still {FILL_IN} (the stub `init` wrote): expected {_expected(at)}",
            holder.locate(at),
            at,
            hint=_description(at),
            rule="model-catalog",
        )
        for at in pending
    ]
    problems += [
        Problem(p.message, p.location, p.path, p.hint, rule="model-catalog")
        for p in located_problems(value, holder, _schema())
        if not any(p.path[: len(at)] == at for at in pending)
    ]
    config = value.get("config") if isinstance(value, dict) else None
    if isinstance(config, dict) and _arch_listed(config):
        for exc in config_problems(config, ""):
            at = ("config", exc.field) if exc.field else ("config",)
            where = holder.origins.get((*at, "<key>"))  # at the key: a mapping starts below
            problems.append(
                Problem(str(exc.args[0]), where or holder.locate(at), at, rule="model-catalog")
            )
    if problems:
        out.errors[key] = problems
        return
    out.entries[key] = catalog.build_entry(key, value, str(Location(path)))
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    out.fingerprints[key] = hashlib.sha256(blob).hexdigest()[:16]
    family = value["family"]
    if family not in catalog.FAMILIES:
        hint = did_you_mean(family, catalog.FAMILIES)
        out.warnings.setdefault(key, []).append(
            Problem(
                f"family {family!r} is not one the rules know ({', '.join(sorted(catalog.FAMILIES))}): "
                "no family rule (parser bugs, FP8-KV accuracy, speculative buffers) checks this "
                f"model; use the family it belongs to if it is one of them. Found: family={family}",
                holder.locate(("family",)),
                ("family",),
                hint=hint,
                severity="warning",
                rule="model-family-unknown",
            )
        )


def catalog_for(profile_path: Path) -> ModelCatalog:
    return model_catalog(profile_path.parent)


def catalog_entry(model_id: str, profile_path: Path) -> CatalogEntry | None:
    """The entry a profile at `profile_path` sizes `model_id` by; None when no catalog has it.

    Raises ProfileError, with every located problem, when a catalog file beside the profile
    cannot be read or the model's entry is invalid.
    """
    merged = catalog_for(profile_path)
    problems = merged.file_errors + merged.errors.get(model_id, [])
    if problems:
        what = (
            f"the model catalog entry for {model_id} is invalid"
            if merged.errors.get(model_id)
            else "a model catalog file beside the profile cannot be read"
        )
        raise ProfileError(f"{Location(profile_path)}: {what}", problems)
    return merged.entries.get(model_id)


def catalog_warnings(model_id: str, profile_path: Path) -> list[Problem]:
    return list(catalog_for(profile_path).warnings.get(model_id, []))


def entry_source(model_id: str, profile_path: Path) -> str:
    """Where the model's entry was (last) written, for `architecture_source`."""
    return catalog_for(profile_path).source(model_id)


def fingerprint(model_id: str, profile_path: Path) -> str:
    return catalog_for(profile_path).fingerprints.get(model_id, "")
