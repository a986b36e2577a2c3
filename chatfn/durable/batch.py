"""A batch of chats as durable orchestrations: `run_chat_batch` looks up every address of the batch
once (a lookup that fails for a passing reason is taken again on a durable timer, as a single request's
step is), binds each item's members, and fans the items out in chunks (`run_chat_batch_chunk`), a few
chunks at a time, so that no history grows past a few hundred events and a thousand items go at Graph's
pace through the worker's one budget rather than all at once.

Each item is a chat job (`chatfn.chats.job`), the same as a single request's, taken one step per
activity: its sends fenced in storage under an id derived from the batch (`<batchId>-<index>`), so a
worker that dies mid-batch repeats nothing; a search covers Graph failing after acting, answering late,
and lagging lists. A chunk ends only when its last item ends, so a chunk started while fresh chunks
remain hands its items back and ends once every item it has left waits on Graph to settle (its lists
to show a chat a send may have made, or its operation to end): they go on later in a chunk of their
own, and the slot goes to a fresh chunk. A cancel (`DELETE /api/chat-batches/{batchId}`) is recorded in
storage, which every send checks first, and raised as an event here, so that no further chunk of fresh
items starts (items handed back go on: they have sent, and look for what they made).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from chatfn.chats.job import STEP_RESULT, ChatJob, Ended, Later, Next, Stage, later_or_failure
from chatfn.chats.members import addresses_of, bind_members
from chatfn.chats.spec import ChatSpec
from chatfn.durable.chat_job import STEP_BUDGET_WAIT, STEP_RETRY, TAKE_STEP
from chatfn.errors import ChatfnError, MembersNotFound
from chatfn.failures import Failure, failure_from
from chatfn.graph.budget import deadline_in
from chatfn.graph.models import DirectoryUser
from chatfn.outcome import Failed, Outcome, Succeeded
from chatfn.services import Services

BATCH_ORCHESTRATOR = "run_chat_batch"
CHUNK_ORCHESTRATOR = "run_chat_batch_chunk"
LOOK_UP = "look_up_addresses"
CANCEL_EVENT = "cancel"

# Items per chunk: each item takes a few steps, so a chunk's history stays at a few hundred events.
CHUNK_SIZE = 20
# Chunks under way at once: enough to keep Graph's budget busy, few enough that an item waits its turn
# here (nothing billed) rather than on the budget inside an activity, and that a single request does
# not wait long behind the batch's items there. Measured (bench.batch, docs/api.md): with 4, 6 or 8 a
# batch of 1000 ends at the same time (about 40 s, bound by the Teams read budget), while single
# requests' p95 grows from about 3 s to 5.5 and 6.5 s; and with 8, while Graph's lists lagged, POST
# /chats met 429s, some behind a gateway's 504, whose items then search out the send's lifetime.
CHUNKS_IN_FLIGHT = 4
# The stages in which an item waits on Graph to settle, not on the budget: a chunk started while fresh
# chunks remain hands its items back once every one it has left waits in one of them. (An item waiting
# on the budget stays: a fresh chunk in its place would only wait there too.)
SETTLING: frozenset[Stage] = frozenset({"search", "operation"})
# Addresses per lookup activity: ten of Graph's `$filter ... in` of 15.
ADDRESSES_PER_ACTIVITY = 150


class BatchJob(BaseModel):
    """The batch orchestration's input."""

    model_config = ConfigDict(frozen=True)

    batchId: str
    chats: tuple[ChatSpec, ...]


class ItemResult(BaseModel):
    """How one item ended."""

    model_config = ConfigDict(frozen=True)

    index: int
    outcome: Outcome


class Counts(BaseModel):
    """How many items stand where: the batch orchestration's custom status while it runs."""

    model_config = ConfigDict(frozen=True)

    total: int
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.succeeded - self.failed - self.cancelled

    def counted(self, results: Sequence[ItemResult]) -> Counts:
        succeeded = sum(isinstance(r.outcome, Succeeded) for r in results)
        cancelled = sum(_was_cancelled(r.outcome) for r in results)
        return self.model_copy(
            update={
                "succeeded": self.succeeded + succeeded,
                "cancelled": self.cancelled + cancelled,
                "failed": self.failed + len(results) - succeeded - cancelled,
            }
        )


class BatchOutcome(BaseModel):
    """The batch orchestration's output: every item's result, in index order."""

    model_config = ConfigDict(frozen=True)

    cancelled: bool
    results: tuple[ItemResult, ...]


class Chunk(BaseModel):
    """A chunk orchestration's input: its items' jobs, by index, fresh or handed back by an earlier chunk
    (with their next step); and whether it may hand its items back in turn."""

    model_config = ConfigDict(frozen=True)

    jobs: tuple[tuple[int, ChatJob], ...] = ()
    resumed: tuple[tuple[int, Next], ...] = ()
    handBack: bool = False


