"""Token buckets per app, as Graph throttles each app per tenant, one bucket per kind of call.

Graph's limits are token buckets (https://learn.microsoft.com/graph/throttling-limits): a burst drains
one, tokens flow back at a steady rate, and a 429's `Retry-After` says when the next one is free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatfn.emulator.messages import Request

CHATS_WRITE = "chats.write"  # POST /chats and the other Teams writes
CHATS_READ = "chats.read"  # Teams reads: chats, their members, operations and installed apps, chat lists
PER_CHAT = "chats.perChat"  # every Teams call on one given chat, whatever its kind
DIRECTORY = "directory"  # user lookups, counted in the identity service's resource units
BUCKETS = (CHATS_WRITE, CHATS_READ, PER_CHAT, DIRECTORY)
_EVERY_CALL = "all"  # the single bucket of the first form, over every Graph call


@dataclass(frozen=True)
class Limit:
    """`rps` tokens a second flow into a bucket of `burst`. With `resource_units` a call takes what it
    costs in the identity service's resource units; otherwise one token."""

    rps: float
    burst: float
    resource_units: bool = False

    def settings_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"rps": self.rps, "burst": self.burst}
        if self.resource_units:
            shown["resourceUnits"] = True
        return shown


# The limits Microsoft documents, per app per tenant
# (https://learn.microsoft.com/graph/throttling-limits, read 2025):
DOCUMENTED_LIMITS = {
    # Microsoft Teams service limits: "Other API calls for Microsoft Teams", 30 rps per app per tenant
    # (300 across tenants); POST /chats is one of them.
    CHATS_WRITE: Limit(30, 30),
    # Same table: "Other GET API calls for Microsoft Teams", 30 rps per app per tenant (1500 across
    # tenants); "GET installedApps for chat" has the same 30 rps per app per tenant.
    CHATS_READ: Limit(30, 30),
    # Same table, column "Limit per app per tenant per resource (chat/channel)": 1 rps on both rows,
    # and "A maximum of one request per second per app per tenant can be issued on a given ... chat."
    PER_CHAT: Limit(1, 1),
    # Identity and access service limits, application+tenant pair, S (a tenant under 50 users):
    # 3,500 ResourceUnits per 10 seconds, i.e. 350 a second into a bucket of 3,500.
    DIRECTORY: Limit(350, 3500, resource_units=True),
}

# The identity service's cost of a call (same page, "Identity and access service limits"): GET users
# costs 2 resource units and any other identity GET 1; `$select` takes 1 off, `$expand` adds 1, a `$top`
# under 20 takes 1 off; a call never costs under 1. `$filter` is not among the factors.
MOST_RESOURCE_UNITS = 3  # GET /users with $expand: what a resource-unit bucket must at least hold


def resource_units(request: Request, *, listing: bool) -> int:
    """What a user lookup costs: `listing` is GET /users, every other lookup starts from 1."""
    cost = 2 if listing else 1
    if "$select" in request.query:
        cost -= 1
    if "$expand" in request.query:
        cost += 1
    top = request.query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(cost, 1)


def retry_after(seconds: float) -> float:
    """Rounded up to milliseconds, so a client that waits exactly this long finds its tokens."""
    return math.ceil(seconds * 1000) / 1000


def header_value(seconds: float) -> str:
    """`Retry-After` in seconds with at most three decimals (`2.128`), never in exponent notation."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass
class TokenBucket:
    """`rate` tokens a second flow into each key's bucket of `burst`; a call takes its cost or waits."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def _level(self, key: str) -> tuple[float, float]:
        now = self.clock()
        tokens, at = self._levels.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate), now

    def wait(self, key: str, cost: float = 1) -> float | None:
        """None when `cost` tokens are there; else the seconds until they are (Retry-After)."""
        tokens, _ = self._level(key)
        return None if tokens >= cost else retry_after((cost - tokens) / self.rate)

    def spend(self, key: str, cost: float = 1) -> None:
        """Take `cost` tokens, into debt when they are not there (at most one bucket's worth)."""
        tokens, now = self._level(key)
        self._levels[key] = (max(tokens - cost, -self.burst), now)

    def take(self, key: str, cost: float = 1) -> float | None:
        """Spend `cost` tokens when they are there (None); else the Retry-After, spending nothing."""
        wait = self.wait(key, cost)
        if wait is None:
            self.spend(key, cost)
        return wait


@dataclass(frozen=True)
class Call:
    """What the throttle needs to know of a Graph call: its kind's bucket (None: no limit of ours
    applies), the chat a Teams call acts on, and what a directory call costs in resource units."""

    bucket: str | None
    chat_id: str | None = None
    resource_units: int = 1


class Throttle:
    """What `/_emulator/throttle` set: a bucket per kind of call, each per app, or (the first form)
    one bucket over every Graph call.

    With buckets by kind, a refused call is charged too, as Graph keeps counting a throttled client's
    calls ("Microsoft Graph continues to log resource usage while a client is being throttled",
    https://learn.microsoft.com/graph/throttling): calling on while throttled lengthens the wait. The
    first form is kept as it was built: a refused call costs nothing.
    """

    def __init__(
        self,
        limits: Mapping[str, Limit],
        *,
        single: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.single = single
        self._buckets = {name: TokenBucket(limit.rps, limit.burst, clock) for name, limit in limits.items()}

    @classmethod
    def over_every_call(cls, rps: float, burst: float) -> Throttle:
        return cls({_EVERY_CALL: Limit(rps, burst)}, single=True)

    def settings_json(self) -> dict[str, Any]:
        """The settings as `/_emulator/throttle` takes them, so an answer can be posted back as it is."""
        if self.single:
            limit = self.limits[_EVERY_CALL]
            return {"rps": limit.rps, "burst": limit.burst}
        return {
            "buckets": {
                name: None if name not in self.limits else self.limits[name].settings_json()
                for name in BUCKETS
            }
        }

    def take(self, app: str, call: Call) -> float | None:
        """None when `app` may make the call now; else the seconds until it may (Retry-After)."""
        if self.single:
            return self._buckets[_EVERY_CALL].take(app)
        charges = self._charges(app, call)
        refused = any(bucket.wait(key, cost) is not None for bucket, key, cost in charges)
        for bucket, key, cost in charges:
            bucket.spend(key, cost)
        if not refused:
            return None
        return max(bucket.wait(key, cost) or 0.0 for bucket, key, cost in charges)

    def _charges(self, app: str, call: Call) -> list[tuple[TokenBucket, str, float]]:
        """(bucket, key, cost) for each limited bucket the call draws on."""
        charges: list[tuple[TokenBucket, str, float]] = []
        limit = self.limits.get(call.bucket or "")
        if call.bucket is not None and limit is not None:
            cost = call.resource_units if limit.resource_units else 1
            charges.append((self._buckets[call.bucket], app, cost))
        if call.chat_id is not None and PER_CHAT in self.limits:
            charges.append((self._buckets[PER_CHAT], f"{app} {call.chat_id}", 1))
        return charges
