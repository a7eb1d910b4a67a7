"""Ground truth for capacity/memory.py: SGLang's own KV sizing code, per attention design and version.

scripts/real_sglang_kv.py runs, inside each version's throwaway venv (.cache/sglang/), the real
package's sizing code on the config.json the generator sizes (the catalog's recorded copy; no
download): 0.5.23 `DefaultPoolConfigurator` (model_executor/pool_configurator.py:
`_compute_cell_size` for MLA, MLA + DSA and GQA, `_compute_dsa_indexer_cell_size` with GLM-5.2's
shared indexers, the `eagle_draft_num_layers` branch, `calculate_pool_sizes`),
`calculate_mla_kv_cache_dim`, and `KVCacheConfigurator._profile_available_bytes` with
`_handle_max_mamba_cache` for hybrid linear attention (mem_cache/kv_cache_configurator.py); 0.5.10
`ModelRunnerKVCacheMixin.get_cell_size_per_token` and `profile_max_num_token` for GLM-5.1.
Bytes per token must match exactly, the budget within a few bytes, pool tokens within 1%, and the
recurrent-state slots exactly. One test per attention design, each on a shipped profile and the
variants that change SGLang's terms for it.

Not covered (no GPU here): how ServerArgs resolves the backends, KV dtype, draft layers and the
state-pool strategy (they are given to SGLang's code as memory.py resolves them; memory.py and
sglang_defaults.py cite where SGLang decides them), the real weights footprint and free memory
(given as usable - checkpoint / TP), activation and CUDA-graph memory, and KV page sharding.
"""

from __future__ import annotations

import sys

import pytest
from conftest import SHIPPED_PROFILES

from generator import PROFILES_DIR, REPO_ROOT
from generator.capacity import memory as capacity
from generator.pipeline import load
from generator.profile.checkpoint import model_spec
from generator.sglang.versions import supported_versions

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import real_kv  # noqa: E402

pytestmark = pytest.mark.slow

GLM51 = "zai-org/GLM-5.1-FP8"
GLM51_PROFILES = [
    n for n in SHIPPED_PROFILES if load(PROFILES_DIR / f"{n}.yaml").deployment.model.id == GLM51
]

# Variants of prod beside the shipped GLM-5.1 profiles: what changes SGLang's cell size or pool.
VARIANTS = {
    "no-speculative": "sglang:\n  speculative: {enabled: false}\n",
    "fp8-kv-trtllm": "sglang:\n  kv_cache_dtype: fp8_e4m3\n  speculative: {enabled: false}\n",
    "fp8-kv-packed": (
        "sglang:\n  kv_cache_dtype: fp8_e4m3\n  speculative: {enabled: false}\n"
        "  attention: {sparse_prefill_backend: flashmla_sparse, sparse_decode_backend: flashmla_kv}\n"
    ),
    "fp8-kv-auto-backends": (
        "sglang:\n  kv_cache_dtype: auto\n  speculative: {enabled: false}\n"
        "  attention: {sparse_prefill_backend: null, sparse_decode_backend: null}\n"
    ),
    # Attention TP 1 (DP attention over the 8 GPUs): MLA KV is per rank, so no TP factor.
    "dp-attention": ("sglang:\n  data_parallel_size: 8\n  enable_dp_attention: true\n"),
    "mem-fraction-0.8": "sglang:\n  mem_fraction_static: 0.8\n",
}
# DCP (0.5.23 only: 0.5.10 has no --dcp-size): the indexer is replicated per DCP rank.
DCP = {"dcp-2": "sglang:\n  extra_args: [--dcp-size, '2']\n"}

