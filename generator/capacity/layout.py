"""One rank's share of the model under a parallel layout: what SGLang checks while it creates that
rank's weights, and how many bytes of weights it holds.

A layout is TP (the GPUs of a replica), EP (routed experts split whole), DP attention (attention in
TP / DP groups) and the dense MLP's TP. From config.json (catalog or lock) this module derives the
per-rank sizes SGLang 0.5.23 computes while it builds the model, and the conditions it refuses
them on, each with the source line that enforces it (sglang==0.5.23 wheel, `srt/` paths):

- routed experts: `num_experts % ep_size` (layers/moe/fused_moe_triton/layer.py:414) and
  `moe_intermediate_size % moe_tp_size` (layer.py:427), moe_tp_size = TP / EP;
- block-FP8 MoE weights: the per-partition intermediate size a multiple of block_n (gate/up) and,
  when moe_tp_size > 1, of block_k (down) (layers/quantization/fp8.py:1588 and :1596);
- block-FP8 dense linears: a column-parallel or merged output partition a multiple of block_n, a
  row-parallel input partition a multiple of block_k (fp8.py:594 and :605,
  `validate_block_quant_shapes`);
- INT4 compressed-tensors (WNA16) MoE: the down projection's per-partition size a multiple of the
  group size and of the int32 packing (quantization/compressed_tensors/schemes/
  compressed_tensors_wNa16_moe.py:130 and :158: `create_weights` floors the division, so a remainder
  leaves the scales short of the checkpoint's and the load fails);
- attention heads against the attention TP size (layers/linear.py:1139 and :1142-1144 for
  QKVParallelLinear; models/deepseek_v2.py:2057 for MLA; models/minimax_m2.py:298/:304);
- DP attention: `tp_size % attn_dp_size` (arg_groups/parallel_hook.py:326).

Where SGLang resizes the layout itself (an all-to-all backend such as deepep sets EP to TP:
arg_groups/overrides.py:1611 `_a2a_ep_size`), the layout here is the one SGLang would run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from generator.catalog import ModelSpec
from generator.catalog.architecture import Quant

# SGLang 0.5.23's all-to-all backends that span the whole TP group with EP (overrides.py:1578).
EP_SPANNING_A2A = frozenset({"megamoe", "deepep", "deepep_v2", "mooncake", "mori", "pplx"})

# int32 packing of 4-bit weights (compressed_tensors_wNa16_moe.py: packed_factor = 32 // 4).
INT4_PACK = 8


@dataclass(frozen=True)
class Layout:
    """How one replica's GPUs split the model."""

    tp: int
    ep: int = 1
    attn_dp: int = 1
    dense_tp: int | None = None  # --moe-dense-tp-size; None: TP
    a2a: str | None = None
    moe_runner: str | None = None  # the profile's --moe-runner-backend (None: SGLang's auto)

    @property
    def attn_tp(self) -> int:
        return max(1, self.tp // self.attn_dp)

    @property
    def moe_tp(self) -> int:
        return max(1, self.tp // self.ep)

    @property
    def dense(self) -> int:
        return self.dense_tp or self.tp

    @property
    def name(self) -> str:
        parts = [f"TP {self.tp}"]
        if self.ep > 1:
            parts.append(f"EP {self.ep}")
        if self.attn_dp > 1:
            parts.append(f"DP-attention {self.attn_dp}")
        if self.dense_tp:
            parts.append(f"dense TP {self.dense_tp}")
        if self.a2a:
            parts.append(self.a2a)
        return " + ".join(parts)

    def fields(self) -> dict[str, object]:
        """The profile fields (under `sglang.`) that select this layout."""
        return {
            "tensor_parallel_size": self.tp,
            "expert_parallel_size": self.ep,
            "data_parallel_size": self.attn_dp,
            "enable_dp_attention": "true" if self.attn_dp > 1 else "false",
            "moe_dense_tp_size": self.dense_tp if self.dense_tp else "null",
            "moe_a2a_backend": self.a2a or "null",
        }

    def settings(self, than: Layout | None = None) -> str:
        """`sglang.x: v` for each field, or only those that differ from `than`'s."""
        mine, theirs = self.fields(), than.fields() if than else {}
        return ", ".join(
            f"sglang.{k}: {v}" for k, v in mine.items() if than is None or theirs[k] != v
        )


def layout_of(d) -> Layout:
    """The layout a deployment runs, as SGLang resolves it (deepep & co. force EP = TP)."""
    s = d.sglang
    ep = s.expert_parallel_size
    if s.moe_a2a_backend in EP_SPANNING_A2A:
        ep = s.tensor_parallel_size
    return Layout(
        tp=s.tensor_parallel_size,
        ep=ep,
        attn_dp=s.attention_dp_size,
        dense_tp=s.moe_dense_tp_size,
        a2a=s.moe_a2a_backend if s.moe_a2a_backend not in (None, "none") else None,
        moe_runner=s.moe_runner_backend,
    )


# MoE runners whose layer pads the per-partition intermediate size up to a multiple of 128
# before the quantisation method creates the weights (0.5.23 layers/moe/fused_moe_triton/
# layer.py:515-521; `is_flashinfer_trtllm()` covers experimental_sgl_trtllm, layers/moe/utils.py:133).
PADDING_RUNNERS = frozenset(
    {"flashinfer_trtllm", "experimental_sgl_trtllm", "flashinfer_trtllm_routed"}
)


def quant_of(model: ModelSpec) -> Quant:
    return model.quant or Quant("", None, None)


@dataclass(frozen=True)
class LoadProblem:
    """A condition SGLang refuses while it creates one rank's weights."""

    what: str  # the weight and the sizes, as SGLang would see them
    source: str  # sglang/srt/<file>:<line>
    part: str = ""  # "experts", "attention" or "dense": which setting moves it (rules/load.py)


def _fp8_linear(
    name: str, q: Quant, *, out_parts: list[int], in_part: int, tp: int, merged: bool
) -> list[LoadProblem]:
    """fp8.py `validate_block_quant_shapes` (0.5.23 :580-610) for one linear's rank partition."""
    if q.method != "fp8" or q.block is None:
        return []
    block_n, block_k = q.block
    out: list[LoadProblem] = []
    if tp > 1 and in_part % block_k:
        out.append(
            LoadProblem(
                f"{name}: input partition {in_part} is not a multiple of the FP8 block_k "
                f"{block_k} (row parallel over {tp})",
                "sglang/srt/layers/quantization/fp8.py:594",
            )
        )
    if tp > 1 or merged:
        for part in out_parts:
            if part % block_n:
                out.append(
                    LoadProblem(
                        f"{name}: output partition {part} is not a multiple of the FP8 block_n "
                        f"{block_n}",
                        "sglang/srt/layers/quantization/fp8.py:605",
                    )
                )
                break
    return out


def load_problems(model: ModelSpec, layout: Layout) -> list[LoadProblem]:
    """Every condition SGLang 0.5.23 refuses while it builds one rank of `model` under `layout`."""
    out: list[LoadProblem] = []
    q = quant_of(model)
    tp, ep, attn_tp, moe_tp = layout.tp, layout.ep, layout.attn_tp, layout.moe_tp
    # TP not divisible by the attention DP size is rule layout-settings' (one finding a mistake).
    if tp % ep:
        out.append(
            LoadProblem(
                f"TP {tp} is not divisible by the expert parallel size {ep} (SGLang floors "
                "moe_tp_size = TP // EP and leaves GPUs out of the expert groups)",
                "sglang/srt/runtime_context.py:154",
            )
        )
    moe = model.moe
    # Routed experts. Shared experts fused into the routed ones count there on the global
    # layout SGLang uses outside DeepEP-class backends; the check is on the routed count.
    if moe.routed_experts % ep:
        out.append(
            LoadProblem(
                f"{moe.routed_experts} routed experts are not divisible by the expert parallel "
                f"size {ep}",
                "sglang/srt/layers/moe/fused_moe_triton/layer.py:414",
            )
        )
    inter = moe.moe_intermediate_size
    if inter % moe_tp:
        out.append(
            LoadProblem(
                f"expert intermediate size {inter} is not divisible by moe_tp_size {moe_tp} "
                f"(TP {tp} / EP {ep})",
                "sglang/srt/layers/moe/fused_moe_triton/layer.py:427",
            )
        )
    else:
        part = inter // moe_tp
        if layout.moe_runner in PADDING_RUNNERS and part % 128:
            part += 128 - part % 128
        if q.method == "fp8" and q.block:
            block_n, block_k = q.block
            if part % block_n:
                out.append(
                    LoadProblem(
                        f"MoE gate/up weight: {inter} / moe_tp_size {moe_tp} = {part} columns per "
                        f"rank, not a multiple of the FP8 block_n {block_n}",
                        "sglang/srt/layers/quantization/fp8.py:1588",
                    )
                )
            elif moe_tp > 1 and part % block_k:
                out.append(
                    LoadProblem(
                        f"MoE down weight: {part} input rows per rank, not a multiple of the FP8 "
                        f"block_k {block_k}",
                        "sglang/srt/layers/quantization/fp8.py:1596",
                    )
                )
        if q.method == "compressed-tensors" and q.group_size:
            unit = max(q.group_size, INT4_PACK)
            if part % unit:
                out.append(
                    LoadProblem(
                        f"INT4 MoE down weight: {part} input rows per rank, not a multiple of "
                        f"the group size {q.group_size} (and the int32 packing {INT4_PACK})",
                        "sglang/srt/layers/quantization/compressed_tensors/schemes/"
                        "compressed_tensors_wNa16_moe.py:158",
                    )
                )
    out = [replace(p, part="experts") for p in out]
    out += [replace(p, part="attention") for p in _attention_problems(model, q, attn_tp)]
    return out + [replace(p, part="dense") for p in _dense_problems(model, q, layout.dense)]


def _dense_problems(model: ModelSpec, q: Quant, dense_tp: int) -> list[LoadProblem]:
    """Dense MLP layers (first_k_dense_replace) and the shared experts: merged gate/up
    (column), down (row), over the dense TP size."""
    out: list[LoadProblem] = []
    moe = model.moe
    for name, size in (
        ("dense MLP", moe.dense_intermediate_size if model.dense_layers else 0),
        ("shared expert", moe.shared_experts * moe.moe_intermediate_size),
    ):
        if not size:
            continue
        if size % dense_tp:
            out.append(
                LoadProblem(
                    f"{name} intermediate size {size} is not divisible by its TP {dense_tp}",
                    "sglang/srt/distributed/utils.py:75",
                )
            )
            continue
        part = size // dense_tp
        out += _fp8_linear(
            f"{name} gate/up", q, out_parts=[part, part], in_part=0, tp=dense_tp, merged=True
        )
        out += _fp8_linear(f"{name} down", q, out_parts=[], in_part=part, tp=dense_tp, merged=False)
    return out


def _attention_problems(model: ModelSpec, q: Quant, attn_tp: int) -> list[LoadProblem]:
    out: list[LoadProblem] = []
    heads = model.num_attention_heads
    if model.mla is not None:
        if heads % attn_tp:
            return [
                LoadProblem(
                    f"{heads} attention heads are not divisible by the attention TP size {attn_tp}",
                    "sglang/srt/models/deepseek_v2.py:2057",
                )
            ]
        local = heads // attn_tp
        m = model.mla
        out += _fp8_linear(
            "attention q_b_proj",
            q,
            out_parts=[local * (m.qk_nope_head_dim + m.qk_rope_head_dim)],
            in_part=0,
            tp=attn_tp,
            merged=False,
        )
        out += _fp8_linear(
            "attention kv_b_proj",
            q,
            out_parts=[local * (m.qk_nope_head_dim + m.v_head_dim)],
            in_part=0,
            tp=attn_tp,
            merged=False,
        )
        out += _fp8_linear(
            "attention o_proj",
            q,
            out_parts=[],
            in_part=local * m.v_head_dim,
            tp=attn_tp,
            merged=False,
        )
        return out
    g = model.gqa
    if g is None:
        return out
    if heads % attn_tp:
        return [
            LoadProblem(
                f"{heads} attention heads are not divisible by the attention TP size {attn_tp}",
                "sglang/srt/layers/linear.py:1139",
            )
        ]
    kv = g.num_kv_heads
    if attn_tp >= kv and attn_tp % kv:
        out.append(
            LoadProblem(
                f"attention TP {attn_tp} is not a multiple of the {kv} KV heads (each rank "
                "holds a whole replicated head)",
                "sglang/srt/layers/linear.py:1142",
            )
        )
    elif attn_tp < kv and kv % attn_tp:
        out.append(
            LoadProblem(
                f"{kv} KV heads are not divisible by the attention TP size {attn_tp}",
                "sglang/srt/layers/linear.py:1144",
            )
        )
    if out:
        return out
    local_q = heads // attn_tp
    local_kv = max(1, kv // attn_tp)
    out += _fp8_linear(
        "attention qkv_proj",
        q,
        out_parts=[local_q * g.head_dim, local_kv * g.head_dim, local_kv * g.v_head_dim],
        in_part=0,
        tp=attn_tp,
        merged=True,
    )
    out += _fp8_linear(
        "attention o_proj",
        q,
        out_parts=[],
        in_part=local_q * g.v_head_dim,
        tp=attn_tp,
        merged=False,
    )
    lin = model.linear
    if lin is not None:
        for what, n in (("key", lin.num_key_heads), ("value", lin.num_value_heads)):
            if n % attn_tp:
                out.append(
                    LoadProblem(
                        f"{n} linear-attention {what} heads are not divisible by the attention "
                        f"TP size {attn_tp}",
                        "sglang/srt/models/qwen3_next.py:270",
                    )
                )
    return out


def candidate_layouts(tp: int, moe_runner: str | None = None) -> list[Layout]:
    """The layouts `plan` compares on the same GPUs: TP only, TP + EP, DP attention + EP."""
    out = [Layout(tp=tp, moe_runner=moe_runner)]
    if tp > 1:
        out.append(Layout(tp=tp, ep=tp, moe_runner=moe_runner))
        # the recipes' DP layout; DeepEP runs its own MoE kernels
        out.append(Layout(tp=tp, ep=tp, attn_dp=tp, a2a="deepep"))
    return out


def loading_layouts(model: ModelSpec, tp: int, moe_runner: str | None = None) -> list[Layout]:
    """Of `candidate_layouts(tp)`, the ones SGLang can build for `model`."""
    return [lay for lay in candidate_layouts(tp, moe_runner) if not load_problems(model, lay)]


# --- Weights per GPU ------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightShares:
    """A checkpoint's bytes by how a layout splits them across one replica's GPUs."""

    routed_experts: float  # EP x moe_tp = TP: every GPU holds 1 / TP of them
    attention: float  # the head-split projections: over the attention TP size
    dense_mlp: float  # dense layers and shared experts: over the dense TP size
    embedding: float  # vocab parallel over TP; replicated under DP attention (deepseek_v2.py
    # `VocabParallelEmbedding(..., enable_tp=not is_dp_attention_enabled())`)
    lm_head: float  # vocab parallel over TP (over attention TP only with --enable-dp-lm-head)
    replicated: float  # whole on every GPU: routers, MLA's q_a/kv_a, the DSA indexer, norms,
    # the MTP layer's eh_proj (ReplicatedLinear / unsharded parameters in the model files)
    # INT4 (compressed-tensors WNA16) experts: SGLang adds int32 g_idx and sort indices per
    # expert row for w13 (hidden) and w2 (intermediate per rank), not in the checkpoint
    # (compressed_tensors_wNa16_moe.py `create_weights`): (MoE layers, experts, hidden, inter)
    int4_index: tuple[int, int, int, int] | None = None

    def per_gpu(self, layout: Layout) -> float:
        embed_tp = layout.tp if layout.attn_dp == 1 else layout.attn_tp
        index = 0.0
        if self.int4_index:
            layers, experts, hidden, inter = self.int4_index
            index = layers * experts / layout.ep * (hidden + inter / layout.moe_tp) * 2 * 4
        return (
            index
            + self.replicated
            + self.routed_experts / layout.tp
            + self.attention / layout.attn_tp
            + self.dense_mlp / layout.dense
            + self.embedding / embed_tp
            + self.lm_head / layout.tp
        )


def _bytes_per_param(q: Quant) -> float:
    """Stored bytes of one quantised weight element, scales included."""
    if q.method == "fp8" and q.block:
        return 1 + 4 / (q.block[0] * q.block[1])
    if q.method == "compressed-tensors" and q.group_size:
        return 0.5 + 2 / q.group_size
    return 2.0


def weight_shares(model: ModelSpec, checkpoint_bytes: float) -> WeightShares:
    """Split the checkpoint's bytes by how SGLang shards them, from the config's shapes.

    Routed and shared experts, dense MLP, vocabulary (BF16 embedding and lm_head) and the
    replicated tensors are computed from config.json; the head-split attention projections are
    what remains of the checkpoint. Quantised tensors count their scales; routed experts use the
    checkpoint's quantisation (INT4 for Kimi's), the other linears FP8 when the checkpoint is FP8
    (BF16 otherwise); routers, norms, the indexer's weights projection and eh_proj are BF16.
    tests/test_layout_ground_truth.py checks the per-GPU sum against the tensors SGLang creates.
    """
    q = quant_of(model)
    moe = model.moe
    h = model.hidden_size
    moe_layers = model.moe_layers + model.mtp_layers
    layers = model.num_layers + model.mtp_layers
    expert_bpp = _bytes_per_param(q)
    dense_bpp = _bytes_per_param(q) if q.method == "fp8" else 2.0
    if not q.method and model.params_total_billion:
        # No quantization_config recorded: the checkpoint's own bytes per parameter (a BF16
        # checkpoint gives 2; a recorded config that omits an FP8 one's gives ~1).
        expert_bpp = dense_bpp = min(2.0, checkpoint_bytes / (model.params_total_billion * 1e9))
    routed = moe_layers * moe.routed_experts * 3 * h * moe.moe_intermediate_size * expert_bpp
    shared = moe_layers * moe.shared_experts * 3 * h * moe.moe_intermediate_size * dense_bpp
    dense = model.dense_layers * 3 * h * moe.dense_intermediate_size * dense_bpp
    vocab = model.vocab_size * h * 2.0  # BF16 embedding, and as much again for the lm_head
    replicated = moe_layers * moe.routed_experts * h * 2.0  # the routers' gates
    replicated += layers * 2 * h * 2.0  # the two RMSNorms of each layer
    replicated += model.mtp_layers * 2 * h * h * 2.0  # the MTP layer's eh_proj
    if model.mla is not None:  # q_a and kv_a (fused_qkv_a_proj_with_mqa) and their norms
        m = model.mla
        replicated += layers * h * (m.q_lora_rank + m.kv_lora_rank + m.qk_rope_head_dim) * dense_bpp
        replicated += layers * (m.q_lora_rank + m.kv_lora_rank) * 2.0
    if model.dsa_indexer is not None:  # wq_b, wk (FP8), weights_proj (BF16) on the full layers
        x = model.dsa_indexer
        per = (
            model.mla.q_lora_rank * x.index_n_heads * x.index_head_dim + h * x.index_head_dim
        ) * (dense_bpp) + h * x.index_n_heads * 2.0
        replicated += (x.cache_layers + model.mtp_layers) * per
    rest = checkpoint_bytes - routed - shared - dense - 2 * vocab - replicated
    int4_index = None
    if q.method == "compressed-tensors":
        int4_index = (moe_layers, moe.routed_experts, h, moe.moe_intermediate_size)
    return WeightShares(
        routed,
        max(0.0, rest),
        shared + dense,
        vocab,
        vocab,
        replicated,
        int4_index,
    )
