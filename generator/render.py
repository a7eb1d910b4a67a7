"""Render the deployment model through the Jinja2 templates, and write files atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from generator import BUILD_DIR, REPO_ROOT, TEMPLATES_DIR
from generator.deployment import Deployment
from generator.flags import flag_note, flag_set


def python_literal(value: Any) -> str:
    """A Python literal for a profile value: no profile string can break out of it."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        # The quote ruff format would choose, so the rendered file is already formatted.
        quote = "'" if value.count('"') > value.count("'") else '"'
        chars = [
            "\\" + c if c in (quote, "\\") else c if c.isprintable() else repr(c)[1:-1]
            for c in value
        ]
        return quote + "".join(chars) + quote
    raise TypeError(f"no Python literal for {type(value).__name__}")


def comment_text(value: Any) -> str:
    """Text safe inside a `#` comment: one line, printable characters only."""
    return "".join(c if c.isprintable() else " " for c in str(value))


def _environment():
    import jinja2  # only rendering needs it; `validate` stays light

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = python_literal
    env.filters["comment"] = comment_text
    return env


def default_output(deployment: Deployment) -> Path:
    return BUILD_DIR / deployment.profile_name / "modal_app.py"


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def app_context(deployment: Deployment, output: Path, extends: str | None, description: str):
    """The flat values the app template lays out."""
    d = deployment
    serve_env = {
        "SGLANG_DG_CACHE_DIR": d.deepgemm_cache_dir,
        "HF_HUB_OFFLINE": "1",  # weights come from the Volume; never reach the Hub at serve time
        **dict(d.env),
        **dict(d.sglang.env),
    }
    # Values that have a named constant in the app are written as that name.
    constants = {d.model_dir: "MODEL_DIR", d.deepgemm_cache_dir: "DEEPGEMM_CACHE_DIR"}
    flags = [
        {
            "code": [constants.get(arg) or python_literal(arg) for arg in flag.argv],
            "note": flag_note(flag, d),
        }
        for flag in flag_set(d)
    ]
    scale = d.autoscaling
    return {
        "profile_name": d.profile_name,
        "profile_ref": d.profile_name,
        "profile_hash": d.profile_hash,
        "extends_note": f" (extends {comment_text(extends)})" if extends else "",
        "description_lines": [comment_text(line) for line in description.splitlines()],
        "app_file": _display_path(output),
        "preflight_file": _display_path(output.with_name("preflight.py")),
        "app_name": d.app_name,
        "model_id": d.model.id,
        "model_revision": d.model.revision,
        "model_pinned": d.model.pinned,
        "model_dir": d.model_dir,
        "gpu_spec": d.gpu.modal_spec,
        "sglang_version": d.sglang.version,
        "port": d.sglang.port,
        "require_api_key": d.auth.require_api_key,
        "api_key_env": d.secrets.api_key.key,
        "api_key_secret": d.secrets.api_key.name,
        "hf_secret": d.secrets.huggingface.name,
        "hf_secret_key": d.secrets.huggingface.key,
        "flags": flags,
        "weights_volume": d.volumes.weights.name,
        "deepgemm_volume": d.volumes.deepgemm_cache.name,
        "weights_mount": d.volumes.weights.mount_path,
        "deepgemm_mount": d.volumes.deepgemm_cache.mount_path,
        "deepgemm_cache_dir": d.deepgemm_cache_dir,
        "download_python": d.images.download.python_version,
        "hf_hub_requirement": f"huggingface-hub[hf_xet]=={d.images.download.huggingface_hub_version}",
        "download_env": [
            (python_literal(k), python_literal(v))
            for k, v in sorted({"HF_XET_HIGH_PERFORMANCE": "1", **dict(d.env)}.items())
        ],
        "serve_image": d.images.serve.ref,
        "serve_env": [
            (python_literal(k), constants.get(v) or python_literal(v))
            for k, v in sorted(serve_env.items())
        ],
        "download_timeout": d.timeouts.download,
        "precompile_timeout": d.timeouts.precompile,
        # compile_deep_gemm's own wait for the server, a little under the function's timeout.
        "compile_timeout": str(max(60, d.timeouts.precompile - 300)),
        "min_containers": scale.min_containers,
        "min_containers_comment": "scale to zero when idle"
        if scale.min_containers == 0
        else "always up: billed while idle",
        "max_containers": scale.max_containers,
        "buffer_containers": scale.buffer_containers,
        "scaledown_window": scale.scaledown_window,
        "container_timeout": d.timeouts.container,
        "max_inputs": d.concurrency.max_inputs,
        "target_inputs": d.concurrency.target_inputs,
        "startup_timeout": d.timeouts.startup,
    }


def render_template(name: str, context: dict[str, Any]) -> str:
    return _environment().get_template(name).render(context)


def format_python(source: str) -> str:
    """Format with ruff (pinned), so long profile values still give a formatted file."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "-"],
        input=source,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"rendered app is not valid Python: {result.stderr.strip()}")
    return result.stdout


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would surprise anyone reading the file
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
