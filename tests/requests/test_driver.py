"""The request driver with the worker's services handed in: a Graph client on the emulator, a store on
Azurite (or one that never answers), and the durable client's part played by a small in-memory stand-in
(the real one runs on the local host in test_function_app.py)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.data.tables.aio import TableClient

from chatfn.chats.job import Next
from chatfn.chats.spec import parse_chat_request
from chatfn.durable.chat_job import Progress
from chatfn.emulator import Emulator
from chatfn.errors import StorageError
from chatfn.failures import Failure
from chatfn.outcome import Failed
from chatfn.requests import driver
from chatfn.requests.driver import Answered, ChatOrder, OrchestrationState, Running
from chatfn.requests.store import Claimed, IdempotencyRecord, IdempotencyStore, RecordState, key_partition
from chatfn.services import Services
from chatfn.settings import Settings
from tests.cases import EQUIVALENT_REQUESTS
from tests.graphs import graph_for

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
UNREACHABLE_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1"
)


class Orchestrations:
    """Orchestrations that are what the test says they are."""

    def __init__(self, states: dict[str, OrchestrationState] | None = None) -> None:
        self.states = states or {}
        self.started: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []

    async def start(self, name: str, instance_id: str, job: dict[str, Any]) -> None:
        self.started.append(instance_id)
        self.jobs[instance_id] = job
        self.states[instance_id] = _running(None)

    async def status(self, instance_id: str) -> OrchestrationState | None:
        return self.states.get(instance_id)

    async def raise_event(self, instance_id: str, name: str) -> None:
        self.events.append((instance_id, name))


def _running(custom_status: Any) -> OrchestrationState:
    return OrchestrationState(running=True, completed=False, output=None, custom_status=custom_status)


@pytest.mark.anyio
async def test_a_202s_retry_after_is_when_graph_is_next_asked() -> None:
    progress = Progress(stage="waiting for Teams", polls=3, nextStepAt=NOW + timedelta(seconds=7.2))
    request_id = "0" * 32
    services = Services(Settings(), clock=lambda: NOW)
    orchestrations = Orchestrations({request_id: _running(progress.model_dump(mode="json"))})
    running = await driver.status(request_id, services, orchestrations)
    assert running == Running(request_id, stage="waiting for Teams", retry_after=8, polls=3)


@pytest.mark.anyio
async def test_before_the_first_poll_retry_after_is_the_poll_interval() -> None:
    request_id = "0" * 32
    services = Services(Settings(poll_interval_seconds=4.5), clock=lambda: NOW)
    running = await driver.status(request_id, services, Orchestrations({request_id: _running(None)}))
    assert isinstance(running, Running)
    assert running.retry_after == math.ceil(4.5)
    assert running.stage == "starting"


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_storage_that_does_not_answer_stops_a_keyed_request_before_graph(
    emulator: Emulator, control: httpx.Client
) -> None:
    table = TableClient.from_connection_string(UNREACHABLE_STORAGE, table_name="t1", retry_total=0)
    store = IdempotencyStore(table, timedelta(hours=1))
    spec = parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com"})
    async with graph_for(emulator) as graph:
        services = Services(Settings(), graph=graph, store=store)
        with pytest.raises(StorageError):
            await driver.submit(ChatOrder(spec, "function-key", "k-1", wait=5), services, Orchestrations())
    await store.aclose()
    assert control.get("/requests").json() == [], "nothing was sent to Graph"


class _OwnerEndsWhileThePointerIsWritten(IdempotencyStore):
    """The real store, with one interleaving made to happen: the first request fails (Graph made
    nothing) and frees its key just after a repeat wrote the pointer to its status URL."""

    def __init__(self, table: TableClient, owner: IdempotencyRecord, failure: Failed) -> None:
        super().__init__(table, timedelta(hours=1))
        self.owner, self.failure = owner, failure

    async def remember_status_url(self, record: IdempotencyRecord) -> None:
        await super().remember_status_url(record)
        await self.forget(self.owner, self.failure)


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_a_repeat_never_hands_out_the_status_url_of_a_request_that_freed_its_key(
    emulator: Emulator, control: httpx.Client, azurite: str
) -> None:
    """The repeat reads the record again once the pointer exists: the first request is gone, so it
    starts over and makes the chat itself; the first request's status URL answers its failure."""
    spec = parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "Freed"})
    table_name = f"t{uuid.uuid4().hex[:20]}"
    plain = IdempotencyStore(
        TableClient.from_connection_string(azurite, table_name=table_name), timedelta(hours=1)
    )
    owner = await plain.claim("function-key", "k-freed", spec.fingerprint(), "a" * 32, datetime.now(UTC))
    await plain.aclose()
    assert isinstance(owner, Claimed)
    failure = Failed(failure=Failure(kind="graph", step="resolve", createdNothing=True, status=403))
    store = _OwnerEndsWhileThePointerIsWritten(
        TableClient.from_connection_string(azurite, table_name=table_name), owner.record, failure
    )
    async with graph_for(emulator) as graph:
        services = Services(Settings(), graph=graph, store=store)
        answer = await driver.submit(
            ChatOrder(spec, "function-key", "k-freed", wait=0), services, Orchestrations()
        )
        first = await driver.status("a" * 32, services, Orchestrations())
    await store.aclose()
    assert isinstance(answer, Answered), answer
    assert answer.outcome.kind == "succeeded"
    assert len(control.get("/chats").json()) == 1
    assert first == Answered(failure, success_status=200)


