"""A local fake of SGLang's OpenAI-compatible HTTP server, for testing smoke and bench.

This is a stand-in for SGLang serving GLM-5.1-FP8 on 8xB200, which cannot exist here. It speaks the
same wire protocol as SGLang 0.5.x behind Modal: `/health` and `/health_generate` (503 while
starting, exempt from the API key like SGLang's middleware), `/v1/models`, and
`/v1/chat/completions` non-streamed and streamed (SSE `data: {...}` chunks, then `data: [DONE]`),
with `reasoning_content` before `content` (thinking on by default, off via
`chat_template_kwargs.enable_thinking`), `tool_calls` with `finish_reason: "tool_calls"` when the
request has `tools`, usage in the last chunk with `stream_options.include_usage`, and
`/server_info` (the resolved server settings), `Authorization: Bearer <key>` checks (401 `{"error": "Unauthorized"}`).

Timing is configurable (TTFT, per-token delay), as are switches that break one behaviour each.

    with FakeSGLang(ttft_s=0.1, tpot_s=0.01) as base_url:
        ...  # base_url is "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "zai-org/GLM-5.1-FP8"
DEFAULT_KEY = "test-key"


@dataclass
class FakeConfig:
    model: str = DEFAULT_MODEL
    api_key: str = DEFAULT_KEY
    startup_s: float = 0.0  # everything returns 503 for this long after start (inf: never healthy)
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    output_tokens: int = 16  # natural length (EOS) unless max_tokens is lower or ignore_eos is set
    # Switches that each break one behaviour.
    no_reasoning: bool = False  # thinking leaks into content as raw <think> text
    tools_as_text: bool = False  # tool calls come back as unparsed text, finish_reason "stop"
    no_auth: bool = False  # API key not enforced
    wrong_model: bool = False  # /v1/models lists another name
    chat_500: bool = False  # chat completions return 500
    no_usage: bool = False  # ignore stream_options.include_usage (clients must count chunks)
    # Breakage modes for the release gates (generator/operate/gates.py).
    wrong_answers: bool = False  # the correctness probe's questions get wrong answers
    string_tool_args: bool = False  # integer, number and boolean tool arguments arrive as strings
    broken_json: bool = False  # JSON mode (response_format) answers with text that does not parse
    # SGLang's --enable-cache-report: usage.prompt_tokens_details.cached_tokens, the prompt's
    # longest shared prefix with an earlier request (what the radix cache would hold).
    cache_report: bool = False
    # SGLang 0.5.17 sends prompt_tokens_details: null on a cache miss even with the cache report
    # (usage_processor.py `_details_if_cached`); 0.5.23 sends {cached_tokens: 0}.
    null_details_on_miss: bool = False
    # SGLang's --context-length: a longer prompt is refused with a 400 in SGLang's words (0.5.17
    # and 0.5.23 srt/managers/tokenizer_manager.py `_validate_one_request`).
    context_length: int | None = None
    # SGLang's --grammar-backend none: JSON mode (response_format) is refused with a 400 in
    # SGLang's words (0.5.17 srt/constrained/grammar_manager.py:141, as the lane's H100 answered).
    no_grammar: bool = False
    # How a family's chat template turns thinking off: GLM-5.x and Qwen3.5 read
    # chat_template_kwargs.enable_thinking, Kimi K2.x `thinking`; None: it always thinks
    # (MiniMax-M2.x). A model that thinks at length spends a short budget on reasoning alone.
    thinking_switch: str | None = "enable_thinking"
    long_thinking: bool = False
    # Modal's proxy auth in front (Modal-Key, Modal-Secret): checked before anything reaches SGLang.
    modal_proxy_token: tuple[str, str] | None = None
    log_requests: bool = False  # print one line per request taken in (SGLang's --log-requests)
    # /server_info's resolved settings (SGLang returns every ServerArgs field there, the API key
    # included: 0.5.17 http_server.py:781-800 `dataclasses.asdict(server_args)`; the lane saw it).
    server_info: dict[str, Any] | None = None


class FakeSGLang:
    """Threaded HTTP server on 127.0.0.1 (ephemeral port); a context manager yielding base_url."""

    def __init__(self, config: FakeConfig | None = None, **overrides: Any) -> None:
        self.config = config or FakeConfig(**overrides)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self.base_url = ""
        # Requests being answered, and whether a SIGTERM-style drain has begun (see drain()).
        self.in_flight = 0
        self.draining = False
        self._lock = threading.Lock()
        self._prompts: list[str] = []  # every prompt seen, for cached_tokens

    def cached_tokens(self, prompt: str) -> int:
        """Tokens of `prompt` (4 characters each) shared as a prefix with an earlier prompt."""
        with self._lock:
            best = max((_common_prefix(prompt, p) for p in self._prompts), default=0)
            self._prompts.append(prompt)
        return best // 4

    def ready(self) -> bool:
        return time.monotonic() - self._started_at >= self.config.startup_s

    def drain(self, poll_s: float = 0.05, log=None) -> None:
        """What SGLang 0.5.23 does on SIGTERM: its handler sets `gracefully_exit`
        (srt/managers/tokenizer_manager.py:4066-4070, SignalHandler.sigterm_handler); from then
        on /health and /health_generate answer 503 (srt/entrypoints/http_server.py:731-733) and
        /ready too (`is_ready`, :717), but chat and generate requests are still accepted and
        served (nothing in their path reads the flag; a real 0.5.17 run served a new chat
        request during the drain: ../shared/reference/real-engine-run.md). `sigterm_watchdog`
        (tokenizer_manager.py:3508-3540) logs "Gracefully exiting... Remaining number of
        requests N" and checks again every 5 s (here every `poll_s`), with no upper limit,
        until none runs; then it returns."""
        self.draining = True
        while True:
            remaining = self.in_flight
            if log is not None:
                log(f"Gracefully exiting... Remaining number of requests {remaining}.")
            if not remaining:
                return
            time.sleep(poll_s)

    def _track(self, delta: int) -> None:
        with self._lock:
            self.in_flight += delta

    def start(self) -> str:
        return self.start_on(0)

    def start_on(self, port: int) -> str:
        """Serve on 127.0.0.1:port (0: an ephemeral port); returns the base URL."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._started_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# What answers 503 while SGLang drains (http_server.py: /health, /health_generate, /ready).
