"""Release gates: what a canary must pass before it replaces the live app (generator/operate/release.py).

Each gate returns a `Gate` with pass/fail and the numbers behind it:

- `smoke`: the extended smoke. A streamed tool call whose arguments hold an integer, a boolean,
  a nested object and an array, each compared with the tool schema's type (sglang#35564: the
  glm45/glm47 parsers streamed an integer argument as a string); `reasoning_content` separate
  from `content` (no `<think>` text leaking into the answer); a JSON-mode answer that parses and
  matches its schema's types.
- `probe`: the correctness probe (generator/operate/probe.py), graded exactly against a threshold.
  It catches a broken deployment, it does not rank models.
- `latency`: TTFT and TPOT p50 at concurrency 1 against the profile's targets.
- `cold_start`: time to the first token from zero replicas, measured on the client side, beside
  `plan`'s estimate (measured / estimated).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import httpx
import openai

from generator.operate import coldstart, probe
from generator.operate.bench import _one_request, make_prompt
from generator.operate.smoke import (
    NO_THINKING,
    CheckFailed,
    check_models,
    describe_error,
)
from generator.profile.committed import bounded

BOOKING_TOOL = {
    "type": "function",
    "function": {
        "name": "book_table",
        "description": "Book a restaurant table.",
        "parameters": {
            "type": "object",
            "properties": {
                "restaurant": {"type": "string", "description": "Restaurant name"},
                "party_size": {"type": "integer", "description": "Number of guests"},
                "outdoor": {"type": "boolean", "description": "Sit outside"},
                "contact": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "phone": {"type": "string"},
                    },
                    "required": ["name", "phone"],
                },
                "dietary": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["restaurant", "party_size", "outdoor", "contact", "dietary"],
        },
    },
}
BOOKING_PROMPT = (
    "Book a table at Chez Nous for 4 people, outdoors, for Ada (phone 555-0100); dietary needs: "
    "vegetarian and gluten-free. Use book_table."
)
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population_millions": {"type": "number"}},
    "required": ["city", "population_millions"],
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
PROBE_CONCURRENCY = 8
LATENCY_INPUT_TOKENS = 512
LATENCY_OUTPUT_TOKENS = 64


@dataclass
class Gate:
    name: str
    passed: bool
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What the deploy history keeps: bounded, finite (generator/profile/committed.py)."""
        return bounded(asdict(self))


@dataclass(frozen=True)
class Targets:
    """The thresholds, from the profile's `release` section (schema defaults when unset)."""

    probe_min_accuracy: float = 0.9
    ttft_p50_ms: float | None = 1000.0
    tpot_p50_ms: float | None = 30.0
    latency_requests: int = 8
    cold_start_max_ratio: float | None = None


# -- type check -------------------------------------------------------------------------------
def type_errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Where `value` does not have the JSON schema's types ('party_size: integer expected, got
    string "4"'); required properties that are absent count too."""
    kind = schema.get("type")
    where = path or "(root)"
    if kind in _JSON_TYPES:
        ok = isinstance(value, _JSON_TYPES[kind])
        if kind in ("integer", "number") and isinstance(value, bool):
            ok = False  # True is an int to Python, not to JSON Schema
        if not ok:
            return [f"{where}: {kind} expected, got {_json_kind(value)} {json.dumps(value)[:40]}"]
    errors: list[str] = []
    if kind == "object":
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(f"{path + '.' if path else ''}{key}: missing")
        for key, sub in props.items():
            if key in value:
                errors += type_errors(value[key], sub, f"{path + '.' if path else ''}{key}")
    elif kind == "array":
        for i, item in enumerate(value):
            errors += type_errors(item, schema.get("items") or {}, f"{where}[{i}]")
    return errors


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if isinstance(value, _JSON_TYPES[name]):
            return name
    return type(value).__name__


def _reasoning(delta: Any) -> str:
    return getattr(delta, "reasoning_content", None) or (delta.model_extra or {}).get(
        "reasoning_content"
    )


# -- smoke, extended --------------------------------------------------------------------------
def check_typed_tool_call(client: openai.OpenAI, model: str) -> str:
    """Stream a tool call and compare its arguments with the schema's types."""
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": BOOKING_PROMPT}],
        tools=[BOOKING_TOOL],
        tool_choice="auto",
        max_tokens=512,
        temperature=0,
        stream=True,
        extra_body=NO_THINKING,
    )
    name, pieces, finish, chunks = "", [], None, 0
    for chunk in stream:
        if not chunk.choices:
            continue
        chunks += 1
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or []:
            if call.index not in (0, None):
                continue  # the first call is the one asked for
            if call.function and call.function.name:
                name = call.function.name
            if call.function and call.function.arguments:
                pieces.append(call.function.arguments)
    if name != "book_table":
        raise CheckFailed(f"no streamed book_table call in {chunks} chunks (finish={finish!r})")
    arguments = "".join(pieces)
    try:
        args = json.loads(arguments)
    except ValueError:
        raise CheckFailed(f"streamed arguments are not JSON: {arguments[:80]!r}") from None
    schema = BOOKING_TOOL["function"]["parameters"]
    if errors := type_errors(args, schema):
        raise CheckFailed(f"argument types differ from the schema: {'; '.join(errors[:4])}")
    return f"{len(pieces)} argument pieces; integer, boolean, object, array typed as the schema"


