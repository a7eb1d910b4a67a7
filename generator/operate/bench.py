"""Concurrency sweep against a deployed SGLang endpoint, measured client side.

For each concurrency level, streams chat completions with synthetic prompts (deterministic random
words, ~4 characters per token, unique per request so the radix cache cannot share prefixes) and a
fixed output length (`max_tokens` + SGLang's `ignore_eos`). Reports median and p99 TTFT, TPOT, ITL
and E2E latency, request and output-token throughput, writes JSON and a PNG chart under `out_dir`
and compares the results with the guide's performance snapshot.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx
import numpy as np
import openai

from generator.operate import agent, coldstart
from generator.operate.smoke import (
    DEFAULT_TIMEOUT_S,
    CheckFailed,
    describe_error,
    display_url,
    missing_proxy_token,
    normalize_base_url,
    positive_seconds,
    resolve_api_key,
    resolve_proxy_headers,
    served_gpu,
)
from generator.render.write import write_atomic

# Reference figures from the guide's "Performance snapshot" (glm51-modal-guide.txt): GLM-5.1-FP8
# with SGLang on 8xB200, EAGLE speculative decoding. Order-of-magnitude, not targets.
SNAPSHOT_TPOT_MS = 7.7  # TPOT with EAGLE (baseline without EAGLE ~20 ms)
SNAPSHOT_DECODE_TOK_S = 4600.0  # aggregate decode throughput with EAGLE (baseline ~1,750 tok/s)
SNAPSHOT_TTFT_MS = 246.0  # TTFT, warm, low concurrency
# The snapshot's cost: 8 x B200 at Modal's $6.25 per GPU-hour (modal.com/pricing, $0.001736/s;
# generator/catalog/hardware.yaml) is $50 per replica-hour; at 4,600 tok/s that is ~$3.0/M.
SNAPSHOT_REPLICA_HOUR_USD = 50.0

DEFAULT_OUT_DIR = Path("build/bench")
CHARS_PER_TOKEN = 4  # rough English average, used to size synthetic prompts
REQUEST_TIMEOUT_S = 600.0
METRICS = ("ttft", "tpot", "itl", "e2e")

_VOCAB = tuple(
    """time year people way day thing world life hand part child eye woman place work week case
    point number group problem fact river stone garden window market letter engine silver forest
    paper bridge island winter summer orange yellow purple quiet rapid gentle simple modern ancient
    careful bright narrow hollow signal vector matrix kernel thread socket buffer packet server
    cluster replica anchor harbor canyon meadow glacier volcano compass lantern mirror saddle
    whistle ladder basket candle pepper ginger walnut cotton marble copper timber""".split()
)


class BenchError(Exception):
    """The benchmark cannot run (endpoint unreachable, key rejected, ...)."""


class BenchInterrupted(Exception):
    """Ctrl-C during the sweep, after the completed levels were written."""

    def __init__(self, levels: int, path: Path):
        super().__init__(f"interrupted after {levels} level(s)")
        self.levels, self.path = levels, path


@dataclass
class RequestResult:
    ok: bool
    ttft_s: float = 0.0
    e2e_s: float = 0.0
    itls_s: list[float] = field(default_factory=list)
    output_tokens: int = 0
    prompt_tokens: int | None = None
    error: str = ""

    @property
    def tpot_s(self) -> float | None:
        if self.output_tokens < 2:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


def make_prompt(seed: str, input_tokens: int) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    size, target = 0, max(1, input_tokens) * CHARS_PER_TOKEN
    while size < target:
        w = rng.choice(_VOCAB)
        words.append(w)
        size += len(w) + 1
    return " ".join(words)


class _Progress(Protocol):
    def update(self, n: int = 1) -> object: ...
    def close(self) -> None: ...


class _SimpleBar:
    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self._tty = sys.stderr.isatty()
        self._draw()

    def _draw(self) -> None:
        filled = int(30 * self.n / max(1, self.total))
        line = f"{self.desc} [{'#' * filled}{'.' * (30 - filled)}] {self.n}/{self.total}"
        if self._tty:
            sys.stderr.write(f"\r{line}")
        elif self.n in (0, self.total):
            sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def _progress(total: int, desc: str) -> _Progress:
    try:
        from tqdm import tqdm
    except ImportError:
        return _SimpleBar(total, desc)
    return tqdm(total=total, desc=desc, unit="req", file=sys.stderr, leave=True)


def _delta_text(delta: Any) -> str:
    reasoning = getattr(delta, "reasoning_content", None) or (delta.model_extra or {}).get(
        "reasoning_content"
    )
    return (delta.content or "") + (reasoning or "")


async def _one_request(
    client: openai.AsyncOpenAI, model: str, prompt: str, output_tokens: int, thinking: bool
) -> RequestResult:
    extra: dict[str, Any] = {"ignore_eos": True}
    if not thinking:
        extra["chat_template_kwargs"] = {"enable_thinking": False}
    first = last = None
    itls: list[float] = []
    chunks, usage = 0, None
    t0 = time.perf_counter()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=output_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra,
        )
        async for chunk in stream:
            usage = chunk.usage or usage
            if not chunk.choices or not _delta_text(chunk.choices[0].delta):
                continue  # role-only, finish and usage chunks carry no tokens
            now = time.perf_counter()
            if first is None:
                first = now
            else:
                itls.append(now - last)
            last = now
            chunks += 1
    except openai.OpenAIError as e:
        return RequestResult(ok=False, error=describe_error(e))
    end = time.perf_counter()
    if first is None:
        return RequestResult(ok=False, error="stream carried no tokens")
    return RequestResult(
        ok=True,
        ttft_s=first - t0,
        e2e_s=end - t0,
        itls_s=itls,
        output_tokens=usage.completion_tokens if usage else chunks,
        prompt_tokens=usage.prompt_tokens if usage else None,
    )


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(values, q)) * 1000, 3)


def summarize(concurrency: int, results: list[RequestResult], duration_s: float) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    series = {
        "ttft": [r.ttft_s for r in ok],
        "tpot": [t for r in ok if (t := r.tpot_s) is not None],
        "itl": [x for r in ok for x in r.itls_s],
        "e2e": [r.e2e_s for r in ok],
    }
    level: dict[str, Any] = {
        "concurrency": concurrency,
        "num_requests": len(results),
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "duration_s": round(duration_s, 3),
        "requests_per_s": round(len(ok) / duration_s, 3) if duration_s else 0.0,
        "output_tokens_per_s": (
            round(sum(r.output_tokens for r in ok) / duration_s, 2) if duration_s else 0.0
        ),
        "total_output_tokens": sum(r.output_tokens for r in ok),
    }
    prompt_tokens = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    level["mean_prompt_tokens"] = (
        round(sum(prompt_tokens) / len(prompt_tokens), 1) if prompt_tokens else None
    )
    for name, values in series.items():
        level[f"{name}_ms_p50"] = _ms(values, 50)
        level[f"{name}_ms_p99"] = _ms(values, 99)
        level[f"{name}_ms_mean"] = round(sum(values) / len(values) * 1000, 3) if values else None
    level["errors"] = sorted({r.error for r in results if not r.ok})[:5]
    return level


def usd_per_million(output_tokens_per_s: float, replica_hour_usd: float) -> float | None:
    """Dollars per million output tokens: what one replica costs per hour over what it makes."""
    if not output_tokens_per_s:
        return None
    return round(replica_hour_usd / (output_tokens_per_s * 3600) * 1e6, 3)


SNAPSHOT_USD_PER_M = usd_per_million(SNAPSHOT_DECODE_TOK_S, SNAPSHOT_REPLICA_HOUR_USD)


def add_costs(levels: list[dict[str, Any]], replica_hour_usd: float | None) -> None:
    """Each level's $ per million output tokens, pricing the measured throughput as one replica's
    (a sweep spread over several replicas costs that many times more per token)."""
    for lv in levels:
        lv["usd_per_million_output_tokens"] = (
            usd_per_million(lv["output_tokens_per_s"], replica_hour_usd)
            if replica_hour_usd
            else None
        )


def compare_with_snapshot(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Measured / snapshot ratios: TTFT and TPOT at the lowest concurrency, peak throughput."""
    done = [lv for lv in levels if lv["completed"]]
    if not done:
        return {}
    low = min(done, key=lambda lv: lv["concurrency"])
    peak = max(done, key=lambda lv: lv["output_tokens_per_s"])
    rows = {
        "ttft_ms": (low["ttft_ms_p50"], SNAPSHOT_TTFT_MS, low["concurrency"]),
        "tpot_ms": (low["tpot_ms_p50"], SNAPSHOT_TPOT_MS, low["concurrency"]),
        "output_tokens_per_s": (
            peak["output_tokens_per_s"],
            SNAPSHOT_DECODE_TOK_S,
            peak["concurrency"],
        ),
    }
    if peak.get("usd_per_million_output_tokens") is not None:
        rows["usd_per_million_output_tokens"] = (
            peak["usd_per_million_output_tokens"],
            SNAPSHOT_USD_PER_M,
            peak["concurrency"],
        )
    return {
        k: {
            "measured": m,
            "snapshot": s,
            "at_concurrency": c,
            "ratio": round(m / s, 3) if m is not None else None,
        }
        for k, (m, s, c) in rows.items()
    }


