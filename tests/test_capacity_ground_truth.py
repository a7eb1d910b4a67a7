"""Ground truth for capacity.py: SGLang's own KV sizing code, per supported version.

scripts/real_sglang_kv.py runs, inside each version's throwaway venv (.cache/sglang/), the real
package's sizing code on GLM-5.1's config built from the model catalog (no download):
0.5.23 `DefaultPoolConfigurator` (model_executor/pool_configurator.py: `_compute_cell_size`,
`_compute_dsa_indexer_cell_size`, the `eagle_draft_num_layers` branch, `calculate_pool_sizes`),
`calculate_mla_kv_cache_dim` and `KVCacheConfigurator._profile_available_bytes`
(mem_cache/kv_cache_configurator.py); 0.5.10 `ModelRunnerKVCacheMixin.get_cell_size_per_token`
and `profile_max_num_token` (model_executor/model_runner_kv_cache_mixin.py).
Bytes per token must match exactly, pool tokens within 1%.

Not covered (no GPU here): how ServerArgs resolves the backends, KV dtype and draft layers (they
are given to SGLang's code as capacity.py resolves them; sglang_defaults.py cites where SGLang
decides them), the real weights footprint and free memory (given as usable - checkpoint / TP),
activation and CUDA-graph memory, and KV page sharding.
"""

from __future__ import annotations

import sys

import pytest
from conftest import SHIPPED_PROFILES

from generator import PROFILES_DIR, REPO_ROOT, catalog
from generator.capacity import memory as capacity
from generator.pipeline import load
from generator.sglang.versions import supported_versions

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import real_kv  # noqa: E402

pytestmark = pytest.mark.slow

# Variants of prod beside the shipped profiles: what changes SGLang's cell size or pool.
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
    "dp-attention": ("sglang:\n  data_parallel_size: 8\n  extra_args: [--enable-dp-attention]\n"),
    "mem-fraction-0.8": "sglang:\n  mem_fraction_static: 0.8\n",
}
# DCP (0.5.23 only: 0.5.10 has no --dcp-size): the indexer is replicated per DCP rank.
DCP = {"dcp-2": "sglang:\n  extra_args: [--dcp-size, '2']\n"}


def _deployments(profile_tree, version: str):
    texts = {name: f"extends: {PROFILES_DIR / name}.yaml\n" for name in SHIPPED_PROFILES}
    for name, text in {**VARIANTS, **(DCP if version != "0.5.10" else {})}.items():
        texts[name] = f"extends: {PROFILES_DIR / 'prod'}.yaml\n" + text
    files = {}
    for name, text in texts.items():
        # The profile moved to `version` (the image tag follows); its sglang block gets the version.
        body = text + f"images:\n  serve:\n    tag: v{version}\n"
        pinned = f"sglang:\n  version: '{version}'\n  env: null\n"
        body = body.replace("sglang:\n", pinned, 1) if "sglang:\n" in body else body + pinned
        files[f"{name}.yaml"] = body
    root = profile_tree(files)
    return {name: load(root / f"{name}.yaml").deployment for name in texts}


def _model_facts(model) -> dict:
    return {
        "architecture": model.architecture,
        "num_layers": model.num_layers,
        "kv_lora_rank": model.mla.kv_lora_rank,
        "qk_rope_head_dim": model.mla.qk_rope_head_dim,
        "index_head_dim": model.dsa_indexer.index_head_dim,
        "index_n_heads": model.dsa_indexer.index_n_heads,
        "index_topk": model.dsa_indexer.index_topk,
        "mtp_layers": model.mtp_layers,
        "max_position_embeddings": model.max_position_embeddings,
    }


def _case(d, cap) -> dict:
    usable = cap.usable_gib_per_gpu
    return {
        "kv_cache_dtype": cap.layout.kv_cache_dtype,
        "prefill": cap.layout.sparse_prefill_backend,
        "decode": cap.layout.sparse_decode_backend,
        "speculative": d.sglang.speculative.enabled,
        "tp": d.sglang.tensor_parallel_size,
        "dp": d.sglang.data_parallel_size,
        "dcp": cap.layout.dcp_size,
        "page_size": capacity.KV_PAGE_TOKENS,
        "pre_load_gib": usable,
        "post_load_gib": usable - cap.weights_bytes_per_gpu / capacity.GIB,
        "mem_fraction_static": d.sglang.mem_fraction_static,
    }


@pytest.mark.parametrize("version", supported_versions())
def test_kv_sizing_matches_sglangs_own_code(profile_tree, version):
    deployments = _deployments(profile_tree, version)
    caps = {name: capacity.capacity(d) for name, d in deployments.items()}
    model = catalog.model(next(iter(deployments.values())).model.id)
    names = list(deployments)
    real = real_kv(version, _model_facts(model), [_case(deployments[n], caps[n]) for n in names])
    for name, theirs in zip(names, real, strict=True):
        ours = caps[name]
        where = f"{name} on SGLang {version}"
        assert ours.kv_bytes_per_token == theirs["cell_size"], where
        assert abs(ours.kv_pool_bytes_per_gpu - theirs["available_bytes"]) <= 1, where
        assert ours.kv_pool_tokens == pytest.approx(theirs["pool_tokens"], rel=0.01), where


def test_the_variants_exercise_every_term(profile_tree):
    """The comparison above means something only if the cases differ where SGLang's terms do."""
    caps = {n: capacity.capacity(d) for n, d in _deployments(profile_tree, "0.5.23").items()}
    assert caps["prod"].kv_bytes_per_token == 79 * 1284  # with the EAGLE draft layer
    assert caps["no-speculative"].kv_bytes_per_token == 78 * 1284
    assert caps["fp8-kv-trtllm"].mla_bytes_per_token_layer == 576  # raw layout
    assert caps["fp8-kv-packed"].mla_bytes_per_token_layer == 656  # packed FP8 + scales + BF16 RoPE
    assert caps["fp8-kv-auto-backends"].layout.sparse_prefill_backend == "trtllm"
    assert caps["dcp-2"].layout.dcp_size == 2
