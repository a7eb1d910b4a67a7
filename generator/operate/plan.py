"""`make plan`: what a profile will hold, cost and take to start, before anything is deployed.

`python -m generator plan PROFILE [--json] [--utilization U]` prints a table, or the same figures
as JSON (keys documented in `KEYS`), plus the rules' findings. It is a pretend mode: it reads
the profile and the catalogs (generator/catalog/*.yaml) and touches nothing else.

Memory and KV figures come from capacity/memory.py, cost and cold start from capacity/costs.py,
the decode floor from capacity/decode.py (the rules use the same functions). Units: GiB = 2^30 bytes (GPU
memory), GB = 10^9 bytes (checkpoint and volume throughput), TB/s = 10^12 bytes/s.
"""

from __future__ import annotations

import dataclasses
import json
import math

from generator import catalog
from generator.capacity.costs import (
    cold_start,
    cost_per_month_usd,
    gpu_hour_price,
    idle_cost_per_month_usd,
    replica_hour_usd,
    scaledown_tail_usd,
)
from generator.capacity.decode import decode
from generator.capacity.layout import (
    Layout,
    candidate_layouts,
    layout_of,
    load_problems,
    weight_shares,
)
from generator.capacity.memory import (
    GB,
    GIB,
    Capacity,
    capacity,
    refusal,
    running_requests_advice,
)
from generator.errors import Problem, ProfileError, UsageError, UserError
from generator.operate.report import problem_record, repository_root
from generator.profile.checkpoint import known_model
from generator.profile.credentials import redacted
from generator.profile.deployment import Deployment, build_deployment
from generator.profile.load import Profile, load_profile
from generator.profile.validate import validate_profile
from generator.rules import run_rules, silenced_findings
from generator.rules.recipes import given_reasons
from generator.sglang.caches import cold_cache_costs
from generator.sglang.defaults import unrecorded
from generator.sglang.fallback import variants
from generator.sglang.flags import own_choices

# Average replicas busy over a month, for the monthly cost: `plan --utilization`'s default (cli.py
# says it too), and what diff and migrate plan at.
DEFAULT_UTILIZATION = 0.3

# --- The plan as JSON and as a table ---------------------------------------------------------

KEYS: dict[str, str] = {
    "profile": "profile name",
    "model": "Hugging Face id",
    "attention_design": "the attention design SGLang sizes memory by (catalog/architecture.py)",
    "architecture_source": "the config.json the architecture was read from: the pinned commit's, "
    "recorded in the lock by `pin-revision`, or the catalog's recorded copy",
    "gpu": "Modal GPU spec of one container, e.g. B200:8",
    "nodes": "containers (hosts) per replica: cluster.nodes, 1 without a cluster",
    "sglang_version": "SGLang version of the serve image",
    "tensor_parallel_size": "SGLang --tp-size",
    "layouts": "the profile's parallel layout (own: true) and the others that load on the same "
    "GPUs (TP only, TP + EP, DP attention + EP), each with weights and KV pool per GPU, KV tokens "
    "and running requests per DP-attention rank, and the batch-1 decode floor",
    "kv_cache_dtype": "KV dtype, with `auto` resolved for this model and GPU",
    "usable_gib_per_gpu": "GPU memory usable by PyTorch (hardware catalog), GiB",
    "mem_fraction_static": "sglang.mem_fraction_static",
    "checkpoint_bytes": "the checkpoint's size on disk, bytes",
    "checkpoint_source": "where that size comes from: the pinned commit's lock entry, or the catalog",
    "weights_gib_per_gpu": "checkpoint / TP size, GiB per GPU",
    "kv_pool_gib_per_gpu": "usable x mem_fraction_static - weights - what is carved out first "
    "(state pool, multimodal cache), GiB per GPU",
    "state_pool": "hybrid linear attention's recurrent-state pool, carved out before the KV pool: "
    "{gib_per_gpu, speculative_gib_per_gpu, bytes_per_request, slots, max_running_requests}; "
    "null for other designs",
    "kv_bytes_per_token": "SGLang's KV cell size per GPU: layers x (MLA latent + DSA indexer key "
    "on non-shared layers, or the rank's GQA K+V), plus the EAGLE draft layers' when SGLang "
    "counts them in the pool",
    "kv_bytes_per_token_layer": "bytes per token per layer on one GPU: {mla, indexer} for MLA "
    "designs, {gqa} (K+V of the GPU's KV heads) for GQA and hybrid ones",
    "kv_layers": "{target, draft}: layers whose KV the pool holds per token",
    "sparse_attention_backends": "{prefill, decode}: DSA backends in effect (they set the FP8 layout)",
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
    "gpu_types": "per GPU type Modal may start (gpu.type, then gpu.fallback): [{gpu, arch, "
    "mem_fraction_static, sparse_attention_backends, moe_runner_backend, weights_gib_per_gpu, "
    "kv_pool_tokens, max_full_context_sequences, tpot_floor_ms, cost_per_replica_hour_usd, "
    "cold_start_seconds}]",
    "sglang_own_choices": "per flag SGLang would otherwise choose itself: [{flag, value, "
    "sglang_choice, overrides, source}] (manifests/sglang-<version>-defaults.yaml)",
    "sglang_own_choices_unrecorded": "why sglang_own_choices is empty and how to record them "
    "(null when the defaults manifest records the model's architecture)",
    "findings": "the rules' results, each in `validate --format json`'s problem shape",
    "silenced": "warnings the profile silenced: [{rule, reason, message}]",
    "recipe_departures": "flags departing from the upstream recipe with the profile's reason "
    "(sglang.recipe_departures): [{gpu, mode, flag, recipe, found, reason, source}]",
}