_HEALTH_PATHS = ("/health", "/health_generate", "/ready")


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 drops SYNs under a concurrent burst


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSGLang
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gate(self) -> bool:
        """503 while starting, 401 without the right key (health exempt, as in SGLang)."""
        cfg = self.fake.config
        token = cfg.modal_proxy_token
        if token and (self.headers.get("Modal-Key"), self.headers.get("Modal-Secret")) != token:
            # Modal's edge, as its docs show it (guide/webhook-proxy-auth)
            self._send_json(
                401, {"error": "modal-http: missing credentials for proxy authorization"}
            )
            return False
        if not self.fake.ready():
            self._send_json(503, {"error": "server is starting"})
            return False
        if self.fake.draining and self.path.split("?")[0] in _HEALTH_PATHS:
            self.send_response(503)  # SGLang: `Response(status_code=503)`, no body (see drain())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        if self.path.startswith("/health") or cfg.no_auth:
            return True
        if self.headers.get("Authorization") != f"Bearer {cfg.api_key}":
            self._send_json(401, {"error": "Unauthorized"})
            return False
        return True

    def do_GET(self) -> None:
        if not self._gate():
            return
        path = self.path.split("?")[0]
        if path in _HEALTH_PATHS:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/server_info":
            self._send_json(200, {**(self.fake.config.server_info or {}), "version": "0.5.23"})
        elif path == "/v1/models":
            name = "some-other-model" if self.fake.config.wrong_model else self.fake.config.model
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": name, "object": "model", "created": 0, "owned_by": "sglang"}],
                },
            )
        else:
            self._send_json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._gate():
            return
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._send_json(404, {"detail": "Not Found"})
            return
        if self.fake.config.chat_500:
            self._send_json(
                500,
                {
                    "object": "error",
                    "message": "Internal server error",
                    "type": "Error",
                    "code": 500,
                },
            )
            return
        try:
            req = json.loads(raw)
        except ValueError:
            self._send_json(400, {"object": "error", "message": "invalid JSON", "code": 400})
            return
        limit = self.fake.config.context_length
        n_prompt = self._plan(req)[2]
        if limit and n_prompt >= limit:
            # SGLang 0.5.17 managers/tokenizer_manager.py `_validate_one_request`, as a 400.
            message = (
                f"The input ({n_prompt} tokens) is longer than the model's context length "
                f"({limit} tokens)."
            )
            self._send_json(
                400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
            )
            return
        fmt = (req.get("response_format") or {}).get("type")
        if self.fake.config.no_grammar and fmt in ("json_object", "json_schema"):
            message = (
                "Grammar-based generation (json_schema, regex, ebnf, structural_tag) is not "
                "supported when the server is launched with --grammar-backend none"
            )
            self._send_json(
                400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
            )
            return
        self.fake._track(+1)
        if self.fake.config.log_requests:
            print(f"fake-sglang: request in, {self.fake.in_flight} running", flush=True)
        try:
            if req.get("stream"):
                self._stream(req)
            else:
                self._complete(req)
        finally:
            self.fake._track(-1)

    # -- generation -------------------------------------------------------------------------
    def _plan(self, req: dict[str, Any]) -> tuple[int, int, int]:
        """(output tokens, of which reasoning tokens, prompt tokens)."""
        cfg = self.fake.config
        max_tokens = req.get("max_tokens") or req.get("max_completion_tokens")
        n = cfg.output_tokens
        if max_tokens:
            n = max_tokens if req.get("ignore_eos") else min(n, max_tokens)
        switch = cfg.thinking_switch
        thinking = (req.get("chat_template_kwargs") or {}).get(switch, True) if switch else True
        reasoning = (n if cfg.long_thinking else n // 2) if thinking and n > 1 else 0
        text = "".join(str(m.get("content") or "") for m in req.get("messages", []))
        return n, reasoning, max(1, len(text) // 4)

    def _usage(self, req: dict[str, Any], n_prompt: int, n: int) -> dict[str, Any]:
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n, "total_tokens": n_prompt + n}
        # SGLang always sends prompt_tokens_details (null without --enable-cache-report, and in
        # 0.5.17 on a miss too: entrypoints/openai/usage_processor.py), and reasoning_tokens
        # beside it (protocol.py UsageInfo).
        usage["prompt_tokens_details"] = None
        if self.fake.config.cache_report:
            text = "".join(_text(m.get("content")) for m in req.get("messages", []))
            text += json.dumps(req.get("tools") or [])
            cached = self.fake.cached_tokens(text)
            if cached or not self.fake.config.null_details_on_miss:
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
        usage["reasoning_tokens"] = self._plan(req)[1]
        return usage

    def _special(self, req: dict[str, Any]) -> str | None:
        """The answer to a probe question or a JSON-mode request; None for any other prompt."""
        cfg = self.fake.config
        fmt = req.get("response_format") or {}
        if fmt.get("type") in ("json_object", "json_schema"):
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            value = _value(schema, False)
            return "here it is: " + json.dumps(value) if cfg.broken_json else json.dumps(value)
        user = next((m for m in reversed(req.get("messages", [])) if m.get("role") == "user"), {})
        answer = _probe_answers().get(_text(user.get("content")))
        if answer is None:
            return None
        return f"ANSWER: {answer}{'7' if cfg.wrong_answers else ''}"

    def _tool_call(self, req: dict[str, Any]) -> dict[str, Any]:
        fn = req["tools"][0]["function"]
        args = _value(fn.get("parameters") or {}, self.fake.config.string_tool_args)
        return {
            "id": f"call_{uuid.uuid4().hex[:8]}",
            "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(args)},
        }

    def _wants_tool(self, req: dict[str, Any]) -> bool:
        return bool(req.get("tools")) and req.get("tool_choice") != "none"

    def _envelope(self, obj: str) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "object": obj,
            "created": int(time.time()),
            "model": self.fake.config.model,
        }

    def _complete(self, req: dict[str, Any]) -> None:
        cfg = self.fake.config
        n, n_reason, n_prompt = self._plan(req)
        time.sleep(cfg.ttft_s + max(0, n - 1) * cfg.tpot_s)
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": None}
        finish = "length" if n == req.get("max_tokens") else "stop"
        if self._wants_tool(req) and cfg.tools_as_text:
            message["content"] = _GLM_TOOL_TEXT
        elif self._wants_tool(req):
            message["tool_calls"] = [self._tool_call(req)]
            finish = "tool_calls"
        else:
            reasoning = " ".join(_word(i) for i in range(n_reason))
            content = " ".join(_word(i) for i in range(n_reason, n))
            special = self._special(req)
            content = content if special is None else special
            if cfg.no_reasoning:
                message["content"] = (
                    f"<think>{reasoning}</think>{content}" if reasoning else content
                )
            else:
                message["content"] = content
                message["reasoning_content"] = reasoning or None
        usage = self._usage(req, n_prompt, n)
        body = self._envelope("chat.completion") | {
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        self._send_json(200, body)

    def _stream(self, req: dict[str, Any]) -> None:
        cfg = self.fake.config
        n, n_reason, n_prompt = self._plan(req)
        env = self._envelope("chat.completion.chunk")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(payload: str) -> None:
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            send(json.dumps(env | {"choices": [choice]}))

        try:
            chunk({"role": "assistant", "content": ""})  # SGLang's empty role chunk
            t0 = time.monotonic() + cfg.ttft_s
            finish = "length" if n == req.get("max_tokens") else "stop"
            if self._wants_tool(req):
                _sleep_until(t0)
                if cfg.tools_as_text:
                    chunk({"content": _GLM_TOOL_TEXT})
                else:  # as SGLang streams them: id and name first, then argument pieces
                    call = self._tool_call(req)
                    arguments = call["function"]["arguments"]
                    head = {**call, "index": 0, "function": {"name": call["function"]["name"]}}
                    head["function"]["arguments"] = ""
                    chunk({"tool_calls": [head]})
                    for start in range(0, len(arguments), 7):
                        piece = {
                            "index": 0,
                            "function": {"arguments": arguments[start : start + 7]},
                        }
                        chunk({"tool_calls": [piece]})
                    finish = "tool_calls"
            elif (special := self._special(req)) is not None:
                _sleep_until(t0)
                chunk({"content": special})
            else:
                for i in range(n):
                    _sleep_until(t0 + i * cfg.tpot_s)  # absolute schedule: no drift
                    if i < n_reason and not cfg.no_reasoning:
                        chunk({"reasoning_content": _word(i) + " "})
                    elif i < n_reason:
                        chunk({"content": ("<think>" if i == 0 else "") + _word(i) + " "})
                    else:
                        close = (
                            "</think>" if cfg.no_reasoning and n_reason and i == n_reason else ""
                        )
                        chunk({"content": close + _word(i) + " "})
            chunk({}, finish)
            if (req.get("stream_options") or {}).get("include_usage") and not cfg.no_usage:
                usage = self._usage(req, n_prompt, n)
                send(json.dumps(env | {"choices": [], "usage": usage}))
            send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


_GLM_TOOL_TEXT = (
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"
)
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return str(content or "")


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _value(schema: dict[str, Any], as_strings: bool) -> Any:
    """A value of the JSON schema's type; with `as_strings`, scalars other than strings are
    sent as strings (sglang#35564: an integer argument streamed as "4")."""
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _value(v, as_strings) for k, v in props.items()}
    if kind == "array":
        return [_value(schema.get("items") or {"type": "string"}, as_strings) for _ in range(2)]
    scalar = {"integer": 4, "number": 2.5, "boolean": True}.get(kind)
    if scalar is None:
        return "Paris"
    return json.dumps(scalar) if as_strings else scalar


_PROBE: dict[str, str] = {}


def _probe_answers() -> dict[str, str]:
    """The stand-in model knows the correctness probe's answers (it stands in for one that works)."""
    if not _PROBE:
        from generator.operate.probe import load_set

        _PROBE.update({q.prompt: q.answer for q in load_set()})
    return _PROBE


def _word(i: int) -> str:
    return _WORDS[i % len(_WORDS)]


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
