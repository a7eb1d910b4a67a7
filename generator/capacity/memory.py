"""The capacity model: weights, KV bytes per token and the KV pool of one replica, per GPU.

The formulas are SGLang's own, per version where they differ (each function cites the file and
function it follows; the slow test tests/test_capacity_ground_truth.py runs that code from the real
package and compares). `plan` and the sizing rules both read this module; it imports neither.
Units: GiB = 2^30 bytes (GPU memory), GB = 10^9 bytes (checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator import catalog
from generator.catalog import GpuSpec, ModelSpec
from generator.profile.committed import DataFileError, read_json
from generator.profile.deployment import Deployment
from generator.sglang.defaults import effective
from generator.sglang.versions import version_tuple

GIB = 1 << 30
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

LOCK_FILE = "checkpoints.lock.json"


# --- Checkpoint size -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    bytes: int
    source: str


def lock_path(d: Deployment) -> Path:
    """Where `pin-revision` records checkpoint sizes: beside the profile, keyed by id@commit."""
    return d.profile_path.parent / LOCK_FILE


def lock_key(model_id: str, commit: str) -> str:
    return f"{model_id}@{commit}"


LOCK_RESTORE = "restore it from git, or delete it and run `make pin-revision`"

# A lock entry comes in pull requests too: a recorded size is believed only within this factor
# of the model catalog's checkpoint size (a size of 1 byte would hide that the weights leave no
# KV pool). The Hub's sum for GLM-5.1-FP8 is within 1% of the catalog's.
LOCK_SIZE_FACTOR = 2


def read_lock(path: Path) -> dict:
    """The lock file's entries ({} when there is none); a malformed file is a located error."""
    if not path.is_file():
        return {}
    data = read_json(path, LOCK_RESTORE)
    if not isinstance(data, dict):
        raise DataFileError(f"{path.name}: expected an object of entries; {LOCK_RESTORE}")
    return data


