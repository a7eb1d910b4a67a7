"""Rules: each one tripped by a profile and left quiet by a close one, with located messages."""

from __future__ import annotations

import pytest
from conftest import BASE_PROFILE, SHIPPED_PROFILES

from generator.errors import ProfileError
from generator.pipeline import load
from generator.profile.deployment import build_deployment
from generator.profile.load import load_profile
from generator.profile.validate import validate_profile
from generator.rules import RULES, run_rules

BASE = f"extends: {BASE_PROFILE}\n"

SERVER = "serving:\n  primitive: server\n"
CLUSTER = (
    SERVER
    + "cluster:\n  nodes: 2\nsglang:\n  tensor_parallel_size: 16\n"
    + "autoscaling:\n  max_containers: 2\n"
)

# (rule id, {file: text} or the text of p.yaml, whether the rule must fire on p.yaml)
KIMI, MINIMAX, QWEN = "moonshotai/Kimi-K2.6", "MiniMaxAI/MiniMax-M2.7", "Qwen/Qwen3.5-397B-A17B-FP8"
MAMBA_SIZE = "sglang:\n  extra_args: [--max-mamba-cache-size, '100']\n"

CASES = [
    # GLM-5.2 on B200 has an upstream low-latency recipe (EAGLE 5/1/6, mem 0.8); GLM-5.1-FP8 has none.
    ("sglang-recipe-departure", "model:\n  id: zai-org/GLM-5.2-FP8\n", True),
    ("sglang-recipe-departure", "", False),
    ("sglang-recipe-silence", "sglang:\n  recipe_departures:\n    --tp: an old reason\n", True),
    ("sglang-recipe-silence", "", False),
    # Modal's proxy auth still keeps strangers out.
    ("public-endpoint", "auth:\n  require_api_key: false\nserving:\n  proxy_auth: true\n", False),
    ("setup-timeout-short", "timeouts:\n  precompile: 3600\n", True),
    ("setup-timeout-short", "", False),
    ("web-server-request-cap", "", True),  # the guide's deployment is a web_server
    ("web-server-request-cap", SERVER, False),
    ("server-target-above-running", SERVER + "  target_concurrency: 64\n", True),
    ("server-target-above-running", SERVER + "  target_concurrency: 48\n", False),
    (
        "autoscaling-limits",
        SERVER + "  target_concurrency: 30\n  max_concurrency: 20\n",
        True,
    ),
    ("concurrency-above-running-requests", SERVER + "concurrency:\n  max_inputs: 64\n", False),
    ("latest-image-tag", "images:\n  serve:\n    tag: latest\n", True),
    ("latest-image-tag", "images:\n  serve:\n    tag: latest\n    allow_latest: true\n", False),
    ("latest-image-allowed", "images:\n  serve:\n    tag: latest\n    allow_latest: true\n", True),
    ("latest-image-allowed", "", False),
    ("image-version-mismatch", "sglang:\n  version: '0.5.10'\n", True),
    ("image-version-mismatch", "", False),
    ("removed-modal-knob", "autoscaling:\n  keep_warm: 1\n", True),
    ("removed-modal-knob", "concurrency_limit: 3\n", True),
    ("removed-modal-knob", "autoscaling:\n  min_containers: 0\n", False),
    ("model-not-in-catalog", "model:\n  id: zai-org/GLM-5-FP8\n", True),
    ("model-not-in-catalog", "", False),
    # A user catalog file beside the profile changes one field of the shipped entry.
    (
        "model-family-unknown",
        {"p.yaml": "", "models/x.yaml": "zai-org/GLM-5.1-FP8:\n  family: glm-5\n"},
        True,
    ),
    ("model-family-unknown", "", False),
    ("gpu-count-parallelism", "gpu:\n  count: 4\n", True),
    ("gpu-count-parallelism", "sglang:\n  data_parallel_size: 2\n", True),
    (
        "gpu-count-parallelism",
        "sglang:\n  data_parallel_size: 8\n  enable_dp_attention: true\n",
        False,
    ),
    ("gpu-count-parallelism", "", False),
    # MiniMax-M2.7 at TP 8: 1536 / 8 = 192 expert columns per rank, not a multiple of FP8's 128.
    # (the base profile's flashinfer_trtllm runner pads 192 to 256 first, layer.py:518: it loads)
    ("layout-load", f"model:\n  id: {MINIMAX}\nsglang:\n  moe_runner_backend: null\n", True),
    ("layout-load", f"model:\n  id: {MINIMAX}\n", False),
    ("layout-load", f"model:\n  id: {MINIMAX}\nsglang:\n  expert_parallel_size: 8\n", False),
    (
        "layout-load",
        f"model:\n  id: {MINIMAX}\nsglang:\n  expert_parallel_size: 8\n"
        "  data_parallel_size: 8\n  enable_dp_attention: true\n  moe_a2a_backend: deepep\n",
        False,
    ),
    ("layout-load", "", False),  # GLM-5.1: 2048 / 8 = 256 columns
    ("layout-load", "sglang:\n  expert_parallel_size: 3\n", True),  # 256 experts, TP 8
    ("layout-settings", "sglang:\n  moe_a2a_backend: deepep\n", True),  # EP silently 8
    ("layout-settings", "sglang:\n  moe_a2a_backend: deepep\n  expert_parallel_size: 8\n", False),
    ("layout-settings", "sglang:\n  deepep_mode: low_latency\n", True),
    ("layout-settings", "sglang:\n  enable_dp_attention: true\n", True),  # one DP group
    ("layout-settings", "sglang:\n  data_parallel_size: 3\n  enable_dp_attention: true\n", True),
    # ... and said once: layout-load leaves it to layout-settings
    ("layout-load", "sglang:\n  data_parallel_size: 3\n  enable_dp_attention: true\n", False),
    ("layout-settings", "", False),
    # Layout values are judged against the version's parser (choices per version).
    ("sglang-flag", "sglang:\n  moe_a2a_backend: deepep\n  deepep_mode: fast\n", True),
    ("sglang-flag", "sglang:\n  moe_a2a_backend: no_such_backend\n", True),
    (
        "sglang-flag",
        "sglang:\n  moe_a2a_backend: deepep\n  expert_parallel_size: 8\n  deepep_mode: low_latency\n",
        False,
    ),
    # The layout belongs to its fields: extra_args may not set it behind plan's back.
    ("sglang-flag-refused", "sglang:\n  extra_args: [--ep-size, '8']\n", True),
    ("sglang-flag-refused", "sglang:\n  extra_args: [--enable-dp-attention]\n", True),
    ("sglang-flag-refused", "sglang:\n  extra_args: [--moe-a2a-backend=deepep]\n", True),
    ("sglang-flag-refused", "sglang:\n  extra_args: [--ep, '8']\n", True),  # an alias
    ("fp8-kv-eagle", "sglang:\n  kv_cache_dtype: fp8_e4m3\n", True),
    ("fp8-kv-eagle", "sglang:\n  kv_cache_dtype: auto\n", True),  # auto is FP8 on B200
    ("fp8-kv-eagle", "gpu:\n  type: H200\nsglang:\n  kv_cache_dtype: auto\n", False),
    (
        "fp8-kv-eagle",
        "sglang:\n  kv_cache_dtype: fp8_e4m3\n  speculative: {enabled: false}\n",
        False,
    ),
    (
        "fp8-kv-accuracy",
        "sglang:\n  kv_cache_dtype: fp8_e5m2\n  speculative: {enabled: false}\n",
        True,
    ),
    (
        "fp8-kv-accuracy",
        "sglang:\n  kv_cache_dtype: bfloat16\n  speculative: {enabled: false}\n",
        False,
    ),
    ("kv-pool-empty", "gpu:\n  type: H100\n", True),
    ("kv-pool-empty", "gpu:\n  type: H200\n", False),
    ("context-beyond-positions", "sglang:\n  context_length: 262144\n", True),
    ("context-beyond-positions", "sglang:\n  context_length: 202752\n", False),
    ("context-beyond-kv-pool", "sglang:\n  mem_fraction_static: 0.55\n", True),
    (
        "context-beyond-kv-pool",
        "sglang:\n  mem_fraction_static: 0.55\n  context_length: 65536\n",
        False,
    ),
    (
        "chunked-prefill-beyond-context",
        "sglang:\n  context_length: 8192\n  chunked_prefill_size: 16384\n",
        True,
    ),
    (
        "chunked-prefill-beyond-context",
        "sglang:\n  context_length: 8192\n  chunked_prefill_size: 4096\n",
        False,
    ),
    ("speculative-draft-tokens", "sglang:\n  speculative: {num_draft_tokens: 6}\n", True),
    (
        "speculative-draft-tokens",
        "sglang:\n  speculative: {num_steps: 2, eagle_topk: 2, num_draft_tokens: 8}\n",
        True,
    ),
    (
        "speculative-draft-tokens",
        "sglang:\n  speculative: {num_steps: 5, eagle_topk: 8, num_draft_tokens: 64}\n",
        False,
    ),
    (
        "speculative-draft-tokens",
        "sglang:\n  speculative: {enabled: false, num_draft_tokens: 6}\n",
        False,
    ),
    ("concurrency-above-running-requests", "concurrency:\n  max_inputs: 64\n", True),
    ("concurrency-above-running-requests", "concurrency:\n  max_inputs: 48\n", False),
    ("startup-timeout-short", "timeouts:\n  startup: 600\n", True),
    ("startup-timeout-short", "timeouts:\n  startup: 900\n", False),
    ("startup-timeout-jit", "timeouts:\n  startup: 900\n", True),
    ("startup-timeout-jit", "timeouts:\n  startup: 600\n", False),  # the error covers it
    ("startup-timeout-jit", "timeouts:\n  startup: 2640\n", False),
    ("idle-cost-unacknowledged", "autoscaling:\n  min_containers: 1\n", True),
    (
        "idle-cost-unacknowledged",
        "autoscaling:\n  min_containers: 1\n  idle_cost_acknowledged: true\n",
        False,
    ),
    # The generator keys the compile caches; no profile variable may move them (env-policy).
    ("env-policy", "env:\n  SGLANG_DG_CACHE_DIR: /dg-cache/b200-v0.5.23\n", True),
    ("env-policy", "sglang:\n  env:\n    HF_ENDPOINT: https://mirror.example\n", True),
    ("env-policy", "env:\n  PYTHONUNBUFFERED: '1'\n  NCCL_DEBUG: WARN\n", False),
    ("sglang-flag-refused", "sglang:\n  extra_args: [--enable-custom-logit-processor]\n", True),
    ("sglang-flag-refused", "sglang:\n  extra_args: [--enable-cache-report]\n", False),
    # The base profile (the guide's) has metrics on and no proxy auth.
    ("metrics-public", "", True),
    ("metrics-public", "serving:\n  proxy_auth: true\n", False),
    ("metrics-public", "sglang:\n  enable_metrics: false\n", False),
    # The guide's trtllm sparse prefill with BF16 KV on B200; SGLang's own flashmla_sparse is quiet.
    ("dsa-prefill-trtllm-bf16", "", True),
    (
        "dsa-prefill-trtllm-bf16",
        "sglang:\n  attention:\n    sparse_prefill_backend: flashmla_sparse\n",
        False,
    ),
    ("dsa-prefill-trtllm-bf16", "gpu:\n  type: H200\n", False),
    # Clusters: a two-node Server at TP 16 is the quiet base of these cases.
    (
        "cluster-web-server",
        "cluster:\n  nodes: 2\nsglang:\n  tensor_parallel_size: 16\nautoscaling:\n  max_containers: 2\n",
        True,
    ),
    ("cluster-web-server", CLUSTER, False),
    (
        "cluster-autoscaling-multiple",
        CLUSTER.replace("max_containers: 2", "max_containers: 3"),
        True,
    ),
    ("cluster-autoscaling-multiple", CLUSTER, False),
    (
        "cluster-partial-host",
        CLUSTER.replace("tensor_parallel_size: 16", "tensor_parallel_size: 8")
        + "gpu:\n  count: 4\n",
        True,
    ),
    ("cluster-partial-host", CLUSTER, False),
    ("cluster-fallback-gpus", CLUSTER + "gpu:\n  fallback: [{type: H200}]\n", True),
    ("cluster-fallback-gpus", CLUSTER, False),
    (
        "cluster-layout",
        CLUSTER.replace("tensor_parallel_size: 16", "tensor_parallel_size: 8"),
        True,
    ),
    ("cluster-layout", CLUSTER, False),
    (
        "cluster-layout",
        CLUSTER.replace("tensor_parallel_size: 16", "tensor_parallel_size: 8").replace(
            "nodes: 2", "nodes: 2\n  parallelism: pipeline"
        ),
        False,
    ),
    ("cluster-tensor-without-rdma", CLUSTER.replace("nodes: 2", "nodes: 2\n  rdma: false"), True),
    ("cluster-tensor-without-rdma", CLUSTER, False),
    (
        "cluster-port-collision",
        CLUSTER.replace("tensor_parallel_size: 16", "tensor_parallel_size: 16\n  port: 20001"),
        True,
    ),
    ("cluster-port-collision", CLUSTER, False),
    # The case: 128 running requests at 65,536 tokens need 8.4M tokens, 11x the pool.
    (
        "running-requests-beyond-kv-pool",
        "sglang:\n  context_length: 65536\n  max_running_requests: 128\n",
        True,
    ),
    ("running-requests-beyond-kv-pool", "sglang:\n  max_running_requests: 3\n", False),
    (
        "running-requests-above-max-concurrency",
        "serving:\n  primitive: server\n  max_concurrency: 40\n",
        True,
    ),
    (
        "running-requests-above-max-concurrency",
        "serving:\n  primitive: server\n  max_concurrency: 96\n",
        False,
    ),
    ("trust-remote-code", "model:\n  trust_remote_code: true\n", True),
    ("trust-remote-code", "", False),
    ("public-endpoint", "auth:\n  require_api_key: false\n", True),
    ("public-endpoint", "auth:\n  require_api_key: true\n", False),
    ("model-revision-unpinned", "model:\n  revision: v1.0\n", True),
    ("model-revision-unpinned", "model:\n  revision: " + "0" * 39 + "a\n", False),
    ("sglang-flag", "sglang:\n  extra_args: [--no-such-flag]\n", True),
    ("sglang-flag", "sglang:\n  extra_args: [--log-level, debug]\n", False),
    (
        "sglang-flag-deprecated",
        "sglang:\n  enable_flashinfer_allreduce_fusion: false\n"
        "  extra_args: [--enable-flashinfer-allreduce-fusion]\n",
        True,
    ),
    ("sglang-flag-deprecated", "", False),
    ("sglang-env-unknown", "sglang:\n  env:\n    SGLANG_ENABLE_SPEC_V2: '1'\n", True),
    ("sglang-env-unknown", "sglang:\n  env:\n    SGLANG_DG_USE_NVRTC: '1'\n", False),
    ("secret-in-profile", "sglang:\n  extra_args: [--api-key, sk-abcdefghijklmnopqrstu]\n", True),
    ("secret-in-profile", "sglang:\n  extra_args: [--admin-api-key=x]\n", True),
    ("secret-in-profile", "sglang:\n  extra_args: [--ssl-keyfile, /k.pem]\n", False),
    ("secret-in-profile", "env:\n  HF_TOKEN: abc\n", True),
    ("secret-in-profile", "sglang:\n  env:\n    SGLANG_API_KEY: abc\n", True),
    ("secret-in-profile", "env:\n  NOTE: hf_abcdefghijklmnopqrstuvwx\n", True),
    # SGLang's own setting that merely ends in _KEY (read from the manifest) is not a credential.
    ("secret-in-profile", "sglang:\n  env:\n    SGLANG_LOG_DECODE_GRAPH_KEY: '1'\n", False),
    ("secret-in-profile", "env:\n  TOKENIZERS_PARALLELISM: 'false'\n", False),
    (
        "autoscaling-limits",
        "autoscaling:\n  min_containers: 4\n  idle_cost_acknowledged: true\n",
        True,
    ),
    ("autoscaling-limits", "concurrency:\n  max_inputs: 8\n  target_inputs: 16\n", True),
    ("autoscaling-limits", "concurrency:\n  max_inputs: 16\n  target_inputs: 8\n", False),
    ("buffer-above-max", "autoscaling:\n  buffer_containers: 4\n", True),
    ("buffer-above-max", "autoscaling:\n  buffer_containers: 1\n", False),
    ("volume-mounts", "volumes:\n  deepgemm_cache: {name: c, mount_path: /model-cache}\n", True),
    ("volume-mounts", "volumes:\n  deepgemm_cache: {name: c, mount_path: /model-cache/dg}\n", True),
    ("volume-mounts", "volumes:\n  weights: {name: w, mount_path: /usr}\n", True),
    ("volume-mounts", "volumes:\n  weights: {name: w, mount_path: /root}\n", True),
    ("volume-mounts", "volumes:\n  weights: {name: w, mount_path: /a/../tmp}\n", True),
    ("volume-mounts", "volumes:\n  weights: {name: w, mount_path: /root/weights}\n", False),
    (
        "secret-roles",
        "secrets:\n  api_key: {name: huggingface-secret, key: HF_TOKEN}\n",
        True,
    ),
    ("secret-roles", "secrets:\n  api_key: {name: huggingface-secret, key: API_KEY}\n", False),
    ("secret-shared", "secrets:\n  api_key: {name: huggingface-secret, key: API_KEY}\n", True),
    ("secret-shared", "", False),
    ("fallback-gpu-type", "gpu:\n  fallback: [{type: B200}]\n", True),
    ("fallback-gpu-type", "gpu:\n  fallback: [{type: H200}, {type: H200}]\n", True),
    ("fallback-gpu-type", "gpu:\n  fallback: [{type: H200}]\n", False),
    ("fallback-flags", "gpu:\n  fallback: [{type: H200, sparse_decode_backend: nope}]\n", True),
    ("fallback-flags", "gpu:\n  fallback: [{type: H200}]\n", False),
    # The primary's own flag error is sglang-flag's, not repeated once per fallback.
    (
        "fallback-flags",
        "sglang:\n  extra_args: [--no-such-flag]\ngpu:\n  fallback: [{type: H200}]\n",
        False,
    ),
    ("fallback-kv-pool", "gpu:\n  fallback: [{type: H100}]\n", True),
    ("fallback-kv-pool", "gpu:\n  fallback: [{type: H200}]\n", False),
    ("fallback-smaller-pool", "gpu:\n  fallback: [{type: H200}]\n", True),
    (
        "fallback-smaller-pool",
        "gpu:\n  fallback: [{type: H200, mem_fraction_static: 0.98}]\n",
        True,
    ),
    ("fallback-smaller-pool", "", False),
    ("modal-name", "app:\n  name: ap-abcdefghijklmnopqrstuv\n", True),
    ("modal-name", "secrets:\n  extra: [ap-0123456789abcdefghijAB]\n", True),
    ("modal-name", "app:\n  name: ap-abcdefghijklmnopqrstu\n", False),  # 21: not an App ID
    # Model families (rules/families.py): the catalog recipe, the design, known-bad settings.
    ("architecture-unmodelled", f"model:\n  id: {QWEN}\n" + MAMBA_SIZE, True),
    ("architecture-unmodelled", "sglang:\n  extra_args: [--max-mamba-cache-size, '100']\n", False),
    ("parser-not-the-recipes", "sglang:\n  tool_call_parser: glm45\n", True),
    ("parser-not-the-recipes", "", False),
    ("trust-remote-code-required", f"model:\n  id: {KIMI}\n", True),
    ("trust-remote-code-required", f"model:\n  id: {KIMI}\n  trust_remote_code: true\n", False),
    ("speculative-without-draft", f"model:\n  id: {MINIMAX}\n", True),
    (
        "speculative-without-draft",
        f"model:\n  id: {MINIMAX}\nsglang:\n  speculative: {{enabled: false}}\n",
        False,
    ),
    ("speculative-without-draft", "", False),  # GLM-5.1 drafts with its MTP layer
    (
        "qwen35-speculative-no-buffer",
        f"model:\n  id: {QWEN}\nsglang:\n  extra_args: [--mamba-scheduler-strategy, no_buffer]\n",
        True,
    ),
    (
        "qwen35-speculative-no-buffer",
        f"model:\n  id: {QWEN}\nsglang:\n  extra_args: [--mamba-scheduler-strategy, no_buffer, "
        "--disable-radix-cache]\n",
        False,
    ),
    # GLM is not Qwen3.5: the same flags are not this rule's business.
    ("qwen35-speculative-no-buffer", "sglang:\n  extra_args: [--disable-radix-cache]\n", False),
    (
        "minimax-append-think-leaks-reasoning",
        f"model:\n  id: {MINIMAX}\nsglang:\n  reasoning_parser: minimax-append-think\n",
        True,
    ),
    (
        "minimax-append-think-leaks-reasoning",
        "sglang:\n  reasoning_parser: minimax-append-think\n",
        False,
    ),
    (
        "kimi-tokenspeed-mla-needs-fp8-kv",
        f"model:\n  id: {KIMI}\nsglang:\n  attention: {{backend: tokenspeed_mla}}\n",
        True,
    ),
    (
        "kimi-tokenspeed-mla-needs-fp8-kv",
        f"model:\n  id: {KIMI}\nsglang:\n  kv_cache_dtype: fp8_e4m3\n"
        "  attention: {backend: tokenspeed_mla}\n",
        False,
    ),
    # The GLM-5.x FP8-KV rules are GLM's only: FP8 KV on Kimi is not their finding.
    ("fp8-kv-eagle", f"model:\n  id: {KIMI}\nsglang:\n  kv_cache_dtype: fp8_e4m3\n", False),
]


