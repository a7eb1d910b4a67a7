"""`pin-revision`: resolve a profile's model branch or tag to a commit and write it back, and
record that commit's checkpoint size where `plan` reads it (capacity.LOCK_FILE beside the profile).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from generator.capacity.memory import LOCK_FILE, lock_key, read_lock
from generator.errors import UserError
from generator.pipeline import load
from generator.profile.load import profile_root
from generator.render.write import check_contained, write_atomic

WEIGHT_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Revision:
    commit: str
    checkpoint_bytes: int  # the weight files' sizes summed
    weight_files: int


def resolve(model_id: str, revision: str) -> Revision:
    """The commit `revision` points at on the Hugging Face Hub and the size of its weights.

    One `HfApi.model_info(..., files_metadata=True)` call (uses HF_TOKEN if set): the commit sha
    and every file's size; the checkpoint is the sum of the `*.safetensors` files.
    """
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        info = HfApi().model_info(model_id, revision=revision, files_metadata=True)
        commit = check_commit(info.sha)
        weights = [s for s in info.siblings or () if s.rfilename.endswith(WEIGHT_SUFFIX)]
    except RevisionNotFoundError:
        raise UserError(f"{model_id} has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise UserError(f"{model_id} not found on the Hub (or it is gated: set HF_TOKEN)") from None
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise UserError(f"cannot reach the Hugging Face Hub: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # not what the Hub sends
        raise UserError(f"the Hugging Face Hub sent an answer that cannot be read: {exc}") from None
    sizes = [s.size for s in weights]
    if not sizes or not all(isinstance(n, int) and n >= 0 for n in sizes):
        raise UserError(f"{model_id}@{commit}: the Hub lists no sized *{WEIGHT_SUFFIX} files")
    return Revision(commit, sum(sizes), len(sizes))


COMMIT = re.compile(r"[0-9a-f]{40}")


def check_commit(commit: object) -> str:
    """Only a commit sha is written into a profile: 40 lowercase hex digits, nothing else."""
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        shown = repr(commit)[:80]
        raise UserError(
            f"the Hub answered {shown} for the commit, not 40 hex digits; nothing written"
        )
    return commit


def record_checkpoint(directory, model_id: str, resolved: Revision) -> str:
    """Write the commit's size into LOCK_FILE in `directory`; returns the file's path."""
    path = directory / LOCK_FILE
    lock = read_lock(path)
    lock[lock_key(model_id, resolved.commit)] = {
        "bytes": resolved.checkpoint_bytes,
        "source": f"Hub, {resolved.weight_files} *{WEIGHT_SUFFIX} files summed",
        "recorded": date.today().isoformat(),
    }
    write_atomic(path, json.dumps(dict(sorted(lock.items())), indent=2) + "\n")
    return str(path)


def pin_revision(ref: str) -> int:
    loaded = load(ref)
    d = loaded.deployment
    model = d.model
    lock_dir = d.profile_path.parent
    check_contained(lock_dir / LOCK_FILE, profile_root(lock_dir / LOCK_FILE))  # before any write
    if model.pinned:
        if lock_key(model.id, model.revision) in read_lock(lock_dir / LOCK_FILE):
            print(f"{model.id} is already pinned to {model.revision}")
            return 0
        resolved = resolve(model.id, model.revision)
        where = record_checkpoint(lock_dir, model.id, resolved)
        print(
            f"{model.id} is already pinned; recorded its {resolved.checkpoint_bytes:,} B in {where}"
        )
        return 0
    where = loaded.profile.origins.get(("model", "revision"))
    if where is None or where.line is None:
        raise UserError("model.revision comes from a schema default; set it in the profile")
    lines = where.file.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[where.line - 1]
    start = where.column - 1
    token = re.compile(r"""(["']?)""" + re.escape(model.revision) + r"\1")
    match = token.match(line, start)
    if not match:
        raise UserError(f"{where}: cannot find the revision value to rewrite; set it by hand")
    resolved = resolve(model.id, model.revision)
    lines[where.line - 1] = line[:start] + resolved.commit + line[match.end() :]
    write_atomic(where.file, "".join(lines))
    print(f"pinned {model.id} {model.revision} -> {resolved.commit} in {where}")
    lock = record_checkpoint(lock_dir, model.id, resolved)
    print(f"recorded the checkpoint size, {resolved.checkpoint_bytes:,} B, in {lock}")
    return 0
