"""The retry building block: Retry-After wins, else capped exponential backoff with jitter, within budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from chatfn.graph.retry import MAX_RETRY_AFTER_SECONDS, RetryPolicy, parse_retry_after


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


@pytest.mark.parametrize(("header", "seconds"), [("299.5", 299.5), ("300", 300.0), ("300.5", 300.0)])
def test_the_longest_wait_is_300_seconds_as_docs_graph_says(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


def test_the_production_policy_tries_five_times_within_twenty_seconds() -> None:
    """The defaults GraphClient runs with, not a policy of the test's own."""
    policy = RetryPolicy()
    assert policy.next_delay(attempt=4, waited=0.0, retry_after=0.1) == 0.1
    assert policy.next_delay(attempt=5, waited=0.0, retry_after=0.1) is None
    assert policy.next_delay(attempt=1, waited=19.0, retry_after=1.0) == 1.0, "the budget may be used up"
    assert policy.next_delay(attempt=1, waited=19.5, retry_after=1.0) is None


def test_the_production_backoff_starts_at_half_a_second_and_stops_at_eight() -> None:
    policy = RetryPolicy()
    rng = random.Random(11)
    for attempt, ceiling in [(1, 0.5), (5, 8.0), (9, 8.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) < ceiling * 0.55
        assert ceiling * 0.95 < max(delays) <= ceiling, "the jitter reaches the whole ceiling"


def test_backoff_without_a_generator_uses_the_modules_own() -> None:
    """GraphClient calls `next_delay` without an rng: the shared generator must serve it."""
    delays = {RetryPolicy().backoff(2) for _ in range(20)}
    assert all(0.5 <= delay <= 1.0 for delay in delays)
    assert len(delays) > 1, "jittered"
    assert RetryPolicy().next_delay(attempt=2, waited=0.0, retry_after=None) is not None


def test_a_wait_that_ends_exactly_at_the_budget_is_allowed() -> None:
    assert RetryPolicy(budget_seconds=5.0).next_delay(attempt=1, waited=3.5, retry_after=1.5) == 1.5
