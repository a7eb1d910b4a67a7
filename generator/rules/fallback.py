"""Fallback GPU types (gpu.fallback): each type Modal may start is checked as it would run."""

from __future__ import annotations

from collections.abc import Iterator

from generator.capacity import memory as capacity
from generator.profile.deployment import Deployment
from generator.rules.engine import Finding, rule
from generator.rules.sglang_flags import flag_problems
from generator.sglang.fallback import on_fallback

# --- Fallback GPU types (gpu.fallback): each type Modal may start is checked as it would run --------


def _fallbacks(d: Deployment) -> Iterator[tuple[int, Deployment]]:
    for index, entry in enumerate(d.gpu.fallback):
        if entry.type != d.gpu.type:
            yield index, on_fallback(d, entry)


@rule("fallback-gpu-type", "error", "A fallback GPU type repeats the primary or another fallback.")
def _fallback_type(d: Deployment):
    seen = {d.gpu.type}
    for index, entry in enumerate(d.gpu.fallback):
        if entry.type in seen:
            yield Finding(
                f"Modal already tries {entry.type} before this entry; list each GPU type once. "
                f"Found: gpu.type={d.gpu.type}, fallback={[f.type for f in d.gpu.fallback]}",
                ("gpu", "fallback", index, "type"),
            )
        seen.add(entry.type)


@rule("fallback-flags", "error", "A fallback GPU type's flag set that its SGLang version rejects.")
def _fallback_flags(d: Deployment):
    primary = {f.message for f in flag_problems(d, "error")}  # reported by sglang-flag already
    for index, variant in _fallbacks(d):
        for finding in flag_problems(variant, "error"):
            if finding.message not in primary:
                yield Finding(
                    f"on {variant.gpu.type} (set it in this gpu.fallback entry): {finding.message}",
                    ("gpu", "fallback", index, "type"),
                )


@rule("fallback-kv-pool", "error", "A fallback GPU type cannot hold one full-context sequence.")
def _fallback_kv_pool(d: Deployment):
    for index, variant in _fallbacks(d):
        cap = capacity.capacity(variant)
        if cap is not None and cap.kv_pool_tokens < cap.context_tokens:
            yield Finding(
                f"on {variant.gpu.type} the KV pool holds {max(cap.kv_pool_tokens, 0):,} tokens, "
                f"fewer than one sequence of {cap.context_tokens:,}: a replica that starts there "
                "cannot serve the context the profile promises; drop it, raise its "
                "mem_fraction_static, or lower sglang.context_length. "
                f"Found: mem_fraction_static={variant.sglang.mem_fraction_static}",
                ("gpu", "fallback", index, "type"),
            )


@rule(
    "fallback-smaller-pool", "warning", "A fallback GPU type holds fewer tokens than the primary."
)
def _fallback_smaller_pool(d: Deployment):
    primary = capacity.capacity(d)
    for index, variant in _fallbacks(d):
        cap = capacity.capacity(variant)
        if primary is None or cap is None or cap.kv_pool_tokens < cap.context_tokens:
            continue
        if cap.kv_pool_tokens < primary.kv_pool_tokens:
            yield Finding(
                f"on {variant.gpu.type} the KV pool holds {cap.kv_pool_tokens:,} tokens "
                f"({cap.max_full_context_sequences} full-context sequences at once) against "
                f"{primary.kv_pool_tokens:,} ({primary.max_full_context_sequences}) on "
                f"{d.gpu.type}; long prompts queue sooner on a fallback replica. "
                f"Found: {variant.gpu.type} {cap.kv_pool_tokens} vs {d.gpu.type} "
                f"{primary.kv_pool_tokens} tokens",
                ("gpu", "fallback", index, "type"),
            )
