"""`deploy`: validate, render, then the real `modal deploy`. The only step that touches the outside world."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from generator.errors import UserError
from generator.pipeline import Loaded, load, render_to_file


def modal_credentials_present() -> bool:
    """True when the Modal client would find a token (env vars or ~/.modal.toml)."""
    from modal.config import config  # heavy import, only on the deploy path

    return bool(config.get("token_id") and config.get("token_secret"))


def deploy_tag(loaded: Loaded) -> str:
    return f"{loaded.profile.name}-{loaded.deployment.profile_hash[:12]}"


def deploy_command(loaded: Loaded, app_file: Path) -> list[str]:
    modal = shutil.which("modal") or str(Path(sys.executable).with_name("modal"))
    return [modal, "deploy", str(app_file), "--name", loaded.deployment.app_name, "--tag", deploy_tag(loaded)]


def deploy(ref: str, *, dry_run: bool = False) -> int:
    loaded = load(ref)  # never deploys an invalid profile
    app_file = render_to_file(loaded)
    command = deploy_command(loaded, app_file)
    print(f"rendered {loaded.profile.name} -> {app_file}")
    if dry_run:
        print(shlex.join(command))
        return 0
    if not modal_credentials_present():
        raise UserError(
            "no Modal credentials: run `modal token new` (or set MODAL_TOKEN_ID and "
            "MODAL_TOKEN_SECRET), then deploy again"
        )
    print(f"$ {shlex.join(command)}", flush=True)
    result = subprocess.run(command, env=os.environ.copy())
    if result.returncode != 0:
        raise UserError(f"modal deploy failed with exit code {result.returncode}")
    return 0
