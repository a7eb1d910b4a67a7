"""Ground truth for generator/capacity/layout.py: SGLang's own weight creation for one rank.

Runs INSIDE the 0.5.23 throwaway venv (``scripts/sglang_manifest.py`` ``real_weights`` drives
it). No GPU, no download: every tensor is created on torch's meta device from the config.json the
generator sizes (sent on stdin), with the rank's TP / EP / attention-TP sizes set through SGLang's
runtime-context getters (`get_parallel`, ...), as a live server's parallel state would give them.

stdin:  one request a line: JSON {"cases": [{"config": {...}, "tp", "ep", "attn_tp", "dense_tp",
        "moe_runner"}]}
stdout: one answer a line: a JSON list, one per case: {"error": str or null, "failed_at": str or null, and one
        rank's bytes of: "routed_experts", "shared", "attention", "indexer", "router" (one layer
        each), "dense" (one dense layer), "embedding", "lm_head"}

What runs is SGLang's code:
- routed experts: `FusedMoE.__init__` (layers/moe/fused_moe_triton/layer.py: local experts
  :414, intermediate per partition :427, the flashinfer_trtllm padding :514) and the quantisation
  method's `create_weights` (`Fp8MoEMethod`, fp8.py:1588/:1596; compressed-tensors WNA16 for INT4)
  from the real `Fp8Config` / `CompressedTensorsConfig` of `quantization_config`. The layer's
  construction stops right after `create_weights` (runner and dispatcher need a GPU).
- linears: `ColumnParallelLinear`, `MergedColumnParallelLinear`, `QKVParallelLinear`,
  `RowParallelLinear`, `ReplicatedLinear` (layers/linear.py) with the real FP8 linear method
  (`validate_block_quant_shapes`, fp8.py:580-610), on the TP or attention-TP group.
Which linears a layer holds (MLA: q_b/kv_b/o; GQA: qkv/o; dense MLP: gate_up/down) is this
script's reading of the model files (models/deepseek_v2.py, minimax_m2.py), not SGLang's model
class: building the whole model needs the attention backends and a GPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
import warnings
from types import SimpleNamespace as NS

from real_sglang_kv import _AbsentFinder, _patch_getters

# Absent here on top of real_sglang_kv's: GPU kernels and serving-only packages the layer modules
# import but weight creation never calls.
_EXTRA_ABSENT = {
    "sgl_kernel",
    "flashinfer",
    "triton_kernels",
    "deep_gemm",
    "deep_ep",
    "cutlass",
    "partial_json_parser",
    "tiktoken",
    "blobfile",
    "setproctitle",
    "uvloop",
    "fastapi",
    "uvicorn",
    "prometheus_client",
    "interegular",
    "nvtx",
    "cuda",
    "pynvml",
    "nixl",
    "mooncake",
    "mori",
    "aiter",
    "kt_kernel",
    "quack",
    "flash_attn",
    "tilelang",
}


class _Unset(NS):
    """A runtime-context record: the fields a case sets, None (unset, off) for any other."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


class _Created(Exception):
    """Raised right after the MoE quant method created the weights: the rest needs a GPU."""


def _text(config: dict) -> dict:
    text = config.get("text_config")
    return text if isinstance(text, dict) else config


def _bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def _quant_config(config: dict):
    qc = config.get("quantization_config") or _text(config).get("quantization_config")
    if not qc:
        return None
    if qc["quant_method"] == "fp8":
        from sglang.srt.layers.quantization.fp8 import Fp8Config

        return Fp8Config.from_config(qc)
    from sglang.srt.layers.quantization.compressed_tensors.compressed_tensors import (
        CompressedTensorsConfig,
    )

    full = {"format": "pack-quantized", "ignore": [], "quant_method": "compressed-tensors", **qc}
    full["ignore"] = list(full["ignore"])
    groups = full["config_groups"]
    for group in groups.values():
        group.setdefault("targets", ["Linear"])
        group["weights"].setdefault("actorder", None)
        group["weights"].setdefault("observer", "minmax")
        group["weights"].setdefault("dynamic", False)
        group.setdefault("input_activations", None)
    return CompressedTensorsConfig.from_config(full)


