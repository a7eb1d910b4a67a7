"""Catalogs as data: models (with a recorded config.json each), GPUs and platform assumptions, from generator/catalog/*.yaml.

The YAML files carry the figures and, in comments, where each came from. This module only reads
them into frozen dataclasses; `capacity/memory.py` holds the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from generator.catalog.architecture import Architecture, Unmodelled, parse

__all__ = [
    "Architecture",
    "CatalogEntry",
    "ModelSpec",
    "Recipe",
    "Unmodelled",
    "entry",
    "model",
    "spec",
]

CATALOG_DIR = Path(__file__).resolve().parent
MODELS_SCHEMA = CATALOG_DIR / "models.schema.json"

# The families rules key on (rules/families.py, rules/sizing.py, capacity/decode.py,
# sglang/flags.py). An entry of another family gets none of those rules: a warning says so.
# `tiny-test` is the real-engine lane's 2-layer model (docs/real-engine.md): known, and no family
# rule applies to it by design.
FAMILIES = frozenset({"glm5", "kimi-k2", "minimax-m2", "qwen3.5", "tiny-test"})


class CatalogError(Exception):
    """A catalog file is malformed: a bug in the repository, not a user mistake."""


@dataclass(frozen=True)
class Recipe:
    """What SGLang is told about the model beyond its config: parsers, speculative decoding."""

    reasoning_parser: str | None
    tool_call_parser: str | None
    speculative: str | None  # EAGLE / NEXTN (MTP head), EAGLE3 (draft checkpoint) or None
    trust_remote_code: bool
    source: str


@dataclass(frozen=True)
class CatalogEntry:
    """One models.yaml entry: what config.json does not say, and a recorded config."""

    family: str
    config_source: str
    config: dict
    recipe: Recipe
    quantization: str
    params_total_billion: float
    params_active_billion: float
    checkpoint_gb: float
    checkpoint_source: str


@dataclass(frozen=True)
class ModelSpec(Architecture):
    """A catalog entry with the architecture read from a config.json (recorded or pinned)."""

    id: str = ""
    family: str = ""
    recipe: Recipe | None = None
    quantization: str = ""
    params_total_billion: float = 0.0
    params_active_billion: float = 0.0
    checkpoint_gb: float = 0.0
    checkpoint_source: str = ""
    architecture_source: str = ""  # where the config.json read came from


@dataclass(frozen=True)
class GpuSpec:
    type: str
    modal_gpu: str
    arch: str
    cuda_min: str  # the oldest CUDA runtime with this architecture's kernels
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


def build_entry(key: str, value: Any, where: str = "models.yaml") -> CatalogEntry:
    """A CatalogEntry from one catalog mapping (checked against models.schema.json before, where
    a user can have written it: generator/profile/models.py)."""
    where = f"{where}: {key}"
    if isinstance(value, dict) and not isinstance(value.get("config"), dict):
        raise CatalogError(f"{where}.config: expected the recorded config.json mapping")
    config = value.get("config") if isinstance(value, dict) else None
    data = {**value, "config": {}} if isinstance(value, dict) else value
    kwargs = _build(CatalogEntry, data, where)
    return CatalogEntry(**{**kwargs, "config": config})


@cache
def entries() -> dict[str, CatalogEntry]:
    """The shipped catalog alone (a profile's catalog, with the user's merged over it, is
    generator/profile/models.py `catalog_entry`)."""
    return {key: build_entry(key, value) for key, value in _read("models.yaml").items()}


def entry(model_id: str) -> CatalogEntry | None:
    return entries().get(model_id)


def spec(model_id: str, config: dict, source: str, e: CatalogEntry | None = None) -> ModelSpec:
    """The catalog entry of `model_id` (`e`, else the shipped one) with the architecture of
    `config` (`Unmodelled` if the design is not one the memory model covers)."""
    e = e if e is not None else entries()[model_id]
    arch = parse(config, f"{model_id} ({source})")
    return ModelSpec(
        **{f.name: getattr(arch, f.name) for f in fields(Architecture)},
        id=model_id,
        family=e.family,
        recipe=e.recipe,
        quantization=e.quantization,
        params_total_billion=e.params_total_billion,
        params_active_billion=e.params_active_billion,
        checkpoint_gb=e.checkpoint_gb,
        checkpoint_source=e.checkpoint_source,
        architecture_source=source,
    )


@cache
def _recorded(model_id: str) -> ModelSpec:
    e = entries()[model_id]
    return spec(
        model_id, e.config, "catalog: the recorded config.json in generator/catalog/models.yaml"
    )


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
    """The catalog entry for a Hugging Face id with its recorded config.json's architecture, or
    None when the catalog does not know it. Raises `Unmodelled` for a design it cannot size."""
    if model_id not in entries():
        return None
    return _recorded(model_id)


def gpu(gpu_type: str) -> GpuSpec:
    try:
        return gpus()[gpu_type]
    except KeyError:
        raise CatalogError(f"hardware.yaml has no entry for GPU type {gpu_type!r}") from None
