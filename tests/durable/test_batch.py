"""The batch's orchestrations with a mocked context: the story step by step. The lookup activity is the
real one, against the emulator, at the orchestration's time. The real replay, Graph's failures and the
budget run end to end in tests/test_batches.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from chatfn.chats.job import ChatJob, Ended, Next
from chatfn.chats.spec import parse_chat_request
from chatfn.durable.batch import (
    CANCEL_EVENT,
    CHUNK_ORCHESTRATOR,
    CHUNK_SIZE,
    CHUNKS_IN_FLIGHT,
    LOOK_UP,
    BatchJob,
    BatchOutcome,
    Chunk,
    ItemResult,
    LookedUp,
    Lookup,
    look_up_addresses,
    run_chat_batch,
    run_chat_batch_chunk,
)
from chatfn.emulator import Emulator
from chatfn.graph.models import DirectoryUser
from chatfn.outcome import Failed, Succeeded, chat_result
from chatfn.problems import problem_for
from chatfn.services import Services
from chatfn.settings import Settings
from tests.graphs import graph_for
from tests.test_outcome import CHAT

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ALEX = DirectoryUser(id="82fe7758-5bb3-4f0d-a43f-e555fd399c6f", mail="alex@contoso.com", userType="Member")
JACOB = DirectoryUser(id="8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca", mail="jacob@contoso.com", userType="Member")
SPEC = parse_chat_request({"topic": "T", "emails": "alex@contoso.com;jacob@contoso.com"})
BY_ID = parse_chat_request({"topic": "T", "members": [{"userId": ALEX.id}, {"userId": JACOB.id}]})
PATIENT = Settings(throttle_patience_seconds=60)
USERS = "/v1.0/users"


@dataclass
class Task:
    kind: str
    name: str = ""
    payload: Any = None
    result: Any = None


@dataclass
class FakeContext:
    """The parts of DurableOrchestrationContext the orchestrators use; time moves as timers fire."""

    input: Any
    current_utc_datetime: datetime = START
    statuses: list[Any] = field(default_factory=list)
    started: list[Task] = field(default_factory=list)  # activities and sub-orchestrations, as made

    def get_input(self) -> Any:
        return self.input

    def set_custom_status(self, status: Any) -> None:
        self.statuses.append(status)

    def create_timer(self, fire_at: datetime) -> Task:
        return Task("timer", payload=fire_at)

    def call_activity_with_retry(self, name: str, _retry: Any, payload: Any) -> Task:
        self.started.append(Task("activity", name, payload))
        return self.started[-1]

    def call_sub_orchestrator(self, name: str, payload: Any, instance_id: str) -> Task:
        self.started.append(Task("orchestration", name, payload))
        return self.started[-1]

    def wait_for_external_event(self, name: str) -> Task:
        return Task("event", name)

    def task_all(self, tasks: list[Task]) -> Task:
        return Task("all", payload=tasks)

    def task_any(self, tasks: list[Task]) -> Task:
        return Task("any", payload=tasks)


def _drive(
    generator: Generator[Any, Any, Any], context: FakeContext, answer: Callable[[Task], Any]
) -> tuple[Any, list[Task]]:
    """Run an orchestrator, answering each task it yields with `answer`; its output and its tasks."""
    tasks: list[Task] = []
    sent: Any = None
    try:
        while True:
            task = generator.send(sent)
            tasks.append(task)
            if task.kind == "timer":
                context.current_utc_datetime = task.payload
                sent = None
            elif task.kind == "all":
                sent = [answer(inner) for inner in task.payload]
            else:
                sent = answer(task)
    except StopIteration as done:
        return done.value, tasks


def _job(index: int) -> ChatJob:
    return ChatJob(
        requestId=f"b-{index}", spec=SPEC, attemptStarted=START, stage="send", fenced=True, batchId="b"
    )


def test_a_chunk_takes_every_due_step_together_and_sleeps_until_the_first_waiting_one() -> None:
    later = START + timedelta(seconds=3)
    context = FakeContext(Chunk(jobs=((0, _job(0)), (1, _job(1)))).model_dump(mode="json"))
    made = Ended(outcome=Succeeded(result=chat_result("r", CHAT))).model_dump(mode="json")

    def answer(task: Task) -> Any:
        job = ChatJob.model_validate(task.payload)
        if job.requestId == "b-1" and job.stage == "send":  # the budget serves item 1 only later
            return Next(job=job.to("read"), at=later).model_dump(mode="json")
        return made

    output, tasks = _drive(run_chat_batch_chunk(context), context, answer)  # type: ignore[arg-type]
    assert [task.kind for task in tasks] == ["all", "timer", "all"]
    assert [len(task.payload) for task in tasks if task.kind == "all"] == [2, 1]
    assert tasks[1].payload == later
    assert sorted(ItemResult.model_validate(item).index for item in output) == [0, 1]


def test_a_batch_looks_every_address_up_once_then_runs_its_items_in_bounded_chunks() -> None:
    items = CHUNK_SIZE * (CHUNKS_IN_FLIGHT + 1) + 1
    nobody = parse_chat_request({"emails": "alex@contoso.com;nobody@contoso.com"})
    chats = (nobody, *[SPEC] * items)
    context = FakeContext(BatchJob(batchId="b", chats=chats).model_dump(mode="json"))
    in_flight_seen: list[int] = []

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            assert task.name == LOOK_UP
            lookup = Lookup.model_validate(task.payload)
            assert lookup.addresses == ("alex@contoso.com", "jacob@contoso.com", "nobody@contoso.com")
            users = {"alex@contoso.com": (ALEX,), "jacob@contoso.com": (JACOB,), "nobody@contoso.com": ()}
            return LookedUp(users=users).model_dump(mode="json")
        if task.kind == "any":
            in_flight_seen.append(sum(inner.kind == "orchestration" for inner in task.payload))
            done = next(inner for inner in task.payload if inner.kind == "orchestration")
            chunk = Chunk.model_validate(done.payload)
            made = Succeeded(result=chat_result("r", CHAT))
            done.result = [ItemResult(index=i, outcome=made).model_dump(mode="json") for i, _ in chunk.jobs]
            return done
        return None

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    outcome = BatchOutcome.model_validate(output)
    assert [result.index for result in outcome.results] == list(range(items + 1)), "every item, in order"
    assert outcome.results[0].outcome.kind == "failed", "an item whose member is unknown never starts"
    chunks = [task for task in context.started if task.kind == "orchestration"]
    assert {task.name for task in chunks} == {CHUNK_ORCHESTRATOR}
    assert all(len(Chunk.model_validate(task.payload).jobs) <= CHUNK_SIZE for task in chunks)
    assert max(in_flight_seen) == CHUNKS_IN_FLIGHT
    assert sum(task.kind == "activity" for task in context.started) == 1, "the addresses are looked up once"
    assert context.statuses[-1] == {"total": items + 1, "succeeded": items, "failed": 1, "cancelled": 0}


def test_a_cancel_starts_no_further_chunk_and_cancels_their_items() -> None:
    items = CHUNK_SIZE * (CHUNKS_IN_FLIGHT + 2)
    context = FakeContext(BatchJob(batchId="b", chats=(SPEC,) * items).model_dump(mode="json"))

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            return LookedUp(users={"alex@contoso.com": (ALEX,), "jacob@contoso.com": (JACOB,)}).model_dump()
        if task.kind == "any":
            event = next((inner for inner in task.payload if inner.kind == "event"), None)
            if event is not None:
                assert event.name == CANCEL_EVENT
                return event
            done = task.payload[0]
            done.result = []
            return done
        return None

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    outcome = BatchOutcome.model_validate(output)
    assert outcome.cancelled
    chunks = [task for task in context.started if task.kind == "orchestration"]
    assert len(chunks) == CHUNKS_IN_FLIGHT, "no chunk after the cancel"
    cancelled = [result for result in outcome.results if result.outcome.kind == "failed"]
    assert len(cancelled) == items - CHUNKS_IN_FLIGHT * CHUNK_SIZE
    assert all(result.outcome.failure.kind == "cancelled" for result in cancelled)  # type: ignore[union-attr]


# --- the lookup, throttled or refused ------------------------------------------------------------------


def _look_up_on(emulator: Emulator, context: FakeContext, settings: Settings) -> Callable[[Any], Any]:
    """The lookup activity as a worker runs it, at the orchestration's time: each run on a worker of its
    own (its own Graph client, budget and directory), as an activity may be."""

    def run(lookup: Any) -> Any:
        async def on_a_worker() -> dict[str, Any]:
            async with graph_for(emulator) as graph:
                services = Services(settings, graph=graph, clock=lambda: context.current_utc_datetime)
                return await look_up_addresses(lookup, services)

        return asyncio.run(on_a_worker())

    return run


def _batch_of(
    emulator: Emulator, *chats: Any, settings: Settings = PATIENT
) -> tuple[BatchOutcome, list[Task], FakeContext]:
    """Run a batch whose lookups are real and whose chunks make every chat they are given."""
    context = FakeContext(BatchJob(batchId="b", chats=chats).model_dump(mode="json"))
    look_up = _look_up_on(emulator, context, settings)
    made = Succeeded(result=chat_result("r", CHAT))

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            assert task.name == LOOK_UP
            return look_up(task.payload)
        done = next(inner for inner in task.payload if inner.kind == "orchestration")
        jobs = Chunk.model_validate(done.payload).jobs
        done.result = [ItemResult(index=i, outcome=made).model_dump(mode="json") for i, _ in jobs]
        return done

    output, tasks = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    return BatchOutcome.model_validate(output), tasks, context


def _lookups(context: FakeContext) -> list[Lookup]:
    return [Lookup.model_validate(task.payload) for task in context.started if task.kind == "activity"]


def _problems(outcome: BatchOutcome) -> list[str | None]:
    """Each item's problem, in index order (None: made)."""
    return [
        problem_for(result.outcome.failure).slug if isinstance(result.outcome, Failed) else None
        for result in outcome.results
    ]


