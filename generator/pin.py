"""`pin-revision`: resolve a profile's model branch or tag to a commit and write it back."""

from __future__ import annotations

import re

from generator.errors import UserError
from generator.pipeline import load
from generator.render import write_atomic


def resolve_commit(model_id: str, revision: str) -> str:
    """The commit `revision` points at on the Hugging Face Hub (uses HF_TOKEN if set)."""
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        commit = HfApi().model_info(model_id, revision=revision).sha
    except RevisionNotFoundError:
        raise UserError(f"{model_id} has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise UserError(f"{model_id} not found on the Hub (or it is gated: set HF_TOKEN)") from None
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise UserError(f"cannot reach the Hugging Face Hub: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:  # an answer that is not what the Hub sends
        raise UserError(f"the Hugging Face Hub sent an answer that cannot be read: {exc}") from None
    return check_commit(commit)


COMMIT = re.compile(r"[0-9a-f]{40}")


def check_commit(commit: object) -> str:
    """Only a commit sha is written into a profile: 40 lowercase hex digits, nothing else."""
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        shown = repr(commit)[:80]
        raise UserError(
            f"the Hub answered {shown} for the commit, not 40 hex digits; nothing written"
        )
    return commit


def pin_revision(ref: str) -> int:
    loaded = load(ref)
    model = loaded.deployment.model
    if model.pinned:
        print(f"{model.id} is already pinned to {model.revision}")
        return 0
    where = loaded.profile.origins.get(("model", "revision"))
    if where is None or where.line is None:
        raise UserError("model.revision comes from a schema default; set it in the profile")
    commit = check_commit(resolve_commit(model.id, model.revision))
    lines = where.file.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[where.line - 1]
    start = where.column - 1
    token = re.compile(r"""(["']?)""" + re.escape(model.revision) + r"\1")
    match = token.match(line, start)
    if not match:
        raise UserError(f"{where}: cannot find the revision value to rewrite; set it by hand")
    lines[where.line - 1] = line[:start] + commit + line[match.end() :]
    write_atomic(where.file, "".join(lines))
    print(f"pinned {model.id} {model.revision} -> {commit} in {where}")
    return 0
