"""Agent traffic for `bench --workload agent`: multi-turn conversations that share one long
system prompt and one set of tool definitions, as a coding or tool-using agent sends them.

Reports TTFT per turn and the prefix-cache hit rate from SGLang's own count: with
`--enable-cache-report` (profile `sglang.enable_cache_report`, on by default) SGLang 0.5.23 puts
`usage.prompt_tokens_details.cached_tokens` in every response, 0.5.17 only in those that hit the
cache (`null` on a miss); without the flag it is `null` (srt/entrypoints/openai/
usage_processor.py). Hit rate = cached / prompt tokens.
EAGLE has been seen to cut prefix-cache hits on long agent prompts from 97% to 40%
(sglang#32459): this is the workload that shows it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import openai

from generator.endpoint.http import BadNumber, count
from generator.operate.smoke import WEATHER_TOOL, describe_error

AGENT_TOOLS = [
    WEATHER_TOOL,
    {
        "type": "function",
        "function": {
            "name": "search_code",
            "description": "Search the repository for a regular expression.",
            "parameters": {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string"},
                    "max_results": {"type": "integer"},
                    "case_sensitive": {"type": "boolean"},
                },
                "required": ["pattern"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit_file",
            "description": "Replace a range of lines in a file.",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "text": {"type": "string"},
                },
                "required": ["path", "start_line", "end_line", "text"],
            },
        },
    },
]
NO_CACHE_REPORT = (
    "not reported: SGLang sends usage.prompt_tokens_details.cached_tokens only with "
    "--enable-cache-report (profile sglang.enable_cache_report)"
)


@dataclass
class Turn:
    conversation: int
    turn: int
    ok: bool
    ttft_s: float = 0.0
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int = 0
    error: str = ""


def _cached(usage: Any) -> int | None:
    details = getattr(usage, "prompt_tokens_details", None)
    if details is None:
        return None
    value = getattr(details, "cached_tokens", None)
    if value is None:
        return None
    return count(value, "cached_tokens", at_most=count(usage.prompt_tokens, "prompt_tokens"))


async def _turn(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[dict[str, Any]],
    output_tokens: int,
    conversation: int,
    turn: int,
) -> tuple[Turn, str]:
    t0 = time.perf_counter()
    first, text, usage = None, [], None
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            tools=AGENT_TOOLS,
            tool_choice="none",  # text turns: each is a full generation of output_tokens
            max_tokens=output_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True, "chat_template_kwargs": {"enable_thinking": False}},
        )
        async for chunk in stream:
            usage = chunk.usage or usage
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
                text.append(chunk.choices[0].delta.content)
    except openai.OpenAIError as e:
        return Turn(conversation, turn, False, error=describe_error(e)), ""
    if first is None:
        return Turn(conversation, turn, False, error="stream carried no tokens"), ""
    try:  # the server's counts feed the hit rate and throughput: checked before they count
        prompt = count(usage.prompt_tokens, "prompt_tokens") if usage else None
        cached = _cached(usage) if usage else None
        out = len(text)
        if usage:
            out = count(usage.completion_tokens, "completion_tokens", at_most=output_tokens)
    except BadNumber as e:
        return Turn(conversation, turn, False, error=str(e)), ""
    result = Turn(
        conversation,
        turn,
        True,
        ttft_s=first - t0,
        prompt_tokens=prompt,
        cached_tokens=cached,
        output_tokens=out,
    )
    return result, "".join(text)


async def conversation(
    client: openai.AsyncOpenAI,
    model: str,
    system: str,
    index: int,
    turns: int,
    output_tokens: int,
    user_prompt,
    label: str = "",
) -> list[Turn]:
    """One agent session: the shared system prompt, then `turns` user messages, each answer
    appended before the next (so turn n's prompt extends turn n-1's)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    results = []
    for t in range(turns):
        messages.append({"role": "user", "content": user_prompt(f"agent-{label}c{index}-t{t}")})
        result, answer = await _turn(client, model, messages, output_tokens, index, t + 1)
        results.append(result)
        if not result.ok:
            break  # the rest of the conversation would build on a missing answer
        messages.append({"role": "assistant", "content": answer})
    return results


def summarize_turns(results: list[Turn]) -> dict[str, Any]:
    """TTFT p50 and the cache hit rate per turn number and overall."""
    import numpy as np

    ok = [r for r in results if r.ok]
    # SGLang 0.5.17 sends prompt_tokens_details only when something was cached (null for a
    # miss: entrypoints/openai/usage_processor.py `_details_if_cached`). Once any turn reports
    # cached tokens the server has --enable-cache-report on, so a null is a miss (0), not a
    # turn to leave out (which would count only the hits).
    reporting = any(r.cached_tokens is not None for r in ok)
    reported = [r for r in ok if r.prompt_tokens] if reporting else []

    def hit_rate(rows: list[Turn]) -> float | None:
        prompt = sum(r.prompt_tokens or 0 for r in rows)
        return round(sum(r.cached_tokens or 0 for r in rows) / prompt, 3) if prompt else None

    per_turn = []
    for t in sorted({r.turn for r in results}):
        rows = [r for r in ok if r.turn == t]
        ttfts = [r.ttft_s for r in rows]
        per_turn.append(
            {
                "turn": t,
                "requests": sum(r.turn == t for r in results),
                "completed": len(rows),
                "ttft_ms_p50": round(float(np.percentile(ttfts, 50)) * 1000, 3) if ttfts else None,
                "mean_prompt_tokens": (
                    round(sum(r.prompt_tokens or 0 for r in rows) / len(rows), 1) if rows else None
                ),
                "cache_hit_rate": hit_rate([r for r in reported if r.turn == t]),
            }
        )
    return {
        "turns": per_turn,
        "cache_hit_rate": hit_rate(reported),
        "cache_report": bool(reported),
        "cache_note": None if reported or not ok else NO_CACHE_REPORT,
        "errors": sorted({r.error for r in results if not r.ok})[:5],
    }


async def run_level(
    client: openai.AsyncOpenAI,
    model: str,
    system: str,
    concurrency: int,
    turns: int,
    output_tokens: int,
    user_prompt,
) -> list[Turn]:
    """`concurrency` conversations at once."""
    batches = await asyncio.gather(
        *(
            conversation(
                client, model, system, i, turns, output_tokens, user_prompt, f"x{concurrency}"
            )
            for i in range(concurrency)
        )
    )
    return [r for batch in batches for r in batch]
