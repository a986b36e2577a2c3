"""How long to wait before trying Graph again: Graph's `Retry-After` when it sends one, else capped
exponential backoff with jitter, all inside a total budget so a caller is never held for long."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The longest wait any `Retry-After` can ask of chatfn (docs/graph.md): Graph's throttling waits are
# seconds to a few minutes; `inf`, `nan` or a year-long value would park an orchestration for good
# (and `inf` cannot even be rounded into a header), so they all become this.
MAX_RETRY_AFTER_SECONDS = 300.0

_JITTER = random.Random()  # noqa: S311  # spreading retries out needs no cryptographic strength


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first try; `budget_seconds` caps the time spent waiting in total."""

    max_attempts: int = 5
    budget_seconds: float = 20.0
    base_delay: float = 0.5
    max_delay: float = 8.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Equal jitter after `attempt` failed tries: half the capped exponential, plus up to as much."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + (rng or _JITTER).uniform(0, ceiling / 2)

    def next_delay(
        self, attempt: int, waited: float, retry_after: float | None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before the next try, or None when the attempts or the budget are spent."""
        if attempt >= self.max_attempts:
            return None
        delay = retry_after if retry_after is not None else self.backoff(attempt, rng)
        if waited + delay > self.budget_seconds:
            return None
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: Graph sends seconds, sometimes fractional (`2.128`); HTTP allows a date
    (RFC 9110 section 10.2.3). Clamped to 0..`MAX_RETRY_AFTER_SECONDS`; a number that is not finite
    counts as the maximum, and a value that is neither a number nor a date as no `Retry-After`."""
    if value is None or not value.strip():
        return None
    now = now or datetime.now(UTC)
    try:
        seconds = float(value)
    except ValueError:
        when = parse_http_date(value, now)
        if when is None:
            return None
        seconds = (when - now).total_seconds()
    return clamp_retry_after(seconds)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
# HTTP-date's zone is GMT. A sender that leaves it out, or writes RFC 5322's `+0000`, `-0000` ("UTC,
# local zone unknown", RFC 5322 section 3.3), UT, UTC or another offset, is understood too.
_ZONE = r"(?P<zone>GMT|UTC?|[+-]\d{4})"
# RFC 9110 section 5.6.7: a recipient MUST accept all three forms of HTTP-date. Runs of spaces count as
# one (asctime pads a one-digit day with a space), and names are read in any case.
_HTTP_DATES = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        rf"[a-z]{{3}}, (?P<day>\d\d?) (?P<month>[a-z]{{3}}) (?P<year>\d{{4}}) {_TIME}(?: {_ZONE})?",
        # rfc850-date (obsolete): Sunday, 06-Nov-94 08:49:37 GMT
        rf"[a-z]{{6,9}}, (?P<day>\d\d?)-(?P<month>[a-z]{{3}})-(?P<year>\d\d) {_TIME}(?: {_ZONE})?",
        # asctime-date (obsolete): Sun Nov  6 08:49:37 1994, in GMT
        rf"[a-z]{{3}} (?P<month>[a-z]{{3}}) (?P<day>\d\d?) {_TIME} (?P<year>\d{{4}})",
    )
)


def parse_http_date(value: str, now: datetime) -> datetime | None:
    """An HTTP-date in any of RFC 9110's three forms (section 5.6.7), as an aware UTC datetime; None
    when it is none of them or names no real time. `now` dates a two-digit year."""
    text = " ".join(value.split())
    found = next((match for form in _HTTP_DATES if (match := form.fullmatch(text))), None)
    if found is None or found["month"].lower() not in _MONTHS:
        return None
    year = int(found["year"])
    if len(found["year"]) == 2:
        # RFC 9110 section 5.6.7: a two-digit year that "appears to be more than 50 years in the future"
        # is "the most recent year in the past that had the same last two digits".
        latest = now.year + 50
        year = latest - (latest - year) % 100
    try:
        midnight = datetime(year, _MONTHS.index(found["month"].lower()) + 1, int(found["day"]), tzinfo=UTC)
    except ValueError:  # 31 Feb, year 0
        return None
    hour, minute, second = int(found["hour"]), int(found["minute"]), int(found["second"])
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second (RFC 9110's time-of-day allows it)
        return None
    when = midnight + timedelta(hours=hour, minutes=minute, seconds=second)
    return when - _offset(found.groupdict().get("zone"))


def _offset(zone: str | None) -> timedelta:
    """How far a date's zone is ahead of UTC: none for GMT, UT, UTC and +/-0000 (and for asctime,
    which names no zone and means GMT)."""
    if zone is None or zone[0] not in "+-":
        return timedelta(0)
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    return timedelta(minutes=minutes if zone[0] == "+" else -minutes)


def clamp_retry_after(seconds: float) -> float:
    """A wait someone asked for, made safe to sleep on and to write into a header."""
    if math.isnan(seconds):
        return MAX_RETRY_AFTER_SECONDS
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
