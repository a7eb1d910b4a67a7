"""Catalogs as data: model architectures, GPUs and platform assumptions, from generator/catalog/*.yaml.

The YAML files carry the figures and, in comments, where each came from. This module only reads
them into frozen dataclasses; `capacity/memory.py` holds the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

import yaml

CATALOG_DIR = Path(__file__).resolve().parent


class CatalogError(Exception):
    """A catalog file is malformed: a bug in the repository, not a user mistake."""


@dataclass(frozen=True)
class Mla:
    kv_lora_rank: int
    qk_rope_head_dim: int
    q_lora_rank: int
    qk_nope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class DsaIndexer:
    index_n_heads: int
    index_head_dim: int
    index_topk: int


@dataclass(frozen=True)
class Moe:
    routed_experts: int
    experts_per_token: int
    shared_experts: int
    moe_intermediate_size: int
    dense_intermediate_size: int


@dataclass(frozen=True)
class ModelSpec:
    id: str
    architecture: str
    sparse_attention: str | None
    num_layers: int
    dense_layers: int
    hidden_size: int
    num_attention_heads: int
    vocab_size: int
    max_position_embeddings: int
    mtp_layers: int
    mla: Mla
    dsa_indexer: DsaIndexer | None
    moe: Moe
    params_total_billion: float
    params_active_billion: float
    checkpoint_gb: float
    checkpoint_source: str

    @property
    def moe_layers(self) -> int:
        return self.num_layers - self.dense_layers


@dataclass(frozen=True)
class GpuSpec:
    type: str
    modal_gpu: str
    arch: str
    nominal_memory_gb: float
    usable_memory_gib: float
    hbm_bandwidth_tbps: float
    gpu_hour_usd: float
    price_source: str
    price_seen: str
    gpus_per_host: int
    nvidia_smi_names: tuple[str, ...]  # what `nvidia-smi --query-gpu=name` prints for it
    fallback_mem_fraction_static: (
        float | None
    )  # used when this type is a fallback; None: the profile's
    fallback_mem_fraction_source: str | None


@dataclass(frozen=True)
class ColdStartAssumptions:
    image_pull_seconds: float
    volume_read_gbps: float
    sglang_init_seconds: float
    deepgemm_cached_seconds: float
    deepgemm_jit_seconds: float
    cuda_graph_capture_seconds: float
    cuda_graph_capture_speculative_extra_seconds: float


@dataclass(frozen=True)
class DecodeAssumptions:
    measured_tpot_ms_baseline: float
    measured_tpot_ms_eagle: float
    measured_source: str
    eagle_accept_length: float


@dataclass(frozen=True)
class RegionMultiplier:
    broad: float
    narrow: float
    source: str


@dataclass(frozen=True)
class Interconnect:
    rdma_gbps: float
    private_network_gbps: float
    rdma_hop_latency_us: float
    private_network_hop_latency_us: float


@dataclass(frozen=True)
class Platform:
    hours_per_month: float
    region_multiplier: RegionMultiplier
    interconnect: Interconnect
    cold_start: ColdStartAssumptions
    decode: DecodeAssumptions


def _build(cls, data: Any, where: str):
    """A frozen dataclass from a catalog mapping; every field required, no unknown keys."""
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)} - {"id", "type"}
    missing, unknown = names - set(data), set(data) - names
    if missing or unknown:
        raise CatalogError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    kwargs = {}
    for name in names:
        value, hint = data[name], hints[name]
        nested = next((t for t in (hint, *getattr(hint, "__args__", ())) if is_dataclass(t)), None)
        if nested is not None and value is not None:
            value = nested(**_build(nested, value, f"{where}.{name}"))
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return kwargs


def _read(name: str) -> dict[str, Any]:
    path = CATALOG_DIR / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping")
    return data


@cache
def models() -> dict[str, ModelSpec]:
    return {
        key: ModelSpec(id=key, **_build(ModelSpec, value, f"models.yaml: {key}"))
        for key, value in _read("models.yaml").items()
    }


@cache
def gpus() -> dict[str, GpuSpec]:
    return {
        key: GpuSpec(type=key, **_build(GpuSpec, value, f"hardware.yaml: {key}"))
        for key, value in _read("hardware.yaml").items()
    }


@cache
def platform() -> Platform:
    kwargs = _build(Platform, _read("platform.yaml"), "platform.yaml")
    return Platform(**kwargs)


def model(model_id: str) -> ModelSpec | None:
    """The catalog entry for a Hugging Face id, or None when the catalog does not know it."""
    return models().get(model_id)


def gpu(gpu_type: str) -> GpuSpec:
    try:
        return gpus()[gpu_type]
    except KeyError:
        raise CatalogError(f"hardware.yaml has no entry for GPU type {gpu_type!r}") from None
