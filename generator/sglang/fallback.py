"""Fallback GPU types: one deployment per GPU type Modal may start, each with its own flag set.

The profile's intent (KV dtype, speculative decoding, parsers, limits) is one setting. What is
locked to a GPU architecture is resolved per type: on a fallback whose architecture differs from
the primary's, the sparse-attention backends, the MoE runner and all-reduce fusion are what the
pinned SGLang picks by itself on that architecture (manifests/sglang-<version>-defaults.yaml,
read from its source), written out; the memory fraction is the hardware catalog's for that type.
A `gpu.fallback` entry overrides any of them for its type.

`flag_sets` is what the app holds per type: the resolved deployment, what nvidia-smi calls the
GPU (so the container can pick its set) and each flag with its note.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from generator import catalog
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment, Fallback, Gpu
from generator.sglang.defaults import UNSET, choice, effective
from generator.sglang.flags import flag_notes


@dataclass(frozen=True)
class NotedFlag:
    argv: tuple[str, ...]
    note: str  # why, and whether it overrides the pinned SGLang's own choice


@dataclass(frozen=True)
class GpuFlagSet:
    """One GPU type's SGLang launch, as the rendered app holds it."""

    deployment: Deployment  # gpu and sglang resolved for this type
    nvidia_smi_names: tuple[str, ...]
    flags: tuple[NotedFlag, ...]

    @property
    def modal_spec(self) -> str:
        return self.deployment.gpu.modal_spec

    @property
    def cache_dir(self) -> str:
        return self.deployment.compile_cache_dir

    @property
    def argv(self) -> list[str]:
        return [arg for flag in self.flags for arg in flag.argv]


def flag_sets(d: Deployment) -> tuple[GpuFlagSet, ...]:
    """Each GPU type's flag set in the order Modal tries the types, the primary first."""
    return tuple(
        GpuFlagSet(
            v,
            tuple(catalog.gpu(v.gpu.type).nvidia_smi_names),
            tuple(NotedFlag(tuple(f.argv), note) for f, note in flag_notes(v)),
        )
        for v in variants(d)
    )


def variants(d: Deployment) -> list[Deployment]:
    """The deployment on each GPU type in the order Modal tries them, the primary first."""
    return [on_primary(d), *(on_fallback(d, f) for f in d.gpu.fallback)]


def on_primary(d: Deployment) -> Deployment:
    return dataclasses.replace(d, gpu=Gpu(d.gpu.type, d.gpu.count))


def _own(d: Deployment, field: str, gpu: catalog.GpuSpec, unset=UNSET) -> object:
    """What SGLang picks by itself for `field` on this GPU (None: leave it to SGLang)."""
    model = known_model(d)
    if model is None:
        return None
    s = d.sglang
    kv = effective(s.version, "kv_cache_dtype", s.kv_cache_dtype, model, gpu, s)
    picked = choice(s.version, field, model, gpu, kv, s.tensor_parallel_size)
    value = picked.value if picked else None
    return None if value in unset else value


def on_fallback(d: Deployment, fallback: Fallback) -> Deployment:
    s = d.sglang
    gpu = catalog.gpu(fallback.type)
    attention, moe, fusion = s.attention, s.moe_runner_backend, s.enable_flashinfer_allreduce_fusion
    if gpu.arch != catalog.gpu(d.gpu.type).arch:
        attention = dataclasses.replace(
            attention,
            sparse_prefill_backend=_own(d, "sparse_prefill_backend", gpu),
            sparse_decode_backend=_own(d, "sparse_decode_backend", gpu),
        )
        moe = _own(d, "moe_runner_backend", gpu)
        # SGLang's own choice is the backend it sets ("auto"), or off: "auto" is on here.
        fusion = bool(_own(d, "enable_flashinfer_allreduce_fusion", gpu, unset=(None,)))
    attention = dataclasses.replace(
        attention,
        backend=fallback.attention_backend or attention.backend,
        sparse_prefill_backend=fallback.sparse_prefill_backend or attention.sparse_prefill_backend,
        sparse_decode_backend=fallback.sparse_decode_backend or attention.sparse_decode_backend,
    )
    sglang = dataclasses.replace(
        s,
        attention=attention,
        moe_runner_backend=fallback.moe_runner_backend or moe,
        enable_flashinfer_allreduce_fusion=fusion
        if fallback.enable_flashinfer_allreduce_fusion is None
        else fallback.enable_flashinfer_allreduce_fusion,
        mem_fraction_static=fallback.mem_fraction_static
        or gpu.fallback_mem_fraction_static
        or s.mem_fraction_static,
        max_running_requests=fallback.max_running_requests or s.max_running_requests,
    )
    return dataclasses.replace(d, gpu=Gpu(fallback.type, d.gpu.count), sglang=sglang)