class ChunkOutcome(BaseModel):
    """A chunk orchestration's output: the results of the items that ended, and the items it handed back,
    each with its next step."""

    model_config = ConfigDict(frozen=True)

    results: tuple[ItemResult, ...]
    handedBack: tuple[tuple[int, Next], ...] = ()

    @classmethod
    def of(cls, output: Any) -> ChunkOutcome:
        """A chunk's output; a list of results from a chunk that ran before chunks handed items back."""
        if isinstance(output, list):
            return cls(results=tuple(ItemResult.model_validate(item) for item in output))
        return cls.model_validate(output)


class Lookup(BaseModel):
    """A lookup activity's input: its addresses, when the batch's lookup began (its patience counts from
    then), and how often it has waited so far (each further wait backs off)."""

    model_config = ConfigDict(frozen=True)

    addresses: tuple[str, ...]
    started: datetime
    waits: int = 0


class LookedUp(BaseModel):
    """A lookup activity's answer: the users of each address; or why the lookup failed for good; or,
    when it failed for a passing reason, when to take it again."""

    users: dict[str, tuple[DirectoryUser, ...]] = {}
    failure: Failure | None = None
    later: Later | None = None


# --- the batch ---------------------------------------------------------------------------------------


def run_chat_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Look every address up once, then make the chats chunk by chunk; every item's result."""
    batch = BatchJob.model_validate(context.get_input())
    counts = Counts(total=len(batch.chats))
    context.set_custom_status(counts.model_dump(mode="json"))
    users, lookup_failure = yield from _look_up(context, batch.chats)
    results: list[ItemResult] = []
    jobs: list[tuple[int, ChatJob]] = []
    started = context.current_utc_datetime
    for index, spec in enumerate(batch.chats):
        job_or_end = _item_job(batch.batchId, index, spec, started, users, lookup_failure)
        if isinstance(job_or_end, ChatJob):
            jobs.append((index, job_or_end))
        else:
            results.append(ItemResult(index=index, outcome=job_or_end))
    counts = counts.counted(results)
    context.set_custom_status(counts.model_dump(mode="json"))

    chunks = [Chunk(jobs=tuple(jobs[i : i + CHUNK_SIZE])) for i in range(0, len(jobs), CHUNK_SIZE)]
    handed_back: list[tuple[int, Next]] = []
    cancel = context.wait_for_external_event(CANCEL_EVENT)
    cancelled = False
    in_flight: list[Any] = []
    started_chunks = 0
    while chunks or handed_back or in_flight:
        while (chunks or handed_back) and len(in_flight) < CHUNKS_IN_FLIGHT:
            chunk = _next_chunk(chunks, handed_back, context.current_utc_datetime)
            chunk_id = f"{batch.batchId}:{started_chunks}"
            in_flight.append(
                context.call_sub_orchestrator(CHUNK_ORCHESTRATOR, chunk.model_dump(mode="json"), chunk_id)
            )
            started_chunks += 1
        if cancelled:
            done = yield context.task_any(in_flight)
        else:
            done = yield context.task_any([*in_flight, cancel])
            if done is cancel:
                cancelled = True
                # Nothing was sent for the chunks not started: they end now, and the status says so at
                # once, not only when the chunks under way have finished. Items handed back go on.
                never_sent = [
                    ItemResult(index=index, outcome=Failed(failure=_cancelled()))
                    for chunk in chunks
                    for index, _ in chunk.jobs
                ]
                chunks = []
                results.extend(never_sent)
                counts = counts.counted(never_sent)
                context.set_custom_status(counts.model_dump(mode="json"))
                continue
        in_flight.remove(done)
        outcome = ChunkOutcome.of(done.result)
        handed_back.extend(outcome.handedBack)
        results.extend(outcome.results)
        counts = counts.counted(outcome.results)
        context.set_custom_status(counts.model_dump(mode="json"))
    results.sort(key=lambda result: result.index)
    return BatchOutcome(cancelled=cancelled, results=tuple(results)).model_dump(mode="json")


def _next_chunk(chunks: list[Chunk], handed_back: list[tuple[int, Next]], now: datetime) -> Chunk:
    """The chunk to start next, taken from `chunks` or `handed_back`: the fresh chunk next in line,
    unless a whole chunk's worth of items handed back is due (or no fresh chunk is left); then up to a
    chunk of those items, the earliest due first. It may hand its items back while fresh chunks remain
    after it, so that a fresh chunk need not wait for an item that waits on Graph."""
    due = sum(step.at is None or step.at <= now for _, step in handed_back)
    if chunks and due < CHUNK_SIZE:
        chunk = chunks.pop(0)
    else:
        handed_back.sort(key=lambda item: (item[1].at or now, item[0]))
        chunk = Chunk(resumed=tuple(handed_back[:CHUNK_SIZE]))
        del handed_back[:CHUNK_SIZE]
    return chunk.model_copy(update={"handBack": bool(chunks)})


