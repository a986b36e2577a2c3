"""How one request's chat gets made, as a job taken one step at a time: resolve the members, reuse a chat
on request, send `POST /chats`, look for what a send may have made, follow Graph's operation, read the
chat. Each step returns the job's next state (and when to take it) or how the request ended.

The same steps run on the direct path, in the HTTP trigger (`chatfn.requests.driver`, waiting on
`services.sleep` while the caller waits), and in the orchestration (`chatfn.durable.chat_job`: an
activity takes the steps up to the next wait, then the orchestrator waits on a durable timer). A job is
plain data, so it crosses durable history, and the trigger hands the orchestration the job as far as it
got.

Exactly one chat (docs/api.md): a group chat's `POST /chats` whose outcome is unknown is never sent
again until a search shows it made nothing. The search goes on until the send can no longer complete
(`CHATFN_SEND_LIFETIME_SECONDS` after it began, unless Graph answered it) and Graph's lists have had
time to show what it made (`CHATFN_LIST_LAG_SECONDS`). In the trigger, no send begins unless its whole
lifetime fits in the idempotency lease; in the orchestration, each send is fenced in storage first, as
an activity may run twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chatfn import telemetry
from chatfn.chats.existing import Wanted, find_latest
from chatfn.chats.members import resolve_members
from chatfn.chats.spec import ChatSpec
from chatfn.chats.translate import ResolvedMember, chat_body
from chatfn.errors import (
    BatchCancelled,
    BudgetSpent,
    ChatfnError,
    GraphConnectionError,
    GraphError,
    GraphServiceError,
    GraphThrottled,
    GraphUnavailable,
    LeaseEnded,
    StorageError,
)
from chatfn.failures import Failure, Step, failure_from
from chatfn.graph.models import AcceptedOperation, Chat, ChatMemberInfo, CreatedChat
from chatfn.graph.verdict import SendVerdict, verdict_of
from chatfn.outcome import Failed, Succeeded, chat_result
from chatfn.services import Services

log = logging.getLogger(__name__)

# How often a group chat is sent in all, when each send's outcome was unknown and a search found nothing.
MAX_SENDS = 3
# The longest pause between two looks at Graph's lists while a search goes on.
LONGEST_LOOK_PAUSE = 15.0
# How long a step that failed for a passing reason waits when Graph said nothing of when to come back;
# each further wait of the job backs off from it, doubling, up to the longest.
TRANSIENT_PAUSE = 5.0
LONGEST_TRANSIENT_PAUSE = 300.0
# Microsoft's guidance for Teams operations: check about every 30 seconds.
MAX_POLL_INTERVAL = 30.0
# The statuses a teamsAsyncOperation can have that mean "not yet"; any other ends the wait.
_PENDING = ("notStarted", "inProgress")

Stage = Literal["resolve", "reuse", "search", "send", "operation", "read"]


class ChatJob(BaseModel):
    """A request's chat as far as it got. Times are UTC."""

    model_config = ConfigDict(frozen=True)

    requestId: str
    spec: ChatSpec
    stage: Stage = "resolve"
    # When the request's first attempt began: a chat made since then may be this request's own.
    attemptStarted: datetime
    # An earlier worker may have sent before it stopped: look for its chat before sending anything.
    lookFirst: bool = False
    members: tuple[ResolvedMember, ...] = ()
    sends: int = 0
    # While searching: when a search that finds nothing may conclude that nothing was made.
    searchUntil: datetime | None = None
    looks: int = 0
    # In the trigger: the idempotency lease this job runs under (None: no key, or in the orchestration).
    leaseUntil: datetime | None = None
    # In the orchestration: each send is fenced in storage first (an activity may run twice), under the
    # number of fences taken so far.
    fenced: bool = False
    fences: int = 0
    # An item of a batch: nothing is sent once the batch is cancelled.
    batchId: str | None = None
    # Graph's 202: the operation to follow, until when, and how often it was read.
    location: str | None = None
    operationDeadline: datetime | None = None
    pollInterval: float = 0.0
    polls: int = 0
    # The chat to read: made by a send, adopted from one, or reused.
    chatId: str | None = None
    reused: bool = False
    created: CreatedChat | None = None  # Graph's 201, to answer with if the chat cannot be read
    # Why the last send failed: what the request answers if the search finds nothing after every send.
    lastFailure: Failure | None = None
    # How often the job waited for a passing failure (throttling, Graph or storage unavailable).
    waits: int = 0

    def to(self, stage: Stage, **changes: object) -> ChatJob:
        return self.model_copy(update={"stage": stage, **changes})


class Next(BaseModel):
    """The job goes on: take its next step at `at` (None: at once)."""

    kind: Literal["next"] = "next"
    job: ChatJob
    at: datetime | None = None