def problems_for(root, name: str = "p.yaml"):
    """Every problem `validate` would report: schema-stage ones (removed knobs) or the rules'."""
    try:
        profile = validate_profile(load_profile(str(root / name)))
    except ProfileError as exc:
        return exc.problems
    return run_rules(build_deployment(profile), profile)


def _files(spec) -> dict[str, str]:
    files = spec if isinstance(spec, dict) else {"p.yaml": spec}
    # Profiles extend the shipped base; user catalog files (models/) are not profiles.
    return {n: t if n.startswith("models/") else BASE + t for n, t in files.items()}


@pytest.mark.parametrize(
    "rule_id,spec,trips",
    CASES,
    ids=[f"{c[0]}-{'trips' if c[2] else 'quiet'}-{i}" for i, c in enumerate(CASES)],
)
def test_rule(rule_id, spec, trips, profile_tree):
    root = profile_tree(_files(spec))
    found = [p for p in problems_for(root) if p.rule == rule_id]
    if not trips:
        assert found == []
        return
    assert found, f"{rule_id} did not fire"
    for problem in found:
        assert problem.severity == RULES[rule_id].severity
        assert "Found:" in problem.message
        assert problem.location is not None  # in p.yaml, or where a parent set the value
        if RULES[rule_id].reference:
            assert RULES[rule_id].reference in problem.hint


