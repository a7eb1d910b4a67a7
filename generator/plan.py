"""`make plan`: what a profile will hold, cost and take to start, before anything is deployed.

`python -m generator plan PROFILE [--json] [--utilization U]` prints a table, or the same figures
as JSON (keys documented in `KEYS`), plus the rules' findings. It is a pretend mode: it reads
the profile and the catalogs (generator/catalog/*.yaml) and touches nothing else.

Each formula is one function below with its derivation beside it; the rules in rules.py call
the same functions. Units: GiB = 2^30 bytes (GPU memory), GB = 10^9 bytes (checkpoint and
volume throughput), TB/s = 10^12 bytes/s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from generator import catalog
from generator.caches import cold_cache_costs
from generator.catalog import GpuSpec, ModelSpec
from generator.deployment import Deployment
from generator.errors import Problem, ProfileError, UsageError
from generator.profile import Profile

GIB = 1 << 30
GB = 10**9

# SGLang's DSA (NSA) KV pool, python/sglang/srt/mem_cache/memory_pool.py `NSATokenToKVPool`:
# the indexer keys are stored as FP8 with one float32 scale per 128 values
# (`quant_block_size = 128`), in pages of 64 tokens (`assert self.page_size == 64` on CUDA).
INDEXER_QUANT_BLOCK = 128
KV_PAGE_TOKENS = 64
KV_DTYPE_BYTES = {"bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1}
BF16_BYTES = 2


# --- Memory and KV capacity (per GPU: MLA's latent cache is not sharded by TP) --------------


def weights_bytes_per_gpu(model: ModelSpec, tensor_parallel_size: int) -> float:
    """Checkpoint bytes / TP size.

    TP shards the experts, attention heads and vocabulary across the ranks; the few replicated
    tensors (norms, MLA down-projections) are small next to 700 GB and are ignored. The
    checkpoint holds the MTP layer, which SGLang loads as the EAGLE draft model.
    """
    return model.checkpoint_gb * GB / tensor_parallel_size


def kv_pool_bytes_per_gpu(gpu: GpuSpec, mem_fraction_static: float, weights_bytes: float) -> float:
    """usable memory x mem_fraction_static - weights.

    SGLang's `profile_max_num_token`: rest = free after loading - total x (1 - fraction), i.e.
    the static budget (weights + KV pool) is `fraction` of the GPU. Activations, CUDA graphs and
    the EAGLE draft's one-layer KV pool live in the remaining (1 - fraction). Negative means the
    weights alone do not fit in the static budget.
    """
    return gpu.usable_memory_gib * GIB * mem_fraction_static - weights_bytes


def mla_bytes_per_token_layer(model: ModelSpec, kv_dtype: str) -> int:
    """The MLA latent cache: (kv_lora_rank + qk_rope_head_dim) x dtype bytes, one copy per rank.

    BF16: (512 + 64) x 2 = 1,152 B. FP8 E4M3 on a DSA model uses SGLang's packed layout
    (DSA `kv_cache_dim` override): 512 FP8 latent bytes + 4 B float32 scale per 128 values +
    the RoPE part kept in BF16 = 512 + 16 + 128 = 656 B. Other FP8: (512 + 64) x 1.
    """
    rank, rope = model.mla.kv_lora_rank, model.mla.qk_rope_head_dim
    if kv_dtype == "fp8_e4m3" and model.sparse_attention == "dsa":
        return rank + rank // INDEXER_QUANT_BLOCK * 4 + rope * BF16_BYTES
    return (rank + rope) * KV_DTYPE_BYTES[kv_dtype]


def indexer_bytes_per_token_layer(model: ModelSpec) -> int:
    """The DSA indexer's key: index_head_dim FP8 bytes + a float32 scale per 128 of them.

    128 + 4 = 132 B, whatever the KV dtype (SGLang stores it as uint8 in
    `index_k_with_scale_buffer`). Zero for a model without a DSA indexer.
    """
    if model.dsa_indexer is None:
        return 0
    dim = model.dsa_indexer.index_head_dim
    return dim + dim // INDEXER_QUANT_BLOCK * 4


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str) -> int:
    """num_layers x (MLA latent + indexer key), on every TP rank.

    SGLang's `get_cell_size_per_token` for an MLA model plus its NSA indexer term. GLM-5.1 BF16:
    78 x (1,152 + 132) = 100,152 B per token per GPU.
    """
    per_layer = mla_bytes_per_token_layer(model, kv_dtype) + indexer_bytes_per_token_layer(model)
    return model.num_layers * per_layer


def kv_pool_tokens(pool_bytes: float, bytes_per_token: int) -> int:
    """floor(pool / bytes per token), rounded down to whole 64-token pages; 0 if no pool."""
    if pool_bytes <= 0:
        return 0
    return int(pool_bytes // bytes_per_token) // KV_PAGE_TOKENS * KV_PAGE_TOKENS


def mem_fraction_needed(gpu: GpuSpec, weights_bytes: float, tokens: int, bytes_per_token: int):
    """The mem_fraction_static at which `tokens` fit: (weights + tokens x bytes) / usable."""
    return (weights_bytes + tokens * bytes_per_token) / (gpu.usable_memory_gib * GIB)


def resolved_kv_dtype(d: Deployment, model: ModelSpec) -> str:
    """The profile's KV dtype, with `auto` resolved as SGLang does for this model and GPU."""
    dtype = d.sglang.kv_cache_dtype
    return model.auto_kv_dtype(d.gpu.type) if dtype == "auto" else dtype


