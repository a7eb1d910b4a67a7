"""What `pin-revision` recorded about a profile's pinned checkpoint, and the architecture it gives.

The lock file (LOCK_FILE beside the profile) holds, per `model_id@commit`, the commit's weight
bytes and its config.json; per `image <repository>:<tag>`, the serve image's digest
(`pin-image`). `model_spec(d)` is the model the rest of the generator sizes: the
catalog entry with the architecture read from the pinned commit's recorded config.json when there
is one, else from the catalog's recorded config (`architecture_source` says which).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from generator import catalog
from generator.catalog import ModelSpec, Unmodelled
from generator.catalog.architecture import check_recorded_config
from generator.profile.committed import DataFileError, committed_exists, read_json
from generator.profile.deployment import Deployment
from generator.profile.load import profile_root
from generator.profile.models import catalog_entry, entry_source, fingerprint

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
    entry = catalog_entry(d.model.id, d.profile_path)
    if entry is None:
        return None
    recorded = recorded_config(d)
    if recorded is None:
        source = entry_source(d.model.id, d.profile_path)
        config, where = entry.config, f"catalog: the recorded config.json in {source}"
    else:
        config, where = recorded
        check_recorded_config(config, entry.config, f"{d.model.id} ({where})")
    key = (
        d.model.id,
        json.dumps(config, sort_keys=True),
        where,
        fingerprint(d.model.id, d.profile_path),
    )
    if key not in _SPECS:
        _SPECS[key] = catalog.spec(d.model.id, config, where, entry)
    return _SPECS[key]


_SPECS: dict[tuple[str, str, str, str], ModelSpec] = {}


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


# --- The serve image's digest (`make pin-image`) ----------------------------------------------
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def image_key(repository: str, tag: str) -> str:
    """The lock's key for a serve image: `image <repository>:<tag>` (no model id has a space)."""
    return f"image {repository}:{tag}"


def image_digest(d: Deployment) -> str | None:
    """The digest `pin-image` recorded for the profile's repository:tag, or None (not pinned).

    The lock is committed, so a PR may edit it: anything but `sha256:` and 64 hex digits is a
    located error, never a string that reaches the rendered app."""
    serve = d.images.serve
    entry = read_lock(lock_path(d)).get(image_key(serve.repository, serve.tag))
    if entry is None:
        return None
    digest = entry.get("digest") if isinstance(entry, dict) else None
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise DataFileError(
            f"{LOCK_FILE}: {image_key(serve.repository, serve.tag)!r}: expected a digest "
            f"'sha256:' + 64 hex digits; run `make pin-image` again"
        )
    return digest
