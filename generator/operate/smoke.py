"""Smoke test of a deployed SGLang endpoint (SGLang's OpenAI-compatible server behind Modal).

Checks, in order: /health comes up, /v1/models lists the served model, a chat completion returns
content, a streamed completion carries `reasoning_content` apart from `content`, a tool call comes
back as `tool_calls`, a streamed tool call's arguments have the tool schema's JSON types, a
JSON-mode answer parses and matches its schema, and requests without (or with a wrong) API key
are refused. The API checks are the release gate's smoke too (API_CHECKS). Prints a table, writes a JSON report
and returns 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
import openai

from generator.endpoint.http import Deadline, Endpoint, printable, refusal
from generator.errors import UserError
from generator.profile.committed import dumps, output_root
from generator.render.write import write_committed

DEFAULT_REPORT = Path("build/smoke/report.json")
DEFAULT_TIMEOUT_S = 1800.0  # cold start of an 8xB200 replica: image, ~757 GB weights, JIT, graphs
REQUEST_TIMEOUT_S = 300.0  # one request, start to last byte (not per read)
CHECKS_DEADLINE_S = 900.0  # every check after /health together: the command cannot hang past it
KEY_ENV_VARS = ("API_KEY", "SGLANG_API_KEY")
# A workspace Proxy Auth Token (modal.com/docs/guide/webhook-proxy-auth), for endpoints behind
# Modal's proxy auth: sent as the Modal-Key and Modal-Secret headers.
PROXY_TOKEN_ENV_VARS = ("MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET")
REFUSED_GIVE_UP_S = 10.0  # a refused connection away from Modal: nothing will start listening

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
# Thinking off, in each family's template words: `enable_thinking` (GLM-5.x, Qwen3.5), `thinking`
# (Kimi K2.x); a template ignores the keys it does not read. MiniMax-M2.x always thinks.
NO_THINKING = {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}}
# A tool whose arguments hold every JSON type: sglang#35564 (the glm45/glm47 parsers streamed an
# integer argument as a string) is caught only where the types are compared.
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


class CheckFailed(Exception):
    """A check failed for a reason its message states."""


@dataclass
class Check:
    name: str
    status: str = "skip"  # pass | fail | skip
    duration_s: float = 0.0
    detail: str = ""


# -- helpers shared with bench ----------------------------------------------------------------
def display_url(url: str) -> str:
    """The URL as logs and reports show it: a `user:password@` part is masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def normalize_base_url(url: str) -> str:
    """Validate an http(s) URL and strip a trailing '/' or '/v1'; raise ValueError if unusable."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise ValueError(f"not an http(s) URL: {display_url(text)!r}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(not c.isprintable() or c.isspace() for c in text)
    ):
        raise ValueError(f"not an http(s) URL: {display_url(text)!r}")
    base = text.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def is_modal_host(url: str) -> bool:
    """Modal's web endpoints (*.modal.run) may take minutes to answer a cold start."""
    host = urlsplit(url).hostname or ""
    return host == "modal.run" or host.endswith(".modal.run")


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above zero (not nan, inf or negative)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def resolve_api_key() -> str | None:
    """The key from the environment only: a command-line argument would show in `ps` and logs."""
    return next((os.environ[v] for v in KEY_ENV_VARS if os.environ.get(v)), None)


def resolve_proxy_headers() -> dict[str, str] | None:
    """Modal-Key/Modal-Secret from the environment only (never argv), or None if either is unset."""
    token_id, token_secret = (os.environ.get(v) for v in PROXY_TOKEN_ENV_VARS)
    if not (token_id and token_secret):
        return None
    return {"Modal-Key": token_id, "Modal-Secret": token_secret}


def missing_proxy_token(args: argparse.Namespace) -> str | None:
    """The error to print when the profile requires Modal proxy auth and no token is set."""
    if getattr(args, "proxy_auth", False) and resolve_proxy_headers() is None:
        names = " and ".join(PROXY_TOKEN_ENV_VARS)
        return (
            f"error: the profile requires Modal proxy auth (serving.proxy_auth): set {names} "
            "to a Proxy Auth Token of the workspace"
        )
    return None


