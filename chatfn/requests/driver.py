"""The idempotent-request driver: from a checked request to how it ended, or how far it has come.

A request without an `Idempotency-Key` is made at once. One with a key first claims the key's record
(`chatfn.requests.store`): the request that holds it makes the chat, a repeat follows the record (and
answers the first request's outcome), and a record whose worker died is taken over, looking first for
the chat that attempt may have made. The trigger takes the chat job's steps (`chatfn.chats.job`) while
the caller waits; what is left when its wait is up (Graph's 202, a spent budget, a search still to
make) is handed to the orchestration (`chatfn.durable.chat_job`), which a caller waits on for the rest
of its wait. The record is settled last: completed, handed over, or forgotten when Graph surely made
nothing.

Nothing here knows HTTP: the edge (`chatfn.api`) renders the `Answered`, `Running`, `Abandoned` or
`Broken` it gets back, and the problems of `IdempotencyKeyReused` and `StorageError`.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chatfn.chats.job import ChatJob, Ended, Next, new_job, take_step
from chatfn.chats.spec import ChatSpec
from chatfn.durable.chat_job import ORCHESTRATOR, Progress
from chatfn.errors import StorageError
from chatfn.graph.budget import deadline_in
from chatfn.outcome import OUTCOME, Failed, Outcome
from chatfn.requests.polling import poll_until
from chatfn.requests.store import Claimed, IdempotencyRecord, RecordState
from chatfn.services import Services

log = logging.getLogger(__name__)

# A request still on the direct path (a repeat waiting on its key) is usually done within seconds.
DIRECT_RETRY_AFTER = 2


@dataclass(frozen=True)
class ChatOrder:
    """A request that passed every check: what it asks, who asks (their keys' scope), its key, and how
    many seconds it may wait for the end before it is answered as running."""

    spec: ChatSpec
    scope: str
    key: str | None
    wait: float


@dataclass(frozen=True)
class Answered:
    """The request ended. `success_status`: what a new chat answers (201 when asked, 200 when read back
    through its status URL; a reused chat is always 200)."""

    outcome: Outcome
    success_status: int


@dataclass(frozen=True)
class Running:
    """Not ended yet: follow `request_id`'s status URL after `retry_after` seconds."""

    request_id: str
    stage: str
    retry_after: int
    polls: int = 0


@dataclass(frozen=True)
class Abandoned:
    """Its worker stopped before the request ended, and the chat may exist."""

    request_id: str


@dataclass(frozen=True)
class Broken:
    """Its orchestration ended in a state chatfn never leaves one in."""

    request_id: str


@dataclass(frozen=True)
class OrchestrationState:
    """What the driver reads of an orchestration: whether it runs, and its output or progress."""

    running: bool
    completed: bool
    output: Any
    custom_status: Any


class Orchestrations(Protocol):
    """The durable client, as the driver uses it (`chatfn.durable.client` adapts the real one)."""

    async def start(self, name: str, instance_id: str, job: dict[str, Any]) -> None: ...

    async def status(self, instance_id: str) -> OrchestrationState | None: ...

    async def raise_event(self, instance_id: str, name: str) -> None: ...


async def submit(
    order: ChatOrder, services: Services, orchestrations: Orchestrations
) -> Answered | Running | Broken:
    """Make the chat `order` asks for, once per key; `IdempotencyKeyReused` when the key belongs to
    another body, `StorageError` when its record cannot be read or written (nothing was sent)."""
    if order.key is None:
        return await _run(order, _new_request_id(), services.clock(), None, services, orchestrations)
    return await _claim(order, order.key, services, orchestrations)


async def status(
    request_id: str, services: Services, orchestrations: Orchestrations
) -> Answered | Running | Abandoned | Broken | None:
    """How the request with this id stands (None: no such request), from one read of its orchestration
    or, for a request on the direct path, of its record."""
    state = await orchestrations.status(request_id)
    if state is not None:
        if state.running:
            return _running(request_id, state, services)
        return _ended(request_id, state, success_status=200)
    found = await services.store.find_request(request_id)
    if found is None:
        return None
    record = found.record
    if record is None:  # the key was freed: what the request ended with, kept for its status URL
        return Abandoned(request_id) if found.outcome is None else Answered(found.outcome, success_status=200)
    if record.state is RecordState.COMPLETED and record.outcome is not None:
        return Answered(record.outcome, success_status=200)
    if record.lease_expired(services.clock()):
        return Abandoned(request_id)
    return Running(request_id, stage="creating chat", retry_after=DIRECT_RETRY_AFTER)


# --- the request's own work ---------------------------------------------------------------------------


async def _run(
    order: ChatOrder,
    request_id: str,
    started: datetime,
    record: IdempotencyRecord | None,
    services: Services,
    orchestrations: Orchestrations,
    look_first: bool = False,
) -> Answered | Running | Broken:
    """Make the chat on the direct path for as long as the caller waits, then settle the record:
    complete it, or forget it when Graph surely made nothing; or hand the job on to the orchestration."""
    job = new_job(
        request_id,
        order.spec,
        started,
        lease_until=record.lease_until if record is not None else None,
        look_first=look_first,
    )
    deadline = services.clock() + timedelta(seconds=order.wait)
    result = await _take_steps(job, deadline, services)
    if isinstance(result, Next):
        return await _hand_over(order, result, record, services, orchestrations)
    outcome = result.outcome
    if record is not None:
        await _settle(record, outcome, services)
    if isinstance(outcome, Failed):
        log.warning("request %s failed at %s", request_id, outcome.failure.step)
    else:
        log.info("request %s answered on the direct path", request_id)
    return Answered(outcome, success_status=201)


async def _take_steps(job: ChatJob, deadline: datetime, services: Services) -> Next | Ended:
    """The job's steps, one after another, waiting between them as each says: until it ends, or until
    its next step is due after `deadline`, or it is to follow Graph's operation (which only the
    orchestration does, on durable timers)."""
    while True:
        with deadline_in((deadline - services.clock()).total_seconds()):
            result = await take_step(job, services)
        if isinstance(result, Ended) or result.job.stage == "operation":
            return result
        if result.at is not None:
            if result.at > deadline:
                return result
            await services.sleep(max(0.0, (result.at - services.clock()).total_seconds()))
        job = result.job


async def _hand_over(
    order: ChatOrder,
    next_step: Next,
    record: IdempotencyRecord | None,
    services: Services,
    orchestrations: Orchestrations,
) -> Answered | Running | Broken:
    """The orchestration takes the job on from where it is, and answers for the request from now on:
    every send fenced, and no lease once the record says so. The record is handed over first, by a
    conditional write: a worker that stalled past its lease may find the request taken over by a repeat,
    which then answers for it, and an orchestration started as well would be a second sender."""
    request_id = next_step.job.requestId
    lease_until = None
    if record is not None:
        try:
            taken = await services.store.hand_over(record)
        except StorageError as exc:  # written or not, unknown: send only while no repeat may take over
            log.error("request %s: %s; the orchestration keeps the request's lease", request_id, exc)
            lease_until = record.lease_until
        else:
            if taken is None:
                log.error("request %s: a repeat took it over; that worker answers for it", request_id)
                await _point_to(record, services)
                return Running(request_id, stage="creating chat", retry_after=DIRECT_RETRY_AFTER)
    job = next_step.job.model_copy(update={"leaseUntil": lease_until, "fenced": True})
    handed = Next(job=job, at=next_step.at)
    await orchestrations.start(ORCHESTRATOR, request_id, handed.model_dump(mode="json"))
    log.info("request %s: handed to the orchestration at %s", request_id, job.stage)
    remaining = max(0.0, order.wait - (services.clock() - job.attemptStarted).total_seconds())
    return await _await_orchestration(request_id, remaining, services, orchestrations, success_status=201)


async def _point_to(record: IdempotencyRecord, services: Services) -> None:
    """The status URL answers from the record (the pointer), whoever carries the request on."""
    try:
        await services.store.remember_status_url(record)
    except StorageError as exc:
        log.error("request %s: %s", record.request_id, exc)


async def _settle(record: IdempotencyRecord, outcome: Outcome, services: Services) -> None:
    """Record the result for repeats of the key; forget the key when Graph surely made nothing (the
    failure kept for a status URL handed out); or, when Graph may have made the chat, end the lease so
    that the next repeat looks for it. A storage failure here leaves the record running: once its lease
    runs out, the same happens."""
    store = services.store
    try:
        if isinstance(outcome, Failed) and outcome.failure.createdNothing:
            await store.forget(record, outcome)
        elif isinstance(outcome, Failed):
            await store.end_lease(record, services.clock())
        elif await store.complete(record, outcome) is None:
            log.error("request %s: its idempotency record changed under it", record.request_id)
    except StorageError as exc:
        log.error("request %s: %s", record.request_id, exc)


# --- a request with a key -------------------------------------------------------------------------------


async def _claim(
    order: ChatOrder, key: str, services: Services, orchestrations: Orchestrations
) -> Answered | Running | Broken:
    """Claim the key and do the work, or follow the request that holds it."""
    request_id, started = _new_request_id(), services.clock()
    claim = await services.store.claim(order.scope, key, order.spec.fingerprint(), request_id, started)
    if isinstance(claim, Claimed):
        return await _run(order, request_id, started, claim.record, services, orchestrations)
    deadline = services.clock() + timedelta(seconds=order.wait)
    return await _follow(order, key, claim.record, deadline, services, orchestrations)


async def _follow(
    order: ChatOrder,
    key: str,
    record: IdempotencyRecord,
    deadline: datetime,
    services: Services,
    orchestrations: Orchestrations,
) -> Answered | Running | Broken:
    """Answer a repeat of a key as the first request answers: at once when it has ended, else after
    waiting on its record like it (then 202 to the same status URL). A record whose worker died is
    taken over: the chat that attempt may have made is looked for before anything is sent."""
    store, clock = services.store, services.clock
    request_id = record.request_id

    def settled(latest: IdempotencyRecord | None) -> bool:
        return (
            latest is None
            or latest.request_id != request_id
            or latest.state is not RecordState.RUNNING
            or latest.lease_expired(clock())
        )

    latest: IdempotencyRecord | None = await poll_until(
        lambda: store.get(record.partition),
        settled,
        current=record,
        deadline=deadline,
        clock=clock,
        sleep=services.sleep,
    )
    if latest is None or latest.request_id != request_id:
        # The first request failed before Graph made anything and its key was freed: start over.
        return await _claim(order, key, services, orchestrations)
    if latest.state is RecordState.COMPLETED and latest.outcome is not None:
        return Answered(latest.outcome, success_status=201)
    if latest.state is RecordState.ASYNC:
        remaining = max(0.0, (deadline - clock()).total_seconds())
        return await _await_orchestration(request_id, remaining, services, orchestrations, success_status=201)
    now = clock()
    if latest.lease_expired(now):
        taken = await store.take_over(latest, now)
        if taken is None:  # another repeat took it over first: follow that one
            fresh = await store.get(latest.partition)
            if fresh is None:
                return await _claim(order, key, services, orchestrations)
            return await _follow(order, key, fresh, deadline, services, orchestrations)
        log.warning("request %s: its worker stopped; carrying it on", taken.request_id)
        return await _run(
            order, taken.request_id, taken.attempt_started, taken, services, orchestrations, look_first=True
        )
    # The status URL is handed out only if the record is still that request's once the pointer exists:
    # a first request that ends now and frees its key keeps its failure in that pointer.
    await store.remember_status_url(latest)
    again = await store.get(latest.partition)
    if again is None or again.request_id != request_id:  # it ended and freed its key: start over
        return await _claim(order, key, services, orchestrations)
    if again.state is RecordState.RUNNING and not again.lease_expired(clock()):
        return Running(request_id, stage="creating chat", retry_after=DIRECT_RETRY_AFTER)
    return await _follow(order, key, again, deadline, services, orchestrations)


# --- the orchestration ------------------------------------------------------------------------------------


async def _await_orchestration(
    request_id: str, wait: float, services: Services, orchestrations: Orchestrations, success_status: int
) -> Answered | Running | Broken:
    """The orchestration's outcome if it ends within `wait` seconds, else how far it has come."""
    clock = services.clock
    state = await poll_until(
        lambda: orchestrations.status(request_id),
        lambda latest: latest is None or not latest.running,
        current=await orchestrations.status(request_id),
        deadline=clock() + timedelta(seconds=wait),
        clock=clock,
        sleep=services.sleep,
    )
    if state is None:
        log.error("request %s: its orchestration is gone", request_id)
        return Broken(request_id)
    if state.running:
        return _running(request_id, state, services)
    return _ended(request_id, state, success_status)


def _ended(request_id: str, state: OrchestrationState, success_status: int) -> Answered | Broken:
    if state.completed and state.output:
        return Answered(OUTCOME.validate_python(state.output), success_status)
    log.error("request %s: its orchestration ended without an outcome", request_id)
    return Broken(request_id)


def _running(request_id: str, state: OrchestrationState, services: Services) -> Running:
    """How far the orchestration has come; its Retry-After is when Graph is next asked."""
    progress = Progress.model_validate(state.custom_status) if state.custom_status else None
    if progress is None:  # not started yet: the first poll is one interval after the start
        first_poll = math.ceil(services.settings.poll_interval_seconds)
        return Running(request_id, stage="starting", retry_after=max(1, first_poll))
    retry_after = 1
    if progress.nextStepAt is not None:
        retry_after = max(1, math.ceil((progress.nextStepAt - services.clock()).total_seconds()))
    return Running(request_id, stage=progress.stage, retry_after=retry_after, polls=progress.polls)


def _new_request_id() -> str:
    """128 random bits (a uuid4 has only 122), whatever the idempotency key: a status URL is never
    guessable from a key."""
    return secrets.token_hex(16)
