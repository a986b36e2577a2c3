"""How long to wait before trying Graph again: Graph's `Retry-After` when it sends one, else capped
exponential backoff with jitter, all inside a total budget so a caller is never held for long."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
    """`Retry-After` as seconds: Graph sends seconds, sometimes fractional (`2.128`); HTTP allows a date.
    Clamped to 0..`MAX_RETRY_AFTER_SECONDS`; a number that is not finite counts as the maximum."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return clamp_retry_after(seconds)


def clamp_retry_after(seconds: float) -> float:
    """A wait someone asked for, made safe to sleep on and to write into a header."""
    if math.isnan(seconds):
        return MAX_RETRY_AFTER_SECONDS
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