async def _sweep(
    url: str,
    api_key: str,
    model: str,
    concurrencies: list[int],
    requests_per_level: int,
    input_tokens: int,
    output_tokens: int,
    thinking: bool,
    request_timeout_s: float,
    levels: list[dict[str, Any]],
    proxy_headers: dict[str, str] | None,
) -> None:
    """Run the levels in turn, appending each finished one to `levels` (kept on Ctrl-C)."""
    client = openai.AsyncOpenAI(
        base_url=f"{url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=request_timeout_s,
        default_headers=proxy_headers,  # Modal-Key/Modal-Secret behind Modal's proxy auth
    )
    async with client:
        # Warm-up (unmeasured): also turns a bad URL or key into one clear error up front.
        warm = await _one_request(
            client, model, make_prompt("warmup", input_tokens), min(output_tokens, 8), thinking
        )
        if not warm.ok:
            raise BenchError(f"warm-up request to {display_url(url)} failed: {warm.error}")
        for c in concurrencies:
            n = max(requests_per_level, c)  # at least one request per concurrent slot
            prompts = [make_prompt(f"c{c}-r{i}", input_tokens) for i in range(n)]
            sem = asyncio.Semaphore(c)
            bar = _progress(n, f"concurrency {c}")

            async def worker(prompt: str, sem: asyncio.Semaphore, bar: _Progress) -> RequestResult:
                async with sem:
                    r = await _one_request(client, model, prompt, output_tokens, thinking)
                bar.update(1)
                return r

            t0 = time.perf_counter()
            try:
                results = await asyncio.gather(*(worker(p, sem, bar) for p in prompts))
            finally:
                bar.close()
            levels.append(summarize(c, list(results), time.perf_counter() - t0))


