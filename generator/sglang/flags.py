"""The SGLang flag set: the server arguments a deployment launches SGLang with, in its version's dialect."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator import catalog
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment
from generator.sglang.defaults import choice, effective
from generator.sglang.recipes import recipe_note
from generator.sglang.versions import Flag, dialect

__all__ = [
    "DEFAULT_SETTINGS",
    "Flag",
    "OwnChoice",
    "flag_note",
    "flag_notes",
    "flag_set",
    "own_choices",
    "server_args",
]


def _number(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def flag_set(deployment: Deployment) -> list[Flag]:
    """The profile's SGLang settings as flags, in a stable order. The API key is added at run time."""
    s = deployment.sglang
    words = dialect(s.version)
    flags: list[Flag] = []

    def add(option: str, value, *field: str | int) -> None:
        if value is None or value is False:
            return
        text = () if value is True else (value if isinstance(value, str) else _number(value),)
        if field and field[0] not in ("model", "volumes"):
            field = ("sglang", *field)
        flags.append(Flag(option, text, field or None))

    add("--model-path", deployment.model_path, "volumes", "weights", "mount_path")
    add("--served-model-name", deployment.model.served_model_name, "model", "served_model_name")
    add("--trust-remote-code", deployment.model.trust_remote_code, "model", "trust_remote_code")
    add("--host", "0.0.0.0")
    add("--port", s.port, "port")
    add("--tp-size", s.tensor_parallel_size, "tensor_parallel_size")
    if s.data_parallel_size > 1 and s.enable_dp_attention and words.attention_dp_flag:
        add(words.attention_dp_flag, s.data_parallel_size, "data_parallel_size")
    elif s.data_parallel_size > 1:
        add("--dp-size", s.data_parallel_size, "data_parallel_size")
        add("--enable-dp-attention", s.enable_dp_attention, "enable_dp_attention")
    if s.expert_parallel_size > 1:
        add("--ep-size", s.expert_parallel_size, "expert_parallel_size")
    add("--moe-a2a-backend", s.moe_a2a_backend, "moe_a2a_backend")
    add("--deepep-mode", s.deepep_mode, "deepep_mode")
    add("--moe-dense-tp-size", s.moe_dense_tp_size, "moe_dense_tp_size")
    if (
        deployment.cluster
    ):  # --node-rank and --dist-init-addr come from Modal at start (CLUSTER_ARGS)
        c = deployment.cluster
        if c.pipeline_parallel_size > 1:
            flags.append(
                Flag("--pp-size", (str(c.pipeline_parallel_size),), ("cluster", "parallelism"))
            )
        flags.append(Flag("--nnodes", (str(c.nodes),), ("cluster", "nodes")))
    add("--kv-cache-dtype", s.kv_cache_dtype, "kv_cache_dtype")
    add("--mem-fraction-static", s.mem_fraction_static, "mem_fraction_static")
    add("--max-running-requests", s.max_running_requests, "max_running_requests")
    add("--context-length", s.context_length, "context_length")
    add("--chunked-prefill-size", s.chunked_prefill_size, "chunked_prefill_size")
    add("--max-prefill-tokens", s.max_prefill_tokens, "max_prefill_tokens")
    add("--reasoning-parser", s.reasoning_parser, "reasoning_parser")
    add("--tool-call-parser", s.tool_call_parser, "tool_call_parser")
    if s.speculative.enabled:
        spec = s.speculative
        add("--speculative-algorithm", spec.algorithm, "speculative", "algorithm")
        add("--speculative-num-steps", spec.num_steps, "speculative", "num_steps")
        add("--speculative-eagle-topk", spec.eagle_topk, "speculative", "eagle_topk")
        add(
            "--speculative-num-draft-tokens",
            spec.num_draft_tokens,
            "speculative",
            "num_draft_tokens",
        )
    backend = s.attention.backend
    if backend in ("dsa", "nsa"):
        backend = words.sparse_attention_backend
    add("--attention-backend", backend, "attention", "backend")
    add(
        words.sparse_prefill_flag,
        s.attention.sparse_prefill_backend,
        "attention",
        "sparse_prefill_backend",
    )
    add(
        words.sparse_decode_flag,
        s.attention.sparse_decode_backend,
        "attention",
        "sparse_decode_backend",
    )
    add("--moe-runner-backend", s.moe_runner_backend, "moe_runner_backend")
    if s.enable_flashinfer_allreduce_fusion:
        option, *values = words.allreduce_fusion
        add(option, values[0] if values else True, "enable_flashinfer_allreduce_fusion")
    add("--enable-metrics", s.enable_metrics, "enable_metrics")
    add("--enable-cache-report", s.enable_cache_report, "enable_cache_report")
    add("--watchdog-timeout", s.watchdog_timeout, "watchdog_timeout")
    flags.extend(_extra_flags(s.extra_args))
    return flags