def context_tokens(d: Deployment, model: ModelSpec) -> int:
    """sglang.context_length, or the model's window when the profile leaves it unset."""
    return d.sglang.context_length or model.max_position_embeddings


@dataclass(frozen=True)
class Capacity:
    kv_cache_dtype: str
    usable_gib_per_gpu: float
    weights_bytes_per_gpu: float
    kv_pool_bytes_per_gpu: float
    mla_bytes_per_token_layer: int
    indexer_bytes_per_token_layer: int
    kv_bytes_per_token: int
    kv_pool_tokens: int
    context_tokens: int
    max_full_context_sequences: int
    running_tokens_needed: int
    mem_fraction_needed: float

    @property
    def running_requests_fit(self) -> bool:
        return self.running_tokens_needed <= self.kv_pool_tokens


def capacity(d: Deployment) -> Capacity | None:
    """The memory figures of one replica; None when the model is not in the catalog."""
    model = catalog.model(d.model.id)
    if model is None:
        return None
    gpu = catalog.gpu(d.gpu.type)
    dtype = resolved_kv_dtype(d, model)
    weights = weights_bytes_per_gpu(model, d.sglang.tensor_parallel_size)
    pool = kv_pool_bytes_per_gpu(gpu, d.sglang.mem_fraction_static, weights)
    per_token = kv_bytes_per_token(model, dtype)
    tokens = kv_pool_tokens(pool, per_token)
    context = context_tokens(d, model)
    needed = d.sglang.max_running_requests * context
    return Capacity(
        kv_cache_dtype=dtype,
        usable_gib_per_gpu=gpu.usable_memory_gib,
        weights_bytes_per_gpu=weights,
        kv_pool_bytes_per_gpu=pool,
        mla_bytes_per_token_layer=mla_bytes_per_token_layer(model, dtype),
        indexer_bytes_per_token_layer=indexer_bytes_per_token_layer(model),
        kv_bytes_per_token=per_token,
        kv_pool_tokens=tokens,
        context_tokens=context,
        max_full_context_sequences=tokens // context,
        running_tokens_needed=needed,
        mem_fraction_needed=mem_fraction_needed(gpu, weights, needed, per_token),
    )


# --- Decode: the HBM-bandwidth floor on time per output token, batch 1 ---------------------


def bytes_per_param(model: ModelSpec) -> float:
    """Checkpoint bytes / total parameters (~0.94 for GLM-5.1-FP8: FP8 experts, BF16 rest)."""
    return model.checkpoint_gb * GB / (model.params_total_billion * 1e9)


def params_per_routed_expert(model: ModelSpec) -> float:
    """One routed expert across all MoE layers: moe_layers x 3 (gate, up, down) x hidden x moe_inter."""
    return model.moe_layers * 3 * model.hidden_size * model.moe.moe_intermediate_size


def distinct_experts(model: ModelSpec, tokens: int) -> float:
    """Expected distinct routed experts per layer that `tokens` tokens touch.

    E x (1 - (1 - k/E)^n) with E experts, k per token, routing assumed uniform and independent
    (real routing is skewed, so this over-counts a little). 1 token: exactly k.
    """
    experts, k = model.moe.routed_experts, model.moe.experts_per_token
    return experts * (1 - (1 - k / experts) ** tokens)


