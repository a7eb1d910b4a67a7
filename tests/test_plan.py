"""`plan`: every figure checked against arithmetic written out by hand here, not by calling plan.py."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import BASE_PROFILE, SHIPPED_PROFILES

from generator import REPO_ROOT, catalog
from generator.capacity import memory as capacity
from generator.capacity.memory import KvLayout
from generator.operate import plan
from generator.profile.deployment import build_deployment
from generator.profile.load import load_profile
from generator.profile.validate import schema, validate_profile

BASE = f"extends: {BASE_PROFILE}\n"
GIB = 1024**3

# GLM-5.1-FP8 on 8x B200, as in the catalogs: 756.9 GB checkpoint, 178 GiB usable, 8 TB/s.
# checkpoint / TP 8 (WEIGHTS_PER_GPU B) + 7/8 of the 2,422,423,008 B each GPU holds whole (routers,
# MLA q_a/kv_a, the DSA indexer, norms, eh_proj: capacity/layout.py `weight_shares`)
WEIGHTS_PER_GPU = 756.9e9 / 8 + 2_422_423_008 * 7 / 8  # 96,732,120,132 B
KV_BF16_PER_TOKEN = 78 * ((512 + 64) * 2 + (128 + 4))  # 78 x 1,284 = 100,152 B
# SGLang 0.5.23 adds the EAGLE draft (MTP) layer's KV and indexer to the same cell.
KV_BF16_EAGLE_PER_TOKEN = 79 * ((512 + 64) * 2 + (128 + 4))  # 79 x 1,284 = 101,436 B


def deployment(path):
    return build_deployment(validate_profile(load_profile(str(path))))


def plan_json(cli, ref, *extra):
    code, out, err = cli("plan", str(ref), "--json", *extra)
    return code, json.loads(out) if out else None, err


def test_prod_memory_and_kv_capacity(cli):
    code, p, _ = plan_json(cli, "prod")
    assert code == 0
    assert p["checkpoint_bytes"] == 756_900_000_000
    assert p["checkpoint_source"].startswith("catalog: ")  # not pinned: no lock entry
    assert p["weights_gib_per_gpu"] == round(WEIGHTS_PER_GPU / GIB, 2) == 90.09
    pool = 178 * GIB * 0.9 - WEIGHTS_PER_GPU  # 75,281,320,072.8 B
    assert p["kv_pool_gib_per_gpu"] == round(pool / GIB, 2) == 70.11
    assert p["kv_bytes_per_token"] == KV_BF16_EAGLE_PER_TOKEN == 101_436
    assert p["kv_bytes_per_token_layer"] == {"mla": 1152, "indexer": 132}
    assert p["kv_layers"] == {"target": 78, "draft": 1}
    # 75,281,320,072.8 / 101,436 = 742,163.x tokens, down to whole 64-token pages: 11,596 pages.
    assert p["kv_pool_tokens"] == 11_596 * 64 == 742_144
    assert p["context_tokens"] == 202_752  # context_length unset: the model's window
    assert p["max_full_context_sequences"] == 742_144 // 202_752 == 3
    assert p["running_requests_fit"] is False
    assert p["running_requests_shortfall_tokens"] == 48 * 202_752 - 742_144 == 8_989_952
    advice = "\n".join(p["running_requests_advice"])
    assert "max_running_requests <= 3" in advice
    assert f"context_length <= {742_144 // 48:,}" in advice  # 15,461
    assert "more or larger GPUs" in advice  # would need mem_fraction_static 5.66


def test_prod_without_speculative_decoding(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "sglang:\n  speculative: {enabled: false}\n"})
    _, p, _ = plan_json(cli, root / "p.yaml")
    assert p["kv_bytes_per_token"] == KV_BF16_PER_TOKEN == 100_152
    assert p["kv_layers"] == {"target": 78, "draft": 0}
    assert p["kv_pool_tokens"] == int((178 * GIB * 0.9 - WEIGHTS_PER_GPU) // 100_152) // 64 * 64


def test_long_context_fits_its_running_requests(cli):
    _, p, _ = plan_json(cli, "long-context")
    pool = 178 * GIB * 0.88 - WEIGHTS_PER_GPU
    assert p["kv_pool_tokens"] == int(pool // 101_436) // 64 * 64 == 704_448
    assert p["max_full_context_sequences"] == 3
    assert p["running_requests_fit"] is True


def test_plan_tells_what_fits_when_running_requests_do_not(profile_tree, cli):
    from generator import PROFILES_DIR

    root = profile_tree(
        {
            "p.yaml": f"extends: {PROFILES_DIR / 'long-context.yaml'}\nsglang:\n  max_running_requests: 8\n"
        }
    )
    _, p, _ = plan_json(cli, root / "p.yaml")
    assert p["running_requests_fit"] is False
    assert p["running_requests_shortfall_tokens"] == 8 * 202_752 - 704_448
    assert "max_running_requests <= 3" in "\n".join(p["running_requests_advice"])


def test_running_requests_fit_when_context_is_capped(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "sglang:\n  context_length: 15424\n"})
    _, p, _ = plan_json(cli, root / "p.yaml")
    assert 48 * 15_424 <= 742_144
    assert p["running_requests_fit"] is True
    assert p["running_requests_shortfall_tokens"] == 0
    assert p["running_requests_advice"] == []
    assert p["max_full_context_sequences"] == 742_144 // 15_424 == 48


def _layout(version="0.5.23", dtype="bfloat16", prefill="trtllm", decode="trtllm", draft=0, dcp=1):
    return KvLayout(version, dtype, prefill, decode, draft, dcp)


def test_fp8_kv_bytes_per_token_by_backend():
    model = catalog.model("zai-org/GLM-5.1-FP8")
    # trtllm keeps the raw 576-element layout: 576 FP8 bytes per layer.
    fp8_trtllm = _layout(dtype="fp8_e4m3")
    assert capacity.mla_bytes_per_token_layer(model, fp8_trtllm) == 576
    assert capacity.kv_bytes_per_token(model, fp8_trtllm) == 78 * (576 + 132) == 55_224
    # Other backends pack FP8 E4M3: 512 FP8 + 4 scales x 4 B + 64 RoPE x 2 B (BF16) = 656 B.
    packed = _layout(dtype="fp8_e4m3", prefill="flashmla_sparse", decode="flashmla_kv")
    assert capacity.mla_bytes_per_token_layer(model, packed) == 512 + 4 * 4 + 64 * 2 == 656
    assert capacity.kv_bytes_per_token(model, packed) == 78 * (656 + 132) == 61_464
    # 0.5.10 sizes every layout with 576 elements, and without the draft layer.
    old = _layout("0.5.10", "fp8_e4m3", "flashmla_sparse", "flashmla_kv", draft=1)
    assert capacity.kv_bytes_per_token(model, old) == 55_224
    assert capacity.kv_bytes_per_token(model, _layout("0.5.10", draft=1)) == KV_BF16_PER_TOKEN
    assert capacity.kv_bytes_per_token(model, _layout()) == KV_BF16_PER_TOKEN
    assert capacity.kv_bytes_per_token(model, _layout(draft=1)) == KV_BF16_EAGLE_PER_TOKEN


def test_dcp_replicates_the_indexer():
    model = catalog.model("zai-org/GLM-5.1-FP8")
    # DCP 2: the indexer keys are replicated (x2) while the latent is not scaled here.
    assert capacity.kv_bytes_per_token(model, _layout(dcp=2)) == 78 * 1152 + 78 * 132 * 2
    with_draft = _layout(dcp=2, draft=1)
    assert capacity.kv_bytes_per_token(model, with_draft) == (
        78 * 1152 + 78 * 132 * 2 + 1152 * 2 + 132 * 2
    )


def test_auto_kv_dtype_resolves_per_gpu(profile_tree, cli):
    root = profile_tree(
        {
            "b200.yaml": BASE + "sglang:\n  kv_cache_dtype: auto\n  speculative: {enabled: false}\n"
            "silence: {fp8-kv-accuracy: measured on our evals}\n",
            "h200.yaml": BASE + "gpu: {type: H200}\nsglang:\n  kv_cache_dtype: auto\n",
        }
    )
    _, b200, _ = plan_json(cli, root / "b200.yaml")
    _, h200, _ = plan_json(cli, root / "h200.yaml")
    # B200: auto is FP8, and the guide's trtllm backends keep the raw 576-byte layout.
    assert b200["kv_cache_dtype"] == "fp8_e4m3" and b200["kv_bytes_per_token"] == 55_224
    assert h200["kv_cache_dtype"] == "bfloat16" and h200["kv_bytes_per_token"] == 101_436
    # H200: 140 GiB usable.
    assert (
        h200["kv_pool_tokens"] == int((139.19 * GIB * 0.9 - WEIGHTS_PER_GPU) // 101_436) // 64 * 64
    )


def test_decode_floor_by_hand(cli):
    _, p, _ = plan_json(cli, "prod")
    dec = p["decode"]
    bytes_per_param = 756.9e9 / 754e9
    weights = 40e9 * bytes_per_param / 8  # active parameters, one token: 5.019e9 B per GPU
    assert dec["weights_only_floor_ms"] == round(weights / 8e12 * 1e3, 3) == 0.627
    # Full context: DSA reads 2,048 latents per layer and the indexer keys of all 202,752 tokens.
    kv = 78 * (2048 * 1152 + 202_752 * 132)  # 2,271,559,680 B
    assert dec["step_gb_per_gpu"] == round((weights + kv) / 1e9, 3)
    assert dec["floor_ms"] == round((weights + kv) / 8e12 * 1e3, 3) == 0.911
    assert dec["measured_tpot_ms_baseline"] == 20.0 and dec["measured_tpot_ms_eagle"] == 7.7


def test_eagle_floor_by_hand(cli):
    _, p, _ = plan_json(cli, "prod")
    dec = p["decode"]
    bytes_per_param = 756.9e9 / 754e9
    per_expert = 75 * 3 * 6144 * 2048  # one routed expert over the 75 MoE layers: 2,831,155,200
    non_routed = 40e9 - 8 * per_expert  # 17,350,758,400 active params outside routed experts
    distinct = 256 * (1 - (1 - 8 / 256) ** 4)  # experts 4 verified tokens touch: ~30.53
    assert dec["eagle_distinct_experts_per_layer"] == round(distinct, 1) == 30.5
    verify = (non_routed + distinct * per_expert) * bytes_per_param / 8
    verify += 78 * (4 * 2048 * 1152 + 202_752 * 132)
    layer = 40e9 * bytes_per_param / 78
    lm_head = 154_880 * 6144 * 2
    draft = (layer + lm_head) / 8 + 1 * (2048 * 1152 + 202_752 * 132)
    step = verify + 3 * draft
    assert dec["eagle_accept_length"] == 3.5
    assert dec["eagle_step_gb_per_gpu"] == round(step / 1e9, 3)
    assert dec["eagle_floor_ms"] == round(step / 8e12 / 3.5 * 1e3, 3)
    assert p["tpot_floor_ms"] == dec["eagle_floor_ms"]  # EAGLE is on in prod


def test_eagle_accept_length_capped_by_chain_length(profile_tree, cli):
    root = profile_tree(
        {"p.yaml": BASE + "sglang:\n  speculative: {num_steps: 1, num_draft_tokens: 2}\n"}
    )
    _, p, _ = plan_json(cli, root / "p.yaml")
    assert p["decode"]["eagle_accept_length"] == 2  # at most num_steps + 1, not the assumed 3.5


def test_no_speculation_floor(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "sglang:\n  speculative: {enabled: false}\n"})
    _, p, _ = plan_json(cli, root / "p.yaml")
    assert p["tpot_floor_ms"] == p["decode"]["floor_ms"] == 0.911
    assert p["decode"]["eagle_floor_ms"] is None


def test_cost_by_hand(cli):
    _, p, _ = plan_json(cli, "prod", "--utilization", "0.3")
    assert p["gpu_hour_usd"] == 6.25
    assert p["cost_per_replica_hour_usd"] == 6.25 * 8 == 50.0
    assert p["idle_cost_per_month_usd"] == 0.0  # scale to zero
    assert p["scaledown_tail_cost_usd"] == 50 * 900 / 3600 == 12.5
    assert p["cost_per_month_at_utilization_usd"] == round(50 * 730 * 0.3, 2) == 10_950.0
    assert p["cold_start_cost_usd"] == round(50 * 834.6 / 3600, 2) == 11.59


def test_always_warm_idle_floor(cli):
    _, p, _ = plan_json(cli, "always-warm", "--utilization", "0.3")
    assert p["idle_cost_per_month_usd"] == 50 * 730 == 36_500.0
    # min_containers 1 is billed even when traffic would need less.
    assert p["cost_per_month_at_utilization_usd"] == 36_500.0
    assert p["scaledown_tail_cost_usd"] == 50 * 1800 / 3600 == 25.0


def test_profile_price_overrides_catalog(profile_tree, cli):
    root = profile_tree(
        {"p.yaml": BASE + "pricing:\n  gpu_hour_usd: 5.0\n  source: our 2026 Modal contract\n"}
    )
    _, p, _ = plan_json(cli, root / "p.yaml", "--utilization", "1")
    assert p["gpu_hour_usd"] == 5.0 and p["price_source"] == "our 2026 Modal contract"
    assert p["cost_per_replica_hour_usd"] == 40.0
    assert p["cost_per_month_at_utilization_usd"] == 40 * 730 == 29_200.0


@pytest.mark.parametrize(
    "regions,factor", [("[us]", 1.5), ("[us-east]", 1.75), ("[us, us-east]", 1.5)]
)
def test_a_pinned_compute_region_costs_modals_multiplier(profile_tree, cli, regions, factor):
    """modal.com/docs/guide/region-selection: a broad region 1.5x, a narrow one 1.75x; with
    several, the smaller multiplier applies."""
    server = "serving:\n  primitive: server\n  proxy_auth: true\n"
    root = profile_tree({"p.yaml": BASE + server + f"  compute_region: {regions}\n"})
    code, p, err = plan_json(cli, root / "p.yaml")
    assert code == 0, err
    assert p["gpu_hour_usd"] == 6.25 * factor
    assert p["cost_per_replica_hour_usd"] == 6.25 * factor * 8
    assert f"x{factor} for compute_region" in p["price_source"]


def test_pricing_is_validated(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "pricing:\n  gpu_hour_usd: 0\n"})
    code, _, err = cli("plan", str(root / "p.yaml"))
    assert code == 1 and "pricing.gpu_hour_usd: expected a value > 0" in err


def test_cold_start_by_hand(cli):
    _, p, _ = plan_json(cli, "prod")
    parts = p["cold_start_components_seconds"]
    assert parts == {
        "image pull": 90,
        "weights read from volume": round(756.9 / 1.5),  # 504.6 s at 1.5 GB/s
        "SGLang and NCCL init": 60,
        "DeepGEMM kernels (cached)": 30,
        "CUDA graph capture": 90 + 60,  # EAGLE adds the draft model's graphs
    }
    assert p["cold_start_seconds"] == round(90 + 504.6 + 60 + 30 + 150) == 835
    assert p["cold_start_seconds_jit"] == round(834.6 - 30 + 1800) == 2605
    assert p["startup_timeout_seconds"] == 3600


def test_cold_start_names_every_compile_cache(cli):
    _, p, _ = plan_json(cli, "prod")
    caches = {c["variable"]: c for c in p["compile_caches"]}
    assert p["compile_cache_dir"] == "/dg-cache/b200-v0.5.23"
    assert list(caches) == [
        "SGLANG_DG_CACHE_DIR",
        "SGLANG_JIT_CACHE_DIR",
        "FLASHINFER_WORKSPACE_BASE",
        "TRITON_CACHE_DIR",
        "TORCHINDUCTOR_CACHE_DIR",
        "TILELANG_CACHE_DIR",
        "CUDA_CACHE_PATH",
    ]
    assert caches["SGLANG_DG_CACHE_DIR"]["cold_seconds"] == 1800  # the catalog's JIT figure
    assert all(c["source"] for c in caches.values())  # each figure says where it comes from
    cold = sum(c["cold_seconds"] for c in caches.values())
    cached = catalog.platform().cold_start.deepgemm_cached_seconds  # the warm DeepGEMM term
    all_cold = p["cold_start_seconds"] - cached + cold
    assert p["cold_start_seconds_all_caches_cold"] == round(all_cold) > p["cold_start_seconds_jit"]
    # SGLang 0.5.10 reads neither SGLANG_JIT_CACHE_DIR nor SGLANG_CACHE_DIR (its manifest).
    from generator.sglang.caches import cache_variables

    old = cache_variables("0.5.10")
    assert "SGLANG_DG_CACHE_DIR" in old and "TRITON_CACHE_DIR" in old
    assert "SGLANG_JIT_CACHE_DIR" not in old and "SGLANG_CACHE_DIR" not in old


def test_json_keys_are_documented(cli):
    _, p, _ = plan_json(cli, "prod")
    assert list(p) == list(plan.KEYS)
    required = {
        "weights_gib_per_gpu",
        "kv_bytes_per_token",
        "kv_pool_tokens",
        "max_full_context_sequences",
        "tpot_floor_ms",
        "cost_per_replica_hour_usd",
        "idle_cost_per_month_usd",
        "cold_start_seconds",
        "findings",
    }
    assert required <= set(p)
    assert all(plan.KEYS[k] for k in plan.KEYS)


def test_table_shows_the_json_figures(cli):
    code, table, _ = cli("plan", "prod")
    _, p, _ = plan_json(cli, "prod")
    assert code == 0
    for text in (
        "plan: prod (zai-org/GLM-5.1-FP8 on B200:8, SGLang 0.5.23)",
        f"{p['weights_gib_per_gpu']:.2f} GiB",
        f"{p['kv_bytes_per_token']:,} B",
        f"{p['kv_pool_tokens']:,} tokens",
        f"{p['tpot_floor_ms']:.3f} ms/token",
        "assumes accept length 3.5",
        "~20 / ~7.7 ms/token",
        f"${p['cost_per_replica_hour_usd']:,.2f}",
        f"{p['cold_start_seconds']:,} s",
        "does NOT fit",
        "\nFindings\n",
    ):
        assert text in table, text
    for finding in p["findings"]:
        assert f"{finding['severity']}: [{finding['rule']}]" in table


def test_findings_in_plan_and_exit_code(profile_tree, cli):
    """An error finding is shown with the figures, and the command exits 1."""
    root = profile_tree({"p.yaml": BASE + "gpu: {type: H100}\n"})
    code, table, _ = cli("plan", str(root / "p.yaml"))
    assert code == 1
    assert "error: [kv-pool-empty]" in table
    assert "= KV pool" in table and "-19.4" in table  # 78.5 x 0.9 - 90.09 GiB: negative
    code, p, _ = plan_json(cli, root / "p.yaml")
    assert code == 1
    (finding,) = [f for f in p["findings"] if f["rule"] == "kv-pool-empty"]
    assert finding["severity"] == "error"
    # The weights alone exceed an H100: said at gpu.type in the file that chose it (p.yaml, not
    # the profile it extends), with no advice to raise mem_fraction_static.
    assert finding["path"] == "gpu.type" and finding["file"].endswith("p.yaml")
    assert "cannot run on H100:8" in finding["message"] and "(B200, H200)" in finding["message"]
    assert "raise sglang.mem_fraction_static" not in finding["message"]
    assert p["kv_pool_tokens"] == 0 and p["max_full_context_sequences"] == 0


def test_warning_findings_and_silenced_ones(profile_tree, cli):
    root = profile_tree(
        {
            "warn.yaml": BASE + "concurrency:\n  max_inputs: 64\n",
            "quiet.yaml": BASE + "concurrency:\n  max_inputs: 64\n"
            "silence:\n  concurrency-above-running-requests: a proxy in front caps it at 48\n",
        }
    )
    code, p, _ = plan_json(cli, root / "warn.yaml")
    assert code == 0
    (finding,) = [f for f in p["findings"] if f["rule"] == "concurrency-above-running-requests"]
    assert finding["severity"] == "warning" and finding["file"].endswith("/warn.yaml")
    assert (finding["line"], finding["column"]) == (3, 15)
    code, table, _ = cli("plan", str(root / "quiet.yaml"))
    assert code == 0
    assert "silenced: [concurrency-above-running-requests] a proxy in front caps it at 48" in table
    _, p, _ = plan_json(cli, root / "quiet.yaml")
    assert "concurrency-above-running-requests" not in [f["rule"] for f in p["findings"]]
    assert p["silenced"][0]["rule"] == "concurrency-above-running-requests"


def test_model_not_in_catalog(profile_tree, cli):
    root = profile_tree({"p.yaml": BASE + "model:\n  id: zai-org/GLM-5-FP8\n"})
    code, out, err = cli("plan", str(root / "p.yaml"))
    assert code == 1 and out == ""
    assert "not in the model catalog" in err and "/models/<name>.yaml" in err


@pytest.mark.parametrize("value", ["-0.1", "4", "nan"])
def test_utilization_out_of_range(cli, value):
    code, _, err = cli("plan", "prod", "--utilization", value)
    assert code == 2 and "--utilization" in err


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_shipped_profiles_plan_cleanly(cli, name):
    code, p, _ = plan_json(cli, name)
    assert code == 0
    assert not [f for f in p["findings"] if f["severity"] == "error"]


def test_catalogs_cover_the_schema():
    gpu_types = schema()["properties"]["gpu"]["properties"]["type"]["enum"]
    assert set(catalog.gpus()) == set(gpu_types)
    for spec in catalog.gpus().values():
        assert spec.gpu_hour_usd > 0 and spec.price_source and spec.price_seen
    for name in SHIPPED_PROFILES:
        assert catalog.model(deployment(REPO_ROOT / "profiles" / f"{name}.yaml").model.id)


def test_make_plan_passes_profile_and_utilization():
    """The shell sees the values through the environment; `echo` stands in for Python to show
    the argv the command would get (the venv stamp exists, so nothing is installed)."""

    def make_plan(*variables: str) -> str:
        return subprocess.run(
            ["make", "-s", "plan", "PY=echo", "READY=", *variables],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert make_plan("PROFILE=long-context", "UTILIZATION=0.5") == (
        "-m generator plan long-context --utilization 0.5\n"
    )
    assert make_plan() == "-m generator plan prod\n"


def test_the_clis_utilization_default_is_plans():
    """cli.py spells the default out (importing plan would slow every command's start)."""
    from generator.cli import build_parser
    from generator.operate.plan import DEFAULT_UTILIZATION

    assert build_parser().parse_args(["plan", "prod"]).utilization == DEFAULT_UTILIZATION
