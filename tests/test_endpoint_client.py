"""The one HTTP client every endpoint command uses (generator/endpoint/http.py), against local
stand-in servers that misbehave as a hostile or broken endpoint could: a redirect to another
origin with the credentials, a body that drips forever, a body larger than any answer, counts
that are not counts, and text with terminal and CI-log control sequences in it."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from generator.endpoint.http import (
    BadNumber,
    Deadline,
    DeadlineExceeded,
    Endpoint,
    RedirectRefused,
    ResponseTooLarge,
    count,
)
from generator.operate import bench, smoke
from tests.fake_sglang import DEFAULT_KEY, DEFAULT_MODEL


class _Stub:
    """A one-route-table HTTP server on 127.0.0.1; `routes[path]` writes the answer, and every
    request's path and headers are kept in `seen`."""

    def __init__(self, routes):
        self.routes, self.seen = routes, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                stub.seen.append((self.path, dict(self.headers)))
                route = stub.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    route(self)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _json(status, obj):
    def write(h):
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return write


def _redirect(to):
    def write(h):
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return write


CREDENTIALS = {"Modal-Key": "wk-id", "Modal-Secret": "ws-secret"}


def test_a_redirect_to_another_origin_is_refused_and_sends_it_nothing():
    with _Stub({"/v1/models": _json(200, {"data": []})}) as other:
        with _Stub({"/v1/models": _redirect(f"{other.url}/v1/models")}) as endpoint:
            client = Endpoint.for_sglang(endpoint.url, "sk-secret", CREDENTIALS).client()
            with client, pytest.raises(RedirectRefused, match="leaves"):
                client.get(f"{endpoint.url}/v1/models")
    assert other.seen == []  # neither the key nor Modal-Key/Modal-Secret went there


def test_the_sdk_client_refuses_it_too_and_smoke_says_why(tmp_path: Path, capsys):
    """The models check of `smoke` through the OpenAI SDK: one clear line, nothing sent on."""
    with _Stub({"/v1/models": _json(200, {"data": []})}) as other:
        routes = {
            "/health": _json(200, {}),
            "/v1/models": _redirect(f"{other.url}/v1/models"),
        }
        with _Stub(routes) as endpoint:
            rc = smoke.run_smoke(
                endpoint.url,
                DEFAULT_KEY,
                DEFAULT_MODEL,
                timeout_s=5,
                report_path=tmp_path / "r.json",
                proxy_headers=CREDENTIALS,
            )
    assert rc == 1 and other.seen == []
    assert "refused a redirect to http://127.0.0.1" in capsys.readouterr().out


def test_a_health_redirect_off_the_origin_fails_at_once(tmp_path: Path):
    with _Stub({"/health": _json(200, {})}) as other:
        with _Stub({"/health": _redirect(f"{other.url}/health")}) as endpoint:
            t0 = time.monotonic()
            with pytest.raises(smoke.CheckFailed, match="refused a redirect"):
                smoke.wait_for_health(endpoint.url, "k", 60, io.StringIO(), CREDENTIALS)
    assert time.monotonic() - t0 < 5 and other.seen == []


def test_a_same_origin_redirect_is_followed():
    with _Stub({}) as endpoint:
        endpoint.routes["/old"] = _redirect("/new")
        endpoint.routes["/new"] = _json(200, {"ok": True})
        with Endpoint.for_sglang(endpoint.url, "k").client() as client:
            assert client.get(f"{endpoint.url}/old").json() == {"ok": True}
    assert [p for p, _ in endpoint.seen] == ["/old", "/new"]


