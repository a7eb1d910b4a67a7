"""The one HTTP client for every command that talks to a running endpoint (smoke, bench, agent
traffic, gates, probe, cold start, canary, pin-image's registry calls).

An endpoint's answers are untrusted input, and the client carries credentials (the API key,
Modal-Key/Modal-Secret). So every request goes through `GuardedTransport`:
- it never leaves the endpoint's origin: a redirect to another scheme, host or port is refused
  before anything is sent there (httpx itself drops only `Authorization` on such a redirect,
  not Modal-Key/Modal-Secret or an API key in another header); same-origin redirects (Modal's
  303 on a long web-Function request) are followed, at most MAX_REDIRECTS;
- a total deadline per request, and per command (`Deadline`), not per read: a server that drips
  one byte at a time cannot hold a command past it (checked at every chunk; the read timeout is
  capped to the time left);
- a bounded response size: a declared Content-Length over the bound is refused unread, and a
  body (streamed or not) is cut off once it passes it;
- environment proxies are honoured inside the guard (httpx mounts them outside a custom
  transport), and ~/.netrc credentials are never added.

Numbers a server reports go through `count()` before they feed a latency, throughput or cost
figure; strings it sends go through `printable()` (generator/errors.py, the CLI's one escaping)
before they reach a terminal or a CI log. JSON output is escaped by json.dumps (ASCII only).
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import httpx

from generator.errors import printable

__all__ = ["Deadline", "Endpoint", "count", "printable", "origin"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a 128k-token stream is ~30 MB of SSE chunks
MAX_REDIRECTS = 5
DEFAULT_REQUEST_S = 300.0
CONNECT_S = 30.0
READ_S = 120.0  # one read; the request's deadline bounds the whole
# The SDK's own pool size (openai _constants.DEFAULT_CONNECTION_LIMITS): bench runs hundreds.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
COUNT_MAX = 10**9  # more tokens than any context holds: a server's nonsense, not a figure


class RedirectRefused(httpx.RequestError):
    """A redirect (or any request) that would leave the endpoint's origin."""


class ResponseTooLarge(httpx.RequestError):
    """A response body over the client's bound."""


class DeadlineExceeded(httpx.TimeoutException):
    """The request's or the command's total deadline passed."""


class BadNumber(ValueError):
    """A number the server reported that is not what it must be."""


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    url = httpx.URL(str(url))
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, (url.host or "").lower(), port


def _shown(url: httpx.URL | str) -> str:
    url = httpx.URL(str(url))
    return printable(f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else ""))


@dataclass
class Deadline:
    """A total time budget (seconds from creation; None: no limit) shared by many requests."""

    seconds: float | None
    start: float = field(default_factory=time.monotonic)

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (time.monotonic() - self.start)


def count(value: Any, what: str, *, maximum: int = COUNT_MAX, at_most: int | None = None) -> int:
    """A count a server reported (tokens, cached tokens): an int (not a bool, float or string)
    in 0..maximum, and at most `at_most` where another count bounds it; BadNumber otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        shown = printable(repr(value)[:40])
        raise BadNumber(f"the server reported {what} = {shown}, not a whole number")
    limit = maximum if at_most is None else min(maximum, at_most)
    if not 0 <= value <= limit:
        raise BadNumber(f"the server reported {what} = {value}, outside 0..{limit}")
    return value


def seconds(value: Any, what: str, *, maximum: float = 7 * 86400.0) -> float:
    """A duration a server reported: a finite non-negative number under `maximum`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadNumber(f"the server reported {what} = {printable(repr(value)[:40])}")
    if not 0 <= value <= maximum:
        raise BadNumber(f"the server reported {what} = {value}, outside 0..{maximum:g}")
    return float(value)