def _look_up(
    context: df.DurableOrchestrationContext, specs: Sequence[ChatSpec]
) -> Generator[Any, Any, tuple[dict[str, tuple[DirectoryUser, ...]], Failure | None]]:
    """Every distinct address of the batch, looked up once (15 to a Graph call). The lookups that failed
    for a passing reason (throttled, Graph briefly unavailable) are taken again together once the last
    of them is due, on a durable timer; a lookup that failed for good is every item's failure."""
    addresses = sorted({address for spec in specs for address in addresses_of(spec)})
    started = context.current_utc_datetime
    lookups = [
        Lookup(addresses=tuple(addresses[i : i + ADDRESSES_PER_ACTIVITY]), started=started)
        for i in range(0, len(addresses), ADDRESSES_PER_ACTIVITY)
    ]
    users: dict[str, tuple[DirectoryUser, ...]] = {}
    while lookups:
        tasks = [
            context.call_activity_with_retry(LOOK_UP, STEP_RETRY, lookup.model_dump(mode="json"))
            for lookup in lookups
        ]
        answers = yield context.task_all(tasks)
        again: list[tuple[Lookup, datetime]] = []
        for lookup, answer in zip(lookups, map(LookedUp.model_validate, answers), strict=True):
            if answer.failure is not None:
                return {}, answer.failure
            if answer.later is not None:
                again.append((lookup.model_copy(update={"waits": answer.later.waits}), answer.later.at))
            users.update(answer.users)
        if again:
            yield context.create_timer(max(at for _, at in again))
        lookups = [lookup for lookup, _ in again]
    return users, None


def _item_job(
    batch_id: str,
    index: int,
    spec: ChatSpec,
    started: datetime,
    users: dict[str, tuple[DirectoryUser, ...]],
    lookup_failure: Failure | None,
) -> ChatJob | Outcome:
    """The item's job with its members bound, or how it ended without one (its members)."""
    if lookup_failure is not None and addresses_of(spec):
        return Failed(failure=lookup_failure)
    try:
        members = bind_members(spec, users)
    except MembersNotFound as exc:
        return Failed(failure=failure_from(exc, "resolve", created_nothing=True))
    group = spec.chatType == "group"
    return ChatJob(
        requestId=f"{batch_id}-{index}",
        spec=spec,
        stage="reuse" if group and spec.reuseExisting else "send",
        attemptStarted=started,
        members=tuple(members),
        fenced=True,
        batchId=batch_id,
    )


def _was_cancelled(outcome: Outcome) -> bool:
    return isinstance(outcome, Failed) and outcome.failure.kind == "cancelled"


def _cancelled() -> Failure:
    return Failure(kind="cancelled", step="create", createdNothing=True, message="the batch was cancelled")


# --- a chunk --------------------------------------------------------------------------------------------


def run_chat_batch_chunk(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    """Take every item's steps side by side: all steps that are due go out together; when none is due,
    sleep on a timer until the first one is. Every item's result; or, when the chunk may hand its items
    back, has taken steps, and every item left waits on Graph to settle, the results so far and the items
    left, each with its next step."""
    chunk = Chunk.model_validate(context.get_input())
    waiting: dict[int, Next] = {index: Next(job=job) for index, job in chunk.jobs} | dict(chunk.resumed)
    results: list[ItemResult] = []
    stepped = False
    while waiting:
        now = context.current_utc_datetime
        due = [index for index, step in waiting.items() if step.at is None or step.at <= now]
        if not due:
            if chunk.handBack and stepped and all(step.job.stage in SETTLING for step in waiting.values()):
                handed_back = tuple(sorted(waiting.items()))
                return ChunkOutcome(results=tuple(results), handedBack=handed_back).model_dump(mode="json")
            yield context.create_timer(min(step.at for step in waiting.values() if step.at is not None))
            continue
        jobs = [waiting[index].job.model_dump(mode="json") for index in due]
        steps = [context.call_activity_with_retry(TAKE_STEP, STEP_RETRY, job) for job in jobs]
        answers = yield context.task_all(steps)
        for index, answer in zip(due, answers, strict=True):
            result = STEP_RESULT.validate_python(answer)
            if isinstance(result, Ended):
                results.append(ItemResult(index=index, outcome=result.outcome))
                del waiting[index]
            else:
                waiting[index] = result
        stepped = True
    return ChunkOutcome(results=tuple(results)).model_dump(mode="json")


# --- the lookup activity -----------------------------------------------------------------------------------


async def look_up_addresses(lookup: dict[str, Any], services: Services) -> dict[str, Any]:
    """The users of each address, through the worker's directory (merged, cached, within the budget);
    a failure decided as a request's step's is (`later_or_failure`). It waits for Graph's budget as a
    step does, then on a durable timer instead (nothing billed)."""
    current = Lookup.model_validate(lookup)
    try:
        with deadline_in(STEP_BUDGET_WAIT):
            found = await services.directory.users_by_address(current.addresses)
    except ChatfnError as exc:
        decided = later_or_failure(
            exc, "resolve", services, started=current.started, waits=current.waits, created_nothing=True
        )
        if isinstance(decided, Failure):
            return LookedUp(failure=decided).model_dump(mode="json")
        return LookedUp(later=decided).model_dump(mode="json")
    return LookedUp(users={address: tuple(users) for address, users in found.items()}).model_dump(mode="json")
