"""The one HTTP client every live connector uses.

It owns what connectors must not re-implement: base URL, timeouts, retries
with exponential backoff and full jitter on network errors, 5xx and 429
(honouring ``Retry-After``), no retry on other 4xx, a per-source request-rate
limit, and error messages that name the source, the key and the HTTP status
-- with secrets (API keys, contact addresses) redacted everywhere.

Tests inject an ``httpx.MockTransport`` (``transport=``) and a fake
``sleep``/``clock`` so retry behaviour is checked without real waiting.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    """At most ``per_second`` requests per second across threads (minimum spacing between starts)."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_start: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = self.clock()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.per_second
        if start > now:
            self.sleep(start - now)


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
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.secrets = [secret for secret in secrets if secret]
        self.sleep = sleep
        self.jitter = jitter
        self.limiter = RateLimiter(requests_per_second, sleep=sleep)
        self.requests_made = 0
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            follow_redirects=True,
        )

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
        """Send one request with retries; return the 2xx response or raise SourceError."""
        last_problem = ""
        status: int | None = None
        for attempt in range(self.retry.attempts):
            self.limiter.wait()
            self.requests_made += 1
            wait: float | None
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:  # timeouts, refused connections, DNS, broken streams
                status, last_problem = None, f"network error: {type(exc).__name__}: {exc}"
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                if response.is_success:
                    return response
                last_problem = f"HTTP {status} for {self._url(response.request.url)}"
                if status not in RETRY_STATUSES:
                    break
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.retry.max_retry_after_seconds:
                    last_problem += (
                        f" (Retry-After {wait:.0f}s is longer than {self.retry.max_retry_after_seconds:.0f}s)"
                    )
                    break
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt + 1 < self.retry.attempts:
                self.sleep(wait)
        tries = min(attempt + 1, self.retry.attempts)
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
