"""Ground truth for generator/capacity/memory.py: SGLang's own KV sizing code, run on a model's config.json.

Runs INSIDE a throwaway venv that has sglang (``scripts/sglang_manifest.py`` makes it;
``real_kv(version, cases)`` there drives this file). Imports only stdlib, torch, transformers and
sglang. No GPU, no download: the model config is the config.json the generator sizes (the catalog's
recorded copy or the lock's), sent on stdin.

stdin:  one request a line: JSON {"model": {"config": {...config.json...}}, "cases":
        [{kv_cache_dtype, prefill, decode, speculative, algorithm, draft_layers,
        num_draft_tokens, max_running_requests, tp, dp, attn_tp, dcp, page_size, pre_load_gib,
        post_load_gib, mem_fraction_static, disable_radix_cache, mamba_extra_buffer}]}
stdout: one answer a line: a JSON list, one per case: {"cell_size": int, "pool_tokens": int,
        "available_bytes": int, "max_mamba_cache_size": int or null}

What runs is SGLang's code; what is supplied is what it would read from a live server:
- 0.5.23: `DefaultPoolConfigurator(kvc)` (model_executor/pool_configurator.py: `_compute_cell_size`
  for MLA, DSA (`_compute_dsa_indexer_cell_size`, `dsa_layer_skips_topk` on `indexer_types`) and
  GQA (`ModelConfig.get_num_kv_heads`), the `eagle_draft_num_layers` branch), `calculate_pool_sizes`,
  `calculate_mla_kv_cache_dim` (mem_cache/kv_cache_configurator.py) and
  `KVCacheConfigurator._profile_available_bytes` with `_handle_max_mamba_cache` and
  `_calculate_mamba_ratio` for hybrid linear attention (the state pool carved out first, from the
  real `Qwen3NextConfig.mamba2_cache_params`), and `mm_runtime_reservation_gb` for multimodal
  architectures. The hf_config is SGLang's own config class for Qwen3.5 (configs/qwen3_5.py) and
  a transformers `PretrainedConfig` of the config.json's fields otherwise. The KVCacheConfigurator
  is a namespace with the fields those read; the runtime context getters (`get_parallel`,
  `get_exec`, ...) return the case's TP/DP/DCP, DSA backends and state-pool settings;
  `get_available_gpu_memory` returns the case's free memory.
- 0.5.10: `ModelRunnerKVCacheMixin.get_cell_size_per_token` and `profile_max_num_token`
  (model_executor/model_runner_kv_cache_mixin.py) on a namespace standing in for the ModelRunner.
Not covered: ServerArgs resolution (the backends, KV dtype and draft layer count are given, not
derived), the weights' real footprint and free memory (measured on a GPU), CUDA-graph and
activation memory, and the page-shard scratch (0 without KV sharding).
GPU-only packages that these modules import but the sizing code never calls (kernels, FlashInfer,
TVM FFI, torchvision, ...) are absent from the venv; an import hook gives them empty modules.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import logging
import sys
import types
import warnings
from types import SimpleNamespace as NS

# Top-level packages the venv does not install (GPU kernels and their Python bindings).
ABSENT = {"tvm_ffi", "compressed_tensors", "gguf", "sentencepiece", "torchvision"}


class _Anything:
    """Whatever an absent package's attribute is asked for: callable, subclassable, empty."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator
        return _Anything(self._name + "()")

    def __getattr__(self, name: str):
        return _Anything(f"{self._name}.{name}")

    def __mro_entries__(self, bases):
        return (object,)

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False


class _AbsentModule(types.ModuleType):
    __path__: list[str] = []
    __version__ = "0"  # libraries that read it (transformers) see too old a version to use

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Anything(f"{self.__name__}.{name}")


def _probing() -> bool:
    """Whether a library is only asking if a package exists (`importlib.util.find_spec`, as
    transformers does before reading its version): it must hear "no", not get an empty module."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "find_spec" and code.co_filename.endswith("importlib/util.py"):
            return True
        frame = frame.f_back
    return False


class _AbsentFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.absent = {n for n in ABSENT if importlib.util.find_spec(n) is None}

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] not in self.absent or _probing():
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        return _AbsentModule(spec.name)

    def exec_module(self, module):
        pass


def _version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in version("sglang").split(".")[:3])


def _text(config: dict) -> dict:
    text = config.get("text_config")
    return text if isinstance(text, dict) else config


def _hf_config(config: dict):
    """The hf_config SGLang would hold for this config.json."""
    from transformers import PretrainedConfig

    arch = config["architectures"][0]
    if arch.startswith("Qwen3_5"):
        from sglang.srt.configs.qwen3_5 import Qwen3_5MoeConfig

        return Qwen3_5MoeConfig(**config)
    fields = {k: v for k, v in _text(config).items() if k not in ("model_type", "architectures")}
    return PretrainedConfig(architectures=[arch], **fields)


def _patch_getters(values: dict) -> None:
    """Point every loaded sglang module's runtime-context getter at the case's values."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("sglang") or module is None:
            continue
        for getter, value in values.items():
            if getter in vars(module):
                setattr(module, getter, (lambda v: lambda *a, **k: v)(value))