def _moe(case: dict, quant, text: dict):
    import torch
    from sglang.srt.layers.moe.fused_moe_triton import layer as moe_layer
    from sglang.srt.layers.moe.utils import MoeA2ABackend, MoeRunnerBackend

    runner = MoeRunnerBackend(case.get("moe_runner") or "auto")
    moe_layer.get_moe_runner_backend = lambda: runner
    moe_layer.get_moe_a2a_backend = lambda: MoeA2ABackend(case.get("a2a") or "none")
    experts = text.get("n_routed_experts") or text.get("num_experts") or text["num_local_experts"]
    inter = text.get("moe_intermediate_size") or text["intermediate_size"]
    holder = {}

    def stop_after(method):
        create = method.create_weights

        def created(*args, **kwargs):
            create(*args, **kwargs)
            holder["layer"] = kwargs["layer"]
            raise _Created

        method.create_weights = created
        return method

    from sglang.srt.layers.moe.fused_moe_triton.layer import UnquantizedFusedMoEMethod

    if quant is not None:
        get_method = quant.get_quant_method
        quant.get_quant_method = lambda layer, prefix: stop_after(get_method(layer, prefix))

    class _StopUnquantized(UnquantizedFusedMoEMethod):
        def create_weights(self, *args, **kwargs):
            super().create_weights(*args, **kwargs)
            holder["layer"] = kwargs["layer"]
            raise _Created

    unquantized = moe_layer.UnquantizedFusedMoEMethod
    moe_layer.UnquantizedFusedMoEMethod = _StopUnquantized
    try:
        with torch.device("meta"):
            moe_layer.FusedMoE(
                num_experts=experts,
                hidden_size=text["hidden_size"],
                intermediate_size=inter,
                layer_id=3,
                top_k=text["num_experts_per_tok"],
                params_dtype=torch.bfloat16,
                quant_config=quant,
                prefix="model.layers.3.mlp.experts",
            )
    except _Created:
        pass
    finally:
        moe_layer.UnquantizedFusedMoEMethod = unquantized
        if quant is not None:
            quant.get_quant_method = get_method
    if "layer" not in holder:
        raise RuntimeError("FusedMoE finished without creating weights through the quant method")
    return _bytes(holder["layer"])


def _mlp(h: int, inter: int, quant, group, prefix: str) -> list:
    """A gated MLP: merged gate/up (column parallel) and down (row parallel)."""
    from sglang.srt.layers import linear

    return [
        linear.MergedColumnParallelLinear(
            h,
            [inter, inter],
            bias=False,
            quant_config=quant,
            parallel_group=group,
            prefix=f"{prefix}.gate_up_proj",
        ),
        linear.RowParallelLinear(
            inter,
            h,
            bias=False,
            quant_config=quant,
            parallel_group=group,
            prefix=f"{prefix}.down_proj",
        ),
    ]


def _linears(case: dict, quant, text: dict) -> dict:
    """One rank's bytes of one layer's attention, the dense MLP, the shared experts, the router,
    the DSA indexer, and the vocabulary (embedding + lm_head), from SGLang's layer classes."""
    import torch
    from sglang.srt.layers import linear
    from sglang.srt.layers.vocab_parallel_embedding import ParallelLMHead, VocabParallelEmbedding

    h = text["hidden_size"]
    heads = text["num_attention_heads"]
    dp_attention = case["attn_tp"] != case["tp"]
    dense_group = None if case["dense_tp"] == case["tp"] else "replicated"
    if dense_group == "replicated" and case["dense_tp"] != 1:
        raise RuntimeError("a dense TP other than 1 or TP is not built here")
    out = {}
    with torch.device("meta"):
        if "kv_lora_rank" in text:
            nope, rope, v = text["qk_nope_head_dim"], text["qk_rope_head_dim"], text["v_head_dim"]
            q_lora, kv_lora = text.get("q_lora_rank") or 0, text["kv_lora_rank"]
            p = "model.layers.3.self_attn"
            mods = [
                linear.ReplicatedLinear(
                    h,
                    q_lora + kv_lora + rope,
                    bias=False,
                    quant_config=quant,
                    prefix=f"{p}.fused_qkv_a_proj_with_mqa",
                ),
                linear.ColumnParallelLinear(
                    q_lora,
                    heads * (nope + rope),
                    bias=False,
                    quant_config=quant,
                    parallel_group="attn_tp",
                    prefix=f"{p}.q_b_proj",
                ),
                linear.ColumnParallelLinear(
                    kv_lora,
                    heads * (nope + v),
                    bias=False,
                    quant_config=quant,
                    parallel_group="attn_tp",
                    prefix=f"{p}.kv_b_proj",
                ),
                linear.RowParallelLinear(
                    heads * v,
                    h,
                    bias=False,
                    quant_config=quant,
                    parallel_group="attn_tp",
                    prefix=f"{p}.o_proj",
                ),
            ]
            norms = (q_lora + kv_lora) * 2
        else:
            hd = text.get("head_dim") or h // heads
            p = "model.layers.3.self_attn"
            mods = [
                linear.QKVParallelLinear(
                    h,
                    hd,
                    heads,
                    text["num_key_value_heads"],
                    bias=False,
                    quant_config=quant,
                    parallel_group="attn_tp",
                    prefix=f"{p}.qkv_proj",
                ),
                linear.RowParallelLinear(
                    heads * hd,
                    h,
                    bias=False,
                    quant_config=quant,
                    parallel_group="attn_tp",
                    prefix=f"{p}.o_proj",
                ),
            ]
            norms = 0
        # + the layer's two RMSNorm weights (BF16); MLA adds its q_a and kv_a norms
        out["attention"] = sum(_bytes(m) for m in mods) + norms + 2 * h * 2
        out["indexer"] = 0
        if "index_topk" in text:  # DSA: wq_b, wk (FP8 in the checkpoint), weights_proj (BF16)
            n, d = text["index_n_heads"], text["index_head_dim"]
            p = "model.layers.3.self_attn.indexer"
            mods = [
                linear.ReplicatedLinear(
                    text["q_lora_rank"], n * d, bias=False, quant_config=quant, prefix=f"{p}.wq_b"
                ),
                linear.ReplicatedLinear(h, d, bias=False, quant_config=quant, prefix=f"{p}.wk"),
                linear.ReplicatedLinear(h, n, bias=False, quant_config=None, prefix=f"{p}.w"),
            ]
            out["indexer"] = sum(_bytes(m) for m in mods) + 2 * d * 2  # + k_norm
        inter = text.get("intermediate_size") if "moe_intermediate_size" in text else None
        out["dense"] = (
            sum(_bytes(m) for m in _mlp(h, inter, quant, dense_group, "model.layers.0.mlp"))
            if inter and text.get("first_k_dense_replace")
            else 0
        )
        shared = (text.get("n_shared_experts") or 0) * (text.get("moe_intermediate_size") or 0)
        shared = shared or text.get("shared_expert_intermediate_size") or 0
        out["shared"] = (
            sum(
                _bytes(m)
                for m in _mlp(h, shared, quant, dense_group, "model.layers.3.mlp.shared_experts")
            )
            if shared
            else 0
        )
        experts = (
            text.get("n_routed_experts") or text.get("num_experts") or text["num_local_experts"]
        )
        out["router"] = experts * h * 2  # the BF16 gate, replicated
        vocab = text["vocab_size"]
        embed = VocabParallelEmbedding(vocab, h, enable_tp=not dp_attention)
        head = ParallelLMHead(vocab, h)
        out["embedding"], out["lm_head"] = _bytes(embed), _bytes(head)
    return out


