"""Users by address, for every request of a worker at once: lookups merged and remembered.

Graph's `in` takes 15 values per `$filter` (`GraphClient.find_users`), so addresses that concurrent
requests need are looked up together, the way a data loader batches: each request asks for its
addresses, and what all of them asked for in the same turn of the event loop goes out 15 to a call.
While a lookup is on its way, what more requests ask for waits for it to come back (or for 15 addresses
to gather) and then goes in as few calls as it fits, as Nagle's algorithm does: a busy worker sends
full calls, a quiet one waits for nothing. A
short-lived cache of address -> users (`CHATFN_DIRECTORY_CACHE_SECONDS`, five minutes by default) saves
the calls for people who are in many chats; an address that matched nobody is remembered only a few
seconds, so a user added to the directory is found almost at once. A changed address may resolve to its
old owner until the cache forgets it (docs/api.md).

A lookup is shared, so it runs under no caller's deadline (`chatfn.graph.budget.deadline_in`): a caller
whose deadline comes before the directory's budget could serve a lookup gets `BudgetSpent` at once, as
for a call of its own, and the lookup goes on for the others and for the cache; so does a caller whose
deadline passes while a 429's Retry-After holds the lookup up. A caller that is cancelled cancels
nobody else's answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from chatfn.graph.budget import no_deadline, seconds_left, spent
from chatfn.graph.client import MAX_ADDRESSES_PER_LOOKUP, GraphClient
from chatfn.graph.models import DirectoryUser

# An address that matched nobody is looked up again after this long at most.
MISS_SECONDS = 5.0
# How often a caller past its deadline looks whether the lookup it waits on is held up by throttling.
PAST_DEADLINE_LOOK = 0.1
# Lookups in flight at once, per worker: the budget paces them, this bounds what waits on it.
MAX_CONCURRENT_LOOKUPS = 5

_Answer = asyncio.Future[tuple[DirectoryUser, ...]]


@dataclass(frozen=True)
class _Remembered:
    users: tuple[DirectoryUser, ...]
    until: float


class Directory:
    """The worker's view of the directory: `users_by_address` merges and caches; one per worker."""

    def __init__(
        self, graph: GraphClient, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._graph = graph
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, _Remembered] = {}
        self._waiting: dict[str, _Answer] = {}
        self._queued: list[str] = []
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)
        self._lookups: set[asyncio.Task[None]] = set()  # kept, so that none is collected mid-flight
        self._in_flight = 0

    async def users_by_address(self, addresses: Iterable[str]) -> dict[str, list[DirectoryUser]]:
        """Each address (lower case) with the distinct users whose mail or UPN it is. `BudgetSpent` when
        the caller's deadline comes before the answers (the lookups go on, and are remembered)."""
        wanted = sorted({address.lower() for address in addresses})
        now = self._clock()
        found: dict[str, list[DirectoryUser]] = {}
        pending: dict[str, _Answer] = {}
        for address in wanted:
            remembered = self._cache.get(address)
            if remembered is not None and remembered.until > now:
                found[address] = list(remembered.users)
            else:
                pending[address] = self._future_for(address)
        if pending:
            self._within_the_callers_wait()
            await self._until_answered(pending.values())
            found.update({address: list(answer.result()) for address, answer in pending.items()})
        return found

    def _within_the_callers_wait(self) -> None:
        """`BudgetSpent` when the directory's budget could serve a lookup only after the caller's
        deadline (its addresses are looked up all the same, and remembered): what `deadline_in` does
        for a call of the caller's own. Graph's own time to answer is not the budget's to bound."""
        left = seconds_left()
        if left is None:
            return
        ready_in = self._graph.budget.ready_in("directory")
        if ready_in > 0 and ready_in > left:
            raise spent("the directory lookup", ready_in)

    async def _until_answered(self, answers: Collection[_Answer]) -> None:
        """Wait for the shared answers, past the caller's deadline only while the directory's budget
        could serve a call at once: a lookup that a 429's Retry-After holds up (it waits under no
        deadline) must not hold the caller past its wait, which then gets `BudgetSpent` (its 202) as it
        would for a call of its own. Graph's own time to answer is waited for."""
        while True:
            left = seconds_left()
            timeout = None if left is None else max(left, PAST_DEADLINE_LOOK)
            # asyncio.wait, not gather: a caller that leaves (cancelled) or gives up must not cancel the
            # shared answers that other requests are waiting on too.
            _, unanswered = await asyncio.wait(answers, timeout=timeout)
            if not unanswered:
                return
            ready_in = self._graph.budget.ready_in("directory")
            if ready_in > 0:
                raise spent("the directory lookup (held up by Graph's throttling)", ready_in)

    def forget(self) -> None:
        """Drop everything remembered (a test, or an administrator's changed directory)."""
        self._cache.clear()

    def _future_for(self, address: str) -> _Answer:
        """The answer for `address`: one already on its way, or one queued for the next lookup."""
        if address in self._waiting:
            return self._waiting[address]
        loop = asyncio.get_running_loop()
        future: _Answer = loop.create_future()
        self._waiting[address] = future
        self._queued.append(address)
        if len(self._queued) >= MAX_ADDRESSES_PER_LOOKUP:
            self._flush()  # a full call's worth goes at once
        elif len(self._queued) == 1 and not self._in_flight:
            loop.call_soon(self._flush)  # after every request of this turn has queued its addresses
        # else: a lookup is on its way; what queues meanwhile goes when it is back, in as few calls
        return future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        with no_deadline():  # shared by every request waiting on it: none of their deadlines applies
            for start in range(0, len(queued), MAX_ADDRESSES_PER_LOOKUP):
                lookup = asyncio.get_running_loop().create_task(
                    self._look_up(queued[start : start + MAX_ADDRESSES_PER_LOOKUP])
                )
                self._in_flight += 1
                self._lookups.add(lookup)
                lookup.add_done_callback(self._lookups.discard)

    async def _look_up(self, batch: Sequence[str]) -> None:
        """One call for up to 15 addresses; its answer (or failure) goes to every request waiting on
        them, and is remembered. Then what queued meanwhile goes."""
        try:
            await self._answer(batch)
        finally:
            self._in_flight -= 1
        if self._queued:
            self._flush()

    async def _answer(self, batch: Sequence[str]) -> None:
        futures = [self._waiting[address] for address in batch]
        try:
            async with self._limit:
                users = await self._graph.find_users(batch)
        except Exception as exc:  # every request waiting on this batch gets the failure
            for address, future in zip(batch, futures, strict=True):
                del self._waiting[address]
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # delivered to whoever waits; no one left waiting is no news
            return
        matches = _by_address(batch, users)
        now = self._clock()
        for address, future in zip(batch, futures, strict=True):
            found = tuple(matches[address])
            ttl = self._cache_seconds if found else min(self._cache_seconds, MISS_SECONDS)
            self._cache[address] = _Remembered(found, now + ttl)
            del self._waiting[address]
            if not future.done():
                future.set_result(found)


def _by_address(addresses: Iterable[str], users: Iterable[DirectoryUser]) -> dict[str, list[DirectoryUser]]:
    matches: dict[str, dict[str, DirectoryUser]] = {address: {} for address in addresses}
    for user in users:
        for address in {(user.mail or "").lower(), (user.userPrincipalName or "").lower()}:
            if address in matches:
                matches[address][user.id.lower()] = user
    return {address: list(found.values()) for address, found in matches.items()}
