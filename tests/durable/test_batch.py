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
import pytest

from chatfn.chats.job import ChatJob, Ended, Next
from chatfn.chats.members import addresses_of
from chatfn.chats.spec import ChatSpec, parse_chat_request
from chatfn.durable.batch import (
    CANCEL_EVENT,
    CHUNK_ORCHESTRATOR,
    CHUNK_SIZE,
    LOOK_UP,
    BatchJob,
    BatchOutcome,
    Chunk,
    ChunkOutcome,
    Counts,
    ItemResult,
    LookedUp,
    Lookup,
    _next_chunk,
    look_up_addresses,
    run_chat_batch,
    run_chat_batch_chunk,
)
from chatfn.emulator import Emulator
from chatfn.failures import Failure
from chatfn.graph.client import MAX_ADDRESSES_PER_LOOKUP
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
    instance_id: str = ""


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
        self.started.append(Task("orchestration", name, payload, instance_id=instance_id))
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
    outcome = ChunkOutcome.model_validate(output)
    assert sorted(result.index for result in outcome.results) == [0, 1]
    assert outcome.handedBack == ()


MADE = Ended(outcome=Succeeded(result=chat_result("r", CHAT)))


def _looking(index: int, at: datetime) -> Next:
    """Item `index` after Graph failed its send after acting: it looks for its chat again at `at`, as
    Graph's lists may not show it yet."""
    job = _job(index).to("search", sends=1, fences=1, searchUntil=at + timedelta(seconds=150))
    return Next(job=job, at=at)


def _answering(steps: dict[int, Next]) -> Callable[[Task], Any]:
    """Each activity answered with the item's step in `steps` (once), else with its chat made."""

    def answer(task: Task) -> Any:
        index = int(ChatJob.model_validate(task.payload).requestId.removeprefix("b-"))
        step = steps.pop(index, None)
        return (step or MADE).model_dump(mode="json")

    return answer


def test_a_chunk_hands_back_its_items_once_every_one_left_waits_on_graph_to_settle() -> None:
    """docs/api.md: while fresh chunks wait for a slot, a chunk whose every remaining item waits on Graph
    to settle (its lists, or its operation) hands those items back and ends."""
    later = START + timedelta(seconds=4)
    steps = {
        1: _looking(1, later),
        2: Next(job=_job(2).to("operation", location="https://graph/operations/o", sends=1), at=later),
    }
    waiting = dict(steps)
    chunk = Chunk(jobs=tuple((i, _job(i)) for i in range(3)), handBack=True)
    context = FakeContext(chunk.model_dump(mode="json"))
    output, tasks = _drive(run_chat_batch_chunk(context), context, _answering(steps))  # type: ignore[arg-type]
    assert [task.kind for task in tasks] == ["all"], "no timer: it ends once only those are left"
    outcome = ChunkOutcome.model_validate(output)
    assert [result.index for result in outcome.results] == [0]
    assert outcome.handedBack == ((1, waiting[1]), (2, waiting[2])), "each with its next step"


@pytest.mark.parametrize(
    ("hand_back", "waits"),
    [(False, ("search",)), (True, ("search", "read"))],
    ids=["it may not hand back", "one waits on the budget"],
)
def test_a_chunk_keeps_its_items_when_it_may_not_hand_back_or_one_waits_on_the_budget(
    hand_back: bool, waits: tuple[str, ...]
) -> None:
    later = START + timedelta(seconds=4)
    budget_later = Next(job=_job(2).to("read", chatId="c", sends=1), at=later)
    steps = {1: _looking(1, later)} | ({2: budget_later} if "read" in waits else {})
    chunk = Chunk(jobs=tuple((i, _job(i)) for i in range(3)), handBack=hand_back)
    context = FakeContext(chunk.model_dump(mode="json"))
    output, tasks = _drive(run_chat_batch_chunk(context), context, _answering(steps))  # type: ignore[arg-type]
    assert [task.kind for task in tasks] == ["all", "timer", "all"]
    outcome = ChunkOutcome.model_validate(output)
    assert sorted(result.index for result in outcome.results) == [0, 1, 2]
    assert outcome.handedBack == ()


