"""Render the deployment model through the Jinja2 templates, and write the rendered files.

Generated code is an attack surface: profile values, file names and paths all reach it. Every
value a template prints goes through one of three emitters (`py`, `comment`, `doc`), each of which
returns `Emitted` text that cannot leave its context; the environment refuses anything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator import BUILD_DIR, REPO_ROOT, TEMPLATES_DIR, catalog
from generator.caches import cache_variables
from generator.deployment import Deployment
from generator.errors import Location, UserError
from generator.fallback import variants
from generator.flags import flag_note, flag_set

PREFLIGHT_NAME = "preflight.py"


class Emitted(str):
    """Text an emitter made safe for the place it is printed; the templates print nothing else."""


class UnsafeTemplateValue(TypeError):
    """A template printed a value that did not go through an emitter: a bug in a template."""


def python_literal(value: Any) -> Emitted:
    """A Python literal for a profile value: no profile string can break out of it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"no Python literal for {value!r}")
    if value is None or isinstance(value, bool | int | float):
        return Emitted(repr(value))
    if isinstance(value, str):
        # The quote ruff format would choose, so the rendered file is already formatted.
        quote = "'" if value.count('"') > value.count("'") else '"'
        chars = [
            "\\" + c if c in (quote, "\\") else c if c.isprintable() else repr(c)[1:-1]
            for c in value
        ]
        return Emitted(quote + "".join(chars) + quote)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def comment_text(value: Any) -> Emitted:
    """Text safe inside a `#` comment: one line of printable characters (no line or paragraph
    separators, no bidirectional controls), so it can neither end the comment nor hide code."""
    return Emitted("".join(c if c.isprintable() else " " for c in str(value)))


def docstring_text(value: Any) -> Emitted:
    """Text safe inside a triple-quoted docstring: a comment-safe line whose backslashes and
    quotes are escaped, so no escape sequence and no closing quote can come out of it."""
    return Emitted(comment_text(value).replace("\\", "\\\\").replace('"', '\\"'))


def code(*parts: Emitted) -> Emitted:
    """Emitted pieces joined with ", " (a list's items): still emitted, nothing added."""
    if not all(isinstance(p, Emitted) for p in parts):
        raise UnsafeTemplateValue("code() joins emitted pieces only")
    return Emitted(", ".join(parts))


def _only_emitted(value: Any) -> Emitted:
    if isinstance(value, Emitted):
        return value
    raise UnsafeTemplateValue(
        f"a template printed {value!r} without an emitter (| py, | comment or | doc)"
    )


def _environment():
    import jinja2  # only rendering needs it; `validate` stays light

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_only_emitted,
    )
    env.filters["py"] = python_literal
    env.filters["comment"] = comment_text
    env.filters["doc"] = docstring_text
    return env


