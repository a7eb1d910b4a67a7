"""Any frontier MoE: a model the project does not ship is one catalog entry (with its recorded
config.json) away from render and plan; a design the memory model does not cover is refused with
a located error; each shipped family's architecture is read from its config as SGLang reads it."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import DEEPSEEK_V32_ENTRY, load_modal_app

from generator import PROFILES_DIR, catalog
from generator.catalog import architecture
from generator.pipeline import load, render_to_file

NEW_ENTRY = "\n" + DEEPSEEK_V32_ENTRY

# DeepSeek-V4: compressed sliding-window attention, which SGLang sizes with DSV4PoolConfigurator.
V4_ENTRY = """
deepseek-ai/DeepSeek-V4-Flash:
  family: deepseek-v4
  config_source: test entry
  config:
    architectures: [DeepseekV4ForCausalLM]
    num_hidden_layers: 43
    hidden_size: 4096
    num_attention_heads: 64
    num_key_value_heads: 1
    head_dim: 512
    sliding_window: 128
    compress_ratios: [0, 4, 128]
    vocab_size: 129280
    max_position_embeddings: 1048576
    n_routed_experts: 256
    num_experts_per_tok: 6
  recipe:
    reasoning_parser: deepseek-v4
    tool_call_parser: deepseekv4
    speculative: null
    trust_remote_code: false
    source: test entry
  quantization: FP8
  params_total_billion: 284
  params_active_billion: 13
  checkpoint_gb: 300
  checkpoint_source: test entry
"""


@pytest.fixture
def extra_models(tmp_path, monkeypatch):
    """The shipped catalog plus the given models.yaml text, as the loader reads it."""

    def add(text: str) -> None:
        folder = tmp_path / "catalog"
        shutil.copytree(catalog.CATALOG_DIR, folder, ignore=shutil.ignore_patterns("*.py*"))
        with (folder / "models.yaml").open("a", encoding="utf-8") as f:
            f.write(text)
        monkeypatch.setattr(catalog, "CATALOG_DIR", folder)
        for cached in (catalog.entries, catalog._recorded):
            cached.cache_clear()

    yield add
    for cached in (catalog.entries, catalog._recorded):
        cached.cache_clear()


def _profile(model_id: str, name: str, extra: str = "") -> str:
    return f"""
extends: {PROFILES_DIR / "prod.yaml"}
app:
  name: {name}
model:
  id: {model_id}
  served_model_name: {name}
sglang:
  reasoning_parser: deepseek-v3
  tool_call_parser: deepseekv32
  attention: {{backend: dsa, sparse_prefill_backend: null, sparse_decode_backend: null}}
{extra}"""


def test_a_new_catalog_entry_renders_and_plans_end_to_end(
    extra_models, profile_tree, cli, tmp_path
):
    extra_models(NEW_ENTRY)
    root = profile_tree({"dsv32.yaml": _profile("deepseek-ai/DeepSeek-V3.2", "dsv32")})
    code, out, err = cli("validate", str(root / "dsv32.yaml"))
    assert code == 0, out + err
    code, out, err = cli("plan", str(root / "dsv32.yaml"), "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["attention_design"] == "mla_dsa"
    assert plan["architecture_source"].startswith("catalog: the recorded config.json")
    # 61 x (576 x 2 + 132) + the MTP layer's latent and indexer: SGLang's DSA cell, BF16.
    assert plan["kv_bytes_per_token"] == 62 * (1152 + 132)
    assert plan["checkpoint_bytes"] == 690 * 10**9
    assert plan["kv_pool_tokens"] > plan["context_tokens"]
    assert plan["cost_per_replica_hour_usd"] == 50.0
    module = load_modal_app(render_to_file(load(root / "dsv32.yaml"), tmp_path / "app.py"))
    args = [a for flag in module.SGLANG_FLAGS["B200:8"] for a in flag]
    assert args[args.index("--reasoning-parser") + 1] == "deepseek-v3"


def test_an_unmodelled_design_is_refused_with_what_is_missing(extra_models, profile_tree, cli):
    extra_models(V4_ENTRY)
    root = profile_tree({"v4.yaml": _profile("deepseek-ai/DeepSeek-V4-Flash", "v4")})
    code, out, err = cli("plan", str(root / "v4.yaml"))
    assert code == 1 and "Traceback" not in err
    assert "DeepseekV4ForCausalLM uses DeepSeek-V4's compressed sliding-window attention" in err
    assert "DSV4PoolConfigurator" in err and "models.yaml" in err
    code, out, err = cli("validate", str(root / "v4.yaml"))
    assert code == 1 and "[architecture-unmodelled]" in out + err
    assert "v4.yaml" in out + err  # located: the profile's model.id


@pytest.mark.parametrize(
    "config,missing",
    [
        ({"architectures": ["X"], "num_hidden_layers": 4}, "no attention design"),
        ({"num_hidden_layers": 4}, "no `architectures` list"),
        (
            {"architectures": ["X"], "num_hidden_layers": "many", "num_key_value_heads": 8},
            "`num_hidden_layers` must be an integer",
        ),
        (
            {"architectures": ["X"], "num_hidden_layers": 2, "layer_types": ["sliding_attention"]},
            "sliding-window attention",
        ),
        (
            {"architectures": ["MiniMaxM3SparseForCausalLM"], "sparse_attention_config": {}},
            "MiniMax",
        ),
    ],
)
def test_configs_that_cannot_be_sized_say_why(config, missing):
    with pytest.raises(architecture.Unmodelled, match=missing.replace("`", ".")):
        architecture.parse(config, "test")


def test_the_shipped_families_read_as_sglang_reads_them():
    glm52 = catalog.model("zai-org/GLM-5.2-FP8")
    assert (glm52.attention, glm52.dsa_indexer.cache_layers, glm52.num_layers) == (
        "mla_dsa",
        21,
        78,
    )
    assert glm52.max_position_embeddings == 1_048_576 and glm52.draft_layers_in_pool == 1
    kimi = catalog.model("moonshotai/Kimi-K2.6")
    assert (kimi.attention, kimi.mtp_layers, kimi.multimodal) == ("mla", 0, True)
    minimax = catalog.model("MiniMaxAI/MiniMax-M2.7")
    assert (minimax.attention, minimax.gqa.num_kv_heads, minimax.gqa.head_dim) == ("gqa", 8, 128)
    qwen = catalog.model("Qwen/Qwen3.5-397B-A17B-FP8")
    assert (qwen.attention, qwen.attention_layers, qwen.linear.layers) == ("hybrid_gdn", 15, 45)
    # The MTP head exists, but SGLang does not count a path-less Qwen3.5 draft in the target pool.
    assert (qwen.mtp_layers, qwen.draft_layers_in_pool) == (1, 0)