# Per attention design, a shipped profile and its variants (SGLang 0.5.23, the version they pin).
DESIGNS = {
    # MLA + DSA with shared indexers: only GLM-5.2's 21 "full" layers hold indexer keys.
    "mla_dsa_shared": (
        "glm52",
        {
            "no-speculative": "sglang:\n  speculative: {enabled: false}\n",
            "fp8-kv-packed": (
                "sglang:\n  kv_cache_dtype: fp8_e4m3\n  speculative: {enabled: false}\n"
                "  attention: {sparse_prefill_backend: flashmla_sparse, "
                "sparse_decode_backend: flashmla_kv}\n"
                "silence: {fp8-kv-accuracy: ground truth only}\n"
            ),
            "dcp-2": "sglang:\n  extra_args: [--dcp-size, '2']\n",
        },
    ),
    # The same under the throughput layout (DP attention 8 + EP 8 + DeepEP): attention TP 1,
    # a pool and 1/8 of the running requests per DP rank.
    "mla_dsa_shared_dp_attention": ("glm52-throughput", {}),
    # MLA without DSA (Kimi K2.6): the raw 576-element latent on every rank, whatever the layout.
    "mla": (
        "kimi-k26",
        {
            "fp8-kv": "sglang:\n  kv_cache_dtype: fp8_e4m3\n",
            "dp-attention": ("sglang:\n  data_parallel_size: 8\n  enable_dp_attention: true\n"),
        },
    ),
    # GQA: 8 KV heads over TP 8 (one each); DP attention 2 x TP 4 (two each); FP8 KV.
    "gqa": (
        "minimax-m27",
        {
            "fp8-kv": "sglang:\n  kv_cache_dtype: fp8_e4m3\n",
            "dp-attention": ("sglang:\n  data_parallel_size: 2\n  enable_dp_attention: true\n"),
            "mem-fraction-0.8": "sglang:\n  mem_fraction_static: 0.8\n",
        },
    ),
    # Hybrid linear attention: 2 KV heads replicated over TP 4, the state pool carved out first,
    # the speculative intermediate states, the radix-cache-off and no-overlap slot ratios.
    "hybrid_gdn": (
        "qwen35",
        {
            "no-speculative": "sglang:\n  speculative: {enabled: false}\n",
            "no-radix-cache": "sglang:\n  extra_args: [--disable-radix-cache]\n",
            "no-overlap": "sglang:\n  extra_args: [--disable-overlap-schedule]\n",
            "mem-fraction-0.9": "sglang:\n  mem_fraction_static: 0.9\n",
            "tp-8": "gpu:\n  count: 8\nsglang:\n  tensor_parallel_size: 8\n",
            "few-requests": "sglang:\n  max_running_requests: 4\n",
            "ratio-0.5": "sglang:\n  extra_args: [--mamba-full-memory-ratio, '0.5']\n",
        },
    ),
}


def _deployments(profile_tree, base: str, variants: dict[str, str], version: str | None):
    texts = {base: ""} | {name: text for name, text in variants.items()}
    files = {}
    for name, text in texts.items():
        body = f"extends: {PROFILES_DIR / base}.yaml\n" + text
        if version is not None:  # moved to `version` (the image tag follows)
            body += f"images:\n  serve:\n    tag: v{version}\n"
            pinned = f"sglang:\n  version: '{version}'\n  env: null\n"
            body = body.replace("sglang:\n", pinned, 1) if "sglang:\n" in body else body + pinned
        files[f"{base}--{name}.yaml"] = body
    root = profile_tree(files)
    return {name: load(root / f"{base}--{name}.yaml").deployment for name in texts}


def _case(d, cap) -> dict:
    usable = cap.usable_gib_per_gpu
    s = d.sglang
    return {
        "kv_cache_dtype": cap.layout.kv_cache_dtype,
        "prefill": cap.layout.sparse_prefill_backend,
        "decode": cap.layout.sparse_decode_backend,
        "speculative": s.speculative.enabled,
        "algorithm": s.speculative.algorithm,
        "draft_layers": cap.layout.draft_layers,
        "num_draft_tokens": s.speculative.num_draft_tokens,
        "max_running_requests": s.max_running_requests,
        "tp": s.tensor_parallel_size,
        "attn_tp": cap.layout.attn_tp_size,
        "dp": s.data_parallel_size,
        "dcp": cap.layout.dcp_size,
        "page_size": capacity.KV_PAGE_TOKENS,
        "pre_load_gib": usable,
        "post_load_gib": usable - cap.weights_bytes_per_gpu / capacity.GIB,
        "mem_fraction_static": s.mem_fraction_static,
        "disable_radix_cache": "--disable-radix-cache" in s.extra_args,
        "disable_overlap": "--disable-overlap-schedule" in s.extra_args,
        "mamba_extra_buffer": "--disable-radix-cache" not in s.extra_args,
        "mamba_full_memory_ratio": _state_ratio(d, cap),
    }


def _state_ratio(d, cap) -> float:
    state = capacity.state_layout(d, model_spec(d), cap.layout)
    return state.memory_ratio if state else capacity.MAMBA_FULL_MEMORY_RATIO


def _compare(version: str, deployments: dict, tolerance_bytes: float = 1) -> dict:
    caps = {name: capacity.capacity(d) for name, d in deployments.items()}
    names = list(deployments)
    first = deployments[names[0]]
    config = catalog_config(first)
    real = real_kv(version, {"config": config}, [_case(deployments[n], caps[n]) for n in names])
    for name, theirs in zip(names, real, strict=True):
        ours = caps[name]
        where = f"{first.model.id} {name} on SGLang {version}"
        assert ours.kv_bytes_per_token == theirs["cell_size"], where
        assert abs(ours.kv_pool_bytes_per_gpu - theirs["available_bytes"]) <= tolerance_bytes, (
            where,
            ours.kv_pool_bytes_per_gpu,
            theirs["available_bytes"],
        )
        assert ours.kv_pool_tokens == pytest.approx(theirs["pool_tokens"], rel=0.01), where
        if ours.state is not None:
            assert ours.state.slots == theirs["max_mamba_cache_size"], where
            per_request = ours.state.bytes / (ours.state.slots + 1)
            assert per_request == theirs["mamba_cache_per_req"], where
        else:
            assert theirs.get("max_mamba_cache_size") is None, where
    return caps


