"""The template context: the complete deployment model laid out as the values the templates print.

Everything here is already decided (pipeline.py builds each GPU type's flag set, notes and cache
folder); this module only turns values into emitted pieces of code and plain strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import REPO_ROOT, catalog
from generator.profile.checkpoint import image_digest
from generator.profile.deployment import DIST_INIT_PORT, Deployment
from generator.render.emit import Emitted, code, python_literal
from generator.render.write import PREFLIGHT_NAME
from generator.sglang.logs import cold_start_markers

if TYPE_CHECKING:
    from generator.sglang.fallback import GpuFlagSet


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def app_context(
    deployment: Deployment,
    flag_sets: Sequence[GpuFlagSet],
    cache_variables: dict[str, str],
    output: Path,
    extends: str | None,
    description: str,
) -> dict[str, Any]:
    """The values the templates lay out: raw values they print through an emitter filter, and
    pieces of code built here from emitted parts."""
    d = deployment
    # Values that have a named constant in the app are written as that name.
    constants = {d.model_dir: "MODEL_DIR", d.config_dir: "CONFIG_DIR"}

    def value_code(value: Any) -> Emitted:
        name = constants.get(value) if isinstance(value, str) else None
        return Emitted(name) if name else python_literal(value)

    sets = [
        {
            "type": s.modal_spec,
            "smi_names": s.nvidia_smi_names,
            "cache_dir": s.cache_dir,
            "cuda_min": catalog.gpu(s.deployment.gpu.type).cuda_min,
            "flags": [
                {"code": code(*(value_code(arg) for arg in flag.argv)), "note": flag.note}
                for flag in s.flags
            ],
        }
        for s in flag_sets
    ]
    specs = [python_literal(s["type"]) for s in sets]
    scale = d.autoscaling
    serving = d.serving
    extra_secrets = [Emitted("*extra_secrets")] if d.secrets.extra else []
    serve_secrets = [Emitted("api_key_secret")] if d.auth.require_api_key else []
    return {
        "profile_name": d.profile_name,
        "profile_hash": d.profile_hash,
        "deploy_tag": d.deploy_tag,
        "setup_command": f"make setup {d.make_args}",
        "make_args": d.make_args,
        "dummy": d.make_args.endswith("DUMMY=1"),
        "extends": extends,
        "description_lines": description.splitlines(),
        "app_file": _display_path(output),
        "preflight_file": _display_path(output.with_name(PREFLIGHT_NAME)),
        "app_name": d.app_name,
        "model_id": d.model.id,
        "model_revision": d.model.revision,
        "model_pinned": d.model.pinned,
        "model_dir": d.model_dir,
        "config_dir": d.config_dir,
        "dummy_weights": d.dummy_weights,
        "gpu_spec": d.gpu.modal_spec,
        "gpu_code": specs[0] if len(specs) == 1 else Emitted(f"[{code(*specs)}]"),
        "fallback": len(specs) > 1,
        "cluster": d.cluster is not None,
        "cluster_nodes": d.nodes,
        "cluster_rdma": bool(d.cluster and d.cluster.rdma),
        "dist_init_port": DIST_INIT_PORT,
        "sglang_version": d.sglang.version,
        "port": d.sglang.port,
        "require_api_key": d.auth.require_api_key,
        "api_key_env": d.secrets.api_key.key,
        "api_key_secret": d.secrets.api_key.name,
        "hf_secret": d.secrets.huggingface.name,
        "hf_secret_key": d.secrets.huggingface.key,
        "flag_sets": sets,
        "extra_secrets": list(d.secrets.extra),
        "serve_secrets": code(*serve_secrets, *extra_secrets),
        "precompile_secrets": code(*extra_secrets),
        "weights_volume": d.volumes.weights.name,
        "cache_volume": d.volumes.deepgemm_cache.name,
        "weights_mount": d.volumes.weights.mount_path,
        "cache_mount": d.volumes.deepgemm_cache.mount_path,
        "cache_variables": [
            (python_literal(name), python_literal(subdir))
            for name, subdir in cache_variables.items()
        ],
        "download_python": d.images.download.python_version,
        "hf_hub_requirement": f"huggingface-hub[hf_xet]=={d.images.download.huggingface_hub_version}",
        "download_env": [
            (python_literal(k), python_literal(v)) for k, v in sorted(d.download_env.items())
        ],
        "serve_image": _serve_image(d),
        "serve_image_tag": d.images.serve.ref,
        "serve_image_pinned": image_digest(d) is not None,
        "serve_env": [(python_literal(k), value_code(v)) for k, v in sorted(d.serve_env.items())],
        "download_timeout": d.timeouts.download,
        "precompile_timeout": d.timeouts.precompile,
        "compile_timeout": str(d.timeouts.compile_deep_gemm),
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
        "cold_start_markers": [
            (python_literal(phase), _tuple_items(pieces))
            for phase, pieces in cold_start_markers(d.sglang.version)
        ],
        "proxy_auth_comment": "Modal-Key/Modal-Secret checked at Modal's edge, then SGLang's key"
        if serving.proxy_auth
        else "no Modal proxy auth: SGLang's API key is the only check",
    }


def _serve_image(d: Deployment) -> str:
    """repository@sha256:... once `pin-image` recorded the tag's digest, else repository:tag."""
    digest = image_digest(d)
    return f"{d.images.serve.repository}@{digest}" if digest else d.images.serve.ref


def _tuple_items(values) -> Emitted:
    """The inside of a tuple literal: `"a",` for one item, `"a", "b"` for more."""
    items = code(*(python_literal(v) for v in values))
    return Emitted(f"{items},") if len(values) == 1 else items