def _drip(h):
    """Headers, then one byte every 0.1 s for ever: no single read ever times out."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()
    try:
        while True:
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass


def test_a_dripping_body_meets_the_request_deadline_not_a_read_timeout():
    with _Stub({"/slow": _drip}) as endpoint:
        t0 = time.monotonic()
        with Endpoint(endpoint.url, request_s=1.0).client() as client:
            with pytest.raises(DeadlineExceeded, match="total deadline"):
                client.get(f"{endpoint.url}/slow")
    assert time.monotonic() - t0 < 3


def test_the_commands_deadline_bounds_every_request_in_it():
    with _Stub({"/slow": _drip, "/fast": _json(200, {})}) as endpoint:
        deadline = Deadline(1.0)
        with Endpoint(endpoint.url, request_s=300, deadline=deadline).client() as client:
            t0 = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.get(f"{endpoint.url}/slow")
            assert time.monotonic() - t0 < 3
            with pytest.raises(DeadlineExceeded, match="command's deadline"):
                client.get(f"{endpoint.url}/fast")  # the command's time is spent


def test_the_async_client_has_the_same_deadline():
    async def run():
        async with Endpoint(endpoint.url, request_s=1.0).async_client() as client:
            await client.get(f"{endpoint.url}/slow")

    with _Stub({"/slow": _drip}) as endpoint, pytest.raises(DeadlineExceeded):
        asyncio.run(run())


def _huge_declared(h):
    h.send_response(200)
    h.send_header("Content-Length", str(10**12))
    h.end_headers()


def _huge_chunked(h):
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    try:
        for _ in range(200):
            h.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass


def test_response_sizes_are_bounded():
    routes = {"/declared": _huge_declared, "/chunked": _huge_chunked}
    with _Stub(routes) as endpoint:
        with Endpoint(endpoint.url, max_bytes=64 * 1024).client() as client:
            with pytest.raises(ResponseTooLarge, match="declares"):
                client.get(f"{endpoint.url}/declared")
            with pytest.raises(ResponseTooLarge, match="passed"):
                client.get(f"{endpoint.url}/chunked")


@pytest.mark.parametrize("value", ["5", -1, 10**12, True, 3.5, None, float("nan")])
def test_a_count_that_is_not_a_count_is_refused(value):
    with pytest.raises(BadNumber):
        count(value, "completion_tokens")


def test_a_count_over_what_was_asked_for_is_refused():
    assert count(64, "completion_tokens", at_most=64) == 64
    with pytest.raises(BadNumber, match="outside 0..64"):
        count(65, "completion_tokens", at_most=64)


def _stream_with_usage(usage):
    def write(h):
        chunks = [
            {"choices": [{"index": 0, "delta": {"content": "tok"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
            {"choices": [], "usage": usage},
        ]
        base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        body = "".join(f"data: {json.dumps({**base, **c})}\n\n" for c in chunks)
        body = (body + "data: [DONE]\n\n").encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return write


@pytest.mark.parametrize(
    "usage, problem",
    [
        # (the SDK itself turns "16" into 16; what it cannot read it passes on as sent)
        ({"prompt_tokens": 10, "completion_tokens": "sixteen", "total_tokens": 26}, "not a whole"),
        ({"prompt_tokens": 10, "completion_tokens": 15.5, "total_tokens": 26}, "not a whole"),
        ({"prompt_tokens": 10, "completion_tokens": None, "total_tokens": 26}, "not a whole"),
        ({"prompt_tokens": 10, "completion_tokens": 10**8, "total_tokens": 1}, "outside 0..16"),
        ({"prompt_tokens": -5, "completion_tokens": 16, "total_tokens": 11}, "outside"),
    ],
)
def test_bench_does_not_count_a_request_whose_usage_is_nonsense(usage, problem):
    """Throughput and cost are computed from completion_tokens: a server's nonsense there would
    be a figure, so the request counts as failed with the reason."""

    async def one():
        async with Endpoint.for_sglang(endpoint.url, "k").async_openai() as client:
            return await bench._one_request(client, "m", "hi", 16, False)

    route = {"/v1/chat/completions": _stream_with_usage(usage)}
    with _Stub(route) as endpoint:
        result = asyncio.run(one())
    assert not result.ok and problem in result.error


HOSTILE = "\x1b]0;owned\x07\x1b[2J\n::error file=x::forged\u202e"


def test_server_text_reaches_the_terminal_escaped(tmp_path: Path, capsys):
    """An error body with OSC/CSI sequences, a newline starting a GitHub workflow command and a
    bidi override: one escaped line in the table, raw only inside the JSON report (escaped)."""
    routes = {"/health": _json(200, {}), "/v1/models": _json(500, {"error": HOSTILE})}
    with _Stub(routes) as endpoint:
        smoke.run_smoke(endpoint.url, "k", "m", timeout_s=5, report_path=tmp_path / "r.json")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert not any(line.startswith("::") for line in out.splitlines())
    assert "\\x1b]0;owned" in out
    assert (
        "\\x1b" not in (tmp_path / "r.json").read_text()
        or "\x1b" not in (tmp_path / "r.json").read_text()
    )


def test_an_endpoint_has_no_way_to_pick_up_netrc_or_environment_credentials(monkeypatch):
    monkeypatch.setenv("NETRC", "/nonexistent")
    client = Endpoint("http://127.0.0.1:1").client()
    assert client.trust_env is False and isinstance(client, httpx.Client)
