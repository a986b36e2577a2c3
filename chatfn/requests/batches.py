"""Many chats in one request: a checked batch becomes one batch orchestration (`chatfn.durable.batch`),
at most once per idempotency key; its state is read back, or it is cancelled.

A batch always runs in the orchestration: the caller gets 202 and follows `Location`. Its row in
storage is written before it starts (so storage that is down stops it with nothing started) and records
a cancel, which every item checks before it sends. Nothing here knows HTTP: `chatfn.api.batches`
renders what it returns.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from chatfn.chats.batch import batch_fingerprint
from chatfn.chats.spec import ChatSpec
from chatfn.durable.batch import BATCH_ORCHESTRATOR, CANCEL_EVENT, BatchJob, BatchOutcome, Counts
from chatfn.requests.driver import Orchestrations
from chatfn.requests.store import Claimed, IdempotencyRecord
from chatfn.services import Services

log = logging.getLogger(__name__)

# How long a send may take from reading the cancel flag to going out (a busy worker included).
CANCEL_GRACE_SECONDS = 1.0
# A batch's keys live apart from single requests' keys of the same caller.
_KEY_SCOPE = "chat-batches"


@dataclass(frozen=True)
class BatchOrder:
    """A batch that passed every check: its items, who asks (their keys' scope), and its key."""

    specs: tuple[ChatSpec, ...]
    scope: str
    key: str | None


@dataclass(frozen=True)
class BatchState:
    """Where a batch stands: its counts while it runs; its outcome once every item has ended. `broken`:
    its orchestration ended in a state chatfn never leaves one in."""

    batch_id: str
    counts: Counts
    outcome: BatchOutcome | None = None
    broken: bool = False

    @property
    def running(self) -> bool:
        return self.outcome is None and not self.broken


async def submit_batch(order: BatchOrder, services: Services, orchestrations: Orchestrations) -> BatchState:
    """Start the batch, once per key: a repeat of the key with the same body is the same batch.
    `IdempotencyKeyReused` for another body; `StorageError` when storage cannot record it (nothing
    started)."""
    if order.key is None:
        return await _start(_new_batch_id(), order, services, orchestrations)
    scope = f"{order.scope}\n{_KEY_SCOPE}"
    now = services.clock()
    claim = await services.store.claim(scope, order.key, batch_fingerprint(order.specs), _new_batch_id(), now)
    if isinstance(claim, Claimed):
        state = await _start(claim.record.request_id, order, services, orchestrations)
        await _hand_over(claim.record, services)
        return state
    record = claim.record
    known = await batch_status(record.request_id, services, orchestrations)
    if known is not None:
        return known
    if record.lease_expired(now):  # claimed, but its worker stopped before the batch started
        taken = await services.store.take_over(record, now)
        if taken is not None:
            state = await _start(taken.request_id, order, services, orchestrations)
            await _hand_over(taken, services)
            return state
    return BatchState(record.request_id, Counts(total=len(order.specs)))


async def batch_status(
    batch_id: str, services: Services, orchestrations: Orchestrations
) -> BatchState | None:
    """How the batch stands, from one read of its orchestration; None when there is no such batch."""
    state = await orchestrations.status(batch_id)
    if state is None:
        return None
    if state.running:
        counts = Counts.model_validate(state.custom_status) if state.custom_status else None
        return BatchState(batch_id, counts or Counts(total=0))
    if not (state.completed and state.output):
        log.error("batch %s: its orchestration ended without an outcome", batch_id)
        return BatchState(batch_id, Counts(total=0), broken=True)
    outcome = BatchOutcome.model_validate(state.output)
    return BatchState(batch_id, Counts(total=len(outcome.results)).counted(outcome.results), outcome)


async def cancel_batch(
    batch_id: str, services: Services, orchestrations: Orchestrations
) -> BatchState | None:
    """Stop sending: no item is sent from now on (items in flight finish). None: no such batch."""
    state = await batch_status(batch_id, services, orchestrations)
    if state is None or not state.running:
        return state
    await services.store.cancel_batch(batch_id)
    await orchestrations.raise_event(batch_id, CANCEL_EVENT)
    log.info("batch %s: cancelled", batch_id)
    # A send reads the flag right before it goes out: one that read it just before it was written is
    # out within this grace, so that nothing is sent after the caller is told the batch is cancelled.
    await services.sleep(CANCEL_GRACE_SECONDS)
    return state


async def _start(
    batch_id: str, order: BatchOrder, services: Services, orchestrations: Orchestrations
) -> BatchState:
    await services.store.open_batch(batch_id)
    job = BatchJob(batchId=batch_id, chats=order.specs)
    await orchestrations.start(BATCH_ORCHESTRATOR, batch_id, job.model_dump(mode="json"))
    log.info("batch %s: started with %d chats", batch_id, len(order.specs))
    return BatchState(batch_id, Counts(total=len(order.specs)))


async def _hand_over(record: IdempotencyRecord, services: Services) -> None:
    """The orchestration answers for the batch from now on; a record that changed is only logged."""
    if await services.store.hand_over(record) is None:
        log.error("batch %s: its idempotency record changed under it", record.request_id)


def _new_batch_id() -> str:
    """128 random bits, like a request id: a status URL is never guessable."""
    return secrets.token_hex(16)