def run_bench(
    base_url: str,
    api_key: str,
    model: str,
    concurrencies: list[int],
    *,
    requests_per_level: int,
    input_tokens: int,
    output_tokens: int,
    out_dir: Path,
    thinking: bool = False,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    out: TextIO | None = None,
    proxy_headers: dict[str, str] | None = None,
    flag_sets: dict[str, list[str]] | None = None,
    replica_hour_usd: float | None = None,
) -> dict[str, Any]:
    """Run the sweep, write JSON + PNG under out_dir, print a table; raise BenchError if unusable.

    `out` defaults to the current sys.stdout. With `flag_sets` (a profile with fallback GPUs)
    the result says which GPU type answered /server_info after the sweep: one replica's, so a
    sweep spread over several replicas can mix types.
    """
    out = out or sys.stdout
    try:
        url = normalize_base_url(base_url)
    except ValueError as e:
        raise BenchError(str(e)) from None
    if not concurrencies or min(concurrencies) < 1:
        raise BenchError("concurrency levels must be positive integers")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)  # before the sweep, not after minutes of requests
    started = datetime.now(UTC)
    levels: list[dict[str, Any]] = []
    interrupted = False
    try:
        asyncio.run(
            _sweep(
                url,
                api_key,
                model,
                concurrencies,
                requests_per_level,
                input_tokens,
                output_tokens,
                thinking,
                request_timeout_s,
                levels,
                proxy_headers,
            )
        )
    except KeyboardInterrupt:
        if not levels:
            raise
        interrupted = True
    served = _served_gpu(url, api_key, flag_sets, proxy_headers) if flag_sets else None
    add_costs(levels, replica_hour_usd)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    files = {
        "json": out_dir / f"bench-{stamp}.json",
        "png": out_dir / f"bench-{stamp}.png",
        "latest_json": out_dir / "latest.json",
        "latest_png": out_dir / "latest.png",
    }
    result: dict[str, Any] = {
        "kind": "bench",
        "started_at": started.isoformat(timespec="seconds"),
        "url": display_url(url),
        "model": model,
        "interrupted": interrupted,
        "served_gpu": served,
        "config": {
            "concurrencies": concurrencies,
            "requests_per_level": requests_per_level,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "thinking": thinking,
            "chars_per_token": CHARS_PER_TOKEN,
        },
        "snapshot": {
            "ttft_ms": SNAPSHOT_TTFT_MS,
            "tpot_ms": SNAPSHOT_TPOT_MS,
            "output_tokens_per_s": SNAPSHOT_DECODE_TOK_S,
            "replica_hour_usd": SNAPSHOT_REPLICA_HOUR_USD,
            "usd_per_million_output_tokens": SNAPSHOT_USD_PER_M,
        },
        "replica_hour_usd": replica_hour_usd,
        "levels": levels,
        "comparison": compare_with_snapshot(levels),
        "files": {k: str(v) for k, v in files.items()},
    }
    for key in ("json", "latest_json"):
        write_atomic(files[key], json.dumps(result, indent=2) + "\n")
    plot(result, files["png"])
    write_atomic(files["latest_png"], files["png"].read_bytes())
    print_report(result, out)
    if interrupted:
        raise BenchInterrupted(len(levels), files["json"])
    return result


