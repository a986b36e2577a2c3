"""The retry building block: Retry-After wins, else capped exponential backoff with jitter, within budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from chatfn.retry import MAX_RETRY_AFTER_SECONDS, RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("2.128", 2.128),
        ("0.2", 0.2),
        ("0", 0.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        # Not finite, or absurd: clamped to the documented maximum, never slept on or put in a header.
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("Infinity", MAX_RETRY_AFTER_SECONDS),
        ("nan", MAX_RETRY_AFTER_SECONDS),
        ("1e999", MAX_RETRY_AFTER_SECONDS),
        ("31536000", MAX_RETRY_AFTER_SECONDS),
        ("-inf", 0.0),
    ],
)
def test_parse_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_a_far_http_date_is_clamped() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 22 Nov 2126 12:00:07 GMT", now=now) == MAX_RETRY_AFTER_SECONDS


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:07 GMT", now=now) == 7.0


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 10, "jitter spreads the waits"


def test_retry_after_is_honoured_over_backoff() -> None:
    assert RetryPolicy().next_delay(attempt=1, waited=0.0, retry_after=2.128) == 2.128


def test_attempts_and_budget_end_the_retries() -> None:
    policy = RetryPolicy(max_attempts=3, budget_seconds=5.0)
    assert policy.next_delay(attempt=3, waited=0.0, retry_after=0.1) is None
    assert policy.next_delay(attempt=1, waited=4.0, retry_after=1.5) is None
    assert policy.next_delay(attempt=1, waited=3.0, retry_after=1.5) == 1.5