def checkpoint(d: Deployment, model: ModelSpec) -> Checkpoint:
    """The pinned commit's size recorded by `pin-revision`, else the model catalog's."""
    catalog_bytes = int(model.checkpoint_gb * GB)
    if d.model.pinned:
        path = lock_path(d)
        entry = read_lock(path).get(lock_key(d.model.id, d.model.revision))
        size = entry.get("bytes") if isinstance(entry, dict) else None
        if size is not None:
            low = catalog_bytes / LOCK_SIZE_FACTOR
            high = catalog_bytes * LOCK_SIZE_FACTOR
            if not (isinstance(size, int) and not isinstance(size, bool) and low <= size <= high):
                raise DataFileError(
                    f"{path}: {lock_key(d.model.id, d.model.revision)}: bytes={size!r} is not a "
                    f"plausible size for {d.model.id} (the catalog says {model.checkpoint_gb:,.1f} "
                    f"GB; accepted {low / GB:,.1f}-{high / GB:,.1f} GB); {LOCK_RESTORE}"
                )
            source = entry.get("source")
            return Checkpoint(size, f"{path.name}: {source if isinstance(source, str) else 'Hub'}")
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
    pipeline_stages: int = 1  # cluster.parallelism: pipeline: one stage per node

    def stage_layers(self, model: ModelSpec) -> int:
        """Target layers whose KV one GPU holds: all of them, or its pipeline stage's.

        With pipeline stages SGLang sizes each stage's pool from its own layers
        (0.5.23 pool_configurator.py: `num_layers = kvc.layer_info.num_effective_layers`); the
        largest stage, ceil(layers / stages), is taken: an estimate of SGLang's split."""
        return -(-model.num_layers // self.pipeline_stages)


def mla_dim(model: ModelSpec, layout: KvLayout) -> int:
    """Elements per token per layer of the MLA latent cache, as SGLang sizes the pool.

    0.5.23 kv_cache_configurator.py `calculate_mla_kv_cache_dim`: kv_lora_rank + qk_rope_head_dim
    (576) when either DSA backend is trtllm (the raw layout) or both are tilelang; otherwise FP8
    E4M3 packs 512 FP8 + a float32 scale per 128 + the RoPE part in BF16 = 656. 0.5.10's
    `get_cell_size_per_token` always sizes with 576, whatever the layout.
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
    return mla_dim(model, layout) * KV_DTYPE_BYTES[layout.kv_cache_dtype]


def indexer_bytes_per_token_layer(model: ModelSpec) -> int:
    """The DSA indexer key: index_head_dim FP8 bytes + a float32 scale per 128 = 132 B.

    0.5.23 pool_configurator.py `_compute_dsa_indexer_cell_size` (uint8 `index_k_with_scale_buffer`,
    index_kpool 1 for GLM-5.1); 0.5.10 `get_cell_size_per_token`. Whatever the KV dtype.
    """
    if model.dsa_indexer is None:
        return 0
    dim = model.dsa_indexer.index_head_dim
    return dim + dim // QUANT_BLOCK * SCALE_BYTES


def kv_bytes_per_token(model: ModelSpec, layout: KvLayout) -> int:
    """SGLang's cell size: layers x MLA + layers x indexer x DCP, plus the EAGLE draft's share.

    0.5.23 pool_configurator.py `DefaultPoolConfigurator.__init__` and `_compute_cell_size`: the
    indexer term is replicated under DCP (x dcp_size); with EAGLE/MTP the draft layers' KV
    (int(target KV x draft / target layers)) and indexer are added, both x dcp_size
    (the `eagle_draft_num_layers` branch). MLA is not sharded by TP: every rank holds it all.
    GLM-5.1 BF16: 78 x (1,152 + 132) = 100,152; with the MTP draft 79 x 1,284 = 101,436.
    0.5.10 sizes the target layers only (its draft pool comes out of the non-static memory).
    """
    layers, dcp = layout.stage_layers(model), layout.dcp_size
    mla = mla_bytes_per_token_layer(model, layout) * layers
    indexer = indexer_bytes_per_token_layer(model)
    if version_tuple(layout.version) < version_tuple(DRAFT_IN_POOL_SINCE):
        return mla + indexer * layers
    cell = mla + indexer * layers * dcp
    if layout.draft_layers:
        draft_kv = int(mla * layout.draft_layers / layers)
        cell += draft_kv * dcp + indexer * layout.draft_layers * dcp
    return cell


def kv_pool_tokens(pool_bytes: float, bytes_per_token: int) -> int:
    """floor(pool / bytes per token), down to whole 64-token pages; 0 if no pool.

    0.5.23 pool_configurator.py `DefaultPoolConfigurator.calculate_pool_sizes`.
    """
    if pool_bytes <= 0:
        return 0
    return int(pool_bytes // bytes_per_token) // KV_PAGE_TOKENS * KV_PAGE_TOKENS


def mem_fraction_needed(gpu: GpuSpec, weights_bytes: float, tokens: int, bytes_per_token: int):
    """The mem_fraction_static at which `tokens` fit: (weights + tokens x bytes) / usable."""
    return (weights_bytes + tokens * bytes_per_token) / (gpu.usable_memory_gib * GIB)


def _dcp_size(d: Deployment) -> int:
    """--dcp-size (alias --decode-context-parallel-size) from extra_args; 1 when unset."""
    args = list(d.sglang.extra_args)
    for index, arg in enumerate(args):
        for name in ("--dcp-size", "--decode-context-parallel-size"):
            if arg == name and index + 1 < len(args) and args[index + 1].isdigit():
                return int(args[index + 1])
            if arg.startswith(name + "=") and arg.split("=", 1)[1].isdigit():
                return int(arg.split("=", 1)[1])
    return 1


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
        draft_layers=model.mtp_layers if s.speculative.enabled else 0,
        dcp_size=_dcp_size(d),
        pipeline_stages=d.cluster.pipeline_parallel_size if d.cluster else 1,
    )


def context_tokens(d: Deployment, model: ModelSpec) -> int:
    """sglang.context_length, or the model's window when the profile leaves it unset."""
    return d.sglang.context_length or model.max_position_embeddings


@dataclass(frozen=True)
class Capacity:
    layout: KvLayout
    checkpoint: Checkpoint
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
    def kv_cache_dtype(self) -> str:
        return self.layout.kv_cache_dtype

    @property
    def running_requests_fit(self) -> bool:
        return self.running_tokens_needed <= self.kv_pool_tokens


def capacity(d: Deployment) -> Capacity | None:
    """The memory figures of one replica; None when the model is not in the catalog."""
    model = catalog.model(d.model.id)
    if model is None:
        return None
    gpu = catalog.gpu(d.gpu.type)
    layout = kv_layout(d, model)
    ckpt = checkpoint(d, model)
    shards = d.sglang.tensor_parallel_size * layout.pipeline_stages  # TP x PP ranks split it
    weights = weights_bytes_per_gpu(ckpt.bytes, shards)
    pool = kv_pool_bytes_per_gpu(gpu, d.sglang.mem_fraction_static, weights)
    per_token = kv_bytes_per_token(model, layout)
    tokens = kv_pool_tokens(pool, per_token)
    context = context_tokens(d, model)
    needed = d.sglang.max_running_requests * context
    return Capacity(
        layout=layout,
        checkpoint=ckpt,
        usable_gib_per_gpu=gpu.usable_memory_gib,
        weights_bytes_per_gpu=weights,
        kv_pool_bytes_per_gpu=pool,
        mla_bytes_per_token_layer=mla_bytes_per_token_layer(model, layout),
        indexer_bytes_per_token_layer=indexer_bytes_per_token_layer(model),
        kv_bytes_per_token=per_token,
        kv_pool_tokens=tokens,
        context_tokens=context,
        max_full_context_sequences=tokens // context,
        running_tokens_needed=needed,
        mem_fraction_needed=mem_fraction_needed(gpu, weights, needed, per_token),
    )
