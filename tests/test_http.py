"""The shared HTTP client: retries, backoff, Retry-After, no retry on 4xx, rate limit, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from flows.sources.http import HttpClient, RateLimiter, RetryPolicy, SourceError, parse_retry_after


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.responses.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def client(self, **kwargs: object) -> HttpClient:
        return HttpClient(
            "testsource",
            "https://api.example.test",
            transport=httpx.MockTransport(self.handler),
            sleep=self.sleeps.append,
            jitter=lambda: 0.5,
            **kwargs,  # type: ignore[arg-type]
        )


def test_429_honours_retry_after_seconds() -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1}))
    response = recorder.client().get("/x", key="NVDA")
    assert response.json() == {"ok": 1}
    assert recorder.sleeps == [7.0] and len(recorder.requests) == 2


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0
    assert parse_retry_after("soon") is None


def test_503_then_success_backs_off_exponentially_with_jitter() -> None:
    recorder = Recorder(httpx.Response(503), httpx.Response(502), httpx.Response(200, text="fine"))
    client = recorder.client(retry=RetryPolicy(attempts=4, backoff_seconds=2.0))
    assert client.get("/x", key="CUUR0000SA0").text == "fine"
    # full jitter with jitter() = 0.5: 0.5 * 2 * 2**0, 0.5 * 2 * 2**1
    assert recorder.sleeps == [1.0, 2.0]


def test_network_errors_are_retried() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(200, text="ok"))
    assert recorder.client().get("/x", key="k").text == "ok"
    assert len(recorder.requests) == 2


def test_404_is_not_retried_and_the_error_names_source_key_and_status() -> None:
    recorder = Recorder(httpx.Response(404))
    with pytest.raises(SourceError) as caught:
        recorder.client().get("/v8/finance/chart/DELIST", key="DELIST")
    assert len(recorder.requests) == 1 and recorder.sleeps == []
    message = str(caught.value)
    assert "testsource" in message and "DELIST" in message and "404" in message and "not retried" in message
    assert caught.value.status == 404 and caught.value.key == "DELIST"


def test_gives_up_after_the_last_attempt() -> None:
    recorder = Recorder(*[httpx.Response(500) for _ in range(3)])
    with pytest.raises(SourceError, match="after 3 attempt"):
        recorder.client(retry=RetryPolicy(attempts=3)).get("/x", key="k")
    assert len(recorder.sleeps) == 2


def test_a_retry_after_too_long_fails_instead_of_stalling() -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError, match="Retry-After 3600s"):
        recorder.client().get("/x", key="k")
    assert recorder.sleeps == []


def test_secrets_are_redacted_from_errors() -> None:
    recorder = Recorder(httpx.Response(500), httpx.Response(500))
    client = recorder.client(retry=RetryPolicy(attempts=2), secrets=["s3cr3t-key"])
    with pytest.raises(SourceError) as caught:
        client.get("/data", key="series", params={"registrationkey": "s3cr3t-key"})
    assert "s3cr3t-key" not in str(caught.value) and "***" in str(caught.value)


def test_rate_limiter_spaces_requests() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = RateLimiter(per_second=8, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == pytest.approx([0.125, 0.25, 0.375])