class Ended(BaseModel):
    """The request ended."""

    kind: Literal["ended"] = "ended"
    outcome: Annotated[Succeeded | Failed, Field(discriminator="kind")]


StepResult = Annotated[Next | Ended, Field(discriminator="kind")]
STEP_RESULT = TypeAdapter[Next | Ended](StepResult)


class Later(BaseModel):
    """A step that failed for a passing reason, to be taken again at `at`; `waits` counts the waits so
    far, which each further one backs off from."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    waits: int


def new_job(
    request_id: str,
    spec: ChatSpec,
    started: datetime,
    *,
    lease_until: datetime | None = None,
    look_first: bool = False,
) -> ChatJob:
    return ChatJob(
        requestId=request_id,
        spec=spec,
        attemptStarted=started,
        leaseUntil=lease_until,
        lookFirst=look_first,
    )


async def take_step(job: ChatJob, services: Services) -> Next | Ended:
    """One step of the job: its next state, or how the request ended."""
    steps = {
        "resolve": _resolve,
        "reuse": _reuse,
        "search": _search,
        "send": _send,
        "operation": _poll,
        "read": _read,
    }
    result = await steps[job.stage](job, services)
    telemetry.chat_step(job, result)
    return result


# --- the steps ---------------------------------------------------------------------------------------


async def _resolve(job: ChatJob, services: Services) -> Next | Ended:
    try:
        members = await resolve_members(job.spec, services.directory)
    except ChatfnError as exc:
        return _failed_or_later(job, exc, "resolve", services, created_nothing=True)
    job = job.model_copy(update={"members": tuple(members)})
    group = job.spec.chatType == "group"
    if group and job.spec.reuseExisting:
        return Next(job=job.to("reuse"))
    if group and job.lookFirst:
        return Next(job=job.to("search", searchUntil=services.clock() + _list_lag(services)))
    return Next(job=job.to("send"))


async def _reuse(job: ChatJob, services: Services) -> Next | Ended:
    wanted = _wanted(job)
    if wanted is None:  # no member of this tenant: nothing to list, so nothing to reuse
        return Next(job=job.to("send"))
    try:
        found = await find_latest(services.graph, wanted)
    except ChatfnError as exc:
        return _failed_or_later(job, exc, "create", services, created_nothing=not job.lookFirst)
    if found is not None:
        return Next(job=job.to("read", chatId=found.id, reused=True))
    if job.lookFirst:
        return Next(job=job.to("search", searchUntil=services.clock() + _list_lag(services)))
    return Next(job=job.to("send"))


async def _send(job: ChatJob, services: Services) -> Next | Ended:
    """`POST /chats`: fenced first in the orchestration (a fence taken before means an earlier run of this
    step may have sent); withdrawn right before it goes out if the lease could end while it is under way,
    or its batch was cancelled."""
    now = services.clock()
    lifetime = timedelta(seconds=services.settings.send_lifetime_seconds)
    if job.fenced:
        fence = job.fences + 1
        try:
            fenced = await services.store.fence_send(job.requestId, fence)
        except StorageError as exc:  # nothing was sent: the send waits for storage
            return _failed_or_later(job, exc, "create", services, created_nothing=job.sends == 0)
        job = job.model_copy(update={"fences": fence})
        if not fenced:
            search_until = now + lifetime + _list_lag(services)
            return Next(job=job.to("search", sends=job.sends + 1, searchUntil=search_until))

    async def still_wanted() -> None:
        if job.leaseUntil is not None and services.clock() + lifetime >= job.leaseUntil:
            raise LeaseEnded("the request's lease could end while this send is under way")
        if job.batchId is not None and await services.store.batch_cancelled(job.batchId):
            raise BatchCancelled("the batch was cancelled")

    body = chat_body(job.spec, list(job.members))
    one_on_one = job.spec.chatType == "oneOnOne"
    try:
        created = await services.graph.create_chat(body, replay_safe=one_on_one, before_send=still_wanted)
    except LeaseEnded as exc:
        log.warning("request %s: %s", job.requestId, exc)
        return _ended(_abandoned(str(exc)))
    except BatchCancelled:
        return _ended(_cancelled())
    except ChatfnError as exc:
        if verdict_of(exc) is SendVerdict.NOT_CREATED:  # refused before acting: it may simply go later
            return _failed_or_later(job, exc, "create", services, created_nothing=True)
        return _after_unknown_send(job.model_copy(update={"sends": job.sends + 1}), exc, now, services)
    job = job.model_copy(update={"sends": job.sends + 1})
    if isinstance(created, AcceptedOperation):
        deadline = services.clock() + timedelta(seconds=services.settings.operation_deadline_seconds)
        interval = services.settings.poll_interval_seconds
        job = job.to(
            "operation", location=created.location, operationDeadline=deadline, pollInterval=interval
        )
        return Next(job=job, at=services.clock() + timedelta(seconds=interval))
    return Next(job=job.to("read", chatId=created.id, created=created))


def _after_unknown_send(
    job: ChatJob, error: ChatfnError, sent_at: datetime, services: Services
) -> Next | Ended:
    """A send whose outcome is unknown: look for its chat before anything is sent again."""
    if job.spec.chatType == "oneOnOne":
        # Sending it again returns the same chat (the client already did, as often as it may).
        return _failed(error, "create", created_nothing=True)
    if _wanted(job) is None:  # every member is of another tenant: no list to search
        return _failed(error, "create", created_nothing=False)
    log.warning(
        "request %s: POST /chats failed after sending (%s): looking for its chat", job.requestId, error
    )
    # Graph's own answer ends the send; without one (or a gateway's 504) it may go on for its lifetime.
    answered = isinstance(error, GraphServiceError) or (
        isinstance(error, GraphError) and not isinstance(error, GraphConnectionError) and error.status != 504
    )
    settled = (
        services.clock() if answered else sent_at + timedelta(seconds=services.settings.send_lifetime_seconds)
    )
    search_until = max(settled, services.clock()) + _list_lag(services)
    failure = failure_from(error, "create", created_nothing=True)
    return Next(job=job.to("search", searchUntil=search_until, looks=0, lastFailure=failure))


async def _search(job: ChatJob, services: Services) -> Next | Ended:
    """One look for the chat a send may have made; look again later until the search may conclude."""
    wanted = _wanted(job)
    if wanted is None:
        return _ended(_unknown("the earlier attempt's chat cannot be looked for"))
    looked_at = services.clock()
    try:
        found = await find_latest(services.graph, wanted, since=job.attemptStarted)
    except ChatfnError as exc:
        return _failed_or_later(job, exc, "create", services, created_nothing=False)
    if found is not None:
        log.info("request %s: adopted the chat an earlier send made", job.requestId)
        return Next(job=job.to("read", chatId=found.id))
    search_until = job.searchUntil or looked_at
    if looked_at < search_until:
        pause = min(2.0**job.looks, LONGEST_LOOK_PAUSE)
        at = min(looked_at + timedelta(seconds=pause), search_until)
        return Next(job=job.model_copy(update={"looks": job.looks + 1}), at=at)
    if job.sends >= MAX_SENDS:
        # Looked for long enough after every send, and found nothing: nothing was made.
        return _ended(_nothing_made(job))
    return Next(job=job.to("send", searchUntil=None, looks=0))


async def _poll(job: ChatJob, services: Services) -> Next | Ended:
    """Read Graph's teamsAsyncOperation once; poll again later until it ends. The last poll is at its
    deadline itself: an operation still pending then is given up."""
    deadline = job.operationDeadline
    if job.location is None or deadline is None:
        return _ended(_unknown("the operation to follow is missing"))
    try:
        operation = await services.graph.get_operation(job.location)
    except ChatfnError as exc:
        return _failed_or_later(job, exc, "poll", services, created_nothing=False)
    job = job.model_copy(update={"polls": job.polls + 1})
    if operation.status == "succeeded":
        return Next(job=job.to("read", chatId=operation.targetResourceId))
    if operation.status not in _PENDING:  # failed, invalid, or a status Graph adds later
        error = operation.error
        failure = Failure(
            kind="operation_failed",
            step="poll",
            createdNothing=False,
            code=error.code if error else None,
            message=(error.message if error else None) or f"the operation ended {operation.status}",
        )
        return _ended(failure)
    now = services.clock()
    if now >= deadline:
        message = f"still running after {job.polls} checks"
        return _ended(Failure(kind="deadline", step="poll", createdNothing=False, message=message))
    interval = min(job.pollInterval * 2, max(MAX_POLL_INTERVAL, job.pollInterval))
    wait = operation.retryAfter if operation.retryAfter is not None else interval
    at = min(now + timedelta(seconds=wait), deadline)
    return Next(job=job.model_copy(update={"pollInterval": interval}), at=at)


async def _read(job: ChatJob, services: Services) -> Next | Ended:
    """The chat with its link. If Graph fails to read a chat it just made, what `POST /chats` answered
    stands in (no link): the chat exists, so the request has succeeded all the same."""
    if job.chatId is None:
        return _ended(_unknown("the chat to read is missing"))
    try:
        chat = await services.graph.get_chat(job.chatId)
    except GraphError as exc:
        if job.created is None:
            return _failed_or_later(job, exc, "read", services, created_nothing=False)
        log.warning(
            "request %s: the new chat could not be read (%s): answering without its link", job.requestId, exc
        )
        chat = _as_read(job.created, job.members)
    except ChatfnError as exc:
        return _failed(exc, "read", created_nothing=False)
    return Ended(outcome=Succeeded(result=chat_result(job.requestId, chat, job.reused)))


# --- small parts ----------------------------------------------------------------------------------------


def _wanted(job: ChatJob) -> Wanted | None:
    app_id = job.spec.app.teamsAppId if job.spec.app is not None else None
    return Wanted.of(job.members, job.spec.topic, app_id)


def _list_lag(services: Services) -> timedelta:
    return timedelta(seconds=services.settings.list_lag_seconds)


def _as_read(created: CreatedChat, members: tuple[ResolvedMember, ...]) -> Chat:
    return Chat(
        id=created.id,
        chatType=created.chatType,
        topic=created.topic,
        createdDateTime=created.createdDateTime,
        members=[
            ChatMemberInfo(userId=m.key, roles=["guest" if m.guest else "owner"], tenantId=m.tenant_id)
            for m in members
        ],
    )


def _failed_or_later(
    job: ChatJob, error: ChatfnError, step: Step, services: Services, *, created_nothing: bool
) -> Next | Ended:
    """A step that failed for a passing reason is taken again later (`later_or_failure`); any other
    failure ends the request, and so does a passing one that outlasts its patience."""
    decided = later_or_failure(
        error, step, services, started=job.attemptStarted, waits=job.waits, created_nothing=created_nothing
    )
    if isinstance(decided, Failure):
        return _ended(decided)
    log.warning("request %s: %s at %s; taking the step again later", job.requestId, error, step)
    return Next(job=job.model_copy(update={"waits": decided.waits}), at=decided.at)


def later_or_failure(
    error: ChatfnError,
    step: Step,
    services: Services,
    *,
    started: datetime,
    waits: int,
    created_nothing: bool,
) -> Later | Failure:
    """When to take a failed step again, or the failure that ends it: the one rule for passing failures,
    for a request's steps and a batch's lookup alike. Throttling (the worker's Graph budget could not
    serve it in time, or Graph answered 429 past the client's own retries) waits its turn for
    `CHATFN_THROTTLE_PATIENCE_SECONDS` from `started`; storage failing under a send's fence, Graph
    unavailable, or no connection at all, for `CHATFN_OPERATION_DEADLINE_SECONDS`. Waits other than the
    budget's own back off, so a long wait keeps the orchestration's history short."""
    settings = services.settings
    throttled = isinstance(error, BudgetSpent | GraphThrottled)
    if isinstance(error, BudgetSpent):
        retry_in = error.retry_in
    elif isinstance(error, StorageError | GraphThrottled | GraphUnavailable) or (
        isinstance(error, GraphConnectionError) and not error.sent
    ):
        # The first wait is what Graph asked (else a pause); each further one backs off from the pause.
        given = getattr(error, "retry_after", None)
        backoff = min(TRANSIENT_PAUSE * 2.0 ** (waits - 1), LONGEST_TRANSIENT_PAUSE) if waits else 0.0
        retry_in = max(TRANSIENT_PAUSE if given is None else given, backoff)
        waits += 1
    else:
        return failure_from(error, step, created_nothing=created_nothing)
    patience = settings.throttle_patience_seconds if throttled else settings.operation_deadline_seconds
    at = services.clock() + timedelta(seconds=retry_in)
    if at < started + timedelta(seconds=patience):
        return Later(at=at, waits=waits)
    if isinstance(error, BudgetSpent):  # Graph kept throttling the worker for as long as the job lasts
        return Failure(
            kind="graph",
            step=step,
            createdNothing=created_nothing,
            status=429,
            code="TooManyRequests",
            message="Graph kept throttling chatfn for as long as the request may last",
            retryAfter=retry_in,
        )
    return failure_from(error, step, created_nothing=created_nothing)


def _failed(error: ChatfnError, step: Step, *, created_nothing: bool) -> Ended:
    return _ended(failure_from(error, step, created_nothing=created_nothing))


def _ended(failure: Failure) -> Ended:
    return Ended(outcome=Failed(failure=failure))


def _unknown(message: str) -> Failure:
    return Failure(kind="graph", step="create", createdNothing=False, message=message)


def _abandoned(message: str) -> Failure:
    return Failure(kind="abandoned", step="create", createdNothing=False, message=message)


def _cancelled() -> Failure:
    return Failure(
        kind="cancelled",
        step="create",
        createdNothing=True,
        message="the batch was cancelled before it was sent",
    )


def _nothing_made(job: ChatJob) -> Failure:
    """Looked for long enough after every send, and found nothing: the last send's failure, which now
    surely made nothing."""
    if job.lastFailure is not None:
        return job.lastFailure
    return Failure(kind="graph", step="create", createdNothing=True, message="no send made a chat")
