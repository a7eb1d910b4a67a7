"""Rules that size the deployment: memory, KV pool, context, timeouts and compile caches
(figures from capacity/memory.py, capacity/costs.py and the catalogs)."""

from __future__ import annotations

from generator import catalog
from generator.capacity import costs
from generator.capacity import memory as capacity
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment
from generator.profile.models import catalog_entry
from generator.rules.engine import Finding, rule

# --- Sizing -----------------------------------------------------------------------------------


@rule(
    "model-not-in-catalog",
    "warning",
    "The model has no catalog entry, so capacity, decode and cold-start rules cannot run.",
)
def _model_not_in_catalog(d: Deployment):
    if catalog_entry(d.model.id, d.profile_path) is None:
        yield Finding(
            "`make plan` and the sizing rules (KV pool, context, startup timeout) need the "
            "model's architecture: add an entry to the user catalog beside the profiles "
            f"({d.profile_path.parent.name}/models/<name>.yaml; `modal-sglang init` writes one, "
            "docs/adding-a-model.md). "
            f"Found: model.id={d.model.id}",
            ("model", "id"),
        )


@rule("gpu-count-parallelism", "error", "gpu.count is not tensor x data parallel size.")
def _gpu_count(d: Deployment):
    s = d.sglang
    # With DP attention the DP ranks share the TP group's GPUs; otherwise each DP replica has its own.
    dp_attention = s.enable_dp_attention
    expected = (
        s.tensor_parallel_size if dp_attention else s.tensor_parallel_size * s.data_parallel_size
    )
    if d.cluster:  # cluster-layout checks how the sizes cover the nodes
        return
    if d.gpu.count != expected:
        how = (
            "tensor_parallel_size" if dp_attention else "tensor_parallel_size x data_parallel_size"
        )
        yield Finding(
            f"SGLang uses {how} = {expected} GPUs per replica; set gpu.count to that, or change "
            f"the parallel sizes. Found: gpu.count={d.gpu.count}, "
            f"tensor_parallel_size={s.tensor_parallel_size}, data_parallel_size={s.data_parallel_size}",
            ("gpu", "count"),
        )


def _fp8_kv(d: Deployment) -> tuple[str, str] | None:
    """(resolved dtype, how it was set) when a GLM-5.x model's KV cache would be FP8, else None.

    GLM-5.x only (family glm5): the evidence (sglang#22671, #22359) is for GLM-5.1-FP8, whose
    checkpoint ships no calibrated KV scales; other DSA models are not covered by it."""
    model = known_model(d)
    if model is None or model.family != "glm5" or model.sparse_attention != "dsa":
        return None
    dtype = d.sglang.kv_cache_dtype
    resolved = capacity.kv_layout(d, model).kv_cache_dtype
    if not resolved.startswith("fp8"):
        return None
    how = f"auto, which is {resolved} on {d.gpu.type} for this model" if dtype == "auto" else dtype
    return resolved, how


# GLM-5.x (DSA) only. sglang#22671 measured FP8 KV on GLM-5.1-FP8 (B300, TP 8, no MTP): AIME26
# 76.7 vs 95.3 official, GPQA-diamond 71.2 vs 86.2, normal again with BF16 KV; the checkpoint ships
# no calibrated k/v scales (sgl-cookbook#237). The guide also names a crash with EAGLE
# (sglang#22359), which could not be found to check. With EAGLE the guide's deployment refuses the
# combination (an error); without it the loss is a choice a profile may make knowingly (a warning).
@rule(
    "fp8-kv-eagle",
    "error",
    "FP8 KV cache with EAGLE on a GLM-5.x DSA model.",
    "sgl-project/sglang#22671 (accuracy with FP8 KV); the guide's sgl-project/sglang#22359 (crash)",
)
def _fp8_kv_eagle(d: Deployment):
    fp8 = _fp8_kv(d)
    if fp8 and d.sglang.speculative.enabled:
        yield Finding(
            "FP8 KV cache loses GLM-5.x accuracy (sglang#22671: AIME26 76.7 vs 95.3 with FP8 KV, "
            "normal with BF16), and the guide reports it crashing with EAGLE; set "
            "sglang.kv_cache_dtype: bfloat16. "
            f"Found: kv_cache_dtype={fp8[1]}, speculative.enabled=true",
            ("sglang", "kv_cache_dtype"),
        )