def weight_bytes_per_step(model: ModelSpec, tensor_parallel_size: int, tokens: int) -> float:
    """Weight bytes one GPU reads in a forward pass over `tokens` tokens of one sequence.

    (active params - k routed experts + distinct experts touched) x bytes/param / TP. For one
    token that is the ~40B active parameters; verifying EAGLE drafts touches more experts.
    """
    per_expert = params_per_routed_expert(model)
    non_routed = model.params_active_billion * 1e9 - model.moe.experts_per_token * per_expert
    params = non_routed + distinct_experts(model, tokens) * per_expert
    return params * bytes_per_param(model) / tensor_parallel_size


def kv_read_bytes_per_step(model: ModelSpec, kv_dtype: str, context: int, tokens: int, layers: int):
    """KV bytes one GPU reads per step for one sequence of `context` tokens (every rank reads it all).

    DSA: each query reads index_topk latents per layer (the union over `tokens` queries at most
    tokens x topk) plus the indexer keys of the whole context. Without DSA: the whole context.
    """
    mla = mla_bytes_per_token_layer(model, kv_dtype)
    if model.dsa_indexer is None:
        return layers * context * mla
    attended = min(context, tokens * model.dsa_indexer.index_topk)
    return layers * (attended * mla + context * indexer_bytes_per_token_layer(model))


def draft_step_bytes(model: ModelSpec, tensor_parallel_size: int, kv_dtype: str, context: int):
    """One EAGLE draft step on the MTP layer: one layer's share of the active weights, the
    shared BF16 lm_head (vocab x hidden x 2), and that one layer's KV read, per GPU."""
    layer = model.params_active_billion * 1e9 * bytes_per_param(model) / model.num_layers
    lm_head = model.vocab_size * model.hidden_size * BF16_BYTES
    kv = kv_read_bytes_per_step(model, kv_dtype, context, 1, model.mtp_layers)
    return (layer + lm_head) / tensor_parallel_size + kv


def floor_ms(step_bytes: float, bandwidth_tbps: float, tokens_per_step: float = 1.0) -> float:
    """bytes read per step / HBM bandwidth / tokens the step yields, in milliseconds."""
    return step_bytes / (bandwidth_tbps * 1e12) / tokens_per_step * 1e3


@dataclass(frozen=True)
class Decode:
    context_tokens: int
    hbm_bandwidth_tbps: float
    weights_only_floor_ms: float
    step_bytes_per_gpu: float
    floor_ms: float
    speculative: bool
    eagle_accept_length: float | None
    eagle_verify_tokens: int | None
    eagle_distinct_experts_per_layer: float | None
    eagle_step_bytes_per_gpu: float | None
    eagle_floor_ms: float | None
    measured_tpot_ms_baseline: float
    measured_tpot_ms_eagle: float
    measured_source: str

    @property
    def tpot_floor_ms(self) -> float:
        """The floor for the profile's own settings: with EAGLE when it is on."""
        return self.eagle_floor_ms if self.speculative else self.floor_ms