# The rules of issue #4 and the ones before them (rules from other modules have their own tests).
PLAN_RULES = {
    "latest-image-tag",
    "latest-image-allowed",
    "image-version-mismatch",
    "removed-modal-knob",
    "model-not-in-catalog",
    "gpu-count-parallelism",
    "fp8-kv-eagle",
    "fp8-kv-accuracy",
    "kv-pool-empty",
    "context-beyond-positions",
    "context-beyond-kv-pool",
    "chunked-prefill-beyond-context",
    "speculative-draft-tokens",
    "concurrency-above-running-requests",
    "startup-timeout-short",
    "startup-timeout-jit",
    "idle-cost-unacknowledged",
}


def test_every_rule_has_cases_both_ways():
    tripped = {c[0] for c in CASES if c[2]}
    quiet = {c[0] for c in CASES if not c[2]}
    assert PLAN_RULES <= set(RULES)
    assert set(RULES) <= tripped and set(RULES) <= quiet, sorted(set(RULES) - (tripped & quiet))


def test_every_rule_is_documented():
    for r in RULES.values():
        assert r.severity in ("error", "warning") and r.summary, r.id


def test_errors_fail_validation(profile_tree, cli):
    root = profile_tree(_files("timeouts:\n  startup: 600\n"))
    code, _, err = cli("validate", str(root / "p.yaml"))
    assert code == 1
    assert "p.yaml:3:12: [startup-timeout-short] timeouts.startup:" in err
    assert "Set timeouts.startup >= 840" in err
    with pytest.raises(ProfileError):
        load(root / "p.yaml")


