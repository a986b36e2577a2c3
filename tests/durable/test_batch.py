"""The batch's orchestrations with a mocked context: the story step by step. The real replay, Graph's
failures and the budget run end to end in tests/test_batches.py."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
    run_chat_batch,
    run_chat_batch_chunk,
)
from chatfn.graph.models import DirectoryUser
from chatfn.outcome import Succeeded, chat_result
from tests.test_outcome import CHAT

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ALEX = DirectoryUser(id="82fe7758-5bb3-4f0d-a43f-e555fd399c6f", mail="alex@contoso.com", userType="Member")
JACOB = DirectoryUser(id="8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca", mail="jacob@contoso.com", userType="Member")
SPEC = parse_chat_request({"topic": "T", "emails": "alex@contoso.com;jacob@contoso.com"})


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
            assert task.payload == ["alex@contoso.com", "jacob@contoso.com", "nobody@contoso.com"]
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
