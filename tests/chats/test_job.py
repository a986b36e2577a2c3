"""A request's chat job, step by step, against the emulator (which makes the chat, then fails, when
asked): Graph's 201 read and answered, Graph's 202 followed, and a send whose outcome is unknown never
making a second chat. Time is a clock the test moves: a search that lasts minutes takes none."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from azure.data.tables.aio import TableClient

from chatfn.chats.job import MAX_SENDS, ChatJob, Ended, Next, new_job, take_step
from chatfn.chats.spec import parse_chat_request
from chatfn.emulator import Emulator
from chatfn.graph.budget import DOCUMENTED_LIMITS, Budget
from chatfn.graph.client import GraphClient
from chatfn.outcome import Failed, Succeeded
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services
from chatfn.settings import Settings
from tests.cases import EQUIVALENT_REQUESTS
from tests.clocks import MonotonicClock, VirtualClock
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"
LYNNE = "3626a173-f2bc-4883-bcf7-01514c3bfb82"
MEGAN = "4b822dfc-2864-44e6-aa1e-7e0e8552168f"
GROUP = {"topic": "Exactly one", "members": [{"userId": ALEX}, {"userId": JACOB}, {"userId": LYNNE}]}
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
ONE_ON_ONE = {"members": [{"userId": ALEX}, {"userId": JACOB}]}
APP = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
SETTINGS = Settings(send_lifetime_seconds=120, list_lag_seconds=30, poll_interval_seconds=5)


@pytest.fixture
async def graph(emulator: Emulator) -> AsyncIterator[GraphClient]:
    async with graph_for(emulator) as client:
        yield client


def _services(graph: GraphClient, clock: VirtualClock, settings: Settings = SETTINGS) -> Services:
    return Services(settings, graph=graph, clock=clock, sleep=clock.sleep)


async def _run(
    services: Services, body: dict[str, Any], *, job: ChatJob | None = None, **options: Any
) -> Ended | Next:
    """Take the job's steps, sleeping as each says, until it ends or is to follow Graph's operation."""
    job = job or new_job("r1", parse_chat_request(body), services.clock(), **options)
    while True:
        result = await take_step(job, services)
        if isinstance(result, Ended) or result.job.stage == "operation":
            return result
        if result.at is not None:
            await services.sleep((result.at - services.clock()).total_seconds())
        job = result.job


def _succeeded(result: Ended | Next) -> Succeeded:
    assert isinstance(result, Ended), result
    assert isinstance(result.outcome, Succeeded), result.outcome
    return result.outcome


def _failed(result: Ended | Next) -> Failed:
    assert isinstance(result, Ended), result
    assert isinstance(result.outcome, Failed), result.outcome
    return result.outcome


def _posts(control: httpx.Client) -> int:
    return sum(r["method"] == "POST" and r["path"] == "/v1.0/chats" for r in control.get("/requests").json())


def _list_reads(control: httpx.Client) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = control.get("/requests").json()
    return [r for r in requests if r["path"].endswith("/chats") and r["method"] == "GET"]


async def test_graphs_201_is_read_and_answered(graph: GraphClient) -> None:
    result = _succeeded(await _run(_services(graph, VirtualClock()), GROUP)).result
    assert not result.reused
    assert result.webUrl
    assert {m.userId for m in result.members} == {ALEX, JACOB, LYNNE}


async def test_graphs_202_is_followed_from_one_poll_interval_on(graph: GraphClient) -> None:
    clock = VirtualClock()
    result = await _run(_services(graph, clock), EQUIVALENT_REQUESTS[3])
    assert isinstance(result, Next)
    assert result.job.stage == "operation"
    assert "/operations(" in (result.job.location or "")
    assert result.at == clock.now + timedelta(seconds=5)


async def poll_waits(services: Services, clock: VirtualClock) -> list[float]:
    """The waits before each read of Graph's operation, until it succeeds."""
    next_step = await _run(services, EQUIVALENT_REQUESTS[3])
    waits: list[float] = []
    while isinstance(next_step, Next) and next_step.job.stage == "operation":
        assert next_step.at is not None
        waits.append((next_step.at - clock.now).total_seconds())
        clock.now = next_step.at
        next_step = await take_step(next_step.job, services)
    return waits


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [(None, [5.0, 10.0, 20.0]), (2.5, [5.0, 2.5, 2.5])],
    ids=["doubling", "retry-after"],
)
async def test_the_operation_is_polled_with_a_doubling_interval_unless_graph_says_when(
    retry_after: float | None, waits: list[float], graph: GraphClient, control: httpx.Client
) -> None:
    operations = {"statuses": ["notStarted", "inProgress", "succeeded"], "retryAfter": retry_after}
    control.post("/operations", json=operations).raise_for_status()
    clock = VirtualClock()
    assert await poll_waits(_services(graph, clock), clock) == waits