def test_warnings_pass_validation_and_can_be_silenced(profile_tree, cli):
    root = profile_tree(
        {
            "w.yaml": BASE + "concurrency:\n  max_inputs: 64\n",
            "s.yaml": BASE + "concurrency:\n  max_inputs: 64\n"
            "silence:\n  concurrency-above-running-requests: a gateway caps it at 48\n",
        }
    )
    code, out, err = cli("validate", str(root / "w.yaml"))
    assert code == 0 and "ok: w (" in out
    assert "warning: [concurrency-above-running-requests] concurrency.max_inputs:" in err
    assert "silence with `silence: {concurrency-above-running-requests: reason}`" in err
    code, out, err = cli("validate", str(root / "s.yaml"))
    assert code == 0 and out.startswith("ok: s") and "concurrency-above-running-requests" not in err


def test_silence_that_cannot_work_is_reported(profile_tree):
    root = profile_tree(
        {
            "p.yaml": BASE + "silence:\n  startup-timeout-shrt: typo\n"
            "  idle-cost-unacknowledged: trying to silence an error\n"
        }
    )
    found = {p.path: p for p in problems_for(root) if p.rule == "silence"}
    typo = found[("silence", "startup-timeout-shrt")]
    assert typo.severity == "warning" and "no rule has this id" in typo.message
    assert typo.hint == "did you mean startup-timeout-short?"
    assert "errors cannot be silenced" in found[("silence", "idle-cost-unacknowledged")].message