class _TakenOverBeforeTheHandOver(IdempotencyStore):
    """The real store, with one interleaving made to happen: the worker stalled past its lease, and a
    repeat of the key took the request over just before the worker hands it to the orchestration."""

    async def hand_over(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        await self.take_over(record, datetime.now(UTC))
        return await super().hand_over(record)


class _HandOverUnanswered(IdempotencyStore):
    """The real store, whose hand-over write fails (storage cannot say whether it was written)."""

    async def hand_over(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        raise StorageError("the idempotency store failed: Service Unavailable")


async def _handed_over(
    store_type: type[IdempotencyStore], emulator: Emulator, azurite: str
) -> tuple[Running | Answered | driver.Broken, Orchestrations, IdempotencyRecord]:
    """A keyed request that must be handed over (its app's install is Graph's 202, which only the
    orchestration follows), on a store of `store_type`: its answer, the orchestrations, its record."""
    spec = parse_chat_request(EQUIVALENT_REQUESTS[3])
    table = TableClient.from_connection_string(azurite, table_name=f"t{uuid.uuid4().hex[:20]}")
    store = store_type(table, timedelta(hours=1))
    orchestrations = Orchestrations()
    async with graph_for(emulator) as graph:
        services = Services(Settings(), graph=graph, store=store)
        answer = await driver.submit(ChatOrder(spec, "function-key", "k-1", wait=5), services, orchestrations)
        record = await store.get(key_partition("function-key", "k-1"))
    await store.aclose()
    assert record is not None
    return answer, orchestrations, record


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_a_request_taken_over_before_its_hand_over_starts_no_orchestration(
    emulator: Emulator, azurite: str
) -> None:
    """The repeat that took it over carries it on (and sends, if it must): an orchestration started too
    would be a second sender under one key. The caller's status URL follows the request all the same."""
    answer, orchestrations, record = await _handed_over(_TakenOverBeforeTheHandOver, emulator, azurite)
    assert isinstance(answer, Running), answer
    assert orchestrations.started == []
    assert record.state is RecordState.RUNNING, "still the repeat's to settle"


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_a_hand_over_storage_cannot_confirm_keeps_the_requests_lease(
    emulator: Emulator, azurite: str
) -> None:
    """Written or not, unknown: the orchestration carries the job on, but sends only while no repeat may
    take the request over (its lease), as the trigger would have."""
    answer, orchestrations, record = await _handed_over(_HandOverUnanswered, emulator, azurite)
    assert isinstance(answer, Running), answer
    [request_id] = orchestrations.started
    job = Next.model_validate(orchestrations.jobs[request_id]).job
    assert (job.leaseUntil, job.fenced) == (record.lease_until, True)