@pytest.mark.parametrize("status", ["failed", "invalid"])
async def test_a_status_other_than_pending_ends_the_wait_at_once(
    status: str, graph: GraphClient, control: httpx.Client
) -> None:
    control.post("/operations", json={"statuses": [status]}).raise_for_status()
    clock = VirtualClock()
    services = _services(graph, clock)
    accepted = await _run(services, EQUIVALENT_REQUESTS[3])
    assert isinstance(accepted, Next)
    failure = _failed(await take_step(accepted.job, services)).failure
    assert (failure.kind, failure.createdNothing) == ("operation_failed", False)


async def test_the_deadline_ends_an_operation_that_never_finishes(
    graph: GraphClient, control: httpx.Client
) -> None:
    control.post("/operations", json={"statuses": ["inProgress"]}).raise_for_status()
    clock = VirtualClock()
    services = _services(graph, clock, Settings(operation_deadline_seconds=60, poll_interval_seconds=5))
    next_step = await _run(services, EQUIVALENT_REQUESTS[3])
    ats = []
    while isinstance(next_step, Next):
        assert next_step.at is not None
        ats.append(next_step.at)
        clock.now = next_step.at
        next_step = await take_step(next_step.job, services)
    assert _failed(next_step).failure.kind == "deadline"
    assert max(ats) - ats[0] == timedelta(seconds=55), "the last poll is at the deadline itself"


@pytest.mark.parametrize("failure", [{"status": 504}, {"drop": True}, {"status": 500}])
async def test_a_group_chat_made_before_graph_failed_is_adopted(
    failure: dict[str, Any], graph: GraphClient, control: httpx.Client
) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "after": True, "count": 1} | failure
    control.post("/faults", json=fault).raise_for_status()
    _succeeded(await _run(_services(graph, VirtualClock()), GROUP))
    assert len(control.get("/chats").json()) == 1
    assert _posts(control) == 1, "found, so never sent again"


async def test_a_chat_that_lists_late_is_still_found(graph: GraphClient, control: httpx.Client) -> None:
    """Graph's lists show a new chat seconds later (4 s: later than a few quick looks would see it); the
    search covers that lag before it concludes."""
    control.post("/consistency", json={"listDelaySeconds": 4}).raise_for_status()
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 500, "after": True})
    services = Services(SETTINGS, graph=graph)  # the lists' lag is real time
    _succeeded(await _run(services, GROUP))
    assert _posts(control) == 1, "the chat appeared while looking: never sent again"


async def test_a_send_graph_never_answered_is_looked_for_until_it_can_no_longer_complete(
    graph: GraphClient, control: httpx.Client
) -> None:
    """No answer at all: the send may still complete for its lifetime, and then lists may lag."""
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "drop": True, "count": 1})
    clock = VirtualClock()
    started = clock.now
    _succeeded(await _run(_services(graph, clock), GROUP))
    assert _posts(control) == 2
    resent_after = sum(clock.slept)
    assert resent_after >= 120 + 30, "not sent again before the first send's lifetime and the lag passed"
    assert resent_after < 120 + 30 + 15, "nor much later"
    assert clock.now - started == timedelta(seconds=resent_after)
    pauses = clock.slept
    assert pauses[:4] == [1.0, 2.0, 4.0, 8.0], "looks back off"
    assert max(pauses) <= 15.0


