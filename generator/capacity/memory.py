"""The capacity model: weights, KV bytes per token and the KV pool of one replica, per GPU.

The formulas are SGLang's own, per version where they differ (each function cites the file and
function it follows; the slow test tests/test_capacity_ground_truth.py runs that code from the real
package and compares). `plan` and the sizing rules both read this module; it imports neither.
Units: GiB = 2^30 bytes (GPU memory), GB = 10^9 bytes (checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator import catalog
from generator.capacity.layout import layout_of, weight_shares
from generator.catalog import GpuSpec, ModelSpec, Unmodelled
from generator.profile.checkpoint import (
    LOCK_FILE,
    LOCK_RESTORE,
    lock_entry,
    lock_key,
    lock_path,
    model_spec,
    read_lock,
)
from generator.profile.committed import DataFileError
from generator.profile.deployment import Deployment
from generator.sglang.defaults import effective
from generator.sglang.versions import version_tuple

GIB = 1 << 30
# Above ~0.95 too little is left for activations, CUDA graphs and a draft's pool.
SAFE_MEM_FRACTION = 0.95
GB = 10**9

# SGLang's DSA KV pool (`DSATokenToKVPool`, `NSATokenToKVPool` before 0.5.13, in
# sglang/srt/mem_cache/memory_pool.py): FP8 values with one float32 scale per 128
# (`quant_block_size = 128`), indexer keys stored as uint8, RoPE kept in BF16
# (`rope_storage_dtype`), pages of 64 tokens (FlashMLA and TRT-LLM MLA take page_size 64:
# sglang/srt/arg_groups/overrides.py `_mla_backend_page_constraints`).
QUANT_BLOCK = 128
SCALE_BYTES = 4
ROPE_STORAGE_BYTES = 2
KV_PAGE_TOKENS = 64
KV_DTYPE_BYTES = {"bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1}

# 0.5.13 renamed NSA to DSA and moved sizing into mem_cache/kv_cache_configurator.py and
# model_executor/pool_configurator.py; by 0.5.23 the pool also holds the EAGLE draft's KV.
# 0.5.10 sizes in model_executor/model_runner_kv_cache_mixin.py.
DRAFT_IN_POOL_SINCE = "0.5.23"

# The lock beside the profile (generator/profile/checkpoint.py) holds each pinned commit's size and
# config.json; its helpers are re-exported here for `pin-revision`.
__all__ = ["LOCK_FILE", "lock_key", "lock_path", "read_lock"]


# --- Checkpoint size -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    bytes: int
    source: str


# A lock entry comes in pull requests too: a recorded size is believed only within this factor
# of the model catalog's checkpoint size (a size of 1 byte would hide that the weights leave no
# KV pool). The Hub's sum for GLM-5.1-FP8 is within 1% of the catalog's.
LOCK_SIZE_FACTOR = 2


def checkpoint(d: Deployment, model: ModelSpec) -> Checkpoint:
    """The pinned commit's size recorded by `pin-revision`, else the model catalog's."""
    catalog_bytes = int(model.checkpoint_gb * GB)
    entry = lock_entry(d)
    size = entry.get("bytes") if entry is not None else None
    if size is not None:
        low, high = catalog_bytes / LOCK_SIZE_FACTOR, catalog_bytes * LOCK_SIZE_FACTOR
        if not (isinstance(size, int) and not isinstance(size, bool) and low <= size <= high):
            raise DataFileError(
                f"{lock_path(d)}: {lock_key(d.model.id, d.model.revision)}: bytes={size!r} is not "
                f"a plausible size for {d.model.id} (the catalog says {model.checkpoint_gb:,.1f} "
                f"GB; accepted {low / GB:,.1f}-{high / GB:,.1f} GB); {LOCK_RESTORE}"
            )
        source = entry.get("source")
        return Checkpoint(size, f"{LOCK_FILE}: {source if isinstance(source, str) else 'Hub'}")
    return Checkpoint(catalog_bytes, f"catalog: {model.checkpoint_source}")


# --- Memory --------------------------------------------------------------------------------


def weights_bytes_per_gpu(checkpoint_bytes: int, tensor_parallel_size: int) -> float:
    """Checkpoint bytes / TP size (x pipeline stages, for a pipelined cluster).

    TP shards the experts, attention heads and vocabulary; the few replicated tensors (norms, MLA
    down-projections) are small next to 700 GiB and are ignored. The checkpoint holds the MTP
    layer, which SGLang loads as the EAGLE draft model (without EAGLE it is not loaded: ~1% less).
    """
    return checkpoint_bytes / tensor_parallel_size


def kv_pool_bytes_per_gpu(gpu: GpuSpec, mem_fraction_static: float, weights_bytes: float) -> float:
    """usable memory x mem_fraction_static - weights.

    SGLang's available bytes (0.5.23 kv_cache_configurator.py `_profile_available_bytes`, 0.5.10
    `profile_max_num_token`): free after loading - free before loading x (1 - fraction), i.e. the
    static budget (weights + KV pool) is `fraction` of the GPU. Negative: the weights do not fit.
    """
    return gpu.usable_memory_gib * GIB * mem_fraction_static - weights_bytes


@dataclass(frozen=True)
class KvLayout:
    """What decides SGLang's KV bytes per token for one deployment."""

    version: str
    kv_cache_dtype: str
    sparse_prefill_backend: str | None
    sparse_decode_backend: str | None
    draft_layers: int  # EAGLE/MTP draft layers whose KV lives in the same pool (0 without)
    dcp_size: int = 1
    attn_tp_size: int = 1  # attention TP: tp, or tp / dp with DP attention
    pipeline_stages: int = 1  # cluster.parallelism: pipeline: one stage per node

    def on_stage(self, layers: int) -> int:
        """Of `layers`, those one GPU holds: all, or its pipeline stage's. SGLang sizes each
        stage's pool from its own layers (0.5.23 pool_configurator.py `num_effective_layers`);
        the largest stage, ceil(layers / stages), is taken: an estimate of SGLang's split."""
        return -(-layers // self.pipeline_stages)


def mla_dim(model: ModelSpec, layout: KvLayout) -> int:
    """Elements per token per layer of the MLA latent cache, as SGLang sizes the pool.

    0.5.23 kv_cache_configurator.py `calculate_mla_kv_cache_dim`: kv_lora_rank + qk_rope_head_dim
    (576) for MLA without DSA (Kimi K2.x), and for DSA when either backend is trtllm (the raw
    layout) or both are tilelang; otherwise FP8 E4M3 packs 512 FP8 + a float32 scale per 128 +
    the RoPE part in BF16 = 656. 0.5.10's `get_cell_size_per_token` always sizes with 576.
    """
    raw = model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
    if model.sparse_attention != "dsa" or version_tuple(layout.version) < (0, 5, 13):
        return raw
    backends = (layout.sparse_prefill_backend, layout.sparse_decode_backend)
    if "trtllm" in backends or backends == ("tilelang", "tilelang"):
        return raw
    if layout.kv_cache_dtype == "fp8_e4m3":
        rank = model.mla.kv_lora_rank
        return rank + rank // QUANT_BLOCK * SCALE_BYTES + model.mla.qk_rope_head_dim * 2
    return raw


def mla_bytes_per_token_layer(model: ModelSpec, layout: KvLayout) -> int:
    """mla_dim x dtype bytes: BF16 576 x 2 = 1,152; FP8 (trtllm) 576; FP8 packed 656 x 1."""
    if model.mla is None:
        return 0
    return mla_dim(model, layout) * KV_DTYPE_BYTES[layout.kv_cache_dtype]


def indexer_bytes_per_token_layer(model: ModelSpec) -> int:
    """The DSA indexer key: index_head_dim FP8 bytes + a float32 scale per 128 = 132 B.

    0.5.23 pool_configurator.py `_compute_dsa_indexer_cell_size` (uint8 `index_k_with_scale_buffer`,
    index_kpool 1 for GLM-5.x); 0.5.10 `get_cell_size_per_token`. Whatever the KV dtype.
    """
    if model.dsa_indexer is None:
        return 0
    dim = model.dsa_indexer.index_head_dim
    return dim + dim // QUANT_BLOCK * SCALE_BYTES


def kv_heads_per_rank(model: ModelSpec, layout: KvLayout) -> int:
    """GQA KV heads one attention rank holds: max(1, kv_heads // (attn_tp / dcp)).

    0.5.23 configs/model_config.py `ModelConfig.get_num_kv_heads`: with fewer KV heads than
    attention-TP ranks each rank keeps one, i.e. the heads are replicated.
    """
    return max(1, model.gqa.num_kv_heads // (layout.attn_tp_size // layout.dcp_size))


def gqa_bytes_per_token_layer(model: ModelSpec, layout: KvLayout) -> int:
    """K and V of the rank's KV heads: heads x (head_dim + v_head_dim) x dtype bytes."""
    if model.gqa is None:
        return 0
    g = model.gqa
    return kv_heads_per_rank(model, layout) * (g.head_dim + g.v_head_dim) * _dtype(layout)


def _dtype(layout: KvLayout) -> int:
    return KV_DTYPE_BYTES[layout.kv_cache_dtype]


def kv_bytes_per_token(model: ModelSpec, layout: KvLayout) -> int:
    """SGLang's cell size per attention design (0.5.23 pool_configurator.py
    `DefaultPoolConfigurator.__init__` and `_compute_cell_size`).

    MLA (+ DSA): layers x latent + the DSA indexer on the layers whose indexer is not shared
    (`_compute_dsa_indexer_cell_size` counts `not dsa_layer_skips_topk`), x dcp_size. With
    EAGLE/MTP counted in the pool, the draft layers' KV (int(target KV x draft / target layers))
    and, for DSA, their indexer on every draft layer (`allocate_all_layers`), both x dcp_size.
    MLA is not sharded by TP: every rank holds it all.
    GQA and hybrid linear attention: heads per rank x (head_dim + v_head_dim) x dtype x the
    layers holding KV (the full-attention ones only for hybrid models:
    `mambaish.full_attention_layer_ids`), plus int(that x draft / layers) for the draft.
    GLM-5.1 BF16: 78 x (1,152 + 132) = 100,152; with the MTP draft 79 x 1,284 = 101,436.
    GLM-5.2 BF16 with MTP: 78 x 1,152 + 21 x 132 + 1,152 + 132 = 93,912.
    0.5.10 sizes the target MLA/DSA layers only (its draft pool comes out of non-static memory).
    """
    dcp = layout.dcp_size
    if model.attention in ("gqa", "hybrid_gdn"):
        # GQA without a draft is heads x (head_dim + v_head_dim) x layers x dtype in every
        # version read (0.5.10 model_runner_kv_cache_mixin.py `get_cell_size_per_token`, 0.5.17
        # pool_configurator.py `_compute_cell_size`, their last branch); the draft's share and
        # the hybrid state pool are checked against 0.5.23's code only.
        plain_gqa = model.attention == "gqa" and not layout.draft_layers
        if not plain_gqa and version_tuple(layout.version) < version_tuple(DRAFT_IN_POOL_SINCE):
            raise Unmodelled(
                f"{model.id}: the memory model covers {model.attention} for SGLang "
                f"{DRAFT_IN_POOL_SINCE} only (found {layout.version})"
            )
        layers = layout.on_stage(model.attention_layers)
        cell = gqa_bytes_per_token_layer(model, layout) * layers
        if layout.draft_layers:
            cell += int(cell * layout.draft_layers / layers)
        return cell
    layers = layout.on_stage(model.num_layers)
    mla = mla_bytes_per_token_layer(model, layout) * layers
    indexer = indexer_bytes_per_token_layer(model)
    indexer_layers = layout.on_stage(model.dsa_indexer.cache_layers) if model.dsa_indexer else 0
    if version_tuple(layout.version) < version_tuple(DRAFT_IN_POOL_SINCE):
        if indexer_layers != layers:
            raise Unmodelled(
                f"{model.id}: shared DSA indexers (indexer_types) are modelled for SGLang "
                f"{DRAFT_IN_POOL_SINCE} only (found {layout.version})"
            )
        return mla + indexer * layers
    cell = mla + indexer * indexer_layers * dcp
    if layout.draft_layers:
        draft_kv = int(mla * layout.draft_layers / layers)
        cell += draft_kv * dcp + indexer * layout.draft_layers * dcp
    return cell


# --- Hybrid linear attention: the recurrent-state pool ------------------------------------------

# SGLang 0.5.23 defaults for the state pool (arg_groups/fields/schedule.py `mamba_full_memory_ratio`
# fallback 0.9; mem_cache/kv_cache_configurator.py MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO 3,
# plus 2 tracking slots with the `extra_buffer` strategy and the overlap scheduler:
# mem_cache/allocation_sizing.py `get_mamba_tracking_slots`). The strategy `auto` resolves to
# extra_buffer for Qwen3.5 (arg_groups/overrides.py `_mamba_radix_cache_resolution`,
# `_MAMBA_EXTRA_BUFFER_ARCHS`, triton linear-attention backend).
MAMBA_FULL_MEMORY_RATIO = 0.9
MAMBA_BASE_RATIO = 3
MAMBA_EXTRA_BUFFER_SLOTS = 2
STATE_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
CONV_STATE_BYTES = 2  # SGLANG_MAMBA_CONV_DTYPE unset: bfloat16 (configs/mamba_utils.py)
# A multimodal model's KV budget loses SGLANG_VLM_CACHE_SIZE_MB (100 MB by default) for the
# embedding cache (kv_cache_configurator.py `mm_runtime_reservation_gb`; no feature transport).
VLM_CACHE_MB = 100


@dataclass(frozen=True)
class StateLayout:
    """What sizes the recurrent-state pool of a hybrid linear-attention model."""

    bytes_per_request: int  # conv + temporal state of every linear layer, on one rank
    memory_ratio: float  # mamba_full_memory_ratio: state budget / KV budget
    slots_per_request: int  # state slots one running request takes (the mamba "ratio")
    speculative_draft_tokens: int  # 0 without speculative decoding
    max_running_requests: int  # per attention-DP worker
    radix_cache: bool = True  # off: one state slot per running request, no ratio-based budget


def state_bytes_per_request(model: ModelSpec, attn_tp_size: int) -> int:
    """One request's recurrent state on one rank, over every linear-attention layer.

    0.5.23 configs/qwen3_next.py `mamba2_cache_params` and configs/mamba_utils.py
    `Mamba2StateShape.create` / `mamba_cache_per_req`: conv state (conv_dim / tp) x (kernel - 1)
    in BF16, with conv_dim = value heads x value dim + 2 x key heads x key dim; temporal state
    (value heads / tp) x value dim x key dim in the SSM dtype (float32 by default).
    Qwen3.5-397B on TP 8: (1,536 x 3 x 2 + 8 x 128 x 128 x 4) x 45 = 24,007,680 B.
    """
    la = model.linear
    if la.num_key_heads % attn_tp_size or la.num_value_heads % attn_tp_size:
        raise Unmodelled(
            f"{model.id}: {la.num_key_heads} key / {la.num_value_heads} value linear-attention "
            f"heads do not split evenly over attention TP {attn_tp_size}; SGLang then widens the "
            "conv shards (`extra_groups_for_head_shards`), which the memory model does not cover"
        )
    conv_dim = la.num_value_heads * la.value_head_dim + 2 * la.num_key_heads * la.key_head_dim
    conv = conv_dim // attn_tp_size * (la.conv_kernel - 1) * CONV_STATE_BYTES
    temporal = (
        (la.num_value_heads // attn_tp_size)
        * la.value_head_dim
        * la.key_head_dim
        * STATE_DTYPE_BYTES[la.ssm_dtype]
    )
    return (conv + temporal) * la.layers


@dataclass(frozen=True)
class StatePool:
    slots: int  # max_mamba_cache_size: requests' states the pool holds
    bytes: float  # (slots + 1) x per request (the +1 is the pool's padding slot)
    speculative_bytes: float  # the per-draft-token intermediate states EAGLE/MTP verification needs
    max_running_requests: int  # what the state pool lets SGLang run at once


def state_pool(rest_bytes: float, state: StateLayout) -> StatePool:
    """The state pool carved out of the static budget before the KV pool is sized.

    0.5.23 mem_cache/kv_cache_configurator.py `_handle_max_mamba_cache` (ratio-based branch):
    budget = rest x ratio / (1 + ratio); with speculative decoding the slots K solve
    K = (budget - s x (1 + D)) // (s x (1 + D / r)) and the intermediate states
    s x (min(max_running, K // r) + 1) x D are reserved too; the pool takes (K + 1) x s.
    `resolve_max_num_reqs` then caps running requests at K // r. With the radix cache off the
    pool is max_running_requests slots instead (the `disable_radix_cache` branch), plus the same
    intermediate states for each.
    """
    per = state.bytes_per_request
    drafts, ratio = state.speculative_draft_tokens, state.slots_per_request
    if not state.radix_cache:
        slots = state.max_running_requests
        return StatePool(
            slots=slots,
            bytes=(slots + 1) * per,
            speculative_bytes=per * (slots + 1) * drafts,
            max_running_requests=slots,
        )
    budget = rest_bytes / GIB * state.memory_ratio / (1 + state.memory_ratio) * GIB
    if drafts:
        slots = int((budget - per * (1 + drafts)) // (per * (1 + drafts / ratio)))
        capped = min(max(1, state.max_running_requests), slots // ratio)
        speculative = per * (capped + 1) * drafts
    else:
        slots, speculative = int((budget - per) // per), 0
    slots = max(slots, 0)
    return StatePool(
        slots=slots,
        bytes=(slots + 1) * per,
        speculative_bytes=speculative,
        max_running_requests=slots // ratio,
    )


def _extra_value(d: Deployment, *names: str) -> str | None:
    """The value of one of `names` in sglang.extra_args (`--x v` or `--x=v`); None when unset."""
    args = list(d.sglang.extra_args)
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


# Settings of the state pool the arithmetic above does not follow: refused, not guessed.
_STATE_FLAGS_UNMODELLED = (
    "--max-mamba-cache-size",
    "--mamba-radix-cache-strategy",
    "--mamba-scheduler-strategy",
    "--mamba-ssm-dtype",
    "--enable-linear-replayssm-spec",
)


def state_layout(d: Deployment, model: ModelSpec, layout: KvLayout) -> StateLayout | None:
    """The profile's state-pool settings, None for a model without linear attention."""
    if model.linear is None:
        return None
    s = d.sglang
    for flag in _STATE_FLAGS_UNMODELLED:
        if _extra_value(d, flag) is not None or flag in s.extra_args:
            raise Unmodelled(
                f"sglang.extra_args sets {flag}: the memory model follows SGLang's default "
                "state pool only; remove it or size this profile by measurement"
            )
    ratio_text = _extra_value(d, "--mamba-full-memory-ratio")
    try:
        ratio = float(ratio_text) if ratio_text is not None else MAMBA_FULL_MEMORY_RATIO
    except ValueError:
        ratio = MAMBA_FULL_MEMORY_RATIO
    if "--disable-radix-cache" in s.extra_args:
        slots = 1
    elif "--disable-overlap-schedule" in s.extra_args:
        slots = MAMBA_BASE_RATIO + 1  # extra_buffer without overlap: one tracking slot
    else:
        slots = MAMBA_BASE_RATIO + MAMBA_EXTRA_BUFFER_SLOTS
    dp = s.attention_dp_size
    return StateLayout(
        bytes_per_request=state_bytes_per_request(model, layout.attn_tp_size),
        memory_ratio=ratio,
        slots_per_request=slots,
        speculative_draft_tokens=s.speculative.num_draft_tokens if s.speculative.enabled else 0,
        max_running_requests=max(1, s.max_running_requests // dp),
        radix_cache="--disable-radix-cache" not in s.extra_args,
    )


def kv_pool_tokens(pool_bytes: float, bytes_per_token: int) -> int:
    """floor(pool / bytes per token), down to whole 64-token pages; 0 if no pool.

    0.5.23 pool_configurator.py `DefaultPoolConfigurator.calculate_pool_sizes`.
    """
    if pool_bytes <= 0:
        return 0
    return int(pool_bytes // bytes_per_token) // KV_PAGE_TOKENS * KV_PAGE_TOKENS


def mem_fraction_needed(
    gpu: GpuSpec, weights_bytes: float, tokens: int, bytes_per_token: int, fixed: float = 0
):
    """The mem_fraction_static at which `tokens` fit: (weights + fixed + tokens x bytes) / usable."""
    return (weights_bytes + fixed + tokens * bytes_per_token) / (gpu.usable_memory_gib * GIB)


def _dcp_size(d: Deployment) -> int:
    """--dcp-size (alias --decode-context-parallel-size) from extra_args; 1 when unset."""
    value = _extra_value(d, "--dcp-size", "--decode-context-parallel-size")
    return int(value) if value is not None and value.isdigit() else 1


def kv_layout(d: Deployment, model: ModelSpec) -> KvLayout:
    """The profile's KV settings with what it leaves unset resolved as SGLang would."""
    s = d.sglang
    gpu = catalog.gpu(d.gpu.type)
    dtype = effective(s.version, "kv_cache_dtype", s.kv_cache_dtype, model, gpu, s)
    return KvLayout(
        version=s.version,
        kv_cache_dtype=dtype,
        sparse_prefill_backend=effective(
            s.version, "sparse_prefill_backend", s.attention.sparse_prefill_backend, model, gpu, s
        ),
        sparse_decode_backend=effective(
            s.version, "sparse_decode_backend", s.attention.sparse_decode_backend, model, gpu, s
        ),
        draft_layers=model.draft_layers_in_pool if s.speculative.enabled else 0,
        dcp_size=_dcp_size(d),
        attn_tp_size=s.attention_tp_size,
        pipeline_stages=d.cluster.pipeline_parallel_size if d.cluster else 1,
    )


def context_tokens(d: Deployment, model: ModelSpec) -> int:
    """sglang.context_length, or the model's window when the profile leaves it unset."""
    return d.sglang.context_length or model.max_position_embeddings


@dataclass(frozen=True)
class Capacity:
    layout: KvLayout
    checkpoint: Checkpoint
    attention: str  # the attention design (catalog/architecture.py DESIGNS)
    architecture_source: str  # the config.json the architecture was read from
    usable_gib_per_gpu: float
    weights_bytes_per_gpu: float
    static_bytes_per_gpu: float  # usable x mem_fraction_static - weights: the KV (+ state) budget
    reserved_bytes_per_gpu: float  # taken out before the KV pool (multimodal cache, state pool)
    state: StatePool | None  # hybrid linear attention's recurrent-state pool, else None
    kv_pool_bytes_per_gpu: float
    mla_bytes_per_token_layer: int
    indexer_bytes_per_token_layer: int
    gqa_bytes_per_token_layer: int
    kv_layers: int  # target layers whose KV the pool holds per token
    kv_bytes_per_token: int
    kv_pool_tokens: int
    context_tokens: int
    max_full_context_sequences: int
    running_tokens_needed: int
    mem_fraction_needed: float

    @property
    def kv_cache_dtype(self) -> str:
        return self.layout.kv_cache_dtype

    @property
    def running_requests_fit(self) -> bool:
        return self.running_tokens_needed <= self.kv_pool_tokens


def capacity(d: Deployment) -> Capacity | None:
    """The memory figures of one replica; None when the model is not in the catalog or its
    design or settings are not modelled (`refusal` says why)."""
    try:
        return _capacity(d)
    except Unmodelled:
        return None


def refusal(d: Deployment) -> Unmodelled | None:
    """Why the profile cannot be sized (an attention design or a setting the memory model does
    not cover), or None."""
    try:
        _capacity(d)
    except Unmodelled as exc:
        return exc
    return None


def _capacity(d: Deployment) -> Capacity | None:
    model = model_spec(d)
    if model is None:
        return None
    gpu = catalog.gpu(d.gpu.type)
    layout = kv_layout(d, model)
    ckpt = checkpoint(d, model)
    if layout.pipeline_stages > 1 and model.attention == "hybrid_gdn":
        raise Unmodelled(
            f"{model.id}: a hybrid model's state pool under pipeline stages is not modelled "
            "(each stage holds its own linear-attention layers' state)"
        )
    if layout.pipeline_stages > 1:  # TP x PP ranks split it
        weights = weights_bytes_per_gpu(
            ckpt.bytes, d.sglang.tensor_parallel_size * layout.pipeline_stages
        )
    else:  # what the layout replicates (DP attention, dense TP) counts once per copy
        weights = weight_shares(model, ckpt.bytes).per_gpu(layout_of(d))
    static = kv_pool_bytes_per_gpu(gpu, d.sglang.mem_fraction_static, weights)
    reserved = VLM_CACHE_MB / 1024 * GIB if model.multimodal else 0.0
    state = None
    state_settings = state_layout(d, model, layout)
    if state_settings is not None and static - reserved > 0:
        state = state_pool(static - reserved, state_settings)
        reserved += state.bytes + state.speculative_bytes
    pool = static - reserved
    per_token = kv_bytes_per_token(model, layout)
    tokens = kv_pool_tokens(pool, per_token)
    context = context_tokens(d, model)
    # Under DP attention each DP group holds its own pool and 1 / DP of the running requests
    # (0.5.23 scheduler: max_running_requests // attn_dp_size).
    needed = max(1, d.sglang.max_running_requests // d.sglang.attention_dp_size) * context
    # With a state pool the KV pool is only 1 / (1 + ratio) of what the state leaves: holding
    # `needed` tokens takes that many KV bytes x (1 + ratio) of budget, plus the fixed parts.
    fixed = reserved
    if state is not None:
        fixed = reserved - state.bytes + needed * per_token * state_settings.memory_ratio
    return Capacity(
        layout=layout,
        checkpoint=ckpt,
        attention=model.attention,
        architecture_source=model.architecture_source,
        usable_gib_per_gpu=gpu.usable_memory_gib,
        weights_bytes_per_gpu=weights,
        static_bytes_per_gpu=static,
        reserved_bytes_per_gpu=reserved,
        state=state,
        kv_pool_bytes_per_gpu=pool,
        mla_bytes_per_token_layer=mla_bytes_per_token_layer(model, layout),
        indexer_bytes_per_token_layer=indexer_bytes_per_token_layer(model),
        gqa_bytes_per_token_layer=gqa_bytes_per_token_layer(model, layout),
        kv_layers=layout.on_stage(model.attention_layers),
        kv_bytes_per_token=per_token,
        kv_pool_tokens=tokens,
        context_tokens=context,
        max_full_context_sequences=tokens // context,
        running_tokens_needed=needed,
        mem_fraction_needed=mem_fraction_needed(gpu, weights, needed, per_token, fixed),
    )


def running_requests_advice(d: Deployment, cap: Capacity) -> list[str]:
    """What to change when max_running_requests sequences of the full context do not fit the
    KV pool (empty when they do): the plan's advice and the rule's fix."""
    if cap.running_requests_fit:
        return []
    dp = d.sglang.attention_dp_size  # each DP-attention rank: its own pool, 1/DP of the requests
    mrr = max(1, d.sglang.max_running_requests // dp)
    fit = cap.max_full_context_sequences
    options = []
    if fit:
        options.append(f"set sglang.max_running_requests <= {fit * dp}")
    if cap.kv_pool_tokens // mrr:
        options.append(f"cap sglang.context_length <= {cap.kv_pool_tokens // mrr:,}")
    if cap.mem_fraction_needed <= SAFE_MEM_FRACTION:
        options.append(f"raise sglang.mem_fraction_static to {cap.mem_fraction_needed:.2f}")
    else:
        options.append(
            f"use more or larger GPUs (mem_fraction_static would need "
            f"{cap.mem_fraction_needed:.2f}, beyond a safe {SAFE_MEM_FRACTION})"
        )
    advice = [
        f"at full length only {fit} of {mrr} running requests fit"
        + (f" on each of the {dp} DP-attention ranks" if dp > 1 else "")
        + "; SGLang queues or retracts the rest (no crash, but latency)",
        f"to hold them all at full length: {options[0]}",
        *(f"or {option}" for option in options[1:]),
    ]
    return advice