def _stamp() -> tuple[datetime, str]:
    started = datetime.now(UTC)
    return started, started.strftime("%Y%m%dT%H%M%SZ")


async def _agent_sweep(
    url: str,
    api_key: str,
    model: str,
    concurrencies: list[int],
    system: str,
    turns: int,
    user_tokens: int,
    output_tokens: int,
    request_timeout_s: float,
    proxy_headers: dict[str, str] | None,
    levels: list[dict[str, Any]],
) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=request_timeout_s,
        default_headers=proxy_headers,
    )

    def user(seed: str) -> str:
        return make_prompt(seed, user_tokens)

    async with client:
        for c in concurrencies:
            t0 = time.perf_counter()
            turns_done = await agent.run_level(client, model, system, c, turns, output_tokens, user)
            duration = time.perf_counter() - t0
            out_tokens = sum(t.output_tokens for t in turns_done if t.ok)
            levels.append(
                {
                    "concurrency": c,
                    "conversations": c,
                    "duration_s": round(duration, 3),
                    "output_tokens_per_s": round(out_tokens / duration, 2) if duration else 0.0,
                    "failed": sum(not t.ok for t in turns_done),
                    **agent.summarize_turns(turns_done),
                }
            )


def run_agent_bench(
    base_url: str,
    api_key: str,
    model: str,
    concurrencies: list[int],
    *,
    turns: int,
    system_tokens: int,
    user_tokens: int,
    output_tokens: int,
    out_dir: Path,
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    out: TextIO | None = None,
    proxy_headers: dict[str, str] | None = None,
    replica_hour_usd: float | None = None,
) -> dict[str, Any]:
    """Agent traffic (generator/operate/agent.py): per level, that many conversations at once,
    each `turns` turns on one shared system prompt and tool set. Writes JSON, prints a table."""
    out = out or sys.stdout
    try:
        url = normalize_base_url(base_url)
    except ValueError as e:
        raise BenchError(str(e)) from None
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    started, stamp = _stamp()
    system = "You are a coding agent. Project notes follow.\n" + make_prompt(
        "agent-system", system_tokens
    )
    levels: list[dict[str, Any]] = []
    asyncio.run(
        _agent_sweep(
            url,
            api_key,
            model,
            concurrencies,
            system,
            turns,
            user_tokens,
            output_tokens,
            request_timeout_s,
            proxy_headers,
            levels,
        )
    )
    if not any(lv["turns"] and lv["turns"][0]["completed"] for lv in levels):
        errors = sorted({e for lv in levels for e in lv["errors"]})[:3]
        # SGLang 0.5.17 refuses a prompt past --context-length with HTTP 400 "The input (N
        # tokens) is longer than the model's context length (M tokens)" (tokenizer_manager.py
        # `_validate_one_request`); the real engine's first agent run died on it unexplained.
        why = ""
        if any("context length" in e for e in errors):
            why = (
                f"; the shared system prompt (--system-tokens {system_tokens}) and "
                f"{turns} turns of {user_tokens} + {output_tokens} tokens do not fit the "
                "server's context length: lower --system-tokens"
            )
        raise BenchError(f"no agent turn completed against {display_url(url)}: {errors}{why}")
    add_costs(levels, replica_hour_usd)
    files = {"json": out_dir / f"agent-{stamp}.json", "latest_json": out_dir / "latest-agent.json"}
    result = {
        "kind": "bench-agent",
        "started_at": started.isoformat(timespec="seconds"),
        "url": display_url(url),
        "model": model,
        "config": {
            "concurrencies": concurrencies,
            "turns": turns,
            "system_tokens": system_tokens,
            "user_tokens": user_tokens,
            "output_tokens": output_tokens,
            "tools": [t["function"]["name"] for t in agent.AGENT_TOOLS],
        },
        "replica_hour_usd": replica_hour_usd,
        "levels": levels,
        "files": {k: str(v) for k, v in files.items()},
    }
    for key in ("json", "latest_json"):
        write_atomic(files[key], json.dumps(result, indent=2) + "\n")
    print_agent_report(result, out)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_agent_report(result: dict[str, Any], out: TextIO) -> None:
    cfg = result["config"]
    print(
        f"agent traffic: conversations of {cfg['turns']} turns sharing a ~{cfg['system_tokens']}"
        f"-token system prompt and {len(cfg['tools'])} tools; {cfg['user_tokens']} tokens per "
        f"user turn, {cfg['output_tokens']} out",
        file=out,
    )
    print(
        f"{'conc':>5} {'turn':>4} {'done':>5} {'TTFT p50 ms':>12} {'prompt tok':>10} "
        f"{'cache hit':>9}",
        file=out,
    )
    for lv in result["levels"]:
        for t in lv["turns"]:
            print(
                f"{lv['concurrency']:>5} {t['turn']:>4} {t['completed']:>2}/{t['requests']:<2} "
                f"{_fmt(t['ttft_ms_p50']):>12} {_fmt(t['mean_prompt_tokens']):>10} "
                f"{_pct(t['cache_hit_rate']):>9}",
                file=out,
            )
        print(
            f"      concurrency {lv['concurrency']}: prefix-cache hit rate "
            f"{_pct(lv['cache_hit_rate'])} (SGLang's cached_tokens / prompt_tokens), "
            f"{lv['output_tokens_per_s']:.1f} out tok/s, "
            f"{_usd(lv.get('usd_per_million_output_tokens'))}/M out",
            file=out,
        )
        if lv["cache_note"]:
            print(f"      cache hits {lv['cache_note']}", file=out)
        for err in lv["errors"]:
            print(f"      error: {err}", file=out)
    print(f"results: {result['files']['json']}", file=out)