def describe_error(exc: BaseException) -> str:
    """One line for an HTTP/SDK error, with a hint for the ones users cause."""
    if guarded := refusal(exc):  # the client's own refusal (generator/endpoint/http.py)
        return _short(guarded)
    if isinstance(exc, openai.APIStatusError):
        hint = " (API key rejected: check API_KEY)" if exc.status_code in (401, 403) else ""
        body, msg = exc.body, None  # the SDK unwraps {"error": ...} bodies
        if isinstance(body, dict):
            msg = body.get("message") or body.get("error") or body.get("detail")
        elif isinstance(body, str):
            msg = body
        msg = msg or exc.message
        return f"HTTP {exc.status_code}: {_short(str(msg))}{hint}"
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"cannot connect: {_short(str(cause) or type(cause).__name__)}"
    if isinstance(exc, httpx.TransportError):
        return f"cannot connect: {_short(str(exc) or type(exc).__name__)}"
    return f"{type(exc).__name__}: {_short(str(exc))}"


def _short(text: str, limit: int = 160) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_auth_error(exc: BaseException) -> bool:
    return isinstance(exc, openai.APIStatusError) and exc.status_code in (401, 403)


# -- health -----------------------------------------------------------------------------------
def wait_for_health(
    base_url: str,
    api_key: str,
    timeout_s: float,
    err: TextIO,
    proxy_headers: dict[str, str] | None = None,
) -> str:
    """Poll /health until 200, showing elapsed time and last status on `err`."""
    host = urlsplit(base_url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as e:
        raise CheckFailed(f"cannot resolve host {host!r}: {e.strerror}") from None
    tty = err.isatty()
    # Away from Modal a refused connection means nothing listens there: give up in seconds.
    refused_limit = None if is_modal_host(base_url) else REFUSED_GIVE_UP_S
    shown_url = display_url(base_url)
    start = time.monotonic()
    deadline = start + timeout_s
    interval, polls, last, shown, last_line = 0.5, 0, "no response yet", "", -1e9
    endpoint = Endpoint.for_sglang(base_url, api_key, proxy_headers, request_s=30.0)
    try:
        with endpoint.client() as client:
            while True:
                polls += 1
                now = time.monotonic()
                try:
                    timeout = max(1.0, min(30.0, deadline - now))
                    status = client.get(f"{base_url}/health", timeout=timeout).status_code
                    last = f"HTTP {status}"
                except httpx.HTTPError as e:
                    if guarded := refusal(e):  # a redirect off the origin: waiting won't help
                        raise CheckFailed(f"/health: {_short(guarded)}") from None
                    status, last = 0, describe_error(e)
                    refused = isinstance(e, httpx.ConnectError)
                    if refused and refused_limit is not None and now - start >= refused_limit:
                        raise CheckFailed(
                            f"{shown_url} refuses connections ({last}); is the URL right?"
                        ) from None
                if status == 200:
                    detail = f"200 after {time.monotonic() - start:.1f}s, {polls} poll(s)"
                    print(("\n" if tty else "") + f"[smoke] /health: {detail}", file=err)
                    tty = False  # line already ended
                    return detail
                if status in (401, 403):  # SGLang exempts /health: a proxy in front wants auth
                    raise CheckFailed(f"/health returned {last}: auth in front of it?")
                if status in (404, 405):  # not SGLang, or not deployed: no point waiting
                    raise CheckFailed(f"/health returned {last}: is the URL right?")
                now = time.monotonic()
                line = (
                    f"[smoke] waiting for {shown_url}/health: {now - start:.0f}s/{timeout_s:.0f}s"
                )
                line += f", last: {last}"
                if tty:
                    err.write(f"\r{line[:120]:<120}")
                    err.flush()
                elif last != shown or now - last_line >= 30:
                    print(line, file=err, flush=True)
                    shown, last_line = last, now
                if now >= deadline:
                    raise CheckFailed(f"not healthy within {timeout_s:g}s (last: {last})")
                time.sleep(min(interval, max(0.0, deadline - now)))
                interval = min(interval * 2, 5.0)
    finally:
        if tty and polls:
            err.write("\n")


# -- API checks -------------------------------------------------------------------------------
def served_gpu(
    base_url: str, api_key: str, flag_sets: dict[str, list[str]], proxy_headers=None
) -> str:
    """The GPU type whose flag set the replica runs, for a profile with fallback GPUs.

    SGLang's /server_info returns every resolved server setting; the options whose values
    differ between the profile's flag sets (attention backends, MoE runner, memory fraction)
    say which set it was started with, and so which GPU type Modal gave it.
    """
    endpoint = Endpoint.for_sglang(base_url, api_key, proxy_headers, request_s=30.0)
    with endpoint.client() as client:
        response = client.get(f"{base_url}/server_info")
    if response.status_code != 200:
        raise CheckFailed(f"/server_info returned HTTP {response.status_code}")
    info = response.json()
    if not isinstance(info, dict):
        raise CheckFailed("/server_info is not a JSON object")
    return match_flag_set(info, flag_sets)


def _options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs of an argv (switches and multi-value options left out)."""
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return {o: v for o, v in pairs if o.startswith("--") and v and not v.startswith("--")}


def match_flag_set(info: dict, flag_sets: dict[str, list[str]]) -> str:
    sets = {gpu: _options(argv) for gpu, argv in flag_sets.items()}
    telling = {o for s in sets.values() for o in s if len({t.get(o) for t in sets.values()}) > 1}

    def runs(options: dict[str, str]) -> bool:
        shown = {
            o: info.get(o.removeprefix("--").replace("-", "_")) for o in telling & set(options)
        }
        return all(v is not None and str(v) == options[o] for o, v in shown.items())

    matches = [gpu for gpu, options in sets.items() if runs(options)]
    if len(matches) != 1:
        raise CheckFailed(f"/server_info matches {matches or 'none'} of the flag sets {list(sets)}")
    return matches[0]


def check_models(client: openai.OpenAI, model: str) -> str:
    ids = [m.id for m in client.models.list()]
    if model not in ids:
        raise CheckFailed(f"{model!r} not served; /v1/models lists {ids}")
    return f"{model!r} listed"


def check_chat(client: openai.OpenAI, model: str) -> str:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Reply with the single word: pong"}],
        max_tokens=64,
        temperature=0,
        extra_body=NO_THINKING,
    )
    message = r.choices[0].message
    content = (message.content or "").strip()
    tokens = r.usage.completion_tokens if r.usage else "?"
    if not content:
        # A model that cannot stop thinking (MiniMax-M2.x) may spend the whole budget reasoning:
        # it answered, and its parser split the reasoning out as it should.
        reasoning = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get(
            "reasoning_content"
        )
        if reasoning:
            return f"{tokens} tokens, all reasoning (this model thinks before answering)"
        raise CheckFailed(f"empty content (finish_reason={r.choices[0].finish_reason})")
    return f"{tokens} tokens: {_short(content, 40)!r}"


def check_stream_reasoning(client: openai.OpenAI, model: str) -> str:
    """Thinking on, streamed: reasoning arrives in `reasoning_content`, none of it in `content`
    (no `<think>` text leaking into the answer: the reasoning parser is missing or wrong)."""
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is 17 * 23? Answer briefly."}],
        max_tokens=256,
        stream=True,
        stream_options={"include_usage": True},
    )
    reasoning, content, chunks = [], [], 0
    for chunk in stream:
        if not chunk.choices:
            continue
        chunks += 1
        delta = chunk.choices[0].delta
        r = getattr(delta, "reasoning_content", None) or (delta.model_extra or {}).get(
            "reasoning_content"
        )
        reasoning.append(r or "")
        content.append(delta.content or "")
    text, thought = "".join(content), "".join(reasoning)
    if any(tag in text for tag in ("<think>", "</think>")):
        raise CheckFailed(f"thinking tags in content: {text[:60]!r}")
    if not thought:
        raise CheckFailed(f"no reasoning_content in {chunks} chunks ({len(text)} content chars)")
    return f"{chunks} chunks: {len(thought)} reasoning chars apart from {len(text)} content chars"


def check_tool_call(client: openai.OpenAI, model: str) -> str:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What's the weather in Paris? Use get_weather."}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        max_tokens=512,
        temperature=0,
        extra_body=NO_THINKING,
    )
    choice = r.choices[0]
    calls = choice.message.tool_calls or []
    if choice.finish_reason != "tool_calls" or not calls:
        text = _short(choice.message.content or "", 60)
        raise CheckFailed(
            f"finish_reason={choice.finish_reason!r}, {len(calls)} tool_calls, content={text!r}"
        )
    fn = calls[0].function
    if fn.name != "get_weather":
        raise CheckFailed(f"called {fn.name!r}, expected 'get_weather'")
    try:
        args = json.loads(fn.arguments)
    except ValueError:
        raise CheckFailed(f"arguments are not JSON: {_short(fn.arguments, 60)!r}") from None
    if not isinstance(args, dict):
        raise CheckFailed(f"arguments are not a JSON object: {fn.arguments!r}")
    return f"get_weather({json.dumps(args)})"


def check_auth_refused(base_url: str, proxy_headers: dict[str, str] | None = None) -> str:
    """SGLang's key is enforced (past Modal's proxy auth, when the endpoint has it)."""
    results = {}
    proxy = proxy_headers or {}
    with Endpoint(base_url, request_s=30.0).client() as client:
        for label, headers in (
            ("no key", proxy),
            ("wrong key", {**proxy, "Authorization": f"Bearer wrong-{secrets.token_hex(8)}"}),
        ):
            results[label] = client.get(f"{base_url}/v1/models", headers=headers).status_code
    detail = ", ".join(f"{k} -> HTTP {v}" for k, v in results.items())
    if any(code not in (401, 403) for code in results.values()):
        raise CheckFailed(f"{detail} (expected 401/403: the endpoint is not protected)")
    return detail


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


# The checks `make smoke` and the release gate's smoke both run, in order (the gate's is this
# dict: generator/operate/gates.py): one implementation, so a smoke that passes is one the gate
# would pass on the same endpoint.
API_CHECKS: dict[str, Callable[[openai.OpenAI, str], str]] = {
    "models": check_models,
    "chat": check_chat,
    "stream_reasoning": check_stream_reasoning,
    "tool_call": check_tool_call,
    "typed_tool_call": check_typed_tool_call,
    "json_mode": check_json_mode,
}


# -- runner -----------------------------------------------------------------------------------
def _run(check: Check, fn: Callable[[], str]) -> BaseException | None:
    t0 = time.monotonic()
    error: BaseException | None = None
    try:
        check.detail, check.status = fn(), "pass"
    except CheckFailed as e:
        check.detail, check.status = str(e), "fail"
    except (openai.OpenAIError, httpx.HTTPError) as e:
        check.detail, check.status, error = describe_error(e), "fail", e
    except Exception as e:  # a malformed response must not abort the remaining checks
        check.detail, check.status = f"{type(e).__name__}: {_short(str(e))}", "fail"
    check.duration_s = round(time.monotonic() - t0, 3)
    return error


def run_smoke(
    base_url: str,
    api_key: str,
    model: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    report_path: Path = DEFAULT_REPORT,
    out: TextIO | None = None,
    proxy_headers: dict[str, str] | None = None,
    flag_sets: dict[str, list[str]] | None = None,
) -> int:
    """Run all checks, print a table to `out` (default: the current sys.stdout), write the JSON
    report; return 0 only if every check passed. With `flag_sets` (one per GPU type the profile
    may start on) a `gpu` check says which type served."""
    out = out or sys.stdout
    started = datetime.now(UTC)
    names = ["health", "models", *(["gpu"] if flag_sets else []), *list(API_CHECKS)[1:], "auth"]
    checks = {n: Check(n) for n in names}
    try:
        url = normalize_base_url(base_url)
    except ValueError as e:
        url = base_url
        checks["health"].status, checks["health"].detail = "fail", str(e)
    else:
        _run(
            checks["health"],
            lambda: wait_for_health(url, api_key, timeout_s, sys.stderr, proxy_headers),
        )

    if checks["health"].status == "pass":
        endpoint = Endpoint.for_sglang(
            url,
            api_key,
            proxy_headers,
            request_s=REQUEST_TIMEOUT_S,
            deadline=Deadline(CHECKS_DEADLINE_S),
        )
        client = endpoint.openai()
        with client:
            steps: dict[str, Callable[[], str]] = {
                name: (lambda f=f: f(client, model)) for name, f in API_CHECKS.items()
            }
            steps["gpu"] = lambda: _gpu_detail(url, api_key, flag_sets, proxy_headers)
            steps["auth"] = lambda: check_auth_refused(url, proxy_headers)
            for name in names[1:]:
                error = _run(checks[name], steps[name])
                if error is not None and is_auth_error(error):
                    break  # our own key is rejected: every later check would fail the same way
    for c in checks.values():
        if c.status == "skip" and not c.detail:
            c.detail = (
                f"skipped: {next(x.name for x in checks.values() if x.status == 'fail')} failed"
            )

    passed = all(c.status == "pass" for c in checks.values())
    report = {
        "kind": "smoke",
        "url": display_url(url),
        "model": model,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 3),
        "passed": passed,
        "checks": [asdict(c) for c in checks.values()],
    }
    _print_table(list(checks.values()), out)
    n_pass = sum(c.status == "pass" for c in checks.values())
    if passed:
        summary = f"smoke: PASS ({n_pass}/{len(checks)} checks)"
    else:
        first = next(c for c in checks.values() if c.status == "fail")
        summary = f"smoke: FAIL ({n_pass}/{len(checks)} passed); {first.name}: "
        summary += printable(first.detail)
    try:
        write_committed(
            report_path, dumps(report, report_path), output_root(Path(report_path).parent)
        )
        summary += f"\nreport: {report_path}"
    except UserError as e:
        print(f"error: cannot write report {report_path}: {e}", file=sys.stderr)
        passed = False
    print(summary, file=out)
    return 0 if passed else 1


def _gpu_detail(url: str, api_key: str, flag_sets: dict[str, list[str]], proxy_headers) -> str:
    gpu = served_gpu(url, api_key, flag_sets, proxy_headers)
    role = "the primary" if gpu == next(iter(flag_sets)) else "a fallback (gpu.fallback)"
    return f"{gpu}, {role}"


def _print_table(checks: list[Check], out: TextIO) -> None:
    width = max(len(c.name) for c in checks)
    print(f"{'CHECK':<{width}}  RESULT  {'TIME':>7}  DETAIL", file=out)
    for c in checks:
        status = c.status.upper()
        detail = printable(c.detail)  # server text: escaped, one line
        print(f"{c.name:<{width}}  {status:<6}  {c.duration_s:>6.2f}s  {detail}", file=out)


# -- CLI --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser, report: Path = DEFAULT_REPORT) -> None:
    """The endpoint arguments smoke and gates share; `report`: the JSON report's default path."""
    parser.add_argument(
        "--url",
        required=True,
        help="endpoint base URL (with or without /v1); the API key is read from $API_KEY "
        "or $SGLANG_API_KEY, never from the command line",
    )
    parser.add_argument(
        "--model", help="served model name expected in /v1/models (default: the profile's)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for /health (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--report", type=Path, default=report, help="JSON report path")


def main(args: argparse.Namespace) -> int:
    key = resolve_api_key()
    if not key:
        print("error: no API key: set API_KEY (or SGLANG_API_KEY)", file=sys.stderr)
        return 2
    if problem := missing_proxy_token(args):
        print(problem, file=sys.stderr)
        return 2
    try:
        normalize_base_url(args.url)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return run_smoke(
            args.url,
            key,
            args.model,
            timeout_s=args.timeout,
            report_path=args.report,
            proxy_headers=resolve_proxy_headers(),
            flag_sets=getattr(args, "flag_sets", None),
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m generator.smoke", description=__doc__)
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