def test_removed_knob_replaces_the_generic_message(profile_tree, cli):
    root = profile_tree(_files("autoscaling:\n  container_idle_timeout: 300\n"))
    code, _, err = cli("validate", str(root / "p.yaml"))
    assert code == 1
    assert (
        "p.yaml:3:3: [removed-modal-knob] autoscaling.container_idle_timeout: "
        "`container_idle_timeout` was renamed scaledown_window in modal 1.x and removed in 1.4.0; "
        "set autoscaling.scaledown_window instead. Found: container_idle_timeout=300"
    ) in err
    assert "unknown field 'container_idle_timeout'" not in err


def test_removed_knob_beside_other_schema_errors(profile_tree):
    root = profile_tree(_files("allow_concurrent_inputs: 20\nautoscaling:\n  max_container: 3\n"))
    problems = problems_for(root)
    messages = [p.message for p in problems]
    assert any("@modal.concurrent(max_inputs=...)" in m for m in messages)
    assert any("unknown field 'max_container'" in m for m in messages)
    assert not any("unknown field 'allow_concurrent_inputs'" in m for m in messages)


def test_removed_knob_names_inside_env_are_just_names(profile_tree):
    # env keys are variable names (and must be upper case): no Modal-knob message for them.
    root = profile_tree(_files("env:\n  KEEP_WARM: '1'\n"))
    assert [p for p in problems_for(root) if p.rule == "removed-modal-knob"] == []