@pytest.mark.parametrize(
    ("lifetime", "posts"), [(7.0, 1), (1.5, 2)], ids=["lifetime-covers-it", "lifetime-too-short"]
)
async def test_a_send_graph_completes_after_the_client_gave_up_is_found_within_the_send_lifetime(
    lifetime: float, posts: int, emulator: Emulator, control: httpx.Client
) -> None:
    """Graph may finish a POST after the client's read timeout (the red-team's 45 s POST against a 30 s
    timeout; here 4.5 s against 0.5 s, in real time): the chat appears 4 s after the client gave up, later
    than a few quick looks would see it, so the search must last the send's lifetime. A lifetime shorter
    than Graph's answer ends the search before the chat exists: sent again, two chats."""
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "delay": 4.5, "count": 1})
    settings = Settings(send_lifetime_seconds=lifetime, list_lag_seconds=0.5)
    timeout = httpx.Timeout(10, read=0.5)
    async with graph_for(emulator, http=httpx.AsyncClient(timeout=timeout)) as graph:
        result = _succeeded(await _run(Services(settings, graph=graph), GROUP)).result
    assert _posts(control) == posts
    for _ in range(30):  # the first POST's chat, when the job ended before Graph made it
        chats = control.get("/chats").json()
        if len(chats) >= posts:
            break
        await anyio.sleep(0.2)
    assert len(chats) == posts
    assert result.chatId in {chat["id"] for chat in chats}


async def test_a_send_graph_answered_is_looked_for_for_the_list_lag_only(
    graph: GraphClient, control: httpx.Client
) -> None:
    """A 503 is Graph's own answer: that send is over, so only the lists' lag is left to wait out."""
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 503, "count": 1})
    clock = VirtualClock()
    _succeeded(await _run(_services(graph, clock), GROUP))
    assert _posts(control) == 2
    assert 30 <= sum(clock.slept) < 30 + 15


async def test_after_every_send_failed_and_nothing_was_found_nothing_was_made(
    graph: GraphClient, control: httpx.Client
) -> None:
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 502})
    failure = _failed(await _run(_services(graph, VirtualClock()), GROUP)).failure
    assert failure.createdNothing is True
    assert failure.status == 502, "the last send's failure, which surely made nothing"
    assert _posts(control) == MAX_SENDS
    assert control.get("/chats").json() == []


async def test_a_one_on_one_is_simply_sent_again(graph: GraphClient, control: httpx.Client) -> None:
    """Graph returns the existing one-on-one chat for the same two members: no search needed."""
    control.post(
        "/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 1}
    )
    _succeeded(await _run(_services(graph, VirtualClock()), ONE_ON_ONE))
    assert len(control.get("/chats").json()) == 1
    assert not [r for r in control.get("/requests").json() if r["path"].startswith("/v1.0/users/")]


async def test_without_a_searchable_member_the_outcome_stays_unknown(
    graph: GraphClient, control: httpx.Client
) -> None:
    """Members of another tenant are not in this tenant's lists: nothing to search, so no resend."""
    partner_user = {
        "id": "0c4d4f7e-5a8b-4b6e-9a51-3c2d1e0f9a8b",
        "userPrincipalName": "cy@partner.com",
        "tenantId": PARTNER_TENANT,
    }
    control.post("/users", json=partner_user).raise_for_status()
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True})
    federated = {
        "topic": "Federated",
        "members": [
            {"userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d", "tenantId": PARTNER_TENANT},
            {"userId": partner_user["id"], "tenantId": PARTNER_TENANT},
        ],
    }
    services = _services(graph, VirtualClock())
    assert _failed(await _run(services, federated)).failure.createdNothing is False
    assert _posts(control) == 1, "never sent again while the chat may exist"
    assert _failed(await _run(services, federated, look_first=True)).failure.createdNothing is False
    assert _posts(control) == 1, "a repeat of the key does not send it again either"


async def test_reuse_existing_answers_the_chat_found(graph: GraphClient, control: httpx.Client) -> None:
    services = _services(graph, VirtualClock())
    first = _succeeded(await _run(services, GROUP | {"reuseExisting": True})).result
    again = _succeeded(await _run(services, GROUP | {"reuseExisting": True})).result
    other = _succeeded(await _run(services, GROUP | {"reuseExisting": True, "topic": "Another"})).result
    assert (first.reused, again.reused, other.reused) == (False, True, False)
    assert again.chatId == first.chatId
    assert len(control.get("/chats").json()) == 2


