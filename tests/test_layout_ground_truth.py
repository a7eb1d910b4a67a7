"""Ground truth for the load checks (rules/load.py) and the per-GPU weights (capacity/layout.py):
SGLang 0.5.23's own weight creation for one rank (scripts/real_sglang_weights.py, in the version's
throwaway venv under .cache/sglang/).

For every shipped profile's layout, the MiniMax TP 8 layout without EP, and the layouts `plan`
offers beside each: SGLang's `FusedMoE` + quantisation method `create_weights` and its linear
classes either raise (the layout does not load) or create the rank's tensors, and the rule agrees
both ways. The tensors' bytes, summed over the layers, must match `plan`'s weights per GPU within
1%.

Not covered here:
- Qwen3.5's Gated DeltaNet layers: the total is not compared (their projections are not built
  here); its routed experts, the bulk of its weights, are.
- What needs a GPU: the MoE runner and dispatcher set up after `create_weights`, CUDA graphs.
"""

from __future__ import annotations

import sys

import pytest
from conftest import SHIPPED_PROFILES

from generator import PROFILES_DIR, REPO_ROOT
from generator.capacity import memory
from generator.capacity.layout import Layout, candidate_layouts, layout_of, load_problems
from generator.catalog import entry
from generator.pipeline import load
from generator.profile.checkpoint import model_spec, recorded_config

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sglang_manifest import ensure_env, real_weights  # noqa: E402

pytestmark = pytest.mark.slow

VERSION = "0.5.23"
MINIMAX_TP8 = "minimax-m27 at TP 8 without EP"


def _case(config: dict, layout: Layout) -> dict:
    return {
        "config": config,
        "tp": layout.tp,
        "ep": layout.ep,
        "attn_tp": layout.attn_tp,
        "dense_tp": layout.dense,
        "moe_runner": layout.moe_runner,
        "a2a": layout.a2a,
    }


def _runs() -> list[tuple[str, object, object, Layout]]:
    """(label, deployment, model, layout): each shipped profile's own layout, MiniMax at TP 8
    without EP, and the layouts plan compares beside each."""
    out = []
    for name in SHIPPED_PROFILES:
        d = load(PROFILES_DIR / f"{name}.yaml").deployment
        model = model_spec(d)
        own = layout_of(d)
        out.append((name, d, model, own))
        for other in candidate_layouts(own.tp, own.moe_runner):
            if other != own:
                out.append((f"{name} as {other.name}", d, model, other))
        if name == "minimax-m27":
            out.append((MINIMAX_TP8, d, model, Layout(tp=8)))
    return out


RUNS = _runs()


@pytest.fixture(scope="module")
def created():
    """SGLang's verdict and bytes per run (one venv process for all)."""
    models = {}
    for _, d, model, _ in RUNS:
        models.setdefault(model.id, d)

    def config(d):
        recorded = recorded_config(d)
        return recorded[0] if recorded else entry(d.model.id).config

    results = real_weights(VERSION, [_case(config(d), lay) for _, d, _, lay in RUNS])
    return {label: r for (label, *_), r in zip(RUNS, results, strict=True)}


def test_the_minimax_tp8_layout_fails_in_sglang_and_in_the_rule(created):
    real = created[MINIMAX_TP8]
    assert real["failed_at"] == "routed experts"
    assert "192 is not divisible by weight quantization block_n = 128" in real["error"]
    d = next(d for label, d, *_ in RUNS if label == "minimax-m27")
    (problem,) = load_problems(model_spec(d), Layout(tp=8))
    assert "= 192 columns per rank" in problem.what
    assert problem.source == "sglang/srt/layers/quantization/fp8.py:1588"


@pytest.mark.parametrize("label", [r[0] for r in RUNS])
def test_the_rule_agrees_with_sglang_both_ways(created, label):
    _, d, model, layout = next(r for r in RUNS if r[0] == label)
    real = created[label]
    assert not real.get("unsupported"), real["unsupported"]
    ours = load_problems(model, layout)
    assert (real["error"] is None) == (not ours), (real["error"], ours)