def test_idle_cost_message_gives_the_monthly_bill(profile_tree):
    root = profile_tree(_files("autoscaling:\n  min_containers: 2\n"))
    (problem,) = [p for p in problems_for(root) if p.rule == "idle-cost-unacknowledged"]
    assert "about $73,000 a month" in problem.message  # 2 x 8 x $6.25 x 730 h


def test_fp8_kv_auto_message_says_what_auto_means(profile_tree):
    root = profile_tree(_files("sglang:\n  kv_cache_dtype: auto\n"))
    (problem,) = [p for p in problems_for(root) if p.rule == "fp8-kv-eagle"]
    assert "kv_cache_dtype=auto, which is fp8_e4m3 on B200 for this model" in problem.message
    assert "sgl-project/sglang#22359" in problem.hint


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_shipped_profiles_trip_no_sizing_rule(name):
    """The shipped profiles validate with no error and none of these rules' warnings."""
    loaded = load(name)
    # The shipped profiles name a branch until `make pin-revision` is run (see the README), and
    # keep the guide's own choices with their warnings: scale-to-zero's web_server (150 s request
    # cap, /metrics without proxy auth) and trtllm sparse prefill with BF16 KV.
    knowingly = {
        "model-revision-unpinned",
        "web-server-request-cap",
        "metrics-public",
        "dsa-prefill-trtllm-bf16",
        # kimi-k26 needs the repository's own code: the owner reviews it at the pinned commit.
        "trust-remote-code",
        # The guide's 48 running requests are sized for turns far below the full window (prod
        # silences it with that reason; long-context is the profile where all of them fit).
        "running-requests-beyond-kv-pool",
        # tests/test_recipes.py checks these on every shipped profile.
        "sglang-recipe-departure",
        "sglang-recipe-silence",
    }
    mine = {c[0] for c in CASES} - knowingly
    assert [str(p) for p in loaded.warnings if p.rule in mine or p.rule == "silence"] == []