def _case(case: dict) -> dict:
    config = case["config"]
    text = _text(config)
    tp, ep, attn_tp = case["tp"], case["ep"], case["attn_tp"]
    moe_tp = tp // ep
    _patch_getters(
        {
            "get_parallel": _Unset(
                tp_size=tp,
                tp_rank=0,
                tp_group=None,
                attn_tp_size=attn_tp,
                attn_tp_rank=0,
                attn_tp_group=None,
                attn_dp_size=tp // attn_tp,
                moe_ep_size=ep,
                moe_ep_rank=0,
                moe_tp_size=moe_tp,
                moe_tp_rank=0,
                moe_dp_size=1,
                moe_dense_tp_size=case["dense_tp"],
                elastic_ep_initial_size=None,
                ep_join_rank_offset=0,
                pp_size=1,
            ),
            "get_exec": _Unset(
                moe=_Unset(
                    ep_join_mode=None,
                    enable_paged_experts=False,
                    enable_w4a4_mxfp4_megamoe=False,
                ),
            ),
            "get_flags": _Unset(moe=_Unset(in_speculative_scope=False)),
            "get_server_args": _Unset(),
        }
    )
    quant = _quant_config(config)
    out = {"error": None, "failed_at": None}
    for what, build in (("routed experts", _moe), ("linears", _linears)):
        try:
            result = build(case, quant, text)
        except (ValueError, AssertionError) as exc:  # what SGLang raises on a layout
            if "CUDA" in str(exc):  # a kernel check, not the layout's
                out["unsupported"] = f"{what}: {type(exc).__name__}: {exc}"[:500]
                return out
            out["error"], out["failed_at"] = f"{type(exc).__name__}: {exc}", what
            return out
        except Exception as exc:  # a path this venv cannot run (a package it lacks)
            out["unsupported"] = f"{what}: {type(exc).__name__}: {exc}"[:500]
            return out
        if what == "routed experts":
            out["routed_experts"] = result
        else:
            out.update(result)
    return out


def main() -> int:
    finder = _AbsentFinder()
    finder.absent |= {n for n in _EXTRA_ABSENT if importlib.util.find_spec(n) is None}
    sys.meta_path.insert(0, finder)
    warnings.simplefilter("ignore")
    with contextlib.redirect_stdout(io.StringIO()):
        import sglang.srt.layers.linear  # noqa: F401
        import sglang.srt.layers.moe.fused_moe_triton.layer  # noqa: F401
        import sglang.srt.layers.quantization.fp8  # noqa: F401
        import sglang.srt.layers.vocab_parallel_embedding  # noqa: F401
        import torch

        # The model's dtype: BF16 for every tensor the quantisation does not type itself.
        torch.set_default_dtype(torch.bfloat16)
    for line in sys.stdin:  # one request a line (sglang_manifest keeps this process for a session)
        payload = json.loads(line)
        with contextlib.redirect_stdout(io.StringIO()):
            results = [_case(case) for case in payload["cases"]]
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
