"""One Graph budget per worker: every call to Graph takes a token from the limiter of its kind first.

Graph limits an app per tenant, not per request (learn.microsoft.com/graph/throttling-limits): Teams
allows 30 requests a second for chat creation ("Other API calls for Microsoft Teams") and 30 for reads
("Other GET API calls"), and the directory counts user lookups in resource units per 10 seconds. So all
requests of a worker share one limiter per kind of call:

- a token bucket at the configured rate, which a caller waits on in turn (a reservation: tokens can
  go into debt, so concurrent callers queue instead of racing);
- adaptive, as the AWS SDKs' "adaptive" retry mode is: a 429 lowers the rate (times 0.7), and each
  call that succeeds raises it slowly back towards the configured rate. Several instances of the app
  share one tenant's limit; this is what keeps them together under it without a coordinator;
- a `Retry-After` pauses every call of that kind in the worker, not only the one that got it: calling
  while throttled only lengthens the wait.

A call never waits past its caller's deadline (`deadline_in`): then `BudgetSpent` says when the
budget could serve it, nothing is sent, and the request is handed to the orchestration.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from chatfn import telemetry
from chatfn.errors import BudgetSpent

Kind = Literal["chats.write", "chats.read", "directory"]
KINDS: tuple[Kind, ...] = ("chats.write", "chats.read", "directory")

# AWS SDKs' adaptive retry mode lowers its rate to 0.7 of what it was on a throttling error.
DECREASE = 0.7
# While calls succeed, the rate climbs back by this share of the configured rate per second: from 0.7 of
# it to all of it in 6 s. By time, not by call, so that it climbs as fast at 5 calls a second as at 30.
CLIMB_PER_SECOND = 0.05
# Never slower than this: a rate near zero would park every caller for minutes after a few 429s.
MIN_RATE = 0.5

# The monotonic time by which the current caller needs its answer (None: no deadline).
_deadline: ContextVar[float | None] = ContextVar("chatfn_graph_deadline", default=None)


@contextlib.contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    """Graph calls made inside wait for the budget at most `seconds` from now (the caller's wait)."""
    token = _deadline.set(time.monotonic() + max(0.0, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


@contextlib.contextmanager
def no_deadline() -> Iterator[None]:
    """Graph calls made inside wait for the budget as long as it takes: for work that several callers
    share (a merged lookup), each of which waits for it only as long as its own deadline allows."""
    token = _deadline.set(None)
    try:
        yield
    finally:
        _deadline.reset(token)


def seconds_left() -> float | None:
    """How long the current caller may still wait (None: as long as it takes)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def spent(what: str, retry_in: float) -> BudgetSpent:
    """The `BudgetSpent` for `what`, which the budget serves only in `retry_in` seconds; recorded as a
    deferred wait (`chatfn.graph.budget.wait`), as the wait in the worker it replaces would have been."""
    telemetry.budget_deferred(retry_in)
    return BudgetSpent(f"Graph's budget cannot serve {what} in time", retry_in=retry_in)


def kind_of(method: str, path: str) -> Kind:
    """Which limit a call falls under: user lookups are the directory's, Teams writes and reads are
    Teams' (the path is relative to the version root, e.g. `/users/{id}/chats`)."""
    segments = [s for s in path.split("/") if s]
    if segments[:1] == ["users"] and len(segments) <= 2:
        return "directory"
    return "chats.read" if method == "GET" else "chats.write"


@dataclass(frozen=True)
class Rate:
    """A limit: `per_second` at most, and at most `burst` at once after a quiet time."""

    per_second: float
    burst: float

    @classmethod
    def of(cls, per_second: float) -> Rate:
        """A rate whose burst is a third of a second's worth (at least one call): a quiet worker does
        not spend a tenant's whole second at once."""
        return cls(per_second, max(1.0, per_second / 3))


# The limits Microsoft documents per app per tenant (learn.microsoft.com/graph/throttling-limits):
# Teams' "Other API calls" and "Other GET API calls", 30 a second each; the directory's small-tenant
# 3,500 resource units per 10 seconds, of which a lookup by `$filter` with `$select` costs 1. A worker
# starts at these and adapts; the settings CHATFN_GRAPH_*_RPS change them.
DOCUMENTED_LIMITS: dict[Kind, Rate] = {
    "chats.write": Rate.of(30),
    "chats.read": Rate.of(30),
    "directory": Rate.of(350),
}


@dataclass
class Limiter:
    """One kind's token bucket, adaptive, with its pause.

    Tokens go into debt, so that concurrent callers queue: each reservation is a place in line. A 429
    voids the line (every reservation made before it was planned at a rate, and for a time, that no
    longer hold): `epoch` counts 429s, and a caller that waited through one reserves again.
    """

    limit: Rate
    clock: Callable[[], float] = time.monotonic
    rate: float = field(init=False)
    tokens: float = field(init=False)
    updated: float = field(init=False)
    paused_until: float = float("-inf")
    # When the rate was last lowered: a 429 to a call sent before then tells of the same congestion
    # (the calls already on their way when the first 429 came), and lowers it no further.
    lowered_at: float = float("-inf")
    climbed_at: float = field(init=False)
    epoch: int = 0

    def __post_init__(self) -> None:
        self.rate = self.limit.per_second
        self.tokens = self.limit.burst
        self.updated = self.climbed_at = self.clock()

    def reserve(self, cost: float, deadline: float | None) -> float:
        """Take `cost` tokens, in debt if need be; the seconds to wait before calling. `BudgetSpent`
        (and nothing taken) when that wait would end after `deadline`."""
        now = self._refill()
        wait = self._wait(cost, now)
        if deadline is not None and wait > 0 and now + wait > deadline:
            raise spent("this call", wait)
        self.tokens -= cost
        return wait

    def ready_in(self, cost: float) -> float:
        """The seconds until a call costing `cost` could go, behind everyone in line; nothing taken."""
        return self._wait(cost, self._refill())

    def _wait(self, cost: float, now: float) -> float:
        start = max(now, self.paused_until)  # no tokens flow back while paused
        return (start - now) + max(0.0, (cost - self.tokens) / self.rate)

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """Graph answered 429 to a call sent at `sent_at`: pause the whole kind for its Retry-After,
        start the line over from an empty bucket, and slow down, once per congestion."""
        now = self._refill()
        if sent_at is None or sent_at >= self.lowered_at:
            self.rate = max(MIN_RATE, self.rate * DECREASE)
            self.lowered_at = now
        self.climbed_at = now
        self.tokens = 0.0  # Graph's bucket is empty; whoever was in line reserves again (epoch)
        if retry_after is not None:
            self.paused_until = max(self.paused_until, now + retry_after)
        self.epoch += 1

    def succeeded(self) -> None:
        """A call went through: climb back towards the configured rate, by the time since the last climb."""
        now = self._refill()
        climb = self.limit.per_second * CLIMB_PER_SECOND * (now - self.climbed_at)
        self.rate = min(self.limit.per_second, self.rate + climb)
        self.climbed_at = now

    def _refill(self) -> float:
        """Tokens flowed back since the last look (none while paused), at the rate until now; now."""
        now = self.clock()
        since = max(self.updated, self.paused_until)
        if now > since:
            self.tokens = min(self.limit.burst, self.tokens + (now - since) * self.rate)
        self.updated = now
        return now


class Budget:
    """The worker's limiters, one per kind of call."""

    def __init__(
        self,
        limits: dict[Kind, Rate],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limiters = {kind: Limiter(limit, clock) for kind, limit in limits.items()}
        self.clock = clock
        self._sleep = sleep

    async def acquire(self, kind: Kind, cost: float = 1.0) -> float:
        """Wait for a token of `kind`; the seconds waited. `BudgetSpent` when the caller's deadline
        comes first. A caller in line when a 429 came takes a new place (after the pause, at the new rate)."""
        limiter = self.limiters[kind]
        waited = 0.0
        while True:
            wait = limiter.reserve(cost, _deadline.get())
            if wait <= 0:
                return waited
            epoch = limiter.epoch
            await self._sleep(wait)
            waited += wait
            if limiter.epoch == epoch:
                return waited

    def ready_in(self, kind: Kind, cost: float = 1.0) -> float:
        """The seconds until a call of `kind` could go, behind everyone in line; nothing taken."""
        return self.limiters[kind].ready_in(cost)

    def throttled(self, kind: Kind, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429 to a call of `kind` sent at `sent_at` (the budget's clock, read once `acquire` returned)."""
        self.limiters[kind].throttled(retry_after, sent_at)

    def succeeded(self, kind: Kind) -> None:
        self.limiters[kind].succeeded()
