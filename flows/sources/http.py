"""The one HTTP client every live connector uses.

It owns what connectors must not re-implement: base URL, timeouts, retries
with exponential backoff and full jitter on network errors, 5xx and 429
(honouring ``Retry-After``), no retry on other 4xx, a per-source request-rate
limit and cap on requests in flight, and error messages that name the source,
the key and the HTTP status -- with secrets (API keys, contact addresses)
redacted everywhere.

A client built on its own has private limits. Live extraction runs many keys
at once, so its clients share one :class:`SourceLimits` per source
(:func:`shared_limits`): the rate limit and the in-flight cap then hold across
every thread and every client of that source in the process, and a
``Retry-After`` one request receives holds back the others too.

Tests inject an ``httpx.MockTransport`` (``transport=``) and a fake
``sleep``/``clock`` so retry behaviour is checked without real waiting.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDACTED = "***"


class SourceError(RuntimeError):
    """A live source failed for one key (ticker, series, CIK, query) after any retries."""

    def __init__(self, message: str, *, source: str, key: str, status: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.key = key
        self.status = status


@dataclass
class RetryPolicy:
    attempts: int = 4  # total tries, first one included
    backoff_seconds: float = 1.0  # base of the exponential backoff
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0  # longer Retry-After values fail instead of stalling the run


@dataclass
class RateLimiter:
    """At most ``per_second`` requests per second across threads (minimum spacing between starts).

    Each caller reserves the next start time under a lock, then sleeps outside it until that
    time, so N threads calling ``wait`` start their requests 1/per_second apart. A caller that
    woke late (a busy machine) pushes the later ones back: no two starts come closer than
    1/per_second, whatever the sleeps did.
    """

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_start: float = 0.0
    _last_start: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        interval = 1.0 / self.per_second if self.per_second > 0 else 0.0
        with self._lock:
            now = self.clock()
            start = max(now, self._next_start)
            if interval == 0 and start <= now:
                return
            self._next_start = start + interval
        if start > now:
            self.sleep(start - now)
        while interval:
            with self._lock:
                began = max(self.clock(), start)
                behind = self._last_start + interval - began
                if behind <= 0:
                    self._last_start = began
                    self._next_start = max(self._next_start, began + interval)
                    return
                start = began + behind
            self.sleep(behind)

    def hold(self, seconds: float) -> None:
        """No request may start in the next ``seconds`` (a ``Retry-After`` for the whole source)."""
        with self._lock:
            self._next_start = max(self._next_start, self.clock() + seconds)


class Limiter(Protocol):
    """What a client needs of a rate limiter (a :class:`RateLimiter`, or one shared by a cluster)."""

    per_second: float

    def wait(self) -> None: ...

    def hold(self, seconds: float) -> None: ...


@dataclass
class SourceLimits:
    """The limits of one source: start rate, requests in flight; ``shared`` when several clients use them.

    ``gate`` is entered around each request attempt (a ``threading.BoundedSemaphore`` of
    ``max_in_flight``, or a cluster-wide semaphore); ``nullcontext()`` for no cap.
    """

    limiter: Limiter
    gate: contextlib.AbstractContextManager[Any] = field(default_factory=contextlib.nullcontext)
    max_in_flight: int = 0  # 0: no cap
    shared: bool = False


_SHARED: dict[tuple[str, str, float, int], SourceLimits] = {}
_SHARED_LOCK = threading.Lock()


def shared_limits(source: str, base_url: str, *, requests_per_second: float, max_in_flight: int) -> SourceLimits:
    """The process-wide limits of ``source`` at ``base_url``: every client asking with the same values shares them.

    So two datasets fetching from Yahoo at the same time (prices and fundamentals) stay under one
    rate limit and one in-flight cap together.
    """
    key = (source, base_url.rstrip("/"), float(requests_per_second), int(max_in_flight))
    with _SHARED_LOCK:
        limits = _SHARED.get(key)
        if limits is None:
            gate: contextlib.AbstractContextManager[Any] = (
                threading.BoundedSemaphore(max_in_flight) if max_in_flight > 0 else contextlib.nullcontext()
            )
            limits = SourceLimits(RateLimiter(requests_per_second), gate=gate, max_in_flight=max_in_flight, shared=True)
            _SHARED[key] = limits
        return limits


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """HTTP for one source (e.g. 'yahoo', 'sec_edgar'): base URL, retries, rate limit, redaction."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        requests_per_second: float = 0.0,
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        limits: SourceLimits | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.secrets = [secret for secret in secrets if secret]
        self.sleep = sleep
        self.jitter = jitter
        self.limits = limits or SourceLimits(RateLimiter(requests_per_second, sleep=sleep))
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=True,
        )

    @property
    def limiter(self) -> Any:
        """The rate limiter (``limiter.per_second``; tests set ``limiter.clock`` on a private one)."""
        return self.limits.limiter

    def use_limits(self, limits: SourceLimits) -> HttpClient:
        """Share ``limits`` (e.g. :func:`shared_limits`) with other clients of the source; returns the client."""
        self.limits = limits
        return self

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        ceiling = min(self.retry.max_backoff_seconds, self.retry.backoff_seconds * 2**attempt)
        return ceiling * self.jitter()

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request with retries; return the 2xx response or raise SourceError.

        Each attempt holds a slot of the source's in-flight cap and starts only when its rate
        limit allows; the waits between attempts hold no slot.
        """
        last_problem = ""
        status: int | None = None
        undecodable: httpx.DecodingError | None = None
        for attempt in range(self.retry.attempts):
            wait: float | None
            with self.limits.gate:
                self.limiter.wait()
                with self._count_lock:
                    self.requests_made += 1
                try:
                    response = self._client.request(method, path, params=params, json=json)
                except httpx.TransportError as exc:  # timeouts, refused connections, DNS, broken streams
                    response = None
                    status, last_problem = None, f"network error: {type(exc).__name__}: {exc}"
                except httpx.DecodingError as exc:  # the server answered, but its body does not decode
                    # (Content-Encoding: gzip over non-gzip bytes, a broken charset): a failed key, not retried
                    undecodable = exc
                    break
            retry_after: float | None = None
            if response is None:
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                if response.is_success:
                    return response
                last_problem = f"HTTP {status} for {self._url(response.request.url)}"
                if status not in RETRY_STATUSES:
                    break
                retry_after = wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.retry.max_retry_after_seconds:
                    last_problem += (
                        f" (Retry-After {wait:.0f}s is longer than {self.retry.max_retry_after_seconds:.0f}s)"
                    )
                    break
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt + 1 < self.retry.attempts:
                if retry_after is not None and self.limits.shared:
                    # the server asked the source to slow down: every client sharing the limits waits,
                    # this one included (in limiter.wait() before its next attempt)
                    self.limiter.hold(retry_after)
                else:
                    self.sleep(wait)
        tries = min(attempt + 1, self.retry.attempts)
        if undecodable is not None:
            raise SourceError(
                self.redact(
                    f"{self.source} request for {key} failed: the response body could not be decoded "
                    f"({type(undecodable).__name__}: {undecodable}); not retried"
                ),
                source=self.source,
                key=key,
            )
        hint = " (not retried: client error)" if status is not None and status not in RETRY_STATUSES else ""
        raise SourceError(
            self.redact(f"{self.source} request for {key} failed after {tries} attempt(s): {last_problem}{hint}"),
            source=self.source,
            key=key,
            status=status,
        )

    def get(self, path: str, *, key: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("GET", path, key=key, params=params)

    def post(self, path: str, *, key: str, json: Any) -> httpx.Response:
        return self.request("POST", path, key=key, json=json)

    def _url(self, url: httpx.URL) -> str:
        return self.redact(str(url))