class _Guard:
    """What the sync and async transports share: origin, deadlines, size."""

    def __init__(self, base: str, request_s: float, deadline: Deadline | None, max_bytes: int):
        self.origin = origin(base)
        self.base = base
        self.request_s = request_s
        self.deadline = deadline
        self.max_bytes = max_bytes

    def before(self, request: httpx.Request) -> float:
        """Refuse a request off the origin; cap its timeouts; return its deadline (monotonic)."""
        if origin(request.url) != self.origin:
            raise RedirectRefused(
                f"refused a request to {_shown(request.url)}: it leaves {_shown(self.base)} "
                "(credentials are never sent to another origin)",
                request=request,
            )
        left = self.request_s
        if self.deadline is not None and (command := self.deadline.remaining()) is not None:
            left = min(left, command)
        if left <= 0:
            raise DeadlineExceeded("the command's deadline has passed", request=request)
        timeout = dict(request.extensions.get("timeout") or {})
        for phase, default in (("connect", CONNECT_S), ("read", READ_S), ("write", READ_S)):
            timeout[phase] = min(timeout.get(phase) or default, left)
        timeout["pool"] = min(timeout.get("pool") or CONNECT_S, left)
        request.extensions["timeout"] = timeout
        return time.monotonic() + left

    def after(self, request: httpx.Request, response: httpx.Response) -> None:
        if response.is_redirect and "location" in response.headers:
            try:
                target = request.url.join(response.headers["location"])
            except httpx.InvalidURL:
                target = None
            if target is None or origin(target) != self.origin:
                shown = _shown(target) if target is not None else "an unreadable address"
                raise RedirectRefused(
                    f"refused a redirect to {shown}: it leaves {_shown(self.base)} "
                    "(credentials are never sent to another origin)",
                    request=request,
                )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(
                f"the response declares {int(declared):,} B, over the {self.max_bytes:,} B bound",
                request=request,
            )

    def check(self, request: httpx.Request, deadline: float, size: int) -> None:
        if size > self.max_bytes:
            raise ResponseTooLarge(
                f"the response passed the {self.max_bytes:,} B bound", request=request
            )
        if time.monotonic() > deadline:
            raise DeadlineExceeded(
                f"no complete answer within {self.request_s:g} s (a total deadline, not per read)",
                request=request,
            )


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, guard: _Guard, request, deadline) -> None:
        self.inner, self.guard, self.request, self.deadline = inner, guard, request, deadline

    def __iter__(self):
        size = 0
        for chunk in self.inner:
            size += len(chunk)
            self.guard.check(self.request, self.deadline, size)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, guard: _Guard, request, deadline) -> None:
        self.inner, self.guard, self.request, self.deadline = inner, guard, request, deadline

    async def __aiter__(self):
        size = 0
        async for chunk in self.inner:
            size += len(chunk)
            self.guard.check(self.request, self.deadline, size)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, guard: _Guard) -> None:
        self.inner, self.guard = inner, guard

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = self.guard.before(request)
        response = self.inner.handle_request(request)
        try:
            self.guard.after(request, response)
        except httpx.RequestError:
            response.close()
            raise
        response.stream = _Body(response.stream, self.guard, request, deadline)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, guard: _Guard) -> None:
        self.inner, self.guard = inner, guard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = self.guard.before(request)
        response = await self.inner.handle_async_request(request)
        try:
            self.guard.after(request, response)
        except httpx.RequestError:
            await response.aclose()
            raise
        response.stream = _AsyncBody(response.stream, self.guard, request, deadline)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, NO_PROXY, ...), applied inside
    the guard: httpx would mount an environment proxy beside a custom transport, not under it."""
    host = httpx.URL(url).host
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(httpx.URL(url).scheme)


@dataclass
class Endpoint:
    """One endpoint a command talks to: its origin, its credentials, its limits.

    `base_url` is the scheme://host[:port][/path] every request goes under; `headers` are sent
    with each (Authorization, Modal-Key/Modal-Secret); `deadline` is the command's budget.
    """

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    request_s: float = DEFAULT_REQUEST_S
    deadline: Deadline | None = None
    max_bytes: int = MAX_RESPONSE_BYTES

    @classmethod
    def for_sglang(
        cls,
        base_url: str,
        api_key: str | None,
        proxy_headers: dict[str, str] | None = None,
        **limits: Any,
    ) -> Endpoint:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return cls(base_url, {**headers, **(proxy_headers or {})}, **limits)

    def _guard(self, request_s: float | None) -> _Guard:
        return _Guard(self.base_url, request_s or self.request_s, self.deadline, self.max_bytes)

    def client(
        self, *, headers: dict[str, str] | None = None, request_s: float | None = None
    ) -> httpx.Client:
        """An httpx.Client; `headers` replace the endpoint's (the auth check sends none)."""
        inner = httpx.HTTPTransport(proxy=_env_proxy(self.base_url), limits=LIMITS)
        return httpx.Client(
            transport=GuardedTransport(inner, self._guard(request_s)),
            headers=self.headers if headers is None else headers,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            trust_env=False,
            timeout=httpx.Timeout(request_s or self.request_s, connect=CONNECT_S),
        )

    def async_client(
        self, *, headers: dict[str, str] | None = None, request_s: float | None = None
    ) -> httpx.AsyncClient:
        inner = httpx.AsyncHTTPTransport(proxy=_env_proxy(self.base_url), limits=LIMITS)
        return httpx.AsyncClient(
            transport=AsyncGuardedTransport(inner, self._guard(request_s)),
            headers=self.headers if headers is None else headers,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            trust_env=False,
            timeout=httpx.Timeout(request_s or self.request_s, connect=CONNECT_S),
        )

    def _sdk_options(self, request_s: float | None) -> dict[str, Any]:
        extra = {k: v for k, v in self.headers.items() if k != "Authorization"}
        key = self.headers.get("Authorization", "").removeprefix("Bearer ") or "none"
        return {
            "base_url": f"{self.base_url}/v1",
            "api_key": key,
            "max_retries": 0,
            "timeout": request_s or self.request_s,
            "default_headers": extra or None,
        }

    def openai(self, *, request_s: float | None = None):
        """The OpenAI SDK's client over this endpoint's guarded transport."""
        import openai

        http = self.client(headers={}, request_s=request_s)  # the SDK adds the key itself
        return openai.OpenAI(http_client=http, **self._sdk_options(request_s))

    def async_openai(self, *, request_s: float | None = None):
        import openai

        http = self.async_client(headers={}, request_s=request_s)
        return openai.AsyncOpenAI(http_client=http, **self._sdk_options(request_s))


def refusal(exc: BaseException) -> str | None:
    """The guard's own message when `exc` (or what it wraps) is one of its refusals."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, RedirectRefused | ResponseTooLarge | DeadlineExceeded | BadNumber):
            return str(exc)
        exc = exc.__cause__ or exc.__context__
    return None