def test_a_chunk_of_items_handed_back_takes_a_step_before_it_hands_any_back_again() -> None:
    first, second = START + timedelta(seconds=2), START + timedelta(seconds=5)
    resumed = ((7, _looking(7, first)), (9, _looking(9, second)))
    context = FakeContext(Chunk(resumed=resumed, handBack=True).model_dump(mode="json"))
    output, tasks = _drive(run_chat_batch_chunk(context), context, _answering({}))  # type: ignore[arg-type]
    assert [task.kind for task in tasks] == ["timer", "all"], "it sleeps until the first is due"
    assert [ChatJob.model_validate(job.payload).requestId for job in tasks[1].payload] == ["b-7"]
    outcome = ChunkOutcome.model_validate(output)
    assert [result.index for result in outcome.results] == [7]
    assert outcome.handedBack == (resumed[1],), "the other is handed back as it came"


def test_a_chunk_output_of_a_list_of_results_is_still_read() -> None:
    """A batch that was running when chunks began to hand items back reads its earlier chunks' output."""
    result = ItemResult(index=3, outcome=Succeeded(result=chat_result("r", CHAT)))
    assert ChunkOutcome.of([result.model_dump(mode="json")]) == ChunkOutcome(results=(result,))


def _batch_context(*chats: ChatSpec) -> FakeContext:
    """The context of batch `b`'s orchestration, given these chats."""
    return FakeContext(BatchJob(batchId="b", chats=chats).model_dump(mode="json"))


def _chunks(context: FakeContext) -> list[Task]:
    return [task for task in context.started if task.kind == "orchestration"]


def _indices(chunk: Task) -> list[int]:
    started = Chunk.model_validate(chunk.payload)
    return [index for index, _ in started.jobs] + [index for index, _ in started.resumed]


def _chunk_succeeds(done: Task, hand_back: tuple[int, ...] = (), at: datetime = START) -> Task:
    """The chunk's items made, but for those of `hand_back` it hands back (each looking for its chat at
    `at`), when it may."""
    may = Chunk.model_validate(done.payload).handBack
    back = [index for index in _indices(done) if may and index in hand_back]
    made = Succeeded(result=chat_result("r", CHAT))
    done.result = ChunkOutcome(
        results=tuple(ItemResult(index=i, outcome=made) for i in _indices(done) if i not in back),
        handedBack=tuple((index, _looking(index, at)) for index in back),
    ).model_dump(mode="json")
    return done


def _users(*users: DirectoryUser) -> dict[str, Any]:
    return LookedUp(users={user.mail or "": (user,) for user in users}).model_dump(mode="json")


