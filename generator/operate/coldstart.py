"""Cold start measured on the client side: from a deploy (or a request) with zero replicas
running to /health answering and then to the first streamed token, beside `plan`'s estimate.

The container logs its own phase timeline (templates/modal_app.py.j2); this is the number a user
waits for. Used by the canary's cold-start gate and by `bench --cold-start`.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import openai

from generator.endpoint.http import Endpoint
from generator.operate.smoke import NO_THINKING, CheckFailed, describe_error, wait_for_health


def _reasoning(delta: Any) -> str:
    return getattr(delta, "reasoning_content", None) or (delta.model_extra or {}).get(
        "reasoning_content"
    )


def first_token_s(
    base_url: str, api_key: str, model: str, proxy_headers: dict[str, str] | None, timeout: float
) -> float:
    """Seconds until one streamed request's first token."""
    client = Endpoint.for_sglang(base_url, api_key, proxy_headers, request_s=timeout).openai()
    t0 = time.monotonic()
    with client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            stream=True,
            extra_body=NO_THINKING,
        )
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None and (delta.content or _reasoning(delta)):
                return time.monotonic() - t0
    raise CheckFailed("the stream carried no token")


def measure(
    base_url: str,
    api_key: str,
    model: str,
    started: float,
    timeout_s: float,
    err: TextIO,
    proxy_headers: dict[str, str] | None = None,
    estimate_s: float | None = None,
) -> dict[str, Any]:
    """Seconds from `started` (time.monotonic()) to healthy and to the first token; raises
    CheckFailed when the endpoint never serves."""
    try:
        wait_for_health(base_url, api_key, timeout_s, err, proxy_headers)
    except CheckFailed as e:
        raise CheckFailed(f"never served: {e}") from None
    healthy = time.monotonic() - started
    try:
        first_token_s(base_url, api_key, model, proxy_headers, 300)
    except (openai.OpenAIError, CheckFailed) as e:
        detail = describe_error(e) if isinstance(e, openai.OpenAIError) else str(e)
        raise CheckFailed(f"healthy after {healthy:.1f} s, then {detail}") from None
    measured = time.monotonic() - started
    return {
        "measured_s": round(measured, 1),
        "healthy_s": round(healthy, 1),
        "estimated_s": estimate_s,
        "ratio": round(measured / estimate_s, 3) if estimate_s else None,
    }


def describe(m: dict[str, Any]) -> str:
    ratio = f"{m['ratio']:.2f}x" if m["ratio"] is not None else "-"
    estimate = f"{m['estimated_s']:g} s" if m["estimated_s"] is not None else "none"
    return (
        f"first token {m['measured_s']:.1f} s from zero replicas (healthy at {m['healthy_s']:.1f} "
        f"s); plan's estimate {estimate}; measured/estimated {ratio}"
    )