def decode(d: Deployment) -> Decode | None:
    """Batch-1 decode floors at the profile's full context; None for a model not in the catalog.

    A floor, not a forecast: all-reduces, kernel launches and MoE routing keep real TPOT far
    above it, which is why the guide's measured snapshot is printed beside it.
    """
    model = catalog.model(d.model.id)
    if model is None:
        return None
    gpu = catalog.gpu(d.gpu.type)
    assumed = catalog.platform().decode
    tp = d.sglang.tensor_parallel_size
    dtype = resolved_kv_dtype(d, model)
    context = context_tokens(d, model)
    weights = weight_bytes_per_step(model, tp, 1)
    step = weights + kv_read_bytes_per_step(model, dtype, context, 1, model.num_layers)
    spec = d.sglang.speculative
    eagle = {}
    if spec.enabled:
        # EAGLE: num_steps draft passes on the MTP layer, then one target pass verifying
        # num_draft_tokens tokens, yielding `accept` tokens. accept <= num_steps + 1.
        accept = min(assumed.eagle_accept_length, spec.num_steps + 1)
        n = spec.num_draft_tokens
        verify = weight_bytes_per_step(model, tp, n) + kv_read_bytes_per_step(
            model, dtype, context, n, model.num_layers
        )
        eagle_step = verify + spec.num_steps * draft_step_bytes(model, tp, dtype, context)
        eagle = {
            "eagle_accept_length": accept,
            "eagle_verify_tokens": n,
            "eagle_distinct_experts_per_layer": distinct_experts(model, n),
            "eagle_step_bytes_per_gpu": eagle_step,
            "eagle_floor_ms": floor_ms(eagle_step, gpu.hbm_bandwidth_tbps, accept),
        }
    return Decode(
        context_tokens=context,
        hbm_bandwidth_tbps=gpu.hbm_bandwidth_tbps,
        weights_only_floor_ms=floor_ms(weights, gpu.hbm_bandwidth_tbps),
        step_bytes_per_gpu=step,
        floor_ms=floor_ms(step, gpu.hbm_bandwidth_tbps),
        speculative=spec.enabled,
        eagle_accept_length=eagle.get("eagle_accept_length"),
        eagle_verify_tokens=eagle.get("eagle_verify_tokens"),
        eagle_distinct_experts_per_layer=eagle.get("eagle_distinct_experts_per_layer"),
        eagle_step_bytes_per_gpu=eagle.get("eagle_step_bytes_per_gpu"),
        eagle_floor_ms=eagle.get("eagle_floor_ms"),
        measured_tpot_ms_baseline=assumed.measured_tpot_ms_baseline,
        measured_tpot_ms_eagle=assumed.measured_tpot_ms_eagle,
        measured_source=assumed.measured_source,
    )


# --- Cold start --------------------------------------------------------------------------


@dataclass(frozen=True)
class ColdStart:
    components: tuple[tuple[str, float], ...]  # with the DeepGEMM cache warm
    deepgemm_jit_seconds: float
    deepgemm_cached_seconds: float
    volume_read_gbps: float

    @property
    def seconds(self) -> float:
        """Cold start with a precompiled DeepGEMM cache (after `make setup`)."""
        return sum(seconds for _, seconds in self.components)

    @property
    def seconds_jit(self) -> float:
        """Cold start when the DeepGEMM cache is empty for this GPU and SGLang build."""
        return self.seconds - self.deepgemm_cached_seconds + self.deepgemm_jit_seconds


def cold_start(d: Deployment) -> ColdStart | None:
    """image pull + checkpoint GB / volume GB/s + SGLang init + DeepGEMM + CUDA graph capture.

    Every term is a catalog assumption (generator/catalog/platform.yaml) except the weights read,
    which scales with the model's checkpoint. EAGLE adds the draft model's graph capture.
    """
    model = catalog.model(d.model.id)
    if model is None:
        return None
    a = catalog.platform().cold_start
    graphs = a.cuda_graph_capture_seconds
    if d.sglang.speculative.enabled:
        graphs += a.cuda_graph_capture_speculative_extra_seconds
    components = (
        ("image pull", a.image_pull_seconds),
        ("weights read from volume", model.checkpoint_gb / a.volume_read_gbps),
        ("SGLang and NCCL init", a.sglang_init_seconds),
        ("DeepGEMM kernels (cached)", a.deepgemm_cached_seconds),
        ("CUDA graph capture", graphs),
    )
    return ColdStart(
        components, a.deepgemm_jit_seconds, a.deepgemm_cached_seconds, a.volume_read_gbps
    )


# --- Cost ------------------------------------------------------------------------------------


def gpu_hour_price(d: Deployment) -> tuple[float, str]:
    """The profile's `pricing.gpu_hour_usd` if set, else the hardware catalog's, with its source."""
    if d.pricing is not None:
        return d.pricing.gpu_hour_usd, d.pricing.source or "profile pricing.gpu_hour_usd"
    gpu = catalog.gpu(d.gpu.type)
    return gpu.gpu_hour_usd, f"catalog: {gpu.price_source} (seen {gpu.price_seen})"


def replica_hour_usd(d: Deployment) -> float:
    """GPU price x GPUs per replica (CPU and memory of the container are not included)."""
    return gpu_hour_price(d)[0] * d.gpu.count


