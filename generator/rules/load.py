"""Rules on the parallel layout: what SGLang checks while it creates one rank's weights (from
config.json, before anything deploys) and how the layout settings fit together.

The per-rank arithmetic and each condition's SGLang source line are in capacity/layout.py.
"""

from __future__ import annotations

from generator.capacity.layout import EP_SPANNING_A2A, layout_of, load_problems, loading_layouts
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule


@rule(
    "layout-load",
    "error",
    "SGLang would refuse to create one rank's weights under this layout (read from config.json).",
)
def _layout_load(d: Deployment):
    model = known_model(d)
    if model is None:
        return
    layout = layout_of(d)
    problems = load_problems(model, layout)
    if not problems:
        return
    loads = loading_layouts(model, layout.tp, layout.moe_runner)
    fix = (
        "; or ".join(f"set {lay.settings(layout)} ({lay.name})" for lay in loads)
        if loads
        else f"none of TP only, TP + EP, DP attention + EP loads at TP {layout.tp}: change the "
        "GPU count"
    )
    said = "; ".join(f"{p.what} ({p.source})" for p in problems)
    if d.sglang.version != "0.5.23":  # the same checks, at other lines (e.g. 0.5.10 fp8.py:818)
        said += " (lines of SGLang 0.5.23)"
    yield Finding(
        f"SGLang {d.sglang.version} fails while creating the weights of {model.id} under "
        f"{layout.name}, after the checkpoint is read, on every cold start: {said}. To load on "
        f"these {layout.tp} GPUs: {fix}. Found: {layout.name}",
        ("sglang", _setting_that_moves(d, problems[0].part)),
    )


def _setting_that_moves(d: Deployment, part: str) -> str:
    """The layout setting a load problem of this part of the model is fixed by."""
    s = d.sglang
    if part == "experts":
        return "expert_parallel_size"
    if part == "attention" and s.enable_dp_attention:
        return "data_parallel_size"
    if part == "dense" and s.moe_dense_tp_size is not None:
        return "moe_dense_tp_size"
    return "tensor_parallel_size"


@rule(
    "layout-settings",
    "error",
    "Layout settings that SGLang would override, ignore or refuse.",
)
def _layout_settings(d: Deployment):
    s = d.sglang
    tp = s.tensor_parallel_size
    if s.moe_a2a_backend in EP_SPANNING_A2A and s.expert_parallel_size != tp:
        yield Finding(
            f"with moe_a2a_backend {s.moe_a2a_backend} SGLang sets the expert parallel size to "
            f"the tensor parallel size itself (sglang/srt/arg_groups/overrides.py:1611 "
            f"`_a2a_ep_size`); say so: set sglang.expert_parallel_size: {tp}. "
            f"Found: expert_parallel_size={s.expert_parallel_size}",
            ("sglang", "expert_parallel_size"),
        )
    if s.expert_parallel_size > tp:
        yield Finding(
            f"the expert parallel size cannot exceed the {tp} GPUs of the TP group; set "
            f"sglang.expert_parallel_size: {tp}. Found: expert_parallel_size="
            f"{s.expert_parallel_size}",
            ("sglang", "expert_parallel_size"),
        )
    if s.deepep_mode is not None and s.moe_a2a_backend not in ("deepep", "mori", "pplx"):
        yield Finding(
            "deepep_mode only applies with moe_a2a_backend: deepep (SGLang reads it for the "
            "DeepEP-class backends only, sglang/srt/arg_groups/moe_hook.py:362); set "
            "sglang.moe_a2a_backend: deepep or remove deepep_mode. "
            f"Found: deepep_mode={s.deepep_mode}, moe_a2a_backend={s.moe_a2a_backend}",
            ("sglang", "deepep_mode"),
        )
    if s.enable_dp_attention and s.data_parallel_size == 1:
        yield Finding(
            "DP attention with one DP group is plain TP attention; set "
            f"sglang.data_parallel_size (e.g. {tp}) or enable_dp_attention: false. "
            "Found: data_parallel_size=1",
            ("sglang", "data_parallel_size"),
        )
    if s.enable_dp_attention and tp % s.data_parallel_size:
        yield Finding(
            f"DP attention splits the {tp} TP GPUs into data_parallel_size groups, so TP must be "
            "divisible by it (sglang/srt/arg_groups/parallel_hook.py:326 "
            "`assert cfg.tp_size % cfg.attn_dp_size == 0`); set sglang.data_parallel_size to a "
            f"divisor of {tp}. Found: data_parallel_size={s.data_parallel_size}",
            ("sglang", "data_parallel_size"),
        )
    if s.moe_dense_tp_size is not None and tp % s.moe_dense_tp_size:
        yield Finding(
            f"moe_dense_tp_size must divide the {tp} TP GPUs (sglang/srt/layers/dp_attention.py "
            f"in 0.5.10: `dp_size // (tp_size // moe_dense_tp_size)`). "
            f"Found: moe_dense_tp_size={s.moe_dense_tp_size}",
            ("sglang", "moe_dense_tp_size"),
        )
