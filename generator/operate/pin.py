"""`pin-revision`: resolve a profile's model branch or tag to a commit and write it back, and
record that commit's checkpoint size and config.json where `plan` reads them (LOCK_FILE beside
the profile): the architecture the memory model sizes is the pinned checkpoint's own.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from generator.capacity.memory import LOCK_FILE, lock_key, read_lock
from generator.errors import UserError
from generator.pipeline import load
from generator.profile.checkpoint import CONFIG_MAX_BYTES
from generator.profile.committed import check_committed_path, dumps, loads
from generator.profile.load import profile_root
from generator.render.write import write_atomic, write_committed

WEIGHT_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Revision:
    commit: str
    checkpoint_bytes: int  # the weight files' sizes summed
    weight_files: int
    config: dict | None = None  # the commit's config.json (None: the repository has none)


def resolve(model_id: str, revision: str) -> Revision:
    """The commit `revision` points at on the Hugging Face Hub and the size of its weights.

    One `HfApi.model_info(..., files_metadata=True)` call (uses HF_TOKEN if set): the commit sha
    and every file's size; the checkpoint is the sum of the `*.safetensors` files. Then the
    commit's config.json (a few KB) through `HfApi.hf_hub_download`, into a temporary directory.
    """
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        api = HfApi()
        info = api.model_info(model_id, revision=revision, files_metadata=True)
        commit = check_commit(info.sha)
        weights = [s for s in info.siblings or () if s.rfilename.endswith(WEIGHT_SUFFIX)]
        listed = [s for s in info.siblings or () if s.rfilename == CONFIG_FILE]
        sizes = [s.size for s in weights]
        if not sizes or not all(isinstance(n, int) and n >= 0 for n in sizes):
            raise UserError(f"{model_id}@{commit}: the Hub lists no sized *{WEIGHT_SUFFIX} files")
        config = _config(api, model_id, commit, listed[0].size) if listed else None
    except RevisionNotFoundError:
        raise UserError(f"{model_id} has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise UserError(f"{model_id} not found on the Hub (or it is gated: set HF_TOKEN)") from None
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise UserError(_unreachable(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # not what the Hub sends
        raise UserError(f"the Hugging Face Hub sent an answer that cannot be read: {exc}") from None
    except Exception as exc:
        if not _transport_error(exc):
            raise
        raise UserError(_unreachable(exc)) from None
    return Revision(commit, sum(sizes), len(sizes), config)


CONFIG_FILE = "config.json"

# huggingface_hub 2.x sends through its own copy of httpx (`httpx2`), whose ConnectError is not
# an httpx.HTTPError: a transport failure is recognised by the HTTP stack it comes from.
_TRANSPORT_MODULES = {"httpx", "httpx2", "httpcore", "requests", "urllib3", "h11", "h2", "ssl"}


def _transport_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES


def _unreachable(exc: BaseException) -> str:
    """One line: the Hub could not be reached, why, and what to do."""
    why = " ".join(str(exc).split())[:200] or type(exc).__name__
    return (
        f"cannot reach the Hugging Face Hub ({type(exc).__name__}: {why}); check the network "
        "(and HF_ENDPOINT, HF_TOKEN for a gated model), then run pin-revision again: "
        "nothing was written"
    )


def _config(api, model_id: str, commit: str, size: object) -> dict:
    """The commit's config.json as a mapping; a located error when it is too large or not JSON."""
    if isinstance(size, int) and size > CONFIG_MAX_BYTES:
        raise UserError(f"{model_id}@{commit}: config.json is {size:,} B, not a model config")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(api.hf_hub_download(model_id, CONFIG_FILE, revision=commit, local_dir=tmp))
        text = path.read_text(encoding="utf-8")
    if len(text) > CONFIG_MAX_BYTES:
        raise UserError(f"{model_id}@{commit}: config.json is larger than {CONFIG_MAX_BYTES:,} B")
    try:
        data = loads(text)  # finite numbers only: NaN would reach the lock and the arithmetic
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{model_id}@{commit}: config.json is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{model_id}@{commit}: config.json is not a JSON object")
    return data


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
    entry = {
        "bytes": resolved.checkpoint_bytes,
        "source": f"Hub, {resolved.weight_files} *{WEIGHT_SUFFIX} files summed",
        "recorded": date.today().isoformat(),
    }
    if resolved.config is not None:
        entry["config"] = resolved.config
        entry["config_source"] = f"Hub, {CONFIG_FILE} at {resolved.commit}"
    lock[lock_key(model_id, resolved.commit)] = entry
    write_lock(path, lock)
    return str(path)


def write_lock(path: Path, lock: dict) -> None:
    """The lock, keys sorted: never through a link, no non-finite number (pin-revision and
    pin-image both write it so)."""
    write_committed(path, dumps(dict(sorted(lock.items())), path), profile_root(path))


def pin_revision(ref: str) -> int:
    loaded = load(ref)
    d = loaded.deployment
    model = d.model
    lock_dir = d.profile_path.parent
    lock = lock_dir / LOCK_FILE
    check_committed_path(lock, profile_root(lock))  # before any write: no link on the way
    if model.pinned:
        entry = read_lock(lock_dir / LOCK_FILE).get(lock_key(model.id, model.revision))
        # An entry from before config.json was recorded gets it now (one more Hub call).
        if isinstance(entry, dict) and "config" in entry:
            print(f"{model.id} is already pinned to {model.revision}")
            return 0
        resolved = resolve(model.id, model.revision)
        where = record_checkpoint(lock_dir, model.id, resolved)
        print(
            f"{model.id} is already pinned; recorded its {resolved.checkpoint_bytes:,} B"
            f"{_and_config(resolved)} in {where}"
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
    print(
        f"recorded the checkpoint size, {resolved.checkpoint_bytes:,} B{_and_config(resolved)}, "
        f"in {lock}"
    )
    return 0


def _and_config(resolved: Revision) -> str:
    return f" and its {CONFIG_FILE}" if resolved.config is not None else ""