def run_cold_start(
    base_url: str,
    api_key: str,
    model: str,
    *,
    timeout_s: float,
    estimate_s: float | None,
    proxy_headers: dict[str, str] | None = None,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """`bench --cold-start`: time to the first token from zero replicas, measured here, beside
    plan's estimate. The endpoint must have scaled to zero (no request for scaledown_window)."""
    out = out or sys.stdout
    try:
        url = normalize_base_url(base_url)
    except ValueError as e:
        raise BenchError(str(e)) from None
    started = time.monotonic()
    try:
        m = coldstart.measure(
            url, api_key, model, started, timeout_s, sys.stderr, proxy_headers, estimate_s
        )
    except CheckFailed as e:
        raise BenchError(f"cold start: {e}") from None
    print(f"cold start: {coldstart.describe(m)}", file=out)
    if m["healthy_s"] < 5:
        print(
            "note: healthy within 5 s, so a replica was already running: this was not a cold "
            "start (wait scaledown_window with no traffic and measure again)",
            file=out,
        )
    return m


def _served_gpu(url: str, api_key: str, flag_sets, proxy_headers) -> str:
    try:
        return served_gpu(url, api_key, flag_sets, proxy_headers)
    except (CheckFailed, httpx.HTTPError, ValueError) as e:
        return f"unknown ({e})"


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"--out-dir {out_dir}: cannot create: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BenchError(f"--out-dir {out_dir}: not writable")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [lv for lv in result["levels"] if lv["completed"]]
    xs = [lv["concurrency"] for lv in levels]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = [
        (axes[0], "TTFT (ms)", "ttft", SNAPSHOT_TTFT_MS, "snapshot TTFT (warm, low conc.)"),
        (axes[1], "TPOT / ITL (ms)", "tpot", SNAPSHOT_TPOT_MS, "snapshot TPOT (EAGLE)"),
    ]
    for ax, label, metric, ref, ref_label in panels:
        ax.plot(xs, [lv[f"{metric}_ms_p50"] for lv in levels], "o-", label=f"{metric.upper()} p50")
        ax.plot(xs, [lv[f"{metric}_ms_p99"] for lv in levels], "o--", label=f"{metric.upper()} p99")
        if metric == "tpot":
            ax.plot(xs, [lv["itl_ms_p50"] for lv in levels], "s:", label="ITL p50")
        ax.axhline(ref, color="grey", linestyle="-.", label=f"{ref_label}: {ref:g} ms")
        ax.set_ylabel(label)
    ax = axes[2]
    ax.plot(xs, [lv["output_tokens_per_s"] for lv in levels], "o-", label="output tok/s")
    ax.axhline(
        SNAPSHOT_DECODE_TOK_S,
        color="grey",
        linestyle="-.",
        label=f"snapshot decode (EAGLE): {SNAPSHOT_DECODE_TOK_S:,.0f} tok/s",
    )
    ax.set_ylabel("output tokens/s")
    for ax in axes:
        ax.set_xlabel("concurrency")
        if len(xs) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    cfg = result["config"]
    fig.suptitle(
        f"{result['model']}: {cfg['input_tokens']} in / {cfg['output_tokens']} out tokens, "
        f"{result['started_at']}"
    )
    fig.tight_layout()
    png = io.BytesIO()
    try:
        fig.savefig(png, dpi=100, format="png")
    finally:
        plt.close(fig)
    write_atomic(path, png.getvalue())


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_report(result: dict[str, Any], out: TextIO) -> None:
    if result.get("served_gpu"):
        print(f"served by {result['served_gpu']} (one replica's /server_info)", file=out)
    head = f"{'conc':>5} {'reqs':>5} {'fail':>4}"
    for m in METRICS:
        head += f" {m.upper() + ' p50/p99 ms':>19}"
    head += f" {'req/s':>7} {'out tok/s':>10} {'$/M out':>8}"
    print(head, file=out)
    for lv in result["levels"]:
        row = f"{lv['concurrency']:>5} {lv['num_requests']:>5} {lv['failed']:>4}"
        for m in METRICS:
            row += f" {_fmt(lv[f'{m}_ms_p50']) + ' / ' + _fmt(lv[f'{m}_ms_p99']):>19}"
        row += f" {lv['requests_per_s']:>7.2f} {lv['output_tokens_per_s']:>10.1f}"
        row += f" {_usd(lv.get('usd_per_million_output_tokens')):>8}"
        print(row, file=out)
        for err in lv["errors"]:
            print(f"      error: {err}", file=out)
    comp = result["comparison"]
    if comp:
        print(
            "vs guide snapshot (order-of-magnitude figures; ratio = measured / snapshot):", file=out
        )
        names = {
            "ttft_ms": "TTFT p50 (ms)",
            "tpot_ms": "TPOT p50 (ms)",
            "output_tokens_per_s": "peak output tok/s",
            "usd_per_million_output_tokens": "$/M out at peak",
        }
        for key, label in names.items():
            if key not in comp:
                continue
            c = comp[key]
            ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}x"
            print(
                f"  {label:<18} {_fmt(c['measured']):>9} vs {c['snapshot']:>7g}  = {ratio:>6}"
                f"  (concurrency {c['at_concurrency']})",
                file=out,
            )
    if result.get("replica_hour_usd"):
        print(
            f"$/M out: ${result['replica_hour_usd']:,.2f} per replica-hour (plan's price) over the "
            "measured throughput, as one replica's; snapshot: "
            f"{SNAPSHOT_DECODE_TOK_S:,.0f} tok/s at ${SNAPSHOT_REPLICA_HOUR_USD:g}/replica-hour "
            f"= ${SNAPSHOT_USD_PER_M:.2f}/M",
            file=out,
        )
    print(f"results: {result['files']['json']}  chart: {result['files']['png']}", file=out)


