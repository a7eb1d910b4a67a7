"""`deploy` and `rollback`: the only steps that touch the outside world (the real `modal` CLI).

Each deploy is tagged `<profile>-<merged profile hash>` and leaves a record a team can commit:
deploys/<profile>/history.json (newest last) and deploys/<profile>/<tag>/modal_app.py.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from generator import REPO_ROOT
from generator.errors import Location, UserError
from generator.operate.report import emit_line
from generator.pipeline import Loaded, load, render_to_file
from generator.profile.checkpoint import image_digest
from generator.profile.committed import check_committed_path, committed_exists, dumps, read_json
from generator.render.write import folder_lock, write_committed

DEPLOYS_DIR = REPO_ROOT / "deploys"


def modal_credentials_present() -> bool:
    """True when the Modal client would find a token (env vars or ~/.modal.toml)."""
    try:
        from modal.config import config  # heavy import, only on the deploy path
    except Exception as exc:  # modal reads ~/.modal.toml on import and raises if it is broken
        where = os.environ.get("MODAL_CONFIG_PATH") or "~/.modal.toml"
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{where}: cannot read Modal's configuration ({detail}); fix it or run "
            "`modal token new`"
        ) from None
    return bool(config.get("token_id") and config.get("token_secret"))


def _require_credentials() -> None:
    if not modal_credentials_present():
        raise UserError(
            "no Modal credentials: run `modal token new` (or set MODAL_TOKEN_ID and "
            "MODAL_TOKEN_SECRET), then try again"
        )


def _modal() -> str:
    return shutil.which("modal") or str(Path(sys.executable).with_name("modal"))


def _require_pinned(loaded: Loaded) -> None:
    model = loaded.deployment.model
    if not model.pinned:
        raise UserError(
            f"model.revision is {model.revision!r}, which can move: run "
            f"`make pin-revision PROFILE={loaded.profile.name}` to pin the current commit first"
        )


def _warn_unpinned_image(loaded: Loaded) -> None:
    """A tag can be moved to another build (and which CUDA lane a plain tag carries has changed
    over time); until `pin-image` records its digest the deploy pulls whatever it points at."""
    if image_digest(loaded.deployment) is None:
        serve = loaded.deployment.images.serve
        print(
            f"warning: the serve image {serve.ref} is not pinned by digest: run "
            f"`make pin-image PROFILE={loaded.profile.name}` (the tag can move)",
            file=sys.stderr,
        )


def deploy_tag(loaded: Loaded) -> str:
    return loaded.deployment.deploy_tag


def deploy_command(loaded: Loaded, app_file: Path) -> list[str]:
    d = loaded.deployment
    return [_modal(), "deploy", str(app_file), "--name", d.app_name, "--tag", deploy_tag(loaded)]


def rollback_command(app_name: str, version: str | None = None) -> list[str]:
    return [_modal(), "app", "rollback", app_name, *([version] if version else [])]


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def history_path(profile_name: str) -> Path:
    path = DEPLOYS_DIR / profile_name / "history.json"
    if not path.resolve().is_relative_to(DEPLOYS_DIR.resolve()):  # names are checked on load
        raise UserError(f"profile name {profile_name!r} would leave {DEPLOYS_DIR}")
    check_committed_path(path, DEPLOYS_DIR.parent)  # no link on the way: told before deploying
    return path


# Every record has these; `rollback` and `diff` read them.
RECORD_KEYS = {
    "action": str,
    "profile": str,
    "tag": str,
    "app_name": str,
    "time": str,
    "sglang_version": str,
    "settings": dict,
}


HISTORY_RESTORE = "restore the file from git"
# What `rollback` and `diff` use as a path and as a `modal` argument is checked, not trusted: the
# tag as deploy writes it (<profile>-<12 hex>, within Modal's 50-character tag limit) and the app
# name as the profile schema's app.name allows it (cannot start with '-', so it is no option).
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def read_history(profile_name: str, app_name: str | None = None) -> list[dict[str, Any]]:
    """The deploy records, oldest first; a malformed file is a located error, not a traceback.
    With `app_name` (the profile's app), a record of another app is an error too: rollback and
    diff act on the app a record names."""
    path = history_path(profile_name)
    if not committed_exists(path, DEPLOYS_DIR.parent):
        return []
    history = read_json(path, HISTORY_RESTORE, DEPLOYS_DIR.parent)
    if not isinstance(history, list):
        raise UserError(f"{Location(path)}: expected a list of deploy records; restore it from git")
    tag = re.compile(re.escape(profile_name) + r"-[0-9a-f]{12}")
    for index, record in enumerate(history):
        wrong = (
            [k for k, t in RECORD_KEYS.items() if not isinstance(record.get(k), t)]
            if isinstance(record, dict)
            else ["(not a mapping)"]
        )
        if not wrong:
            wrong = [
                f"{key} {record[key]!r:.80}"
                for key, ok in (
                    ("profile", record["profile"] == profile_name),
                    ("tag", tag.fullmatch(record["tag"])),
                    ("app_name", _APP_NAME.fullmatch(record["app_name"])),
                    ("app_name", app_name is None or record["app_name"] == app_name),
                )
                if not ok
            ]
        if wrong:
            raise UserError(
                f"{Location(path)}: record [{index}] lacks or mistypes {', '.join(wrong)}; "
                f"{HISTORY_RESTORE}"
            )
    return history


def make_record(loaded: Loaded, rendered: str, *, now: dt.datetime | None = None) -> dict:
    d = loaded.deployment
    now = now or dt.datetime.now(dt.UTC)
    return {
        "action": "deploy",
        "profile": loaded.profile.name,
        "tag": deploy_tag(loaded),
        "profile_sha256": d.profile_hash,
        "rendered_sha256": hashlib.sha256(rendered.encode()).hexdigest(),
        "app_name": d.app_name,
        "sglang_version": d.sglang.version,
        "image": d.images.serve.ref,
        "serving_primitive": d.serving.primitive,
        "git_commit": _git_commit(),
        "deployed_by": getpass.getuser(),
        "time": now.isoformat(timespec="seconds"),
        "settings": loaded.profile.data,
    }


def write_record(record: dict, rendered: str | None) -> Path:
    """Append a record; concurrent deploys of one profile take turns (a lock on its folder)."""
    path = history_path(record["profile"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{Location(path.parent)}: cannot create: {exc.strerror}") from None
    # The lock is on deploys/ itself: each file write below locks the folder it writes in.
    with folder_lock(path.parent.parent):
        if rendered is not None:
            copy = path.parent / record["tag"] / "modal_app.py"
            write_committed(copy, rendered, DEPLOYS_DIR.parent)
        history = [*read_history(record["profile"]), record]
        write_committed(path, dumps(history, path, sort_keys=True), DEPLOYS_DIR.parent)
    return path


def _run(command: list[str], what: str) -> None:
    print(f"$ {shlex.join(command)}", flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        raise UserError(f"{what} failed with exit code {result.returncode}")


def prepare(ref: str) -> tuple[Loaded, Path, str]:
    """Load (never deploys an invalid profile), render, refuse a moving revision."""
    return prepare_loaded(load(ref))


def prepare_loaded(loaded: Loaded) -> tuple[Loaded, Path, str]:
    app_file = render_to_file(loaded)
    print(f"rendered {loaded.profile.name} -> {app_file}")
    _require_pinned(loaded)
    _warn_unpinned_image(loaded)
    history_path(loaded.profile.name)  # where the record goes, checked before anything deploys
    return loaded, app_file, app_file.read_text(encoding="utf-8")


def deploy(ref: str, *, dry_run: bool = False) -> int:
    """Deploy straight to the live app (`make deploy` goes through generator/operate/release.py,
    which calls this for a profile without a canary)."""
    return deploy_prepared(*prepare(ref), dry_run=dry_run)


def deploy_prepared(loaded: Loaded, app_file: Path, rendered: str, *, dry_run: bool) -> int:
    command = deploy_command(loaded, app_file)
    if dry_run:
        print(shlex.join(command))
        return 0
    _require_credentials()
    _run(command, "modal deploy")
    path = write_record(make_record(loaded, rendered), rendered)
    print(f"deployed {deploy_tag(loaded)}; record written to {path} (commit it)")
    return 0


def _modal_run(ref: str, file_name: str, what: str, dry_run: bool) -> int:
    return modal_run_loaded(load(ref), file_name, what, dry_run)


def modal_run_loaded(loaded: Loaded, file_name: str, what: str, dry_run: bool) -> int:
    _require_pinned(loaded)
    app_file = render_to_file(loaded)
    command = [_modal(), "run", str(app_file.with_name(file_name))]
    if dry_run:
        print(shlex.join(command))
        return 0
    _require_credentials()
    _run(command, what)
    return 0


def setup(ref: str, *, dry_run: bool = False) -> int:
    """Download the weights, then precompile DeepGEMM on the serving GPU (the app's entrypoint)."""
    return _modal_run(ref, "modal_app.py", "setup", dry_run)


def preflight(ref: str, *, dry_run: bool = False) -> int:
    """Run the rendered preflight on Modal: a CPU container in the exact serve image."""
    return _modal_run(ref, "preflight.py", "preflight", dry_run)


def live_records(history: list[dict]) -> list[dict]:
    """The records that changed the live app: deploys and rollbacks, not rejected canaries."""
    return [r for r in history if r["action"] in ("deploy", "rollback")]


def previous_deploy(history: list[dict]) -> tuple[dict, dict]:
    """The record now live and the one `modal app rollback` returns to: the version before it.

    Modal records a rollback as a new version, so rolling back twice returns to where you began;
    the history here is kept the same way.
    """
    history = live_records(history)
    if len(history) < 2:
        raise UserError(
            "fewer than two deploy records: nothing to roll back to"
            if history
            else "no deploy record: nothing to roll back to (deploy with `make deploy`)"
        )
    return history[-1], history[-2]


def rollback(ref: str, *, dry_run: bool = False) -> int:
    loaded = load(ref)
    name = loaded.profile.name
    current, target = previous_deploy(read_history(name, loaded.deployment.app_name))
    command = rollback_command(current["app_name"])
    print(
        emit_line(
            f"rolling {current['app_name']} back from {current['tag']} ({current['time']}) "
            f"to {target['tag']} ({target['time']}, SGLang {target['sglang_version']})",
            "text",
        )
    )
    if dry_run:
        print(shlex.join(command))
        return 0
    _require_credentials()
    _run(command, "modal app rollback")
    record = {
        **target,
        "action": "rollback",
        "rolled_back_from": current["tag"],
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "deployed_by": getpass.getuser(),
    }
    path = write_record(record, None)
    print(f"rolled back to {target['tag']}; record written to {path} (commit it)")
    return 0
