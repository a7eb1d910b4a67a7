"""Rules about the model family: the architecture's design, the catalog recipe (parsers,
speculative decoding, trust_remote_code), and each family's known-bad settings from its upstream
issues. A family-specific rule says so in its title and applies to that family only
(catalog `family`); the GLM-5.x FP8-KV rules live in sizing.py beside the KV arithmetic.
"""

from __future__ import annotations

from generator.capacity import memory as capacity
from generator.profile.checkpoint import known_model
from generator.profile.deployment import Deployment
from generator.profile.models import catalog_entry, catalog_warnings
from generator.rules.engine import Finding, rule


@rule(
    "architecture-unmodelled",
    "error",
    "The model's attention design (or a state-pool setting) is one the memory model does not cover.",
)
def _unmodelled(d: Deployment):
    refused = capacity.refusal(d)
    if refused is not None:
        yield Finding(f"{refused} Found: model.id={d.model.id}", ("model", "id"))


@rule(
    "model-family-unknown",
    "warning",
    "The model's catalog family is not one the family rules know: none of them checks it.",
)
def _family_unknown(d: Deployment):
    for problem in catalog_warnings(d.model.id, d.profile_path):
        if problem.rule == "model-family-unknown":
            yield Finding(problem.message, problem.path or (), problem.location)


def _recipe(d: Deployment):
    entry = catalog_entry(d.model.id, d.profile_path)
    return entry.recipe if entry else None


@rule(
    "parser-not-the-recipes",
    "warning",
    "A reasoning or tool-call parser differs from the catalog recipe for this model.",
)
def _parsers(d: Deployment):
    recipe = _recipe(d)
    if recipe is None:
        return
    for field, want in (
        ("reasoning_parser", recipe.reasoning_parser),
        ("tool_call_parser", recipe.tool_call_parser),
    ):
        have = getattr(d.sglang, field)
        if want and have != want:
            yield Finding(
                f"{d.model.id} emits the format the {want!r} parser reads ({recipe.source}); "
                f"another parser leaves reasoning or tool calls in the content, which clients "
                f"and `make smoke` then miss. Set sglang.{field}: {want}. Found: {field}={have}",
                ("sglang", field),
            )


@rule(
    "trust-remote-code-required",
    "error",
    "The model's recipe needs model.trust_remote_code: true.",
)
def _trust_remote_code(d: Deployment):
    recipe = _recipe(d)
    if recipe and recipe.trust_remote_code and not d.model.trust_remote_code:
        yield Finding(
            f"SGLang loads {d.model.id} only with the code its repository ships ({recipe.source}); "
            "set model.trust_remote_code: true (rendered as --trust-remote-code), after reading "
            "that code at the pinned revision. Found: trust_remote_code=false",
            ("model", "trust_remote_code"),
        )


def _draft_path(d: Deployment) -> bool:
    return any(
        a in ("--speculative-draft-model-path", "--speculative-draft-model")
        or a.startswith(("--speculative-draft-model-path=", "--speculative-draft-model="))
        for a in d.sglang.extra_args
    )


@rule(
    "speculative-without-draft",
    "error",
    "Speculative decoding on a checkpoint with no MTP head and no draft model.",
)
def _speculative_draft(d: Deployment):
    model = known_model(d)
    if model is None or not d.sglang.speculative.enabled:
        return
    if model.mtp_layers == 0 and not _draft_path(d):
        yield Finding(
            f"{d.model.id}'s checkpoint has no MTP (next-n) layer for {d.sglang.speculative.algorithm} "
            "to draft with, and no --speculative-draft-model-path is given; SGLang fails to start. "
            "Set sglang.speculative.enabled: false (the catalog recipe serves it without). "
            f"Found: speculative.algorithm={d.sglang.speculative.algorithm}",
            ("sglang", "speculative", "enabled"),
        )


def _family(d: Deployment) -> str | None:
    entry = catalog_entry(d.model.id, d.profile_path)
    return entry.family if entry else None


def _arg(d: Deployment, name: str) -> str | None:
    args = list(d.sglang.extra_args)
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# --- Qwen3.5 (hybrid linear attention) -------------------------------------------------------


@rule(
    "qwen35-speculative-no-buffer",
    "error",
    "Qwen3.5 only: speculative decoding with the radix cache needs the extra_buffer state strategy.",
    "sgl-project/sglang#19391 (the ValueError), QwenLM/Qwen3.8#108",
)
def _qwen35_no_buffer(d: Deployment):
    if _family(d) != "qwen3.5" or not d.sglang.speculative.enabled:
        return
    strategy = _arg(d, "--mamba-scheduler-strategy") or _arg(d, "--mamba-radix-cache-strategy")
    if strategy == "no_buffer" and "--disable-radix-cache" not in d.sglang.extra_args:
        yield Finding(
            "SGLang refuses speculative decoding for Qwen3_5MoeForConditionalGeneration with the "
            'radix cache under the no_buffer state strategy ("not compatible with radix cache"); '
            "drop the strategy flag (auto picks extra_buffer on CUDA) or add "
            f"--disable-radix-cache. Found: strategy={strategy}",
            ("sglang", "extra_args"),
        )


# --- MiniMax-M2.x (GQA) ----------------------------------------------------------------------


@rule(
    "minimax-append-think-leaks-reasoning",
    "warning",
    "MiniMax-M2.5+ only: the minimax-append-think parser leaves the reasoning in the content.",
    "sgl-project/sglang#22637",
)
def _minimax_append_think(d: Deployment):
    if _family(d) == "minimax-m2" and d.sglang.reasoning_parser == "minimax-append-think":
        yield Finding(
            "MiniMax-M2.5 and later emit their own <think> tag; minimax-append-think puts "
            "everything, tags included, into `content` and never fills `reasoning_content`. Use "
            "sglang.reasoning_parser: minimax. Found: reasoning_parser=minimax-append-think",
            ("sglang", "reasoning_parser"),
        )


# --- Kimi K2.x (MLA) -------------------------------------------------------------------------


@rule(
    "kimi-tokenspeed-mla-needs-fp8-kv",
    "error",
    "Kimi K2.x only: the tokenspeed_mla attention backend requires an FP8 KV cache.",
    "sgl-project/sglang#28201",
)
def _kimi_tokenspeed(d: Deployment):
    if _family(d) != "kimi-k2" or d.sglang.attention.backend != "tokenspeed_mla":
        return
    if d.sglang.kv_cache_dtype != "fp8_e4m3":
        yield Finding(
            "SGLang's tokenspeed_mla backend fails to start with the default KV dtype; the Kimi "
            "recipes pair it with --kv-cache-dtype fp8_e4m3. Set sglang.kv_cache_dtype: "
            f"fp8_e4m3 or another attention backend. Found: kv_cache_dtype={d.sglang.kv_cache_dtype}",
            ("sglang", "kv_cache_dtype"),
        )