def check_reasoning_separated(client: openai.OpenAI, model: str) -> str:
    """Thinking on: reasoning arrives in reasoning_content and none of it in content."""
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 12 + 30? Answer briefly."}],
        max_tokens=256,
        stream=True,
    )
    reasoning, content = [], []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning.append(_reasoning(delta) or "")
            content.append(delta.content or "")
    text = "".join(content)
    if any(tag in text for tag in ("<think>", "</think>")):
        raise CheckFailed(f"thinking tags in content: {text[:60]!r}")
    if not "".join(reasoning):
        raise CheckFailed(f"no reasoning_content ({len(text)} content chars)")
    return f"{len(''.join(reasoning))} reasoning chars apart from {len(text)} content chars"


def check_json_mode(client: openai.OpenAI, model: str) -> str:
    """response_format json_schema: the answer parses and has the schema's types."""
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Name the capital of France and its population."}],
        max_tokens=128,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA},
        },
        extra_body=NO_THINKING,
    )
    text = r.choices[0].message.content or ""
    try:
        value = json.loads(text)
    except ValueError:
        raise CheckFailed(f"JSON-mode answer does not parse: {text[:60]!r}") from None
    if errors := type_errors(value, ANSWER_SCHEMA):
        raise CheckFailed(f"JSON-mode answer differs from its schema: {'; '.join(errors)}")
    return f"parses, matches its schema: {text[:60]}"


SMOKE_CHECKS: dict[str, Callable[[openai.OpenAI, str], str]] = {
    "models": check_models,  # the plain smoke's (generator/operate/smoke.py)
    "typed_tool_call": check_typed_tool_call,
    "reasoning_separated": check_reasoning_separated,
    "json_mode": check_json_mode,
}


def _attempt(fn: Callable[[], str]) -> tuple[bool, str]:
    try:
        return True, fn()
    except CheckFailed as e:
        return False, str(e)
    except (openai.OpenAIError, httpx.HTTPError) as e:
        return False, describe_error(e)
    except Exception as e:  # a malformed response is a failed check, not a crash
        return False, f"{type(e).__name__}: {e}"


def smoke_gate(client: openai.OpenAI, model: str) -> Gate:
    results = {n: _attempt(lambda f=f: f(client, model)) for n, f in SMOKE_CHECKS.items()}
    passed = sum(ok for ok, _ in results.values())
    failed = [n for n, (ok, _) in results.items() if not ok]
    return Gate(
        "smoke",
        passed == len(results),
        f"{passed}/{len(results)} checks" + (f"; failed: {', '.join(failed)}" if failed else ""),
        {"checks_passed": passed, "checks": len(results)},
        [f"{n}: {'PASS' if ok else 'FAIL'} {detail}" for n, (ok, detail) in results.items()],
    )


# -- correctness probe ------------------------------------------------------------------------
def _ask(client: openai.OpenAI, model: str, q: probe.Question) -> str:
    r = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": probe.INSTRUCTION},
            {"role": "user", "content": q.prompt},
        ],
        max_tokens=64,
        temperature=0,
        extra_body=NO_THINKING,
    )
    return r.choices[0].message.content or ""


def probe_gate(
    client: openai.OpenAI, model: str, min_accuracy: float, *, dummy_weights: bool = False
) -> Gate:
    questions = probe.load_set()

    def one(q: probe.Question) -> tuple[probe.Question, str, bool]:
        ok, reply = _attempt(lambda: _ask(client, model, q))
        return q, reply, ok and probe.grade(q, reply)

    with ThreadPoolExecutor(PROBE_CONCURRENCY) as pool:
        graded = list(pool.map(one, questions))
    right = sum(ok for *_, ok in graded)
    accuracy = right / len(graded)
    by_category = {
        c: f"{sum(ok for q, _, ok in graded if q.category == c)}/"
        f"{sum(q.category == c for q, _, _ in graded)}"
        for c in probe.CATEGORIES
    }
    wrong = [
        f"{q.id}: expected {q.answer!r}, got {(probe.extract(reply) or reply)[:40]!r}"
        for q, reply, ok in graded
        if not ok
    ]
    note = (
        "expected to fail: dummy weights are random, so the answers are too"
        if dummy_weights
        else "catches a broken deployment (KV dtype, kernels, tokenizer, chat template); "
        "it does not rank models"
    )
    return Gate(
        "probe",
        accuracy >= min_accuracy,
        f"{right}/{len(graded)} exact ({accuracy:.0%}, threshold {min_accuracy:.0%}); {note}",
        {"correct": right, "questions": len(graded), "accuracy": round(accuracy, 3)}
        | {"threshold": min_accuracy, "by_category": by_category},
        wrong[:8],
    )


