"""A token bucket per app, as Teams limits each app per tenant (30 requests per second for chats).

https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens a second flow into each app's bucket of `burst`; a call takes one or waits."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)  # app -> (tokens, at)

    def take(self, app: str) -> float | None:
        """None when the call may go ahead; else the seconds until a token is free (Retry-After)."""
        now = self.clock()
        tokens, at = self._levels.get(app, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._levels[app] = (tokens - 1, now)
            return None
        self._levels[app] = (tokens, now)
        # Rounded up to milliseconds, so a client that waits exactly this long finds a token.
        return math.ceil((1 - tokens) / self.rate * 1000) / 1000