def build(
    profile: Profile, deployment: Deployment, problems: list[Problem], utilization: float
) -> dict:
    """The plan as a JSON-ready dict (the keys of KEYS, in that order)."""
    d = deployment
    refused = refusal(d)
    if refused is not None:
        raise refused
    cap = capacity(d)
    dec, cold = decode(d, cap), cold_start(d)
    if cap is None or dec is None or cold is None:
        raise ProfileError(
            f"model {d.model.id} is not in the model catalog: add it to the user catalog "
            f"beside the profile ({d.profile_path.parent.name}/models/<name>.yaml; "
            "`modal-sglang init NAME --model ID --like PROFILE` writes a stub, "
            "docs/adding-a-model.md) so `plan` can size it"
        )
    price, source = gpu_hour_price(d)
    silence = profile.data.get("silence", {})

    a = catalog.platform().cold_start
    caches = cold_cache_costs(d.sglang.version, a.deepgemm_jit_seconds)
    plan = {
        "profile": d.profile_name,
        "model": d.model.id,
        "attention_design": cap.attention,
        "architecture_source": cap.architecture_source,
        "gpu": d.gpu.modal_spec,
        "nodes": d.nodes,
        "sglang_version": d.sglang.version,
        "tensor_parallel_size": d.sglang.tensor_parallel_size,
        "layouts": _layouts(d),
        "kv_cache_dtype": cap.kv_cache_dtype,
        "usable_gib_per_gpu": cap.usable_gib_per_gpu,
        "mem_fraction_static": d.sglang.mem_fraction_static,
        "checkpoint_bytes": cap.checkpoint.bytes,
        "checkpoint_source": cap.checkpoint.source,
        "weights_gib_per_gpu": round(cap.weights_bytes_per_gpu / GIB, 2),
        "kv_pool_gib_per_gpu": round(cap.kv_pool_bytes_per_gpu / GIB, 2),
        "state_pool": _state_pool(cap),
        "kv_bytes_per_token": cap.kv_bytes_per_token,
        "kv_bytes_per_token_layer": (
            {"gqa": cap.gqa_bytes_per_token_layer}
            if cap.gqa_bytes_per_token_layer
            else {
                "mla": cap.mla_bytes_per_token_layer,
                "indexer": cap.indexer_bytes_per_token_layer,
            }
        ),
        "kv_layers": {
            "target": cap.kv_layers,
            "draft": cap.layout.draft_layers,
        },
        "sparse_attention_backends": {
            "prefill": cap.layout.sparse_prefill_backend,
            "decode": cap.layout.sparse_decode_backend,
        },
        "kv_pool_tokens": cap.kv_pool_tokens,
        "context_tokens": cap.context_tokens,
        "max_full_context_sequences": cap.max_full_context_sequences,
        "max_running_requests": d.sglang.max_running_requests,
        "running_requests_fit": cap.running_requests_fit,
        "running_requests_shortfall_tokens": max(0, cap.running_tokens_needed - cap.kv_pool_tokens),
        "running_requests_advice": running_requests_advice(d, cap),
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
            "interconnect_ms_per_step": round(dec.interconnect_ms_per_step, 3),
            "interconnect_note": dec.interconnect_note,
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
        "gpu_types": [_gpu_type(v) for v in variants(d)],
        "sglang_own_choices": [
            {
                "flag": own.flag.option,
                "value": own.value,
                "sglang_choice": own.sglang_choice,
                "overrides": own.overrides,
                "source": own.source,
            }
            for own in own_choices(d)
        ],
        "sglang_own_choices_unrecorded": unrecorded(d.sglang.version, known_model(d)),
        "findings": [problem_record(p, repository_root()) for p in problems],
        "silenced": [
            {"rule": rule_id, "reason": redacted(silence[rule_id]), "message": finding.message}
            for rule_id, finding in silenced_findings(d, profile)
        ],
        "recipe_departures": [
            {
                "gpu": dep.gpu,
                "mode": dep.recipe.mode,
                "flag": dep.wanted.option,
                "recipe": dep.wanted.text,
                "found": dep.found_text,
                "reason": redacted(reason),
                "source": dep.recipe.source.cite,
            }
            for dep, reason in given_reasons(d, profile)
        ],
    }
    assert list(plan) == list(KEYS), "plan keys and KEYS out of step"
    return plan