# argparse reads "-1" as a value, not an option, when no option looks like a number.
_NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")  # matched whole


def _extra_flags(extra_args: tuple[str, ...]) -> list[Flag]:
    """Group extra_args into flags: an option followed by its values (`--a=b` is split).

    Each flag's field is its place in the list, so problems point at the right line.
    """
    flags: list[Flag] = []
    for index, arg in enumerate(extra_args):
        field = ("sglang", "extra_args", index)
        if arg.startswith("--") and "=" in arg:
            option, value = arg.split("=", 1)
            flags.append(Flag(option, (value,), field))
        elif (arg.startswith("-") and not _NEGATIVE_NUMBER.fullmatch(arg)) or not flags:
            flags.append(Flag(arg, (), field))
        else:
            last = flags[-1]
            flags[-1] = Flag(last.option, (*last.values, arg), last.field)
    return flags


def server_args(deployment: Deployment) -> list[str]:
    """The server arguments shared by `sglang.launch_server` and `sglang.compile_deep_gemm`."""
    argv: list[str] = []
    for flag in flag_set(deployment):
        argv.extend(flag.argv)
    return argv


# Profile field -> the key of that setting in manifests/sglang-<version>-defaults.yaml.
_DEFAULTS_KEY = {
    ("sglang", "kv_cache_dtype"): "kv_cache_dtype",
    ("sglang", "attention", "backend"): "attention_backend",
    ("sglang", "attention", "sparse_prefill_backend"): "sparse_prefill_backend",
    ("sglang", "attention", "sparse_decode_backend"): "sparse_decode_backend",
    ("sglang", "moe_runner_backend"): "moe_runner_backend",
    ("sglang", "enable_flashinfer_allreduce_fusion"): "enable_flashinfer_allreduce_fusion",
}
DEFAULT_SETTINGS = _DEFAULTS_KEY  # public: `migrate` compares SGLang's choices per setting

# Why the guide's value overrides SGLang's own choice, by defaults key.
OVERRIDE_REASONS = {
    "kv_cache_dtype": "FP8 KV loses GLM-5.1 accuracy (sglang#22671)",
    "sparse_prefill_backend": "the guide's GLM-5 B200 recipe value; no upstream recipe pairs "
    "it with BF16 KV",
    "enable_flashinfer_allreduce_fusion": "the guide turns fusion on; this SGLang does not "
    "auto-enable it for GlmMoeDsaForCausalLM",
}


@dataclass(frozen=True)
class OwnChoice:
    """A rendered flag beside what the pinned SGLang would choose for it by itself."""

    flag: Flag
    setting: str  # the key in manifests/sglang-<version>-defaults.yaml
    value: Any  # the profile's value as SGLang reads it
    sglang_choice: Any  # SGLang's own choice for this model and GPU; None when not recorded
    source: str

    @property
    def overrides(self) -> bool:
        return self.sglang_choice is not None and self.value != self.sglang_choice

    def describe(self, version: str) -> str:
        if self.sglang_choice is None:
            return f"SGLang {version} records no choice of its own here"
        if not self.overrides:
            return f"same as SGLang {version}'s own choice"
        why = OVERRIDE_REASONS.get(self.setting)
        return f"overrides SGLang {version}'s {_shown(self.sglang_choice)}" + (
            f": {why}" if why else ""
        )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def own_choices(deployment: Deployment) -> list[OwnChoice]:
    """For each rendered flag with an automatic SGLang choice, that choice (defaults.py)."""
    s = deployment.sglang
    model = known_model(deployment)
    if model is None:
        return []
    gpu = catalog.gpu(deployment.gpu.type)
    kv = effective(s.version, "kv_cache_dtype", s.kv_cache_dtype, model, gpu, s)
    out = []
    for flag in flag_set(deployment):
        key = _DEFAULTS_KEY.get(flag.field)
        if key is None:
            continue
        picked = choice(s.version, key, model, gpu, kv, s.tensor_parallel_size)
        if picked is None:
            continue
        # The value as the rendered argv passes it (a bare switch is True), so plan, --explain
        # and the app say the same word (0.5.23: --flashinfer-allreduce-fusion-backend auto).
        value: Any = flag.values[0] if flag.values else True
        if key == "attention_backend" and value == "nsa" and picked.value == "dsa":
            value = "dsa"  # 0.5.23 reads nsa as the deprecated alias of dsa
        out.append(OwnChoice(flag, key, value, picked.value, picked.source))
    return out


