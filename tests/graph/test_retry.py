"""The retry building block: Retry-After wins, else capped exponential backoff with jitter, within budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from chatfn.graph.retry import MAX_RETRY_AFTER_SECONDS, RetryPolicy, parse_http_date, parse_retry_after


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


NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header",
    [
        "Sun, 22 Nov 2026 12:00:07 GMT",  # IMF-fixdate, RFC 9110 section 5.6.7
        "Sunday, 22-Nov-26 12:00:07 GMT",  # rfc850-date, obsolete but to be accepted
        "Sun Nov 22 12:00:07 2026",  # asctime-date: no zone, meaning GMT
        "Sun, 22 Nov 2026 12:00:07 -0000",  # RFC 5322's "UTC, local zone unknown"
        "Sun, 22 Nov 2026 12:00:07 +0000",
        "Sun, 22 Nov 2026 12:00:07 UTC",
        "Sun, 22 Nov 2026 12:00:07",  # a sender that left GMT out
        "Sun, 22 Nov 2026 13:00:07 +0100",
        "Sun, 22 Nov 2026 22:45:07 +1045",  # ten hours and three quarters ahead
        "Sun, 22 Nov 2026 06:30:07 -0530",  # five and a half hours behind
        "sun, 22 NOV 2026 12:00:07 gmt",
    ],
)
def test_every_http_date_form_of_rfc_9110_is_read_as_gmt(header: str) -> None:
    """RFC 9110 section 5.6.7: "A recipient that parses a timestamp value in an HTTP field MUST accept
    all three HTTP-date formats". Those with no zone once raised a TypeError (naive minus aware)."""
    assert parse_retry_after(header, now=NOW) == 7.0


def test_asctime_pads_a_one_digit_day_with_a_space() -> None:
    assert parse_http_date("Tue Dec  1 12:00:07 2026", NOW) == datetime(2026, 12, 1, 12, 0, 7, tzinfo=UTC)
    assert parse_http_date("Tue Dec 1 12:00:07 2026", NOW) == datetime(2026, 12, 1, 12, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("two_digits", "year"),
    [("26", 2026), ("76", 2076), ("77", 1977), ("94", 1994), ("00", 2000)],
)
def test_a_two_digit_year_more_than_50_years_ahead_is_of_the_last_century(two_digits: str, year: int) -> None:
    """RFC 9110 section 5.6.7: such a year means "the most recent year in the past that had the same
    last two digits" (email.utils would read 69 to 99 as 19xx whatever the date)."""
    when = parse_http_date(f"Friday, 01-Jan-{two_digits} 00:00:00 GMT", NOW)
    assert when is not None
    assert when.year == year


def test_the_last_second_of_a_day_is_a_time_of_day() -> None:
    assert parse_http_date("Sun, 22 Nov 2026 23:59:59 GMT", NOW) == datetime(
        2026, 11, 22, 23, 59, 59, tzinfo=UTC
    )


def test_a_date_is_measured_from_the_clock_when_no_now_is_given() -> None:
    """Graph's own throttling sends seconds; a proxy may send a date, which counts from the real now."""
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(header)
    assert seconds is not None
    assert 25 <= seconds <= 30


def test_a_leap_second_is_the_next_minute() -> None:
    """RFC 9110's time-of-day runs to 23:59:60."""
    assert parse_http_date("Sun, 22 Nov 2026 12:00:60 GMT", NOW) == datetime(2026, 11, 22, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "header",
    [
        "Sun, 31 Feb 2026 12:00:07 GMT",  # no such day
        "Sun, 22 Nov 2026 24:00:07 GMT",
        "Sun, 22 Nov 2026 12:60:07 GMT",
        "Sun, 22 Nov 2026 12:00:61 GMT",
        "Sun, 22 Foo 2026 12:00:07 GMT",
        "Sun, 22 Nov 2026 12:00:07 EST",  # HTTP dates are in GMT
        "Sun, 22 Nov 2026 12:00 GMT",
        "Sun, 22 Nov 0000 12:00:07 GMT",
        "2026-11-22T12:00:07Z",  # ISO 8601 is not an HTTP-date
        "7 seconds",
    ],
)
def test_a_date_that_cannot_be_read_counts_as_no_retry_after(header: str) -> None:
    assert parse_retry_after(header, now=NOW) is None


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
