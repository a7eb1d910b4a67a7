"""The decode floor: the HBM-bandwidth bound on time per output token at batch 1.

Weights read per step (active parameters, and the experts EAGLE's verify pass touches) plus the
KV read, over the GPU's HBM bandwidth. Units: GB = 10^9 bytes, TB/s = 10^12 bytes/s.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator import catalog
from generator.capacity.layout import layout_of, weight_shares
from generator.capacity.memory import (
    Capacity,
    KvLayout,
    context_tokens,
    gqa_bytes_per_token_layer,
    indexer_bytes_per_token_layer,
    kv_layout,
    mla_bytes_per_token_layer,
    state_bytes_per_request,
)
from generator.catalog import ModelSpec
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment

BF16_BYTES = 2


def bytes_per_param(model: ModelSpec, checkpoint_bytes: int) -> float:
    """Checkpoint bytes / total parameters (~1.0 for GLM-5.1-FP8: FP8 experts, BF16 rest)."""
    return checkpoint_bytes / (model.params_total_billion * 1e9)


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


def weight_bytes_per_step(
    model: ModelSpec, tensor_parallel_size: int, tokens: int, per_param: float
) -> float:
    """Weight bytes one GPU reads in a forward pass over `tokens` tokens of one sequence.

    (active params - k routed experts + distinct experts touched) x bytes/param / TP. For one
    token that is the ~40B active parameters; verifying EAGLE drafts touches more experts.
    """
    per_expert = params_per_routed_expert(model)
    non_routed = model.params_active_billion * 1e9 - model.moe.experts_per_token * per_expert
    params = non_routed + distinct_experts(model, tokens) * per_expert
    return params * per_param / tensor_parallel_size


def kv_read_bytes_per_step(
    model: ModelSpec, layout: KvLayout, context: int, tokens: int, layers: int
):
    """KV bytes one GPU reads per step for one sequence of `context` tokens (every rank reads it all).

    DSA: each query reads index_topk latents per layer (the union over `tokens` queries at most
    tokens x topk) plus the indexer keys of the whole context. MLA without DSA: the whole
    context. GQA: the rank's KV heads over the whole context, on the layers holding KV; hybrid
    linear attention adds the recurrent state of every linear layer, read once per step.
    """
    if model.gqa is not None:
        kv_layers = min(layers, model.attention_layers)
        read = kv_layers * context * gqa_bytes_per_token_layer(model, layout)
        if model.linear is not None and layers == model.num_layers:
            read += state_bytes_per_request(model, layout.attn_tp_size)
        return read
    mla = mla_bytes_per_token_layer(model, layout)
    if model.dsa_indexer is None:
        return layers * context * mla
    attended = min(context, tokens * model.dsa_indexer.index_topk)
    return layers * (attended * mla + context * indexer_bytes_per_token_layer(model))


def draft_step_bytes(
    model: ModelSpec, tensor_parallel_size: int, layout: KvLayout, context: int, per_param: float
):
    """One EAGLE draft step on the MTP layer: one layer's share of the active weights, the
    shared BF16 lm_head (vocab x hidden x 2), and that one layer's KV read, per GPU."""
    layer = model.params_active_billion * 1e9 * per_param / model.num_layers
    lm_head = model.vocab_size * model.hidden_size * BF16_BYTES
    kv = kv_read_bytes_per_step(model, layout, context, 1, model.mtp_layers)
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
    measured_tpot_ms_baseline: float | None  # the guide's GLM-5.1 snapshot; None for other models
    measured_tpot_ms_eagle: float | None
    measured_source: str
    interconnect_ms_per_step: float = 0.0  # a cluster's inter-node hops per forward pass
    interconnect_note: str = ""

    @property
    def tpot_floor_ms(self) -> float:
        """The floor for the profile's own settings: with EAGLE when it is on."""
        return self.eagle_floor_ms if self.speculative else self.floor_ms


def interconnect_ms_per_step(d: Deployment, model: ModelSpec, tokens: int = 1) -> tuple[float, str]:
    """What crossing nodes adds to one forward pass of `tokens` tokens, ms, and how it was got.

    TP across nodes: two all-reduces per layer (attention and MoE outputs) of hidden x 2 bytes
    per token, each paying a hop's latency and its bytes over the link. Pipeline: one hop per
    stage boundary. Bandwidths from Modal's guides, latencies guesses (catalog/platform.yaml).
    """
    if not d.cluster:
        return 0.0, ""
    link = catalog.platform().interconnect
    rdma = d.cluster.rdma
    gbps = link.rdma_gbps if rdma else link.private_network_gbps
    latency_us = link.rdma_hop_latency_us if rdma else link.private_network_hop_latency_us
    message = model.hidden_size * BF16_BYTES * tokens
    hop_us = latency_us + message * 8 / (gbps * 1e3)  # bits / (Gbit/s) in microseconds
    if d.cluster.parallelism == "tensor":
        hops = 2 * model.num_layers
        how = f"{hops} inter-node all-reduces"
    else:
        hops = d.cluster.nodes - 1
        how = f"{hops} pipeline hop(s)"
    net = "RDMA" if rdma else "private network"
    note = f"{how} x ({latency_us:g} us guessed latency + {message:,} B at {gbps:g} Gbps {net})"
    return hops * hop_us / 1e3, note