def test_a_throttled_lookup_waits_on_a_durable_timer_as_graph_asked_then_looks_again(
    emulator: Emulator, control: httpx.Client, managed_identity_env: Emulator
) -> None:
    """A 429 whose Retry-After is past the client's own retries fails no item: the lookup is taken again
    when Graph said, as a single request's step would be."""
    rule = {"method": "GET", "path": USERS, "status": 429, "retryAfter": 25, "count": 1}
    control.post("/faults", json=rule).raise_for_status()
    outcome, tasks, context = _batch_of(emulator, SPEC, SPEC)
    assert [task.kind for task in tasks[:3]] == ["all", "timer", "all"]
    assert tasks[1].payload == START + timedelta(seconds=25), "the wait Graph asked for"
    assert [(lookup.started, lookup.waits) for lookup in _lookups(context)] == [(START, 0), (START, 1)]
    assert _problems(outcome) == [None, None], "every item made"


def test_a_refused_lookup_fails_the_items_that_need_it_at_once(
    emulator: Emulator, control: httpx.Client, managed_identity_env: Emulator
) -> None:
    """403 (the identity lacks User.Read.All) will not pass by waiting: no timer, and only the items with
    an address fail."""
    control.post("/faults", json={"method": "GET", "path": USERS, "status": 403}).raise_for_status()
    outcome, tasks, context = _batch_of(emulator, SPEC, BY_ID, SPEC)
    assert "timer" not in [task.kind for task in tasks]
    assert len(_lookups(context)) == 1
    assert _problems(outcome) == ["graph-refused-identity", None, "graph-refused-identity"]


def test_a_lookup_throttled_past_the_throttle_patience_fails_the_items_as_graph_throttled(
    emulator: Emulator, control: httpx.Client, managed_identity_env: Emulator
) -> None:
    """Graph keeps answering 429: the lookup waits, backing off, until its next try would come after
    CHATFN_THROTTLE_PATIENCE_SECONDS (60 s here) from the lookup's start, then its items fail."""
    rule = {"method": "GET", "path": USERS, "status": 429, "retryAfter": 25}
    control.post("/faults", json=rule).raise_for_status()
    outcome, tasks, context = _batch_of(emulator, SPEC, BY_ID)
    timers = [task.payload - START for task in tasks if task.kind == "timer"]
    assert timers == [timedelta(seconds=25), timedelta(seconds=50)], "the next would be at 75 s"
    assert [lookup.waits for lookup in _lookups(context)] == [0, 1, 2]
    assert _problems(outcome) == ["graph-throttled", None]