# -- CLI --------------------------------------------------------------------------------------
def _concurrency_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,8,32, got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        required=True,
        help="endpoint base URL (with or without /v1); the API key is read from $API_KEY "
        "or $SGLANG_API_KEY, never from the command line",
    )
    parser.add_argument("--model", help="served model name (default: the profile's)")
    parser.add_argument(
        "--concurrency",
        type=_concurrency_list,
        default=[1, 8, 32],
        help="comma-separated concurrency levels (default 1,8,32)",
    )
    parser.add_argument(
        "--requests",
        type=_positive_int,
        default=32,
        help="requests per level, at least the concurrency (default 32)",
    )
    parser.add_argument("--input-tokens", type=_positive_int, default=1024, help="default 1024")
    parser.add_argument("--output-tokens", type=_positive_int, default=256, help="default 256")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="default build/bench")
    parser.add_argument(
        "--thinking", action="store_true", help="keep thinking on (default: enable_thinking=false)"
    )
    parser.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=REQUEST_TIMEOUT_S,
        help="seconds per request",
    )
    parser.add_argument(
        "--workload",
        choices=("sweep", "agent"),
        default="sweep",
        help="sweep (default): independent requests; agent: multi-turn conversations sharing a "
        "long system prompt and tools, with TTFT per turn and the prefix-cache hit rate",
    )
    parser.add_argument("--turns", type=_positive_int, default=4, help="agent: turns (default 4)")
    parser.add_argument(
        "--system-tokens",
        type=_positive_int,
        default=4096,
        help="agent: shared system prompt length (default 4096)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="measure the time to first token from zero replicas (the endpoint must have scaled "
        "to zero) beside plan's estimate, instead of a sweep",
    )
    parser.add_argument(
        "--cold-start-timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the cold start (default {DEFAULT_TIMEOUT_S:g})",
    )


def main(args: argparse.Namespace) -> int:
    key = resolve_api_key()
    if not key:
        print("error: no API key: set API_KEY (or SGLANG_API_KEY)", file=sys.stderr)
        return 2
    if problem := missing_proxy_token(args):
        print(problem, file=sys.stderr)
        return 2
    price = getattr(args, "replica_hour_usd", None)
    try:
        if args.cold_start:
            run_cold_start(
                args.url,
                key,
                args.model,
                timeout_s=args.cold_start_timeout,
                estimate_s=getattr(args, "cold_start_estimate_s", None),
                proxy_headers=resolve_proxy_headers(),
            )
            return 0
        if args.workload == "agent":
            agent_result = run_agent_bench(
                args.url,
                key,
                args.model,
                args.concurrency,
                turns=args.turns,
                system_tokens=args.system_tokens,
                user_tokens=min(args.input_tokens, 256),
                output_tokens=args.output_tokens,
                out_dir=args.out_dir,
                request_timeout_s=args.request_timeout,
                proxy_headers=resolve_proxy_headers(),
                replica_hour_usd=price,
            )
            return 0 if all(lv["failed"] == 0 for lv in agent_result["levels"]) else 1
        result = run_bench(
            args.url,
            key,
            args.model,
            args.concurrency,
            requests_per_level=args.requests,
            input_tokens=args.input_tokens,
            output_tokens=args.output_tokens,
            out_dir=args.out_dir,
            thinking=args.thinking,
            request_timeout_s=args.request_timeout,
            proxy_headers=resolve_proxy_headers(),
            flag_sets=getattr(args, "flag_sets", None),
            replica_hour_usd=price,
        )
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: cannot write results: {e}", file=sys.stderr)
        return 1
    except BenchInterrupted as e:
        kept = f"; {e.levels} completed level(s) written to {e.path}" if e.path else ""
        print(f"\ninterrupted{kept}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0 if all(lv["failed"] == 0 for lv in result["levels"]) else 1


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m generator.bench", description=__doc__)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