def idle_cost_per_month_usd(d: Deployment) -> float:
    """min_containers x replica-hour x hours per month: billed with no traffic at all.

    buffer_containers only add replicas while the function is busy, so they are not in the floor.
    """
    return d.autoscaling.min_containers * replica_hour_usd(d) * catalog.platform().hours_per_month


def scaledown_tail_usd(d: Deployment) -> float:
    """replica-hour x scaledown_window / 3600: what a replica costs idling after its last request."""
    return replica_hour_usd(d) * d.autoscaling.scaledown_window / 3600


def cost_per_month_usd(d: Deployment, utilization: float) -> float:
    """replica-hour x hours per month x max(utilization, min_containers).

    utilization = average replicas busy over the month (0.3: one replica busy 30% of the time).
    Scaledown tails and cold starts of each burst come on top (see their own figures).
    """
    busy = max(utilization, d.autoscaling.min_containers)
    return replica_hour_usd(d) * catalog.platform().hours_per_month * busy


# --- The plan as JSON and as a table ---------------------------------------------------------

KEYS: dict[str, str] = {
    "profile": "profile name",
    "model": "Hugging Face id",
    "gpu": "Modal GPU spec of one replica, e.g. B200:8",
    "sglang_version": "SGLang version of the serve image",
    "tensor_parallel_size": "SGLang --tp-size",
    "kv_cache_dtype": "KV dtype, with `auto` resolved for this model and GPU",
    "usable_gib_per_gpu": "GPU memory usable by PyTorch (hardware catalog), GiB",
    "mem_fraction_static": "sglang.mem_fraction_static",
    "weights_gib_per_gpu": "checkpoint / TP size, GiB per GPU",
    "kv_pool_gib_per_gpu": "usable x mem_fraction_static - weights, GiB per GPU",
    "kv_bytes_per_token": "num_layers x (MLA latent + DSA indexer key) bytes, on every GPU",
    "kv_bytes_per_token_layer": "{mla, indexer}: bytes per token per layer",
    "kv_pool_tokens": "tokens the KV pool holds (whole 64-token pages)",
    "context_tokens": "sglang.context_length, or the model's window when unset",
    "max_full_context_sequences": "sequences of context_tokens that fit in the pool at once",
    "max_running_requests": "sglang.max_running_requests",
    "running_requests_fit": "whether max_running_requests x context_tokens fits in the pool",
    "running_requests_shortfall_tokens": "tokens missing for that (0 when it fits)",
    "running_requests_advice": "what to change when it does not fit (empty when it does)",
    "tpot_floor_ms": "bandwidth floor on time per output token, batch 1, full context, with "
    "EAGLE when enabled (see decode)",
    "decode": "the decode floors, their inputs, the EAGLE assumption and the measured snapshot",
    "gpu_hour_usd": "price of one GPU-hour used",
    "price_source": "where that price comes from",
    "cost_per_replica_hour_usd": "gpu_hour_usd x GPUs per replica",
    "idle_cost_per_month_usd": "min_containers x replica-hour x hours per month",
    "scaledown_tail_cost_usd": "one replica idling through one scaledown_window",
    "utilization": "average replicas busy over the month used for the monthly cost",
    "cost_per_month_at_utilization_usd": "replica-hour x hours per month x max(utilization, "
    "min_containers)",
    "cold_start_cost_usd": "one replica's billed cold start (DeepGEMM cache warm)",
    "cold_start_seconds": "cold start estimate with the DeepGEMM cache warm",
    "cold_start_seconds_jit": "cold start estimate with DeepGEMM compiling at start-up",
    "cold_start_components_seconds": "the estimate by component (DeepGEMM cache warm)",
    "compile_cache_dir": "SGLANG_CACHE_DIR on the cache Volume, keyed by GPU type and image",
    "compile_caches": "SGLang's compile caches on the cache Volume: [{cache, variable, folder, "
    "filled_by, cold_seconds, source}]; `make setup` warms them all",
    "cold_start_seconds_all_caches_cold": "cold start estimate with every compile cache empty",
    "startup_timeout_seconds": "timeouts.startup, for comparison",
    "findings": "the rules' results: [{rule, severity, message, path, location, reference}]",
    "silenced": "warnings the profile silenced: [{rule, reason, message}]",
}


