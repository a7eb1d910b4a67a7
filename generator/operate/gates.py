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
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import httpx
import openai

from generator.endpoint.http import (  # printable: release.py prints with it
    Deadline,
    Endpoint,
    printable,
)
from generator.operate import coldstart, probe
from generator.operate.bench import _one_request, make_prompt
from generator.operate.smoke import (  # the smoke checks are re-exported for the tests
    ANSWER_SCHEMA,
    API_CHECKS,
    BOOKING_TOOL,
    NO_THINKING,
    CheckFailed,
    describe_error,
    type_errors,
)
from generator.profile.committed import bounded

__all__ = ["ANSWER_SCHEMA", "BOOKING_TOOL", "type_errors"]

PROBE_CONCURRENCY = 8
GATES_DEADLINE_S = 1800.0
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


# The same checks as `make smoke` (one implementation: generator/operate/smoke.py).
SMOKE_CHECKS = API_CHECKS


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
    client = Endpoint.for_sglang(base_url, api_key, proxy_headers, request_s=300).async_openai()
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


# -- the gates against a live endpoint (`make gates URL=...`; the canary's after cold start) ----
def targets_of(release: Any) -> Targets:
    """The profile's thresholds (its `release` section), or the schema's defaults without one."""
    if release is None:
        return Targets()
    return Targets(
        probe_min_accuracy=release.probe_min_accuracy,
        ttft_p50_ms=release.ttft_p50_ms,
        tpot_p50_ms=release.tpot_p50_ms,
        latency_requests=release.latency_requests,
        cold_start_max_ratio=release.cold_start_max_ratio,
    )


def endpoint_gates(
    url: str,
    key: str,
    model: str,
    targets: Targets,
    proxy_headers: dict[str, str] | None,
    *,
    smoke: bool = True,
    dummy_weights: bool = False,
    request_s: float = 300.0,
) -> list[Gate]:
    """Smoke, probe and latency against an endpoint that serves: the release's gates but cold
    start (which needs the deploy's own clock)."""
    results = []
    budget = Deadline(GATES_DEADLINE_S)  # smoke and probe together, however an endpoint stalls
    endpoint = Endpoint.for_sglang(url, key, proxy_headers, request_s=request_s, deadline=budget)
    client = endpoint.openai()
    with client:
        if smoke:
            results.append(smoke_gate(client, model))
        if targets.probe_min_accuracy is not None:
            results.append(
                probe_gate(client, model, targets.probe_min_accuracy, dummy_weights=dummy_weights)
            )
    if targets.ttft_p50_ms is not None or targets.tpot_p50_ms is not None:
        results.append(latency_gate(url, key, model, targets, proxy_headers))
    return results


DEFAULT_REPORT = "build/gates/report.json"


def add_arguments(parser: Any) -> None:
    from pathlib import Path

    from generator.operate import smoke

    smoke.add_arguments(parser, report=Path(DEFAULT_REPORT))


def main(args: Any) -> int:
    """`make gates URL=...`: the release gates (smoke, probe, latency SLO) against an endpoint
    that is already live, with the profile's thresholds; nothing is deployed."""
    import sys

    from generator.errors import UserError
    from generator.operate.smoke import (
        missing_proxy_token,
        normalize_base_url,
        resolve_api_key,
        resolve_proxy_headers,
        wait_for_health,
    )
    from generator.profile.committed import dumps, output_root
    from generator.render.write import write_committed

    key = resolve_api_key()
    if not key:
        print("error: no API key: set API_KEY (or SGLANG_API_KEY)", file=sys.stderr)
        return 2
    if problem := missing_proxy_token(args):
        print(problem, file=sys.stderr)
        return 2
    try:
        url = normalize_base_url(args.url)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    headers = resolve_proxy_headers()
    release = getattr(args, "release", None)
    targets = targets_of(release)
    try:
        try:
            wait_for_health(url, key, args.timeout, sys.stderr, headers)
        except CheckFailed as e:
            results = [Gate("health", False, str(e))]
        except httpx.HTTPError as e:
            results = [Gate("health", False, describe_error(e))]
        else:
            smoke = release is None or release.smoke
            results = endpoint_gates(url, key, args.model, targets, headers, smoke=smoke)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print_gates(results, sys.stdout)
    passed = all(g.passed for g in results)
    report = {"kind": "gates", "passed": passed, "gates": [g.as_dict() for g in results]}
    try:
        path = args.report  # a Path (smoke.add_arguments)
        write_committed(path, dumps(report, path), output_root(path.parent))
    except UserError as e:
        print(f"error: cannot write report {args.report}: {e}", file=sys.stderr)
        return 1
    print(f"gates: {'PASS' if passed else 'FAIL'}; report: {args.report}")
    return 0 if passed else 1
