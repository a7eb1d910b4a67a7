"""Shared fixtures: shipped profiles, inline profile trees, the CLI in-process, modal app loading."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from generator import PROFILES_DIR
from generator.cli import main

SHIPPED_PROFILES = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
BASE_PROFILE = PROFILES_DIR / "scale-to-zero.yaml"

# DeepSeek-V3.2 (not shipped): MLA + DSA with 64 indexer heads, one MTP layer. Figures from
# ../shared/reference/facts.md ("DeepSeek-V3.2: 61 layers, MLA as Kimi, DSA indexer 64 x 128").
# A catalog entry as a user (or a test) adds it.
DEEPSEEK_V32_ENTRY = """\
deepseek-ai/DeepSeek-V3.2:
  family: deepseek-v3
  config_source: test entry (facts.md)
  config:
    architectures: [DeepseekV32ForCausalLM]
    model_type: deepseek_v32
    num_hidden_layers: 61
    first_k_dense_replace: 3
    hidden_size: 7168
    num_attention_heads: 128
    num_key_value_heads: 128
    vocab_size: 129280
    max_position_embeddings: 163840
    num_nextn_predict_layers: 1
    kv_lora_rank: 512
    qk_rope_head_dim: 64
    q_lora_rank: 1536
    qk_nope_head_dim: 128
    v_head_dim: 128
    index_n_heads: 64
    index_head_dim: 128
    index_topk: 2048
    n_routed_experts: 256
    num_experts_per_tok: 8
    n_shared_experts: 1
    moe_intermediate_size: 2048
    intermediate_size: 18432
  recipe:
    reasoning_parser: deepseek-v3
    tool_call_parser: deepseekv32
    speculative: EAGLE
    trust_remote_code: false
    source: test entry
  quantization: FP8 block scales
  params_total_billion: 671
  params_active_billion: 37
  checkpoint_gb: 690
  checkpoint_source: test entry
"""


def pytest_collection_finish(session):
    """When a slow test is selected, build the real-SGLang venvs first, one per supported version,
    all at once (ensure_envs). Otherwise a fresh clone builds them one at a time, each when its
    first test asks. Not in the background: the builds take both cores, and the tests that time
    the stand-in's TTFT and TPOT would measure them. A failed build is reported by the tests that
    need that venv (ensure_env raises it again there)."""
    if not any(item.get_closest_marker("slow") for item in session.items):
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import sglang_manifest

    try:
        sglang_manifest.ensure_envs(sglang_manifest.SUPPORTED_VERSIONS)
    except Exception:  # noqa: BLE001 - the tests that need the venv report it
        pass


@pytest.fixture
def profile_tree(tmp_path):
    """Write {name: yaml text} into a folder and return it (texts are dedented)."""

    def build(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return build


@pytest.fixture
def cli(capsys):
    """Run `python -m generator ARGS` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def load_modal_app(path: Path):
    """Import a rendered app file with the real `modal` package; returns the module."""
    name = f"rendered_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def function_settings(function) -> dict:
    """What Modal's client would send for a Function or Server when deploying it.

    There is no Modal server here, so instead of capturing the FunctionCreate request we read the
    same values from the real `modal.Function` (for a `modal.Server`, the service Function it
    wraps, as `app.server` builds it): its spec (GPU, volumes, secrets, image, regions), its web
    server config or a Server's HTTPConfig, and the settings its loader closes over (autoscaler,
    timeouts, concurrency), which become the FunctionCreate request's fields.
    """
    from modal._utils.async_utils import synchronizer

    impl = synchronizer._translate_in(function)
    if hasattr(impl, "_get_service_function"):  # a modal.Server
        impl = impl._get_service_function()
    load = impl._load
    closed = dict(
        zip(load.__code__.co_freevars, (c.cell_contents for c in load.__closure__), strict=True)
    )
    spec = impl._spec
    return {
        "spec": spec,
        "webhook": impl._webhook_config,
        "http": closed["http_config"],  # a Server's port, startup, grace period, auth, region
        "is_server": closed["is_server"],
        "autoscaler": closed["autoscaler_settings"],
        "timeout": closed["timeout"],
        "startup_timeout": closed["startup_timeout"],
        "max_concurrent_inputs": closed["max_concurrent_inputs"],
        "target_concurrent_inputs": closed["target_concurrent_inputs_int"],
        "secrets": closed["secrets"],
        "volumes": {
            path: (volume.name, bool(volume._mount_options and volume._mount_options.read_only))
            for path, volume in spec.volumes.items()
        },
        "regions": list(spec.scheduler_placement.regions) if spec.scheduler_placement else None,
        "cluster_size": closed["cluster_size"],  # @modal.clustered(size=...), None without
        "rdma": closed["rdma"],
        "i6pn": bool(closed["i6pn_enabled"]),  # the private network a cluster's ranks talk over
    }
