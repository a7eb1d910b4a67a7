"""What `pin-revision` recorded about a profile's pinned checkpoint, and the architecture it gives.

The lock file (LOCK_FILE beside the profile) holds, per `model_id@commit`, the commit's weight
bytes and its config.json. `model_spec(d)` is the model the rest of the generator sizes: the
catalog entry with the architecture read from the pinned commit's recorded config.json when there
is one, else from the catalog's recorded config (`architecture_source` says which).
"""

from __future__ import annotations

import json
from pathlib import Path

from generator import catalog
from generator.catalog import ModelSpec, Unmodelled
from generator.catalog.architecture import check_recorded_config
from generator.profile.committed import DataFileError, committed_exists, read_json
from generator.profile.deployment import Deployment
from generator.profile.load import profile_root

LOCK_FILE = "checkpoints.lock.json"
CONFIG_MAX_BYTES = 1 << 20  # a config.json is a few KB; a lock entry beyond this is not believed


def lock_path(d: Deployment) -> Path:
    """Where `pin-revision` records checkpoint facts: beside the profile, keyed by id@commit."""
    return d.profile_path.parent / LOCK_FILE


def lock_key(model_id: str, commit: str) -> str:
    return f"{model_id}@{commit}"


LOCK_RESTORE = "restore it from git, or delete it and run `make pin-revision`"


def read_lock(path: Path) -> dict:
    """The lock file's entries ({} when there is none); a malformed file is a located error."""
    root = profile_root(path)
    if not committed_exists(path, root):
        return {}
    data = read_json(path, LOCK_RESTORE, root)
    if not isinstance(data, dict):
        raise DataFileError(f"{path.name}: expected an object of entries; {LOCK_RESTORE}")
    return data


def lock_entry(d: Deployment) -> dict | None:
    """The lock's entry for the profile's pinned commit, or None (unpinned or not recorded)."""
    if not d.model.pinned:
        return None
    entry = read_lock(lock_path(d)).get(lock_key(d.model.id, d.model.revision))
    return entry if isinstance(entry, dict) else None


def recorded_config(d: Deployment) -> tuple[dict, str] | None:
    """(config.json, source) recorded for the pinned commit, or None."""
    entry = lock_entry(d)
    config = entry.get("config") if entry else None
    if not isinstance(config, dict) or len(json.dumps(config)) > CONFIG_MAX_BYTES:
        return None
    where = f"{LOCK_FILE}: config.json of {d.model.id}@{d.model.revision[:12]}"
    return config, where


def model_spec(d: Deployment) -> ModelSpec | None:
    """The model as sized: None when the catalog does not know it. `Unmodelled` when its config's
    attention design is one the memory model does not cover (see `refusal`)."""
    if catalog.entry(d.model.id) is None:
        return None
    recorded = recorded_config(d)
    if recorded is None:
        return catalog.model(d.model.id)
    config, where = recorded
    check_recorded_config(config, catalog.entry(d.model.id).config, f"{d.model.id} ({where})")
    return _spec(d.model.id, json.dumps(config, sort_keys=True), where)


_SPECS: dict[tuple[str, str, str], ModelSpec] = {}


def _spec(model_id: str, config_text: str, where: str) -> ModelSpec:
    key = (model_id, config_text, where)
    if key not in _SPECS:
        _SPECS[key] = catalog.spec(model_id, json.loads(config_text), where)
    return _SPECS[key]


def known_model(d: Deployment) -> ModelSpec | None:
    """`model_spec`, with an unmodelled design as None (rules report it once, as `refusal`)."""
    try:
        return model_spec(d)
    except Unmodelled:
        return None


def refusal(d: Deployment) -> Unmodelled | None:
    """Why the profile's model cannot be sized, when its design is not modelled; else None."""
    try:
        model_spec(d)
    except Unmodelled as exc:
        return exc
    return None