@rule(
    "fp8-kv-accuracy",
    "warning",
    "FP8 KV cache on a GLM-5.x DSA model (no calibrated KV scales in the checkpoint).",
    "sgl-project/sglang#22671",
)
def _fp8_kv_accuracy(d: Deployment):
    fp8 = _fp8_kv(d)
    if fp8 and not d.sglang.speculative.enabled:
        yield Finding(
            "FP8 KV cache degrades GLM-5.1-FP8 accuracy severely (the checkpoint ships no "
            "calibrated k/v scales); set sglang.kv_cache_dtype: bfloat16 unless you measured "
            f"the loss on your workload. Found: kv_cache_dtype={fp8[1]}",
            ("sglang", "kv_cache_dtype"),
        )


# GLM-5.x (DSA) on Blackwell only. The guide's B200 recipe pairs --dsa-prefill-backend trtllm with
# BF16 KV; SGLang 0.5.23 picks flashmla_sparse for that pairing by itself (manifests/
# sglang-0.5.23-defaults.yaml), no upstream recipe pairs trtllm with BF16 KV, and sglang#27661
# measured GPQA-diamond 82.8 vs 85.6 for GLM-5.1-FP8 on B200 with the trtllm backend.
@rule(
    "dsa-prefill-trtllm-bf16",
    "warning",
    "trtllm sparse prefill with BF16 KV on Blackwell overrides SGLang's own choice (GLM-5.x).",
    "sgl-project/sglang#27661 (GPQA loss with trtllm on B200); SGLang 0.5.23 "
    "srt/arg_groups/overrides.py `_dsa_split_backend_resolution`",
)
def _dsa_prefill_trtllm(d: Deployment):
    model = known_model(d)
    if model is None or model.family != "glm5" or model.sparse_attention != "dsa":
        return
    if catalog.gpu(d.gpu.type).arch != "sm100":
        return
    layout = capacity.kv_layout(d, model)
    if d.sglang.attention.sparse_prefill_backend == "trtllm" and layout.kv_cache_dtype in (
        "bfloat16",
        "bf16",
    ):
        yield Finding(
            "no upstream recipe pairs trtllm sparse prefill with BF16 KV, and sglang#27661 "
            "reports a GLM-5.1-FP8 accuracy loss on B200 with the trtllm backend; SGLang's own "
            "choice here is flashmla_sparse: set sglang.attention.sparse_prefill_backend: "
            "flashmla_sparse (one line), or keep the guide's value and silence this with why. "
            "Found: sparse_prefill_backend=trtllm, kv_cache_dtype=bfloat16",
            ("sglang", "attention", "sparse_prefill_backend"),
        )


@rule("kv-pool-empty", "error", "The weights leave no room for a KV cache.")
def _kv_pool_empty(d: Deployment):
    cap = capacity.capacity(d)
    if cap is None or cap.kv_pool_tokens != 0:
        return
    static = cap.usable_gib_per_gpu * d.sglang.mem_fraction_static
    held = cap.weights_bytes_per_gpu + (cap.reserved_bytes_per_gpu if cap.state else 0)
    found = (
        f"Found: gpu={d.gpu.modal_spec}, tensor_parallel_size={d.sglang.tensor_parallel_size}, "
        f"mem_fraction_static={d.sglang.mem_fraction_static}"
    )
    if held / capacity.GIB >= cap.usable_gib_per_gpu * capacity.SAFE_MEM_FRACTION:
        # No mem_fraction_static helps: the GPU type (or the count) is what to change.
        roomy = sorted(
            g.type
            for g in catalog.gpus().values()
            if g.usable_memory_gib * capacity.SAFE_MEM_FRACTION > held / capacity.GIB
        )
        other = f"a GPU type whose memory holds them ({', '.join(roomy)})" if roomy else ""
        ways = " or ".join(filter(None, [other, "more GPUs per replica (cluster.nodes)"]))
        yield Finding(
            f"{d.model.id} cannot run on {d.gpu.modal_spec}: its weights alone take "
            f"{cap.weights_bytes_per_gpu / capacity.GIB:.1f} GiB per GPU at tensor parallel "
            f"{d.sglang.tensor_parallel_size}, and each {d.gpu.type} has "
            f"{cap.usable_gib_per_gpu:.1f} GiB usable: no mem_fraction_static leaves room for a "
            f"KV cache. Use {ways}. {found}",
            ("gpu", "type"),
        )
        return
    state = (
        f" (less {cap.reserved_bytes_per_gpu / capacity.GIB:.1f} GiB of recurrent state)"
        if cap.state
        else ""
    )
    yield Finding(
        f"weights{state} take {cap.weights_bytes_per_gpu / capacity.GIB:.1f} GiB per GPU but "
        f"mem_fraction_static leaves {static:.1f} GiB for weights and KV cache; use more "
        "or larger GPUs (gpu.type, gpu.count with tensor_parallel_size) or raise "
        f"sglang.mem_fraction_static (up to {capacity.SAFE_MEM_FRACTION}). {found}",
        ("sglang", "mem_fraction_static"),
    )