# -- latency SLO ------------------------------------------------------------------------------
async def _latency_requests(
    base_url: str, api_key: str, model: str, n: int, proxy_headers: dict[str, str] | None
) -> list:
    client = openai.AsyncOpenAI(
        base_url=f"{base_url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=300,
        default_headers=proxy_headers,
    )
    async with client:
        results = []
        for i in range(n + 1):  # the first is a warm-up, not counted
            prompt = make_prompt(f"latency-{i}", LATENCY_INPUT_TOKENS)
            r = await _one_request(client, model, prompt, LATENCY_OUTPUT_TOKENS, False)
            if i:
                results.append(r)
        return results


def latency_gate(
    base_url: str,
    api_key: str,
    model: str,
    targets: Targets,
    proxy_headers: dict[str, str] | None = None,
) -> Gate:
    results = asyncio.run(
        _latency_requests(base_url, api_key, model, targets.latency_requests, proxy_headers)
    )
    ok = [r for r in results if r.ok]
    if not ok:
        errors = sorted({r.error for r in results})[:3]
        return Gate("latency", False, f"no request completed: {'; '.join(errors)}")
    ttft = round(statistics.median(r.ttft_s for r in ok) * 1000, 1)
    tpots = [t for r in ok if (t := r.tpot_s) is not None]
    tpot = round(statistics.median(tpots) * 1000, 2) if tpots else None
    problems = []
    if targets.ttft_p50_ms is not None and ttft > targets.ttft_p50_ms:
        problems.append(f"TTFT p50 {ttft:g} ms > {targets.ttft_p50_ms:g} ms")
    if targets.tpot_p50_ms is not None and (tpot is None or tpot > targets.tpot_p50_ms):
        problems.append(f"TPOT p50 {tpot} ms > {targets.tpot_p50_ms:g} ms")
    if len(ok) < len(results):
        problems.append(f"{len(results) - len(ok)} of {len(results)} requests failed")
    summary = (
        f"TTFT p50 {ttft:g} ms (target {_target(targets.ttft_p50_ms)}), TPOT p50 {tpot} ms "
        f"(target {_target(targets.tpot_p50_ms)}), {len(ok)} requests at concurrency 1, "
        f"{LATENCY_INPUT_TOKENS} in / {LATENCY_OUTPUT_TOKENS} out tokens"
    )
    return Gate(
        "latency",
        not problems,
        summary,
        {"ttft_p50_ms": ttft, "tpot_p50_ms": tpot, "requests": len(results)}
        | {"failed": len(results) - len(ok)}
        | {"ttft_target_ms": targets.ttft_p50_ms, "tpot_target_ms": targets.tpot_p50_ms},
        problems,
    )


def _target(value: float | None) -> str:
    return "none" if value is None else f"{value:g} ms"


# -- cold start -------------------------------------------------------------------------------
def cold_start_gate(
    base_url: str,
    api_key: str,
    model: str,
    *,
    started: float,
    estimate_s: float | None,
    timeout_s: float,
    targets: Targets,
    err: TextIO,
    proxy_headers: dict[str, str] | None = None,
) -> Gate:
    """From `started` (time.monotonic() when the app was deployed with no replica running) to
    /health answering and then to the first streamed token (generator/operate/coldstart.py)."""
    try:
        m = coldstart.measure(
            base_url, api_key, model, started, timeout_s, err, proxy_headers, estimate_s
        )
    except CheckFailed as e:
        return Gate("cold_start", False, str(e), {"estimated_s": estimate_s})
    limit = targets.cold_start_max_ratio
    ratio = m["ratio"]
    passed = limit is None or (ratio is not None and ratio <= limit)
    return Gate(
        "cold_start",
        passed,
        coldstart.describe(m) + (f" (limit {limit:g}x)" if limit is not None else ""),
        m,
    )


# -- report -----------------------------------------------------------------------------------
def printable(text: str) -> str:
    """Model replies and endpoint errors are untrusted: control characters are shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def print_gates(gates: list[Gate], out: TextIO) -> None:
    escape = printable
    width = max((len(g.name) for g in gates), default=4)
    print(f"{'GATE':<{width}}  RESULT  NUMBERS", file=out)
    for g in gates:
        print(
            f"{g.name:<{width}}  {'PASS' if g.passed else 'FAIL':<6}  {escape(g.summary)}", file=out
        )
        for line in g.details:
            print(f"{'':<{width}}          {escape(line)}", file=out)