async def test_an_earlier_attempts_chat_is_looked_for_first(
    graph: GraphClient, control: httpx.Client
) -> None:
    """A worker died after Graph made the chat; its successor finds it before sending anything."""
    clock = VirtualClock()
    services = _services(graph, clock)
    earlier = _succeeded(await _run(services, GROUP)).result
    carried_on = _succeeded(await _run(services, GROUP, look_first=True)).result
    assert carried_on.chatId == earlier.chatId
    assert _posts(control) == 1


async def test_a_successor_that_finds_nothing_sends_once_the_lists_had_time(
    graph: GraphClient, control: httpx.Client
) -> None:
    """The earlier worker sent nothing (or its send made nothing): one send, after the lists' lag."""
    clock = VirtualClock()
    _succeeded(await _run(_services(graph, clock), GROUP, look_first=True))
    assert _posts(control) == 1
    assert 30 <= sum(clock.slept) < 45


async def test_no_send_begins_that_could_outlive_the_lease(graph: GraphClient, control: httpx.Client) -> None:
    """A send that may go on for its lifetime must end before another worker may take the key over."""
    clock = VirtualClock()
    services = _services(graph, clock)
    short = clock.now + timedelta(seconds=119)
    failure = _failed(await _run(services, GROUP, lease_until=short)).failure
    assert (failure.kind, failure.createdNothing) == ("abandoned", False)
    assert _posts(control) == 0
    _succeeded(await _run(services, GROUP, lease_until=clock.now + timedelta(seconds=121)))
    assert _posts(control) == 1


async def test_a_throttled_send_waits_its_turn_for_the_throttle_patience_then_gives_up(
    graph: GraphClient, control: httpx.Client
) -> None:
    """Throttling alone never ends a request early: it waits (in the trigger: 202; in the orchestration:
    a durable timer), backing off, until CHATFN_THROTTLE_PATIENCE_SECONDS from its start."""
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.01})
    budget_time = MonotonicClock()  # twenty 429s bring the budget to its slowest rate: its waits are virtual
    graph.budget = Budget(DOCUMENTED_LIMITS, clock=budget_time, sleep=budget_time.sleep)
    clock = VirtualClock()
    patient = _services(graph, clock, Settings(throttle_patience_seconds=3600, operation_deadline_seconds=5))
    job = new_job("r1", parse_chat_request(GROUP), clock.now)
    first = await take_step(job, patient)
    assert isinstance(first, Next)
    later = await take_step(first.job, patient)
    assert isinstance(later, Next)
    assert later.job.stage == "send"
    assert later.at is not None
    assert later.at - clock.now == timedelta(seconds=0.01), "the first wait is what Graph asked"
    waits = []
    for _ in range(3):
        again = await take_step(later.job, patient)
        assert isinstance(again, Next)
        assert again.at is not None
        waits.append((again.at - clock.now).total_seconds())
        later = again
    assert waits == [5.0, 10.0, 20.0], "each further wait backs off"
    clock.now += timedelta(seconds=3600)
    failure = _failed(await take_step(later.job, patient)).failure
    assert (failure.status, failure.createdNothing) == (429, True)
    assert control.get("/chats").json() == []


@pytest.mark.azurite
async def test_a_send_run_again_finds_its_fence_taken_and_looks_for_the_chat(
    graph: GraphClient, control: httpx.Client, azurite: str
) -> None:
    """In the orchestration an activity may run twice (a worker dies after the send, before the
    activity's result is recorded): the second run of the same step finds the send's fence in storage
    taken, and looks for the chat the first run made instead of making another (docs/api.md)."""
    table = TableClient.from_connection_string(azurite, table_name=f"fence{uuid.uuid4().hex[:12]}")
    store = IdempotencyStore(table, timedelta(hours=1))
    clock = VirtualClock()
    services = Services(SETTINGS, graph=graph, store=store, clock=clock, sleep=clock.sleep)
    at_send = new_job(uuid.uuid4().hex, parse_chat_request(GROUP), clock.now).model_copy(
        update={"fenced": True}
    )
    try:
        while at_send.stage != "send":
            step = await take_step(at_send, services)
            assert isinstance(step, Next)
            at_send = step.job
        first_run = _succeeded(await _run(services, GROUP, job=at_send))
        second_run = _succeeded(await _run(services, GROUP, job=at_send))
    finally:
        await store.aclose()
    assert _posts(control) == 1, "the second run sent nothing"
    assert second_run.result.chatId == first_run.result.chatId