@rule(
    "context-beyond-positions",
    "error",
    "context_length is beyond the model's position embeddings.",
)
def _context_positions(d: Deployment):
    model = known_model(d)
    limit = model.max_position_embeddings if model else None
    if limit and d.sglang.context_length and d.sglang.context_length > limit:
        yield Finding(
            f"the model was trained on {limit:,} positions and SGLang refuses a longer "
            f"context_length; set sglang.context_length <= {limit} or leave it unset. "
            f"Found: context_length={d.sglang.context_length}",
            ("sglang", "context_length"),
        )


@rule(
    "context-beyond-kv-pool", "error", "One sequence of the full context does not fit the KV pool."
)
def _context_kv_pool(d: Deployment):
    cap = capacity.capacity(d)
    if cap is not None and 0 < cap.kv_pool_tokens < cap.context_tokens:
        set_by = "context_length" if d.sglang.context_length else "the model's window"
        yield Finding(
            f"the KV pool holds {cap.kv_pool_tokens:,} tokens, fewer than one sequence of "
            f"{cap.context_tokens:,} ({set_by}); set sglang.context_length <= "
            f"{cap.kv_pool_tokens}, raise mem_fraction_static, or use more or larger GPUs. "
            f"Found: context={cap.context_tokens}, kv_pool_tokens={cap.kv_pool_tokens}",
            ("sglang", "context_length"),
        )


@rule(
    "running-requests-beyond-kv-pool",
    "warning",
    "max_running_requests sequences of the full context do not fit the KV pool.",
)
def _running_requests_kv_pool(d: Deployment):
    cap = capacity.capacity(d)
    if cap is None or cap.running_requests_fit or cap.kv_pool_tokens < cap.context_tokens:
        return  # one sequence not fitting is context-beyond-kv-pool's error
    first, *fixes = capacity.running_requests_advice(d, cap)
    yield Finding(
        f"{first}; {'; '.join(fixes)}. `make plan` shows the pool. Found: "
        f"max_running_requests={d.sglang.max_running_requests}, context={cap.context_tokens}, "
        f"needs {cap.running_tokens_needed:,} tokens per rank, "
        f"kv_pool_tokens={cap.kv_pool_tokens}",
        ("sglang", "max_running_requests"),
    )


@rule("chunked-prefill-beyond-context", "warning", "chunked_prefill_size exceeds the context.")
def _chunked_prefill(d: Deployment):
    chunk = d.sglang.chunked_prefill_size
    model = known_model(d)
    context = d.sglang.context_length or (model.max_position_embeddings if model else None)
    if chunk and chunk > 0 and context and chunk > context:
        yield Finding(
            "a prefill chunk larger than the longest possible prompt never splits anything and "
            f"sizes activation memory for tokens that cannot exist; set "
            f"sglang.chunked_prefill_size <= {context}. "
            f"Found: chunked_prefill_size={chunk}, context={context}",
            ("sglang", "chunked_prefill_size"),
        )


@rule(
    "speculative-draft-tokens",
    "error",
    "num_draft_tokens does not match num_steps and eagle_topk.",
)
def _speculative_tokens(d: Deployment):
    spec = d.sglang.speculative
    if not spec.enabled:
        return
    steps, topk, drafts = spec.num_steps, spec.eagle_topk, spec.num_draft_tokens
    found = f"Found: num_steps={steps}, eagle_topk={topk}, num_draft_tokens={drafts}"
    if topk == 1 and drafts != steps + 1:
        # SGLang resets it to num_steps + 1 for a chain, so the profile would misstate what runs.
        yield Finding(
            f"with eagle_topk 1 the draft is a chain of num_steps tokens plus the root, so "
            f"num_draft_tokens must be num_steps x eagle_topk + 1 = {steps + 1} (SGLang "
            f"overrides any other value). {found}",
            ("sglang", "speculative", "num_draft_tokens"),
        )
    elif topk > 1:
        # The EAGLE tree scores topk + (steps - 1) x topk^2 candidates, plus the root.
        most = topk + (steps - 1) * topk * topk + 1
        if drafts > most:
            yield Finding(
                f"a tree of {steps} steps x top-{topk} has at most {most} tokens to verify; "
                f"set num_draft_tokens <= {most}. {found}",
                ("sglang", "speculative", "num_draft_tokens"),
            )