def _case_0_5_23(model: dict, case: dict) -> dict:
    import sglang.srt.layers.cp.utils  # noqa: F401  (imported inside the sizing functions)
    import sglang.srt.mem_cache.page_interleave  # noqa: F401
    import torch
    from sglang.srt.configs import hybrid_arch
    from sglang.srt.configs.model_config import ModelConfig, is_multimodal_model
    from sglang.srt.mem_cache import kv_cache_configurator as kvc_module
    from sglang.srt.model_executor import pool_configurator
    from sglang.srt.model_executor.model_runner_components.spec_aux_hidden_state import (
        SpecAuxHiddenStateConfig,
    )
    from sglang.srt.speculative.spec_info import SpeculativeAlgorithm

    config = model["config"]
    text = _text(config)
    dtype = {"bfloat16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn}[case["kv_cache_dtype"]]
    layers = text["num_hidden_layers"]
    hf_config = _hf_config(config)
    hf_text = hf_config.get_text_config() if hasattr(hf_config, "get_text_config") else hf_config
    spec = (
        SpeculativeAlgorithm.from_string(case["algorithm"])
        if case["speculative"]
        else SpeculativeAlgorithm.NONE
    )
    aux = SpecAuxHiddenStateConfig(eagle_draft_num_layers=case["draft_layers"] or None)
    tp, attn_tp, dcp = case["tp"], case["attn_tp"], case["dcp"]
    schedule = NS(
        mem_fraction_static=case["mem_fraction_static"],
        max_total_tokens=None,
        page_size=case["page_size"],
        prefill_max_requests=None,
        max_mamba_cache_size=None,
        mamba_full_memory_ratio=case.get("mamba_full_memory_ratio", 0.9),
        disable_overlap_schedule=case.get("disable_overlap", False),
        max_running_requests=case["max_running_requests"],
    )

    def override(_name, **values):  # runtime_context's get_context().override
        for key, value in values.items():
            setattr(schedule, key, value)

    _patch_getters(
        {
            "get_parallel": NS(
                attn_tp_size=attn_tp,
                tp_size=tp,
                attn_dcp_size=dcp,
                attn_cp_size=1,
                pp_size=1,
                launch_world_size=1,
                world_group=NS(cpu_group=None),
                enable_dsa_cache_layer_split=False,
                enable_kv_cache_sharding=False,
                enable_cp_tp_group_sharing=False,
            ),
            "get_exec": NS(
                kernel=NS(dsa_prefill_backend=case["prefill"], dsa_decode_backend=case["decode"]),
                graph=NS(cuda_graph_config=NS(prefill=NS(full_prefill_max_req=None))),
                mamba=NS(
                    enable_mamba_extra_buffer=case["mamba_extra_buffer"],
                    enable_mamba_extra_buffer_lazy=False,
                    enable_linear_replayssm_spec=False,
                    enable_linear_replayssm=False,
                ),
            ),
            "get_memory": NS(
                enable_hisparse=False,
                enable_unified_cache_external_linker=False,
                enable_hierarchical_cache=False,
                enable_unified_memory=False,
                disable_radix_cache=case["disable_radix_cache"],
            ),
            "get_schedule": schedule,
            "get_disagg": NS(disaggregation_mode="null"),
            "get_spec": NS(
                enable_multi_layer_eagle=False,
                speculative_num_draft_tokens=case["num_draft_tokens"]
                if case["speculative"]
                else None,
            ),
            "get_mm": NS(mm_feature_transport=None),
            "get_context": NS(override=override),
            "get_available_gpu_memory": case["post_load_gib"],
        }
    )
    model_config = NS(
        hf_config=hf_config,
        hf_text_config=hf_text,
        kv_lora_rank=text.get("kv_lora_rank"),
        qk_rope_head_dim=text.get("qk_rope_head_dim"),
        head_dim=text.get("head_dim"),
        v_head_dim=text.get("v_head_dim") or text.get("head_dim"),
        context_len=text["max_position_embeddings"],
        num_hidden_layers=layers,
        is_multimodal=is_multimodal_model(config["architectures"]),
        is_draft_model=False,
        linear_attn_registry_result=None,
        quantization=None,
    )
    # ModelConfig's own KV-head arithmetic (replication when heads < attention TP).
    model_config.get_total_num_kv_heads = lambda: ModelConfig.get_total_num_kv_heads(model_config)
    model_config.get_num_kv_heads = lambda t, d=1: ModelConfig.get_num_kv_heads(model_config, t, d)
    mambaish = hybrid_arch.mambaish_config(model_config)
    kvc = NS(
        kv_cache_dtype=dtype,
        kv_cache_dtype_str=case["kv_cache_dtype"],
        model_dtype=torch.bfloat16,
        model_config=model_config,
        layer_info=NS(start_layer=0, end_layer=layers, num_effective_layers=layers),
        use_mla_backend="kv_lora_rank" in text,
        is_draft_worker=False,
        pp_size=1,
        attn_dp_size=case["dp"] if attn_tp != tp else 1,
        spec_algorithm=spec,
        spec_aux_config=aux,
        server_args=NS(enable_hisparse=False),
        mambaish_config=mambaish,
        hybrid_gdn_config=hybrid_arch.hybrid_gdn_config(model_config) if mambaish else None,
        hybrid_kda_config=None,
        extra_mamba_cache_bytes_per_req=0,
        kv_shard_spec=None,
        kv_shard_size=1,
        kv_shard_rank=None,
        page_size=case["page_size"],
        device="cuda",
        gpu_id=0,
        post_capture_kv_active=False,
        fused_entry_bytes=lambda kind: None,
    )
    cls = kvc_module.KVCacheConfigurator
    kvc._calculate_mamba_ratio = lambda: cls._calculate_mamba_ratio(kvc)
    kvc._handle_max_mamba_cache = lambda rest: cls._handle_max_mamba_cache(kvc, rest)
    available = cls._profile_available_bytes(kvc, case["pre_load_gib"])
    configurator = pool_configurator.DefaultPoolConfigurator(kvc)
    pool = configurator.calculate_pool_sizes(available, case["page_size"])
    return {
        "cell_size": int(configurator._cell_size),
        "pool_tokens": int(pool.max_total_num_tokens),
        "available_bytes": int(available),
        "max_mamba_cache_size": schedule.max_mamba_cache_size,
        "mamba_cache_per_req": (
            int(mambaish.mamba2_cache_params.mamba_cache_per_req) if mambaish else None
        ),
    }


def _case_0_5_10(model: dict, case: dict) -> dict:
    import torch
    from sglang.srt.model_executor import model_runner_kv_cache_mixin as mixin

    config = model["config"]
    text = _text(config)
    dtype = {"bfloat16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn}[case["kv_cache_dtype"]]
    layers = text["num_hidden_layers"]
    mixin.get_available_gpu_memory = lambda *a, **k: case["post_load_gib"]
    mixin.get_world_group = lambda: NS(world_size=1, cpu_group=None)
    runner = NS(
        kv_cache_dtype=dtype,
        use_mla_backend=True,
        model_config=NS(
            hf_config=_hf_config(config),
            kv_lora_rank=text["kv_lora_rank"],
            qk_rope_head_dim=text["qk_rope_head_dim"],
        ),
        is_draft_worker=False,
        mambaish_config=None,
        num_effective_layers=layers,
        start_layer=0,
        end_layer=layers,
        mem_fraction_static=case["mem_fraction_static"],
        device="cuda",
        gpu_id=0,
        server_args=NS(nsa_prefill_backend=case["prefill"], nsa_decode_backend=case["decode"]),
    )
    runner.get_cell_size_per_token = lambda n: (
        mixin.ModelRunnerKVCacheMixin.get_cell_size_per_token(runner, n)
    )
    cell = runner.get_cell_size_per_token(layers)
    tokens = mixin.ModelRunnerKVCacheMixin.profile_max_num_token(runner, case["pre_load_gib"])
    rest = case["post_load_gib"] - case["pre_load_gib"] * (1 - case["mem_fraction_static"])
    # init_memory_pool then rounds the token count down to whole pages.
    return {
        "cell_size": int(cell),
        "pool_tokens": int(tokens) // case["page_size"] * case["page_size"],
        "available_bytes": int(rest * (1 << 30)),
    }


def main() -> int:
    sys.meta_path.insert(0, _AbsentFinder())
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    run = _case_0_5_23 if _version() >= (0, 5, 13) else _case_0_5_10
    for line in sys.stdin:  # one request a line (sglang_manifest keeps this process for a session)
        request = json.loads(line)
        with contextlib.redirect_stdout(io.StringIO()):
            results = [run(request["model"], case) for case in request["cases"]]
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