def flag_note(flag: Flag, deployment: Deployment | None = None) -> str:
    """A short why for a flag, and whether it overrides the pinned SGLang's own choice."""
    if deployment is None:
        return _why(flag)
    own = next((o for o in own_choices(deployment) if o.flag == flag), None)
    return _note(flag, deployment, own)


def flag_notes(deployment: Deployment) -> list[tuple[Flag, str]]:
    """Every flag of the deployment with its note (SGLang's own choices looked up once)."""
    owns = {own.flag: own for own in own_choices(deployment)}
    return [(f, _note(f, deployment, owns.get(f))) for f in flag_set(deployment)]


def _note(flag: Flag, deployment: Deployment, own: OwnChoice | None) -> str:
    note = _why(flag)
    if "GLM-5" in note:
        model = known_model(deployment)
        if model is None or model.family != "glm5":
            note = _WHY_OTHER_FAMILIES.get(flag.option, "")
    if own is not None:
        said = own.describe(deployment.sglang.version)
        if own.setting == "kv_cache_dtype" and own.overrides:
            said = f"overrides SGLang {deployment.sglang.version}'s {own.sglang_choice}"
        note = f"{note}; {said}" if note else said
    upstream = recipe_note(deployment, flag)
    if upstream:
        note = f"{note}; {upstream}" if note else upstream
    return note


# The same flags on a model of another family: the GLM-5.x reasons do not apply.
_WHY_OTHER_FAMILIES = {
    "--kv-cache-dtype": "explicit, so the KV dtype never changes under you with SGLang's default",
    "--speculative-algorithm": "drafts with the checkpoint's MTP head: no draft model",
}


def _why(flag: Flag) -> str:
    value = flag.values[0] if flag.values else None
    if flag.option == "--kv-cache-dtype" and value in ("bfloat16", "bf16"):
        return "explicit: FP8 KV hurts GLM-5.1 accuracy (sglang#22671)"
    if flag.option == "--speculative-algorithm" and value == "EAGLE":
        return "drafts with the checkpoint's MTP head: no draft model"
    if flag.option == "--mem-fraction-static":
        return "weights + KV pool; the rest is activations and CUDA graphs"
    if flag.option == "--attention-backend" and value in ("dsa", "nsa"):
        return "GLM-5.1's DeepSeek sparse attention (spelt nsa before SGLang 0.5.13)"
    if flag.option in (
        "--enable-flashinfer-allreduce-fusion",
        "--flashinfer-allreduce-fusion-backend",
    ):
        return "all-reduce fused with the next RMSNorm (FlashInfer; Hopper and Blackwell)"
    if flag.option == "--nnodes":
        return "one replica across nodes; each adds its --node-rank and --dist-init-addr at start"
    if flag.option == "--pp-size":
        return "a pipeline stage per node"
    if flag.option == "--attn-dp-size":
        return (
            "DP attention: each group of TP / DP GPUs runs its own requests and KV pool "
            "(the recipes' --dp N --enable-dp-attention, which 0.5.23 deprecates for this)"
        )
    if flag.option == "--enable-dp-attention":
        return "DP attention: each group of TP / DP GPUs runs its own requests and KV pool"
    if flag.option == "--dp-size":
        return "data-parallel groups: replicas, or attention groups with --enable-dp-attention"
    if flag.option == "--ep-size":
        return "routed experts split whole over the GPUs, not sliced (the load checks need it)"
    if flag.option == "--moe-a2a-backend":
        return "how tokens reach the GPU holding their expert (all-to-all, not all-reduce)"
    if flag.option == "--deepep-mode":
        return "DeepEP kernels: normal (prefill), low_latency (decode) or auto (both)"
    if flag.option == "--moe-dense-tp-size":
        return "TP of the dense MLP layers; 1 keeps a whole copy on each GPU"
    if flag.option == "--enable-metrics":
        return "Prometheus metrics at /metrics"
    if flag.option == "--enable-cache-report":
        return "usage.prompt_tokens_details.cached_tokens: prefix-cache hits per request"
    return ""