def test_a_batch_looks_every_address_up_once_then_runs_its_items_in_chunks_of_20_four_at_a_time() -> None:
    """docs/api.md: the items go out "in chunks of 20 (sub-orchestrations, four at a time)"."""
    items = 20 * 5 + 1
    nobody = parse_chat_request({"emails": "alex@contoso.com;nobody@contoso.com"})
    chats = (nobody, *[SPEC] * items)
    context = _batch_context(*chats)
    in_flight_seen: list[int] = []

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            assert task.name == LOOK_UP
            lookup = Lookup.model_validate(task.payload)
            assert lookup.addresses == ("alex@contoso.com", "jacob@contoso.com", "nobody@contoso.com")
            users = {"alex@contoso.com": (ALEX,), "jacob@contoso.com": (JACOB,), "nobody@contoso.com": ()}
            return LookedUp(users=users).model_dump(mode="json")
        if task.kind == "any":
            running = [inner for inner in task.payload if inner.kind == "orchestration"]
            in_flight_seen.append(len(running))
            return _chunk_succeeds(running[-1])  # the chunk started last happens to finish first
        return None

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    outcome = BatchOutcome.model_validate(output)
    assert [result.index for result in outcome.results] == list(range(items + 1)), "every item, in order"
    assert outcome.results[0].outcome.kind == "failed", "an item whose member is unknown never starts"
    chunks = _chunks(context)
    assert {task.name for task in chunks} == {CHUNK_ORCHESTRATOR}
    assert [len(_indices(task)) for task in chunks] == [20, 20, 20, 20, 20, 1]
    assert [index for task in chunks for index in _indices(task)] == list(range(1, items + 1)), (
        "the items go out in the batch's order"
    )
    assert max(in_flight_seen) == 4
    assert len({task.instance_id for task in chunks}) == len(chunks), "each chunk its own instance"
    assert all(task.instance_id.startswith("b:") for task in chunks), "named after its batch"
    assert sum(task.kind == "activity" for task in context.started) == 1, "the addresses are looked up once"
    total = items + 1
    assert context.statuses[0] == {"total": total, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert context.statuses[1] == {"total": total, "succeeded": 0, "failed": 1, "cancelled": 0}, (
        "the item that cannot be bound is counted before any chunk ends"
    )
    assert context.statuses[-1] == {"total": total, "succeeded": items, "failed": 1, "cancelled": 0}


def test_each_item_is_a_fenced_job_under_an_id_derived_from_the_batch() -> None:
    """docs/api.md: an item's sends are fenced in storage under `<batchId>-<index>`."""
    reuse = parse_chat_request(
        {"topic": "T", "emails": "alex@contoso.com;jacob@contoso.com", "reuseExisting": True}
    )
    one_on_one = parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com", "reuseExisting": True})
    context = _batch_context(SPEC, reuse, one_on_one)

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            return _users(ALEX, JACOB)
        return _chunk_succeeds(next(inner for inner in task.payload if inner.kind == "orchestration"))

    _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    [chunk] = _chunks(context)
    jobs = dict(Chunk.model_validate(chunk.payload).jobs)
    assert [(job.requestId, job.batchId, job.fenced) for job in jobs.values()] == [
        ("b-0", "b", True),
        ("b-1", "b", True),
        ("b-2", "b", True),
    ]
    assert [job.stage for job in jobs.values()] == ["send", "reuse", "send"], (
        "only a group chat is looked for first; Graph itself returns a one-on-one's existing chat"
    )
    assert all(job.attemptStarted == START for job in jobs.values())
    assert [member.key for member in jobs[0].members] == [ALEX.id, JACOB.id]


def test_a_batch_of_object_ids_alone_looks_nothing_up() -> None:
    by_id = parse_chat_request({"members": [{"userId": ALEX.id}, {"userId": JACOB.id}], "topic": "T"})
    context = _batch_context(by_id)

    def answer(task: Task) -> Any:
        assert task.kind == "any", "nothing to wait for before the chunks"
        return _chunk_succeeds(task.payload[0])

    output, tasks = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    assert [result.outcome.kind for result in BatchOutcome.model_validate(output).results] == ["succeeded"]
    assert [task.kind for task in context.started] == ["orchestration"]
    assert len(tasks) == 1


def test_addresses_are_looked_up_in_activities_of_whole_graph_calls() -> None:
    """An activity's addresses go out 15 to a Graph call: each but the last holds a multiple of 15."""
    many = parse_chat_request({"emails": [f"m{i:03}@contoso.com" for i in range(200)], "topic": "All hands"})
    context = _batch_context(many)
    looked_up: list[tuple[str, ...]] = []

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            looked_up.append(Lookup.model_validate(task.payload).addresses)
            return LookedUp(users={}).model_dump(mode="json")
        return None

    _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    assert [address for addresses in looked_up for address in addresses] == sorted(addresses_of(many))
    assert len(looked_up) > 1
    assert all(len(addresses) % MAX_ADDRESSES_PER_LOOKUP == 0 for addresses in looked_up[:-1])


def test_a_failed_lookup_ends_every_item_that_has_addresses_with_its_failure() -> None:
    refused = Failure(kind="graph", step="resolve", status=403, code="Forbidden", createdNothing=True)
    by_id = parse_chat_request({"members": [{"userId": ALEX.id}, {"userId": JACOB.id}], "topic": "T"})
    context = _batch_context(SPEC, by_id, SPEC)

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            return LookedUp(failure=refused).model_dump(mode="json")
        return _chunk_succeeds(next(inner for inner in task.payload if inner.kind == "orchestration"))

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    results = BatchOutcome.model_validate(output).results
    assert [result.outcome for result in results] == [
        Failed(failure=refused),
        Succeeded(result=chat_result("r", CHAT)),
        Failed(failure=refused),
    ]
    assert [_indices(task) for task in _chunks(context)] == [[1]], "an item by object ids alone still runs"


def test_a_cancel_starts_no_further_chunk_and_cancels_their_items_at_once() -> None:
    items = 20 * (4 + 2)
    context = _batch_context(*(SPEC,) * items)
    waits = 0

    def answer(task: Task) -> Any:
        nonlocal waits
        if task.kind == "activity":
            return _users(ALEX, JACOB)
        if task.kind == "any":
            waits += 1
            event = next((inner for inner in task.payload if inner.kind == "event"), None)
            if event is not None and waits == 2:  # one chunk has ended, and the fifth has started
                assert event.name == CANCEL_EVENT
                assert context.statuses[-1]["cancelled"] == 0
                return event
            return _chunk_succeeds(task.payload[0])
        return None

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    outcome = BatchOutcome.model_validate(output)
    assert outcome.cancelled
    assert len(_chunks(context)) == 5, "four at first, one after the first ended, none after the cancel"
    started = 5 * 20
    assert [result.index for result in outcome.results] == list(range(items)), "every item, in order"
    assert [result.outcome.kind for result in outcome.results] == ["succeeded"] * started + ["failed"] * (
        items - started
    ), "the chunks under way finish; the items not started end cancelled"
    assert all(result.outcome.failure.kind == "cancelled" for result in outcome.results[started:])  # type: ignore[union-attr]
    cancelled_at_once = {"total": items, "succeeded": 20, "failed": 0, "cancelled": items - started}
    assert cancelled_at_once in context.statuses, "counted as cancelled before the chunks under way end"
    assert context.statuses[-1] == {
        "total": items,
        "succeeded": started,
        "failed": 0,
        "cancelled": items - started,
    }


def _resumed(chunk: Task) -> list[tuple[int, Next]]:
    return list(Chunk.model_validate(chunk.payload).resumed)


def test_the_next_chunk_is_fresh_until_a_chunks_worth_of_items_handed_back_is_due() -> None:
    """An item handed back with no time of its own (`at` None) is due at once; the chunk of items handed
    back takes the earliest due first, whatever order they came back in."""
    fresh = [Chunk(jobs=((100, _job(100)),))]
    later = [(i, _looking(i, START + timedelta(seconds=60 - i))) for i in range(CHUNK_SIZE)]
    now_due = [
        (i, Next(job=_job(i).to("search", sends=1, fences=1, searchUntil=START)))
        for i in range(50, 50 + CHUNK_SIZE)
    ]
    assert _next_chunk(list(fresh), list(later), START).jobs, "none of them due yet: the fresh chunk goes"
    taken = _next_chunk(list(fresh), list(now_due), START)
    assert [index for index, _ in taken.resumed] == list(range(50, 50 + CHUNK_SIZE)), "due at once"
    handed_back = list(later)
    resumed = _next_chunk([], handed_back, START + timedelta(seconds=60))
    assert [index for index, _ in resumed.resumed] == sorted(range(CHUNK_SIZE), reverse=True), (
        "earliest first"
    )
    assert (resumed.handBack, handed_back) == (False, []), "no fresh chunk left: it keeps its items"


def test_a_chunk_input_from_before_items_were_handed_back_never_hands_any_back() -> None:
    """A batch already running when chatfn is updated starts its chunks with inputs that have no
    `handBack`: such a chunk keeps every item, as chunks did then."""
    assert Chunk.model_validate({"jobs": [[0, _job(0).model_dump(mode="json")]]}).handBack is False


def test_items_handed_back_go_on_in_chunks_of_their_own_once_the_fresh_chunks_have_started() -> None:
    """docs/api.md: items handed back go on later in a chunk of their own; a chunk started when no fresh
    chunk is left hands nothing back (nothing waits for its slot)."""
    items = CHUNK_SIZE * 5
    context = _batch_context(*(SPEC,) * items)
    later = START + timedelta(seconds=30)

    def answer(task: Task) -> Any:
        if task.kind == "activity":
            return _users(ALEX, JACOB)
        oldest = next(inner for inner in task.payload if inner.kind == "orchestration")
        return _chunk_succeeds(oldest, hand_back=tuple(range(0, items, CHUNK_SIZE)), at=later)

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    chunks = _chunks(context)
    started = [Chunk.model_validate(task.payload) for task in chunks]
    assert [(bool(chunk.jobs), chunk.handBack) for chunk in started] == [(True, True)] * 4 + [
        (True, False),
        (False, False),
        (False, False),
        (False, False),
    ], "every fresh chunk first; each may hand back while a fresh one is left after it"
    assert [_indices(task) for task in chunks[5:]] == [[0, 20], [40], [60]]
    assert [step for task in chunks[5:] for step in _resumed(task)] == [
        (index, _looking(index, later)) for index in (0, 20, 40, 60)
    ], "each with the step it was handed back with"
    outcome = BatchOutcome.model_validate(output)
    assert [result.index for result in outcome.results] == list(range(items)), "every item once, in order"
    assert {result.outcome.kind for result in outcome.results} == {"succeeded"}
    assert context.statuses[-1] == {"total": items, "succeeded": items, "failed": 0, "cancelled": 0}


def test_a_chunk_of_items_handed_back_that_are_due_goes_before_the_fresh_chunks() -> None:
    items = CHUNK_SIZE * 6
    context = _batch_context(*(SPEC,) * items)
    ended = 0

    def answer(task: Task) -> Any:
        nonlocal ended
        if task.kind == "activity":
            return _users(ALEX, JACOB)
        ended += 1
        oldest = next(inner for inner in task.payload if inner.kind == "orchestration")
        return _chunk_succeeds(oldest, hand_back=tuple(range(CHUNK_SIZE)) if ended == 1 else ())

    _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    chunks = _chunks(context)
    assert [_indices(task) for task in chunks][4] == list(range(CHUNK_SIZE)), (
        "the first chunk's items, handed back and due at once, go next"
    )
    assert Chunk.model_validate(chunks[4].payload).handBack, "fresh chunks are left after it"
    fresh_first, rest = range(4 * CHUNK_SIZE), range(4 * CHUNK_SIZE, items)
    assert [index for task in chunks for index in _indices(task)] == [*fresh_first, *range(CHUNK_SIZE), *rest]


def test_a_cancel_lets_items_handed_back_go_on() -> None:
    """They have sent: they go on looking for what they made (a send they may take again is refused)."""
    items = CHUNK_SIZE * 6
    context = _batch_context(*(SPEC,) * items)
    waits = 0

    def answer(task: Task) -> Any:
        nonlocal waits
        if task.kind == "activity":
            return _users(ALEX, JACOB)
        waits += 1
        event = next((inner for inner in task.payload if inner.kind == "event"), None)
        if event is not None and waits == 2:  # the first chunk has ended, handing item 0 back
            return event
        return _chunk_succeeds(task.payload[0], hand_back=(0,), at=START + timedelta(seconds=30))

    output, _ = _drive(run_chat_batch(context), context, answer)  # type: ignore[arg-type]
    outcome = BatchOutcome.model_validate(output)
    assert outcome.cancelled
    chunks = _chunks(context)
    assert [_indices(task) for task in chunks][-1] == [0], "item 0 goes on in a chunk of its own"
    assert len(chunks) == 6, "five fresh chunks, none after the cancel, and item 0's"
    kinds = [result.outcome.kind for result in outcome.results]
    started = 5 * CHUNK_SIZE
    assert kinds == ["succeeded"] * started + ["failed"] * (items - started)
    assert context.statuses[-1] == {
        "total": items,
        "succeeded": started,
        "failed": 0,
        "cancelled": items - started,
    }


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
    context = _batch_context(*chats)
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


def test_pending_is_what_has_not_ended() -> None:
    counts = Counts(total=10).counted(
        [
            ItemResult(index=0, outcome=Succeeded(result=chat_result("r", CHAT))),
            ItemResult(
                index=1, outcome=Failed(failure=Failure(kind="graph", step="create", createdNothing=True))
            ),
            ItemResult(
                index=2, outcome=Failed(failure=Failure(kind="cancelled", step="create", createdNothing=True))
            ),
        ]
    )
    assert (counts.succeeded, counts.failed, counts.cancelled, counts.pending) == (1, 1, 1, 7)


@pytest.mark.anyio
async def test_the_lookup_activity_answers_each_address_with_its_users(
    managed_identity_env: Emulator,
) -> None:
    async with graph_for(managed_identity_env) as graph:
        lookup = Lookup(addresses=("alex@contoso.com", "nobody@nowhere.example"), started=START)
        answer = await look_up_addresses(lookup.model_dump(mode="json"), Services(Settings(), graph=graph))
    looked_up = LookedUp.model_validate(answer)
    assert looked_up.failure is None
    assert [user.id for user in looked_up.users["alex@contoso.com"]] == [ALEX.id]
    assert looked_up.users["nobody@nowhere.example"] == ()


@pytest.mark.anyio
async def test_a_lookup_that_fails_is_answered_as_a_failure_that_made_nothing(
    managed_identity_env: Emulator, control: httpx.Client
) -> None:
    """Every item with addresses ends with it (nothing was sent for any), rather than the activity
    failing the whole batch."""
    control.post("/faults", json={"path": "/v1.0/users", "status": 403}).raise_for_status()
    async with graph_for(managed_identity_env) as graph:
        lookup = Lookup(addresses=("alex@contoso.com",), started=START)
        answer = await look_up_addresses(lookup.model_dump(mode="json"), Services(Settings(), graph=graph))
    failure = LookedUp.model_validate(answer).failure
    assert failure is not None
    assert (failure.kind, failure.step, failure.status, failure.createdNothing) == (
        "graph",
        "resolve",
        403,
        True,
    )