def catalog_config(d) -> dict:
    """The config.json the generator sized this deployment by (catalog or lock)."""
    from generator import catalog
    from generator.profile.checkpoint import recorded_config

    recorded = recorded_config(d)
    return recorded[0] if recorded else catalog.entry(d.model.id).config


# scripts/real_sglang_kv.py drives 0.5.10's and 0.5.23's sizing modules; 0.5.17's (between the
# two layouts: no mem_cache/page_interleave) it does not yet. 0.5.17 serves the real-engine lane's
# tiny GQA model without a draft, whose cell size memory.py reads from 0.5.17's own source.
KV_SCRIPT_VERSIONS = [v for v in supported_versions() if v != "0.5.17"]


@pytest.mark.parametrize("version", KV_SCRIPT_VERSIONS)
def test_glm51_kv_sizing_matches_sglangs_own_code(profile_tree, version):
    deployments = {}
    for name in GLM51_PROFILES:
        deployments |= {
            name if v == name else f"{name}:{v}": d
            for v, d in _deployments(profile_tree, name, {}, version).items()
        }
    extra = {**VARIANTS, **(DCP if version != "0.5.10" else {})}
    deployments |= _deployments(profile_tree, "prod", extra, version)
    _compare(version, deployments)


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_each_design_matches_sglangs_own_code(profile_tree, design):
    base, variants = DESIGNS[design]
    deployments = _deployments(profile_tree, base, variants, None)
    assert model_spec(deployments[base]).attention == design.split("_shared")[0]
    # The state pool is carved out in GiB floats by SGLang, in bytes here: a few bytes apart.
    caps = _compare("0.5.23", deployments, tolerance_bytes=1 if design != "hybrid_gdn" else 64)
    _the_variants_exercise_every_term(design, caps)


def _the_variants_exercise_every_term(design: str, caps: dict) -> None:
    """The comparison means something only if the cases differ where SGLang's terms do."""
    if design == "mla_dsa_shared":
        # 78 latents + indexers on the 21 full layers + the MTP draft's latent and indexer.
        assert caps["glm52"].kv_bytes_per_token == 78 * 1152 + 21 * 132 + 1152 + 132
        assert caps["no-speculative"].kv_bytes_per_token == 78 * 1152 + 21 * 132
        assert caps["fp8-kv-packed"].mla_bytes_per_token_layer == 656
        assert caps["dcp-2"].layout.dcp_size == 2
    elif design == "mla_dsa_shared_dp_attention":
        # attention TP 1: each DP rank holds the whole latent, as at TP 8 (MLA is not head-split)
        assert caps["glm52-throughput"].layout.attn_tp_size == 1
        assert caps["glm52-throughput"].kv_bytes_per_token == 78 * 1152 + 21 * 132 + 1152 + 132
    elif design == "mla":
        assert caps["kimi-k26"].kv_bytes_per_token == 61 * 1152
        assert caps["fp8-kv"].kv_bytes_per_token == 61 * 576  # raw layout: no DSA packing
        assert caps["dp-attention"].kv_bytes_per_token == 61 * 1152  # MLA: no TP factor
    elif design == "gqa":
        assert caps["minimax-m27"].kv_bytes_per_token == 62 * 1 * 256 * 2  # 1 head per rank
        assert caps["dp-attention"].kv_bytes_per_token == 62 * 2 * 256 * 2  # 8 heads / TP 4
        assert caps["fp8-kv"].kv_bytes_per_token == 62 * 256
    else:
        # 2 KV heads over 4 ranks (the B200 recipe's TP 4): one (replicated) per rank, on the 15
        # full-attention layers; each rank holds a quarter of the linear heads' state.
        assert caps["qwen35"].kv_bytes_per_token == 15 * 1 * 512 * 2
        assert caps["qwen35"].state.bytes / (caps["qwen35"].state.slots + 1) == 48_015_360
        assert caps["qwen35"].state.speculative_bytes > 0
        assert caps["no-speculative"].state.speculative_bytes == 0
        assert (
            caps["no-radix-cache"].state.max_running_requests == caps["no-radix-cache"].state.slots
        )
        assert caps["no-overlap"].state.max_running_requests == caps["no-overlap"].state.slots // 4
        assert caps["ratio-0.5"].state.slots < caps["qwen35"].state.slots