def _with_layout(d: Deployment, layout: Layout) -> Deployment:
    """The deployment with another parallel layout on the same GPUs."""
    s = d.sglang
    runner = s.moe_runner_backend if not layout.a2a else None  # DeepEP runs its own MoE path
    return dataclasses.replace(
        d,
        sglang=dataclasses.replace(
            s,
            expert_parallel_size=layout.ep,
            data_parallel_size=layout.attn_dp,
            enable_dp_attention=layout.attn_dp > 1,
            moe_a2a_backend=layout.a2a,
            moe_dense_tp_size=layout.dense_tp,
            moe_runner_backend=runner,
        ),
    )


def _layouts(d: Deployment) -> list[dict]:
    """The profile's layout, then the others `plan` compares that load (capacity/layout.py)."""
    model = known_model(d)
    own = layout_of(d)
    if model is None or d.cluster is not None:  # a cluster's layout is cluster.parallelism's
        return []
    out = []
    others = [
        lay for lay in candidate_layouts(own.tp, own.moe_runner) if lay.fields() != own.fields()
    ]
    for layout in (own, *others):
        problems = load_problems(model, layout)
        if problems and layout is not own:
            continue
        v = _with_layout(d, layout)
        cap, dec = capacity(v), None
        dec = decode(v, cap) if cap else None
        dp = layout.attn_dp
        floor = None
        if dec is not None:
            floor = dec.eagle_floor_ms if dec.eagle_floor_ms is not None else dec.floor_ms
        out.append(
            {
                "layout": layout.name,
                "own": layout is own,
                "loads": not problems,
                "settings": layout.settings(),
                "weights_gib_per_gpu": _round(cap and cap.weights_bytes_per_gpu, 2, GIB),
                "replicated_gb_per_gpu": _round(
                    cap and weight_shares(model, cap.checkpoint.bytes).replicated, 2, GB
                ),
                "kv_pool_gib_per_gpu": _round(cap and cap.kv_pool_bytes_per_gpu, 2, GIB),
                "dp_attention_ranks": dp,
                "kv_tokens_per_dp_rank": cap.kv_pool_tokens if cap else None,
                "kv_tokens_per_replica": cap.kv_pool_tokens * dp if cap else None,
                "running_requests_per_dp_rank": max(1, d.sglang.max_running_requests // dp),
                "decode_floor_ms": _round(floor, 3),
            }
        )
    return out


def _state_pool(cap: Capacity) -> dict | None:
    if cap.state is None:
        return None
    return {
        "gib_per_gpu": round(cap.state.bytes / GIB, 2),
        "speculative_gib_per_gpu": round(cap.state.speculative_bytes / GIB, 2),
        "bytes_per_request": int(cap.state.bytes / (cap.state.slots + 1)),
        "slots": cap.state.slots,
        "max_running_requests": cap.state.max_running_requests,
    }


def _gpu_type(v: Deployment) -> dict:
    """One GPU type's figures, side by side with the others' in the plan."""
    cap, cold = capacity(v), cold_start(v)
    return {
        "gpu": v.gpu.modal_spec,
        "arch": catalog.gpu(v.gpu.type).arch,
        "mem_fraction_static": v.sglang.mem_fraction_static,
        "sparse_attention_backends": {
            "prefill": cap.layout.sparse_prefill_backend,
            "decode": cap.layout.sparse_decode_backend,
        },
        "moe_runner_backend": v.sglang.moe_runner_backend,
        "weights_gib_per_gpu": round(cap.weights_bytes_per_gpu / GIB, 2),
        "kv_pool_tokens": cap.kv_pool_tokens,
        "max_full_context_sequences": cap.max_full_context_sequences,
        "tpot_floor_ms": round(decode(v, cap).tpot_floor_ms, 3),
        "cost_per_replica_hour_usd": round(replica_hour_usd(v), 2),
        "cold_start_seconds": round(cold.seconds),
    }


def _round(value, digits: int, unit: float = 1):
    return None if value is None else round(value / unit, digits)


def _on_off(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def _n(value: float) -> str:
    return f"{value:,}"


def _gib(value) -> str:
    return "-" if value is None else f"{value:.2f} GiB"


def _opt(value) -> str:
    return "-" if value is None else _n(value)


def _ms(value) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def format_table(p: dict) -> str:
    """The plan as a readable table: label, figure, how it was found."""
    dec = p["decode"]
    replica = p["gpu"] if p["nodes"] == 1 else f"{p['nodes']} nodes x {p['gpu']}"
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
    own = next((lay for lay in p["layouts"] if lay["own"]), None)
    split = f"/ TP {tp}"
    if own and own["dp_attention_ranks"] > 1:
        split = (
            f"experts / TP {tp}, attention whole on each of {own['dp_attention_ranks']} DP ranks"
        )
    if own and own["replicated_gb_per_gpu"]:
        split += f", of which {own['replicated_gb_per_gpu']:.2f} GB whole on every GPU"
    row(
        "- weights",
        f"{p['weights_gib_per_gpu']:.2f} GiB",
        f"checkpoint {p['checkpoint_bytes'] / 1e9:,.1f} GB {split} ({p['checkpoint_source']})",
    )
    state = p["state_pool"]
    if state:
        row(
            "- recurrent-state pool",
            f"{state['gib_per_gpu'] + state['speculative_gib_per_gpu']:.2f} GiB",
            f"{state['slots']:,} request states of {_n(state['bytes_per_request'])} B"
            + (
                f" + {state['speculative_gib_per_gpu']:.2f} GiB for speculative verification"
                if state["speculative_gib_per_gpu"]
                else ""
            )
            + f"; lets {state['max_running_requests']:,} requests run",
        )
    row("= KV pool", f"{p['kv_pool_gib_per_gpu']:.2f} GiB", "")
    layer, layers = p["kv_bytes_per_token_layer"], p["kv_layers"]
    draft = f" + {layers['draft']} EAGLE draft" if layers["draft"] else ""
    if "gqa" in layer:
        per_layer = f"GQA K+V {layer['gqa']} B on this GPU"
    elif layer["indexer"]:
        per_layer = f"MLA {layer['mla']} + indexer {layer['indexer']} B, on every TP rank"
    else:
        per_layer = f"MLA {layer['mla']} B, on every TP rank"
    row(
        "KV bytes per token",
        f"{_n(p['kv_bytes_per_token'])} B",
        f"({layers['target']}{draft} layers) x {per_layer}",
    )
    row("KV pool", f"{_n(p['kv_pool_tokens'])} tokens", "")
    row("context length", f"{_n(p['context_tokens'])} tokens", "")
    row("full-context sequences at once", str(p["max_full_context_sequences"]), "")
    per_rank = own["running_requests_per_dp_rank"] if own else p["max_running_requests"]
    need = per_rank * p["context_tokens"]
    verdict = (
        "fits"
        if p["running_requests_fit"]
        else (
            f"does NOT fit: short by {_n(p['running_requests_shortfall_tokens'])} tokens "
            f"({need / max(p['kv_pool_tokens'], 1):.1f}x the pool)"
        )
    )
    label = f"max_running_requests {p['max_running_requests']} x context"
    if own and own["dp_attention_ranks"] > 1:
        label = f"{per_rank} running per DP rank x context"
    row(label, f"{_n(need)} tokens", verdict)
    for line in p["running_requests_advice"]:
        rows.append(f"    -> {line}")

    if p["layouts"]:
        section(
            f"Layouts on the same {p['gpu']} (each loads in SGLang {p['sglang_version']}; * this profile)"
        )
        rows.append(
            f"  {'layout':<40} {'weights':>10} {'KV pool':>10} {'KV tokens':>11} {'running':>8} "
            f"{'decode':>10}"
        )
        rows.append(
            f"  {'':<40} {'per GPU':>10} {'per GPU':>10} {'per DP rank':>11} {'per rank':>8} "
            f"{'floor':>10}"
        )
        for lay in p["layouts"]:
            mark = "*" if lay["own"] else " "
            name = lay["layout"] if lay["loads"] else lay["layout"] + " (does NOT load)"
            ranks = f" x {lay['dp_attention_ranks']}" if lay["dp_attention_ranks"] > 1 else ""
            rows.append(
                f"{mark} {name:<40} {_gib(lay['weights_gib_per_gpu']):>10} "
                f"{_gib(lay['kv_pool_gib_per_gpu']):>10} "
                f"{_opt(lay['kv_tokens_per_dp_rank']):>11}{ranks:<4} "
                f"{lay['running_requests_per_dp_rank']:>4} "
                f"{_ms(lay['decode_floor_ms']):>10}"
            )
        rows.append(
            "    -> DP attention: a copy of the attention weights per rank (less KV room), a KV "
            "pool and 1/DP of the requests per rank; decode floor at batch 1 (docs/layouts.md)"
        )

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
    if dec["interconnect_ms_per_step"]:
        row(
            "of which between nodes",
            f"{dec['interconnect_ms_per_step']:.3f} ms/step",
            dec["interconnect_note"],
        )
    if dec["speculative"]:
        row(
            "with EAGLE",
            f"{dec['eagle_floor_ms']:.3f} ms/token",
            f"assumes accept length {dec['eagle_accept_length']}; verifying "
            f"{dec['eagle_verify_tokens']} tokens touches ~{dec['eagle_distinct_experts_per_layer']} "
            "experts/layer",
        )
    if dec["measured_tpot_ms_baseline"] is not None:
        row(
            "measured (guide)",
            f"~{dec['measured_tpot_ms_baseline']:g} / ~{dec['measured_tpot_ms_eagle']:g} ms/token",
            "baseline / EAGLE: the floor ignores all-reduce, launch and routing overheads",
        )

    section(f"Cost (${p['gpu_hour_usd']:g} per GPU-hour: {p['price_source']})")
    row("per replica-hour", f"${p['cost_per_replica_hour_usd']:,.2f}", replica)
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

    if len(p["gpu_types"]) > 1:
        section("Per GPU type (Modal starts the first it can get)")
        for label, key, show in [
            ("GPU", "gpu", str),
            ("mem_fraction_static", "mem_fraction_static", str),
            (
                "DSA prefill / decode",
                "sparse_attention_backends",
                lambda b: f"{b['prefill']}/{b['decode']}" if b["prefill"] or b["decode"] else "-",
            ),
            ("MoE runner", "moe_runner_backend", lambda m: m or "SGLang's"),
            ("weights per GPU", "weights_gib_per_gpu", lambda g: f"{g:.2f} GiB"),
            ("KV pool", "kv_pool_tokens", lambda t: f"{_n(t)} tokens"),
            ("full-context sequences", "max_full_context_sequences", str),
            ("TPOT floor", "tpot_floor_ms", lambda ms: f"{ms:.2f} ms"),
            ("per replica-hour", "cost_per_replica_hour_usd", lambda c: f"${c:,.2f}"),
            ("cold start (cache warm)", "cold_start_seconds", lambda s: f"{s:,} s"),
        ]:
            row(
                label,
                show(p["gpu_types"][0][key]),
                "   ".join(show(g[key]) for g in p["gpu_types"][1:]),
            )

    section(f"Flags beside SGLang {p['sglang_version']}'s own choices")
    if p["sglang_own_choices_unrecorded"]:
        rows.append(f"  {p['sglang_own_choices_unrecorded']}")
    for own in p["sglang_own_choices"]:
        verdict = "overrides" if own["overrides"] else "same"
        value, alone = (_on_off(own[k]) for k in ("value", "sglang_choice"))
        row(own["flag"], value, f"{verdict}: SGLang alone picks {alone}")

    section("Findings")
    if not p["findings"]:
        rows.append("  none")
    for f in p["findings"]:
        where = ":".join(str(f[k]) for k in ("file", "line", "column") if f[k] is not None)
        rows.append(
            f"  {f['severity']}: [{f['rule']}] {where + ': ' if where else ''}{f['message']}"
        )
        if f["hint"]:
            rows.append(f"      {f['hint']}")
    for s in p["silenced"]:
        rows.append(f"  silenced: [{s['rule']}] {s['reason']}")
    for r in p["recipe_departures"]:
        rows.append(
            f"  departs from the {r['mode']} recipe on {r['gpu']}: `{r['recipe']}`, here "
            f"{r['found']}: {r['reason']}"
        )

    width = max(len(r[0]) for r in rows if isinstance(r, tuple))
    vwidth = max(len(r[1]) for r in rows if isinstance(r, tuple))
    head = f"plan: {p['profile']} ({p['model']} on {replica}, SGLang {p['sglang_version']})"
    out = [head, f"architecture: {p['attention_design']}, from {p['architecture_source']}"]
    for r in rows:
        if isinstance(r, str):
            out.append(r)
        else:
            label, value, note = r
            out.append(f"  {label:<{width}}  {value:>{vwidth}}  {note}".rstrip())
    return "\n".join(out) + "\n"


def _strict_json(plan: dict) -> str:
    """JSON as RFC 8259 defines it: no Infinity or NaN, which strict parsers refuse."""
    try:
        return json.dumps(plan, indent=2, allow_nan=False) + "\n"
    except ValueError as exc:
        raise UserError(f"plan --json: a figure is not a finite number ({exc})") from None


def run(ref: str, utilization: float, as_json: bool) -> tuple[str, bool]:
    """Plan a profile: (output text, whether any rule found an error)."""
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
    text = _strict_json(plan) if as_json else format_table(plan)
    return text, any(p.severity == "error" for p in problems)