def test_deepgemm_cache_keyed_by_gpu_and_image(profile_tree):
    """Profiles sharing the volume never share kernels across GPUs or CUDA/SGLang builds."""
    from generator.profile.deployment import build_deployment

    root = profile_tree(
        _files(
            {
                "a.yaml": "",
                "b.yaml": "gpu:\n  type: H200\n",
                "c.yaml": "images:\n  serve:\n    tag: v0.5.23-cu130\n",
            }
        )
    )
    dirs = {
        build_deployment(validate_profile(load_profile(str(root / n)))).compile_cache_dir
        for n in ("a.yaml", "b.yaml", "c.yaml")
    }
    assert dirs == {
        "/dg-cache/b200-v0.5.23",
        "/dg-cache/h200-v0.5.23",
        "/dg-cache/b200-v0.5.23-cu130",
    }


def test_a_load_problem_is_located_at_the_setting_that_moves_it():
    """Qwen3.5 at TP 16 with EP 16: the routed experts load whole, the shared expert's FP8
    blocks do not split 16 ways. The finding points at the dense TP (here TP itself), not at
    expert_parallel_size, which cannot fix it (the message mentions an 'expert' all the same)."""
    import dataclasses

    from generator.capacity.layout import Layout, load_problems
    from generator.profile.checkpoint import model_spec
    from generator.rules.load import _setting_that_moves

    d = load("qwen35").deployment
    problems = load_problems(model_spec(d), Layout(tp=16, ep=16))
    assert problems and {p.part for p in problems} == {"dense"}
    assert _setting_that_moves(d, problems[0].part) == "tensor_parallel_size"
    dense_tp = dataclasses.replace(d, sglang=dataclasses.replace(d.sglang, moe_dense_tp_size=1))
    assert _setting_that_moves(dense_tp, "dense") == "moe_dense_tp_size"
    assert _setting_that_moves(d, "experts") == "expert_parallel_size"