def _advice(d: Deployment, cap: Capacity) -> list[str]:
    if cap.running_requests_fit:
        return []
    mrr = d.sglang.max_running_requests
    fit = cap.max_full_context_sequences
    options = []
    if fit:
        options.append(f"set sglang.max_running_requests <= {fit}")
    if cap.kv_pool_tokens // mrr:
        options.append(f"cap sglang.context_length <= {cap.kv_pool_tokens // mrr:,}")
    # Above ~0.95 too little is left for activations, CUDA graphs and the EAGLE draft's pool.
    if cap.mem_fraction_needed <= 0.95:
        options.append(f"raise sglang.mem_fraction_static to {cap.mem_fraction_needed:.2f}")
    else:
        options.append(
            f"use more or larger GPUs (mem_fraction_static would need "
            f"{cap.mem_fraction_needed:.2f}, beyond a safe 0.95)"
        )
    advice = [
        f"at full length only {fit} of {mrr} running requests fit; SGLang queues or retracts "
        "the rest (no crash, but latency)",
        f"to hold them all at full length: {options[0]}",
        *(f"or {option}" for option in options[1:]),
    ]
    return advice


def build(
    profile: Profile, deployment: Deployment, problems: list[Problem], utilization: float
) -> dict:
    """The plan as a JSON-ready dict (the keys of KEYS, in that order)."""
    d = deployment
    cap, dec, cold = capacity(d), decode(d), cold_start(d)
    if cap is None or dec is None or cold is None:
        raise ProfileError(
            f"model {d.model.id} is not in the model catalog: add it to "
            "generator/catalog/models.yaml so `plan` can size it"
        )
    price, source = gpu_hour_price(d)
    silence = profile.data.get("silence", {})
    from generator.rules import RULES, silenced_findings

    a = catalog.platform().cold_start
    caches = cold_cache_costs(d.sglang.version, a.deepgemm_jit_seconds)
    plan = {
        "profile": d.profile_name,
        "model": d.model.id,
        "gpu": d.gpu.modal_spec,
        "sglang_version": d.sglang.version,
        "tensor_parallel_size": d.sglang.tensor_parallel_size,
        "kv_cache_dtype": cap.kv_cache_dtype,
        "usable_gib_per_gpu": cap.usable_gib_per_gpu,
        "mem_fraction_static": d.sglang.mem_fraction_static,
        "weights_gib_per_gpu": round(cap.weights_bytes_per_gpu / GIB, 2),
        "kv_pool_gib_per_gpu": round(cap.kv_pool_bytes_per_gpu / GIB, 2),
        "kv_bytes_per_token": cap.kv_bytes_per_token,
        "kv_bytes_per_token_layer": {
            "mla": cap.mla_bytes_per_token_layer,
            "indexer": cap.indexer_bytes_per_token_layer,
        },
        "kv_pool_tokens": cap.kv_pool_tokens,
        "context_tokens": cap.context_tokens,
        "max_full_context_sequences": cap.max_full_context_sequences,
        "max_running_requests": d.sglang.max_running_requests,
        "running_requests_fit": cap.running_requests_fit,
        "running_requests_shortfall_tokens": max(0, cap.running_tokens_needed - cap.kv_pool_tokens),
        "running_requests_advice": _advice(d, cap),
        "tpot_floor_ms": round(dec.tpot_floor_ms, 3),
        "decode": {
            "context_tokens": dec.context_tokens,
            "hbm_bandwidth_tbps": dec.hbm_bandwidth_tbps,
            "weights_only_floor_ms": round(dec.weights_only_floor_ms, 3),
            "step_gb_per_gpu": round(dec.step_bytes_per_gpu / GB, 3),
            "floor_ms": round(dec.floor_ms, 3),
            "speculative": dec.speculative,
            "eagle_accept_length": dec.eagle_accept_length,
            "eagle_verify_tokens": dec.eagle_verify_tokens,
            "eagle_distinct_experts_per_layer": _round(dec.eagle_distinct_experts_per_layer, 1),
            "eagle_step_gb_per_gpu": _round(dec.eagle_step_bytes_per_gpu, 3, GB),
            "eagle_floor_ms": _round(dec.eagle_floor_ms, 3),
            "measured_tpot_ms_baseline": dec.measured_tpot_ms_baseline,
            "measured_tpot_ms_eagle": dec.measured_tpot_ms_eagle,
            "measured_source": dec.measured_source,
        },
        "gpu_hour_usd": price,
        "price_source": source,
        "cost_per_replica_hour_usd": round(replica_hour_usd(d), 2),
        "idle_cost_per_month_usd": round(idle_cost_per_month_usd(d), 2),
        "scaledown_tail_cost_usd": round(scaledown_tail_usd(d), 2),
        "utilization": utilization,
        "cost_per_month_at_utilization_usd": round(cost_per_month_usd(d, utilization), 2),
        "cold_start_cost_usd": round(replica_hour_usd(d) * cold.seconds / 3600, 2),
        "cold_start_seconds": round(cold.seconds),
        "cold_start_seconds_jit": round(cold.seconds_jit),
        "cold_start_components_seconds": {name: round(s) for name, s in cold.components},
        "compile_cache_dir": d.compile_cache_dir,
        "compile_caches": caches,
        "cold_start_seconds_all_caches_cold": round(
            cold.seconds - cold.deepgemm_cached_seconds + sum(c["cold_seconds"] for c in caches)
        ),
        "startup_timeout_seconds": d.timeouts.startup,
        "findings": [
            {
                "rule": p.rule,
                "severity": p.severity,
                "message": p.message,
                "path": ".".join(map(str, p.path or ())),
                "location": str(p.location) if p.location else None,
                "reference": RULES[p.rule].reference if p.rule in RULES else "",
            }
            for p in problems
        ],
        "silenced": [
            {"rule": rule_id, "reason": silence[rule_id], "message": finding.message}
            for rule_id, finding in silenced_findings(d, silence)
        ],
    }
    assert list(plan) == list(KEYS), "plan keys and KEYS out of step"
    return plan