@rule(
    "concurrency-above-running-requests",
    "warning",
    "Modal sends a replica more requests than SGLang runs at once.",
)
def _concurrency(d: Deployment):
    if d.serving.is_server:
        return  # a Server scales on serving.target_concurrency: see server-target-above-running
    max_inputs, running = d.concurrency.max_inputs, d.sglang.max_running_requests
    if max_inputs > running:
        yield Finding(
            f"requests beyond {running} wait in this replica's SGLang queue instead of making "
            f"Modal start another replica; set concurrency.max_inputs <= {running} or raise "
            f"sglang.max_running_requests. Found: max_inputs={max_inputs}, "
            f"max_running_requests={running}",
            ("concurrency", "max_inputs"),
        )


@rule(
    "startup-timeout-short",
    "error",
    "timeouts.startup is shorter than the cold start estimate.",
)
def _startup_short(d: Deployment):
    cold = costs.cold_start(d)
    if cold is not None and d.timeouts.startup < cold.seconds:
        yield Finding(
            f"a cold start takes about {cold.seconds:,.0f} s even with precompiled DeepGEMM "
            "kernels (`make plan` shows the parts); Modal stops a replica that has not opened "
            f"its port by then. Set timeouts.startup >= {_round_up(cold.seconds)}. "
            f"Found: startup={d.timeouts.startup}",
            ("timeouts", "startup"),
        )


@rule(
    "startup-timeout-jit",
    "warning",
    "timeouts.startup is too short for a start that JIT-compiles DeepGEMM.",
)
def _startup_jit(d: Deployment):
    cold = costs.cold_start(d)
    if cold is not None and cold.seconds <= d.timeouts.startup < cold.seconds_jit:
        yield Finding(
            f"with an empty DeepGEMM cache (new GPU type or SGLang build) a start takes about "
            f"{cold.seconds_jit:,.0f} s; run `make setup` to precompile before the first "
            f"deploy, or set timeouts.startup >= {_round_up(cold.seconds_jit)}. "
            f"Found: startup={d.timeouts.startup}",
            ("timeouts", "startup"),
        )


@rule(
    "setup-timeout-short",
    "warning",
    "timeouts.precompile leaves compile_deep_gemm less than a full DeepGEMM JIT.",
)
def _setup_short(d: Deployment):
    from generator import catalog

    jit = catalog.platform().cold_start.deepgemm_jit_seconds
    left = d.timeouts.precompile - d.timeouts.startup - 300
    if left < jit:
        yield Finding(
            "the setup function runs compile_deep_gemm, then a full start that may take "
            f"timeouts.startup ({d.timeouts.startup} s); that leaves compile_deep_gemm {left} s, "
            f"under the {jit:,.0f} s a full DeepGEMM JIT may take. Set timeouts.precompile >= "
            f"{_round_up(d.timeouts.startup + 300 + jit)}. Found: precompile="
            f"{d.timeouts.precompile}, startup={d.timeouts.startup}",
            ("timeouts", "precompile"),
        )


def _round_up(seconds: float, step: int = 60) -> int:
    return int(-(-seconds // step) * step)


@rule(
    "idle-cost-unacknowledged",
    "error",
    "min_containers > 0 bills GPUs around the clock without autoscaling.idle_cost_acknowledged.",
)
def _idle_cost(d: Deployment):
    if d.autoscaling.min_containers > 0 and not d.autoscaling.idle_cost_acknowledged:
        if known_model(d) is None and d.pricing is None:
            cost = ""
        else:
            cost = f" (about ${costs.idle_cost_per_month_usd(d):,.0f} a month with no traffic)"
        yield Finding(
            f"{d.autoscaling.min_containers} replica(s) of {d.gpu.modal_spec} stay up when idle"
            f"{cost}; set autoscaling.idle_cost_acknowledged: true to confirm, or "
            f"min_containers: 0. Found: min_containers={d.autoscaling.min_containers}",
            ("autoscaling", "min_containers"),
        )