def decode(d: Deployment, cap: Capacity | None) -> Decode | None:
    """Batch-1 decode floors at the profile's full context; None for a model not in the catalog.

    A floor, not a forecast: all-reduces, kernel launches and MoE routing keep real TPOT far
    above it, which is why the guide's measured snapshot is printed beside it.
    """
    model = known_model(d)
    if model is None or cap is None:
        return None
    gpu = catalog.gpu(d.gpu.type)
    assumed = catalog.platform().decode
    glm = model.family == "glm5"
    tp = d.sglang.tensor_parallel_size
    layout = kv_layout(d, model)
    per_param = bytes_per_param(model, cap.checkpoint.bytes)
    context = context_tokens(d, model)
    # What the layout keeps whole on more GPUs than TP splits (attention under DP attention, a
    # dense MLP at a smaller dense TP) is read in full by each of them every step.
    shares, parallel = weight_shares(model, cap.checkpoint.bytes), layout_of(d)
    replicated = shares.attention * (1 / parallel.attn_tp - 1 / tp) + shares.dense_mlp * (
        1 / parallel.dense - 1 / tp
    )
    weights = weight_bytes_per_step(model, tp, 1, per_param) + replicated
    step = weights + kv_read_bytes_per_step(model, layout, context, 1, model.num_layers)
    spec = d.sglang.speculative
    eagle = {}
    if spec.enabled:
        # EAGLE: num_steps draft passes on the MTP layer, then one target pass verifying
        # num_draft_tokens tokens, yielding `accept` tokens. accept <= num_steps + 1.
        accept = min(assumed.eagle_accept_length, spec.num_steps + 1)
        n = spec.num_draft_tokens
        verify = (
            replicated
            + weight_bytes_per_step(model, tp, n, per_param)
            + kv_read_bytes_per_step(model, layout, context, n, model.num_layers)
        )
        draft = draft_step_bytes(model, tp, layout, context, per_param)
        eagle_step = verify + spec.num_steps * draft
        eagle = {
            "eagle_accept_length": accept,
            "eagle_verify_tokens": n,
            "eagle_distinct_experts_per_layer": distinct_experts(model, n),
            "eagle_step_bytes_per_gpu": eagle_step,
            "eagle_floor_ms": floor_ms(eagle_step, gpu.hbm_bandwidth_tbps, accept),
        }
    net_ms, net_note = interconnect_ms_per_step(d, model)
    if eagle:  # the verify pass and each draft pass cross the nodes too
        verify_net, _ = interconnect_ms_per_step(d, model, eagle["eagle_verify_tokens"])
        # A draft pass runs the MTP layer only: its share of TP's all-reduces, no pipeline hop.
        tensor = d.cluster is not None and d.cluster.parallelism == "tensor"
        draft_net = net_ms * model.mtp_layers / model.num_layers * spec.num_steps if tensor else 0
        eagle["eagle_floor_ms"] += (verify_net + draft_net) / eagle["eagle_accept_length"]
    return Decode(
        context_tokens=context,
        hbm_bandwidth_tbps=gpu.hbm_bandwidth_tbps,
        weights_only_floor_ms=floor_ms(weights, gpu.hbm_bandwidth_tbps),
        step_bytes_per_gpu=step,
        floor_ms=floor_ms(step, gpu.hbm_bandwidth_tbps) + net_ms,
        speculative=spec.enabled,
        eagle_accept_length=eagle.get("eagle_accept_length"),
        eagle_verify_tokens=eagle.get("eagle_verify_tokens"),
        eagle_distinct_experts_per_layer=eagle.get("eagle_distinct_experts_per_layer"),
        eagle_step_bytes_per_gpu=eagle.get("eagle_step_bytes_per_gpu"),
        eagle_floor_ms=eagle.get("eagle_floor_ms"),
        # The measured snapshot is GLM-5.x's (the guide's); no other family has one.
        measured_tpot_ms_baseline=assumed.measured_tpot_ms_baseline if glm else None,
        measured_tpot_ms_eagle=assumed.measured_tpot_ms_eagle if glm else None,
        measured_source=assumed.measured_source if glm else "none measured for this model",
        interconnect_ms_per_step=net_ms,
        interconnect_note=net_note,
    )