def _round(value, digits: int, unit: float = 1):
    return None if value is None else round(value / unit, digits)


def _n(value: float) -> str:
    return f"{value:,}"


def format_table(p: dict) -> str:
    """The plan as a readable table: label, figure, how it was found."""
    dec = p["decode"]
    rows: list[tuple[str, str, str] | str] = []

    def section(title: str) -> None:
        rows.append("")
        rows.append(title)

    def row(label: str, value: str, note: str = "") -> None:
        rows.append((label, value, note))

    tp = p["tensor_parallel_size"]
    static = p["usable_gib_per_gpu"] * p["mem_fraction_static"]
    section(f"Memory per GPU (TP {tp}, KV cache {p['kv_cache_dtype']})")
    row("usable memory", f"{p['usable_gib_per_gpu']:.2f} GiB", "hardware catalog")
    row(
        f"x mem_fraction_static {p['mem_fraction_static']}",
        f"{static:.2f} GiB",
        "weights + KV pool",
    )
    row("- weights", f"{p['weights_gib_per_gpu']:.2f} GiB", f"checkpoint / TP {tp}")
    row("= KV pool", f"{p['kv_pool_gib_per_gpu']:.2f} GiB", "")
    layer = p["kv_bytes_per_token_layer"]
    row(
        "KV bytes per token",
        f"{_n(p['kv_bytes_per_token'])} B",
        f"layers x (MLA {layer['mla']} + indexer {layer['indexer']}) B, on every TP rank",
    )
    row("KV pool", f"{_n(p['kv_pool_tokens'])} tokens", "")
    row("context length", f"{_n(p['context_tokens'])} tokens", "")
    row("full-context sequences at once", str(p["max_full_context_sequences"]), "")
    need = p["max_running_requests"] * p["context_tokens"]
    verdict = (
        "fits"
        if p["running_requests_fit"]
        else (
            f"does NOT fit: short by {_n(p['running_requests_shortfall_tokens'])} tokens "
            f"({need / max(p['kv_pool_tokens'], 1):.1f}x the pool)"
        )
    )
    row(
        f"max_running_requests {p['max_running_requests']} x context", f"{_n(need)} tokens", verdict
    )
    for line in p["running_requests_advice"]:
        rows.append(f"    -> {line}")

    section(
        f"Decode floor (batch 1, {_n(dec['context_tokens'])}-token context, "
        f"{dec['hbm_bandwidth_tbps']} TB/s HBM)"
    )
    row(
        "weights only",
        f"{dec['weights_only_floor_ms']:.3f} ms/token",
        "active params / TP / bandwidth",
    )
    row(
        "with KV read",
        f"{dec['floor_ms']:.3f} ms/token",
        f"{dec['step_gb_per_gpu']} GB read per step per GPU",
    )
    if dec["speculative"]:
        row(
            "with EAGLE",
            f"{dec['eagle_floor_ms']:.3f} ms/token",
            f"assumes accept length {dec['eagle_accept_length']}; verifying "
            f"{dec['eagle_verify_tokens']} tokens touches ~{dec['eagle_distinct_experts_per_layer']} "
            "experts/layer",
        )
    row(
        "measured (guide)",
        f"~{dec['measured_tpot_ms_baseline']:g} / ~{dec['measured_tpot_ms_eagle']:g} ms/token",
        "baseline / EAGLE: the floor ignores all-reduce, launch and routing overheads",
    )

    section(f"Cost (${p['gpu_hour_usd']:g} per GPU-hour: {p['price_source']})")
    row("per replica-hour", f"${p['cost_per_replica_hour_usd']:,.2f}", p["gpu"])
    row("idle floor per month", f"${p['idle_cost_per_month_usd']:,.2f}", "min_containers x 730 h")
    row(
        "one scaledown window",
        f"${p['scaledown_tail_cost_usd']:,.2f}",
        "a replica idling before scale-in",
    )
    row("one cold start", f"${p['cold_start_cost_usd']:,.2f}", "billed while starting")
    row(
        f"month at utilization {p['utilization']:g}",
        f"${p['cost_per_month_at_utilization_usd']:,.2f}",
        "average replicas busy; tails and cold starts extra",
    )

    section("Cold start")
    for name, seconds in p["cold_start_components_seconds"].items():
        row(name, f"{seconds:,} s", "")
    row(
        "total, DeepGEMM cache warm",
        f"{p['cold_start_seconds']:,} s",
        "after `make setup` precompiled it",
    )
    row("total, DeepGEMM JIT", f"{p['cold_start_seconds_jit']:,} s", "new GPU type or SGLang build")
    row(
        "total, every cache cold",
        f"{p['cold_start_seconds_all_caches_cold']:,} s",
        "before `make setup` warmed them",
    )
    row("timeouts.startup", f"{p['startup_timeout_seconds']:,} s", "")

    section(f"Compile caches (SGLANG_CACHE_DIR = {p['compile_cache_dir']})")
    for c in p["compile_caches"]:
        row(c["cache"], f"{c['cold_seconds']:,.0f} s cold", f"{c['folder']}/: {c['source']}")

    section("Findings")
    if not p["findings"]:
        rows.append("  none")
    for f in p["findings"]:
        where = f"{f['location']}: " if f["location"] else ""
        rows.append(f"  {f['severity']}: [{f['rule']}] {where}{f['message']}")
        if f["reference"]:
            rows.append(f"      see {f['reference']}")
    for s in p["silenced"]:
        rows.append(f"  silenced: [{s['rule']}] {s['reason']}")

    width = max(len(r[0]) for r in rows if isinstance(r, tuple))
    vwidth = max(len(r[1]) for r in rows if isinstance(r, tuple))
    head = f"plan: {p['profile']} ({p['model']} on {p['gpu']}, SGLang {p['sglang_version']})"
    out = [head]
    for r in rows:
        if isinstance(r, str):
            out.append(r)
        else:
            label, value, note = r
            out.append(f"  {label:<{width}}  {value:>{vwidth}}  {note}".rstrip())
    return "\n".join(out) + "\n"


def run(ref: str, utilization: float, as_json: bool) -> tuple[str, bool]:
    """Plan a profile: (output text, whether any rule found an error)."""
    from generator.deployment import build_deployment
    from generator.profile import load_profile
    from generator.rules import run_rules
    from generator.validate import validate_profile

    if not math.isfinite(utilization) or utilization < 0:
        raise UsageError(f"--utilization must be a number >= 0, got {utilization}")
    profile = validate_profile(load_profile(ref))
    deployment = build_deployment(profile)
    if utilization > deployment.autoscaling.max_containers:
        raise UsageError(
            f"--utilization is average busy replicas; it cannot exceed "
            f"autoscaling.max_containers={deployment.autoscaling.max_containers}"
        )
    problems = run_rules(deployment, profile)
    plan = build(profile, deployment, problems, utilization)
    text = json.dumps(plan, indent=2) + "\n" if as_json else format_table(plan)
    return text, any(p.severity == "error" for p in problems)