def _sglang_bytes_per_gpu(model, real: dict) -> float:
    """One rank's bytes summed over the model's layers, from SGLang's per-layer tensors."""
    moe_layers = model.moe_layers + model.mtp_layers  # the MTP layer is a MoE decoder layer
    layers = model.num_layers + model.mtp_layers
    indexed = (model.dsa_indexer.cache_layers + model.mtp_layers) if model.dsa_indexer else 0
    eh_proj = model.mtp_layers * 2 * model.hidden_size * model.hidden_size * 2  # MTP's BF16 eh_proj
    return (
        moe_layers * (real["routed_experts"] + real["shared"] + real["router"])
        + layers * real["attention"]
        + indexed * real["indexer"]
        + model.dense_layers * real["dense"]
        + real["embedding"]
        + real["lm_head"]
        + eh_proj
    )


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_plans_weights_per_gpu_match_sglangs_tensors(created, name):
    _, d, model, layout = next(r for r in RUNS if r[0] == name)
    real = created[name]
    assert not real.get("unsupported"), real["unsupported"]
    assert real["error"] is None, real["error"]
    plan = memory.capacity(d).weights_bytes_per_gpu
    if model.attention == "hybrid_gdn":  # Gated DeltaNet projections are not built: experts only
        from generator.capacity.layout import weight_shares

        ours = weight_shares(model, memory.checkpoint(d, model).bytes).routed_experts / layout.tp
        theirs = (model.moe_layers + model.mtp_layers) * real["routed_experts"]
        assert ours == pytest.approx(theirs, rel=0.01)
        return
    assert plan == pytest.approx(_sglang_bytes_per_gpu(model, real), rel=0.01)


# The SGLang 0.5.23 lines capacity/layout.py and rules/load.py cite, pinned by their text: a
# version bump that moves or changes them fails here (checked in the venv's installed wheel).
CITED = [
    (
        "srt/layers/moe/fused_moe_triton/layer.py",
        414,
        "assert self._num_global_routed % storage_ep_size == 0",
    ),
    (
        "srt/layers/moe/fused_moe_triton/layer.py",
        427,
        "assert intermediate_size % self.moe_tp_size == 0",
    ),
    (
        "srt/layers/moe/fused_moe_triton/layer.py",
        518,
        "and self.intermediate_size_per_partition % 128 != 0",
    ),
    ("srt/layers/quantization/fp8.py", 594, "if input_size_per_partition % block_k != 0:"),
    ("srt/layers/quantization/fp8.py", 605, "if output_partition_size % block_n != 0:"),
    ("srt/layers/quantization/fp8.py", 1588, "if intermediate_size_per_partition % block_n != 0:"),
    ("srt/layers/quantization/fp8.py", 1596, "if intermediate_size_per_partition % block_k != 0:"),
    (
        "srt/layers/quantization/compressed_tensors/schemes/compressed_tensors_wNa16_moe.py",
        158,
        "num_groups_w2 = w2_scales_size // self.group_size",
    ),
    ("srt/layers/linear.py", 1139, "self.num_heads = divide(self.total_num_heads, tp_size)"),
    (
        "srt/layers/linear.py",
        1142,
        "self.num_kv_head_replicas = divide(kv_tp_size, self.total_num_kv_heads)",
    ),
    (
        "srt/layers/linear.py",
        1144,
        "self.num_kv_heads = divide(self.total_num_kv_heads, kv_tp_size)",
    ),
    ("srt/models/deepseek_v2.py", 2057, "assert num_heads % attn_tp_size == 0"),
    ("srt/models/qwen3_next.py", 270, "num_q_heads=self.num_k_heads // self.attn_tp_size,"),
    ("srt/arg_groups/parallel_hook.py", 326, "assert cfg.tp_size % cfg.attn_dp_size == 0"),
    ("srt/arg_groups/overrides.py", 1611, "def _a2a_ep_size(view: Any) -> dict:"),
    ("srt/arg_groups/moe_hook.py", 362, 'if a2a_backend == "deepep":'),
    ("srt/runtime_context.py", 154, '"moe_tp_size": tp_size // moe_ep_size // moe_dp_size,'),
    ("srt/distributed/utils.py", 75, "def divide(numerator, denominator):"),
]


def test_cited_lines_are_in_the_wheel():
    site = next((ensure_env(VERSION).parent.parent / "lib").glob("python3*/site-packages"))
    for path, line, text in CITED:
        lines = (site / "sglang" / path).read_text(encoding="utf-8").splitlines()
        assert text in lines[line - 1], f"sglang {VERSION} {path}:{line} no longer says {text!r}"