def default_output(deployment: Deployment) -> Path:
    output = BUILD_DIR / deployment.profile_name / "modal_app.py"
    if not output.resolve().is_relative_to(BUILD_DIR.resolve()):  # names are checked on load
        raise UserError(f"profile name {deployment.profile_name!r} would leave {BUILD_DIR}")
    return output


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def app_context(deployment: Deployment, output: Path, extends: str | None, description: str):
    """The values the templates lay out: raw values they print through an emitter filter, and
    pieces of code built here from emitted parts."""
    d = deployment
    serve_env = {
        "HF_HUB_OFFLINE": "1",  # weights come from the Volume; never reach the Hub at serve time
        **dict(d.env),
        **dict(d.sglang.env),
    }
    # Values that have a named constant in the app are written as that name.
    constants = {d.model_dir: "MODEL_DIR"}

    def value_code(value: Any) -> Emitted:
        name = constants.get(value) if isinstance(value, str) else None
        return Emitted(name) if name else python_literal(value)

    flag_sets = [
        {
            "type": v.gpu.modal_spec,
            "smi_names": catalog.gpu(v.gpu.type).nvidia_smi_names,
            "cache_dir": v.compile_cache_dir,
            "flags": [
                {"code": code(*(value_code(arg) for arg in flag.argv)), "note": flag_note(flag, v)}
                for flag in flag_set(v)
            ],
        }
        for v in variants(d)
    ]
    specs = [python_literal(s["type"]) for s in flag_sets]
    scale = d.autoscaling
    serving = d.serving
    extra_secrets = [Emitted("*extra_secrets")] if d.secrets.extra else []
    serve_secrets = [Emitted("api_key_secret")] if d.auth.require_api_key else []
    return {
        "profile_name": d.profile_name,
        "profile_hash": d.profile_hash,
        "extends": extends,
        "description_lines": description.splitlines(),
        "app_file": _display_path(output),
        "preflight_file": _display_path(output.with_name(PREFLIGHT_NAME)),
        "app_name": d.app_name,
        "model_id": d.model.id,
        "model_revision": d.model.revision,
        "model_pinned": d.model.pinned,
        "model_dir": d.model_dir,
        "gpu_spec": d.gpu.modal_spec,
        "gpu_code": specs[0] if len(specs) == 1 else Emitted(f"[{code(*specs)}]"),
        "fallback": len(specs) > 1,
        "sglang_version": d.sglang.version,
        "port": d.sglang.port,
        "require_api_key": d.auth.require_api_key,
        "api_key_env": d.secrets.api_key.key,
        "api_key_secret": d.secrets.api_key.name,
        "hf_secret": d.secrets.huggingface.name,
        "hf_secret_key": d.secrets.huggingface.key,
        "flag_sets": flag_sets,
        "extra_secrets": list(d.secrets.extra),
        "serve_secrets": code(*serve_secrets, *extra_secrets),
        "precompile_secrets": code(*extra_secrets),
        "weights_volume": d.volumes.weights.name,
        "cache_volume": d.volumes.deepgemm_cache.name,
        "weights_mount": d.volumes.weights.mount_path,
        "cache_mount": d.volumes.deepgemm_cache.mount_path,
        "cache_variables": [
            (python_literal(name), python_literal(subdir))
            for name, subdir in cache_variables(d.sglang.version).items()
        ],
        "download_python": d.images.download.python_version,
        "hf_hub_requirement": f"huggingface-hub[hf_xet]=={d.images.download.huggingface_hub_version}",
        "download_env": [
            (python_literal(k), python_literal(v))
            for k, v in sorted({"HF_XET_HIGH_PERFORMANCE": "1", **dict(d.env)}.items())
        ],
        "serve_image": d.images.serve.ref,
        "serve_env": [(python_literal(k), value_code(v)) for k, v in sorted(serve_env.items())],
        "download_timeout": d.timeouts.download,
        "precompile_timeout": d.timeouts.precompile,
        # compile_deep_gemm's own wait: what the setup function's timeout leaves after the full
        # start that follows it (timeouts.startup) and 5 minutes for the commit.
        "compile_timeout": str(max(60, d.timeouts.precompile - d.timeouts.startup - 300)),
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
        "is_server": serving.is_server,
        "exit_grace_period": serving.exit_grace_period,
        "target_concurrency": serving.target_concurrency,
        "max_concurrency": serving.max_concurrency,
        "routing_region": serving.routing_region,
        "compute_region": code(*(python_literal(r) for r in serving.compute_region or ())),
        "proxy_auth": serving.proxy_auth,
        "unauthenticated": not serving.proxy_auth,
        "proxy_auth_comment": "Modal-Key/Modal-Secret checked at Modal's edge, then SGLang's key"
        if serving.proxy_auth
        else "no Modal proxy auth: SGLang's API key is the only check",
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


# --- Writing --------------------------------------------------------------------------------


def check_output_path(path: Path) -> None:
    """Refuse an app path that is not a place for a regular .py file the generator owns."""
    where = Location(path)
    if path.suffix != ".py":
        raise UserError(f"{where}: the app file must end in .py (`modal run` imports it)")
    if path.name == PREFLIGHT_NAME:
        raise UserError(
            f"{where}: {PREFLIGHT_NAME} is written beside the app; name the app file otherwise"
        )
    for target in (path, path.with_name(PREFLIGHT_NAME)):
        _check_replaceable(target)


def _check_replaceable(path: Path) -> None:
    """A rename would replace a symlink, a device or a folder with a regular file: refuse."""
    if path.is_symlink():
        raise UserError(f"{Location(path)}: is a symlink; refusing to replace it with a file")
    if path.exists() and not path.is_file():
        raise UserError(f"{Location(path)}: exists and is not a regular file")


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One writer at a time in a folder (flock on the folder itself: no lock file left behind)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _temp_copy(path: Path, data: str | bytes) -> Path:
    """The new content in a temporary file beside `path`, with the mode `path` has (or would
    get from the umask), ready to be renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp's 0600 would surprise anyone reading the file
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def write_files(files: list[tuple[Path, str | bytes]]) -> None:
    """Write files in one folder as one unit: all of them or none, one writer at a time.

    Each file goes to a temporary copy first; the copies are then renamed into place, and if a
    rename fails the files already replaced are put back. OS errors become located messages.
    """
    folder = files[0][0].parent
    current: Path | None = None
    try:
        current = folder
        folder.mkdir(parents=True, exist_ok=True)
        for path, _ in files:
            _check_replaceable(path)
        with folder_lock(folder):
            temps: list[Path] = []
            backups: list[Path] = []
            replaced: list[tuple[Path, Path | None]] = []
            try:
                for path, data in files:
                    current = path
                    temps.append(_temp_copy(path, data))
                for (path, _), tmp in zip(files, temps, strict=True):
                    current = path
                    backup = None
                    if path.exists():
                        backup = path.with_name(f".{path.name}.{os.getpid()}.old")
                        os.link(path, backup)
                        backups.append(backup)
                    os.replace(tmp, path)
                    replaced.append((path, backup))
            except BaseException:
                for path, backup in reversed(replaced):  # put back what was already replaced
                    if backup is not None:
                        os.replace(backup, path)
                    else:
                        path.unlink(missing_ok=True)
                raise
            finally:
                for leftover in [*temps, *backups]:
                    leftover.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(
            f"{Location(current or folder)}: cannot write: {exc.strerror or exc}"
        ) from None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write one file via a temporary file and a rename: never a partial file. A symlink is
    followed (its target is written), and an existing file keeps its mode."""
    write_files([(path.resolve() if path.is_symlink() else path, data)])
