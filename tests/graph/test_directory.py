"""The worker's directory: lookups merged across concurrent requests, each request answered exactly its
own addresses; remembered for CHATFN_DIRECTORY_CACHE_SECONDS (a miss only a few seconds), on an injected
clock; and a shared lookup that never holds a caller past its own wait."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import httpx
import pytest

from chatfn.chats.members import resolve_members
from chatfn.chats.spec import parse_chat_request
from chatfn.chats.translate import ResolvedMember
from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from chatfn.errors import BudgetSpent
from chatfn.graph.budget import deadline_in
from chatfn.graph.client import GraphClient
from chatfn.graph.directory import MISS_SECONDS, Directory
from tests.clocks import MonotonicClock
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

PEOPLE = {member.mail or "": member.id for member in NUMBERED_MEMBERS}  # 45 people, mail != UPN
NOBODY = "nobody@contoso.com"


def _lookups(control: httpx.Client) -> list[dict[str, Any]]:
    return [r for r in control.get("/requests").json() if r["method"] == "GET" and r["path"] == "/v1.0/users"]


def _requests(count: int) -> list[list[str]]:
    """Address lists as concurrent requests bring them: overlapping, some distinct, in any case, and
    now and then an address that matches nobody."""
    draw = random.Random(19)
    everyone = sorted(PEOPLE)
    asked = [draw.sample(everyone, draw.randint(2, 8)) for _ in range(count)]
    for i, addresses in enumerate(asked):
        if i % 3 == 0:
            addresses[0] = addresses[0].upper()
        if i % 5 == 0:
            addresses.append(NOBODY)
    return asked


@pytest.mark.parametrize(
    "throttle",
    [{"documented": True}, {"rps": 2, "burst": 1}],
    ids=["documented-limits", "a-bucket-that-refuses"],
)
async def test_merged_lookups_answer_each_request_exactly_its_own_addresses(
    throttle: dict[str, Any], emulator: Emulator, control: httpx.Client
) -> None:
    """Under Graph's buckets (the documented ones, and one so small that lookups meet 429s and are taken
    again): every request gets exactly its own addresses, each looked up once, 15 to a call."""
    control.post("/throttle", json=throttle).raise_for_status()
    asked = _requests(30)
    distinct = {address.lower() for addresses in asked for address in addresses}
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        answers = await asyncio.gather(*(directory.users_by_address(addresses) for addresses in asked))
    for addresses, answer in zip(asked, answers, strict=True):
        assert sorted(answer) == sorted(address.lower() for address in addresses)
        for address, users in answer.items():
            assert [user.id for user in users] == ([] if address == NOBODY else [PEOPLE[address]])
    answered = [lookup for lookup in _lookups(control) if lookup["status"] == 200]
    assert len(answered) == math.ceil(len(distinct) / 15) < len(asked)
    if "rps" in throttle:
        assert any(lookup["status"] == 429 for lookup in _lookups(control)), "the bucket refused some"


async def test_what_queues_while_a_lookup_is_out_goes_in_one_call_when_it_is_back(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Requests arriving one after another while a (slow) lookup is on its way: their addresses wait for
    it, then go together, not one call each."""
    control.post("/faults", json={"path": "/v1.0/users", "delay": 1.0, "count": 1}).raise_for_status()
    everyone = sorted(PEOPLE)
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        first = asyncio.ensure_future(directory.users_by_address(everyone[:3]))
        later = []
        for i in range(1, 4):
            await asyncio.sleep(0.05)
            later.append(asyncio.ensure_future(directory.users_by_address(everyone[3 * i : 3 * i + 3])))
        answers = await asyncio.gather(first, *later)
    assert [sorted(answer) for answer in answers] == [everyone[3 * i : 3 * i + 3] for i in range(4)]
    lookups = _lookups(control)
    assert len(lookups) == 2
    assert lookups[1]["query"]["$filter"].count("@") == 2 * 9, "the nine later addresses in one call"


async def test_concurrent_resolutions_each_bind_their_own_members(
    emulator: Emulator, control: httpx.Client
) -> None:
    asked = [[address for address in addresses if address != NOBODY] for addresses in _requests(20)]
    specs = [parse_chat_request({"topic": f"Chat {i}", "emails": a}) for i, a in enumerate(asked)]
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        resolved = await asyncio.gather(*(resolve_members(spec, directory) for spec in specs))
    for addresses, members in zip(asked, resolved, strict=True):
        assert members == [ResolvedMember(key=PEOPLE[address.lower()]) for address in addresses]
    assert len(_lookups(control)) < len(specs)


async def test_an_address_is_remembered_for_the_cache_time(emulator: Emulator, control: httpx.Client) -> None:
    clock = MonotonicClock(500.0)
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300, clock=clock)
        await directory.users_by_address(["sam@contoso.com"])
        clock.now += 299
        assert [
            user.id for user in (await directory.users_by_address(["SAM@contoso.com"]))["sam@contoso.com"]
        ] == [SAM.id]
        assert len(_lookups(control)) == 1, "a hit within CHATFN_DIRECTORY_CACHE_SECONDS"
        clock.now += 2
        await directory.users_by_address(["sam@contoso.com"])
    assert len(_lookups(control)) == 2, "looked up again once the cache time has passed"


async def test_a_miss_is_remembered_only_a_few_seconds(emulator: Emulator, control: httpx.Client) -> None:
    """A user added to the directory is found within MISS_SECONDS, however long hits are remembered."""
    clock = MonotonicClock(500.0)
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=3600, clock=clock)
        assert await directory.users_by_address([NOBODY]) == {NOBODY: []}
        control.post(
            "/users", json={"id": "6f0e2d1c-3b4a-4c5d-8e9f-a0b1c2d3e4f5", "userPrincipalName": NOBODY}
        ).raise_for_status()
        clock.now += MISS_SECONDS - 1
        assert await directory.users_by_address([NOBODY]) == {NOBODY: []}, "the miss is still remembered"
        assert len(_lookups(control)) == 1
        clock.now += 2
        found = await directory.users_by_address([NOBODY])
    assert [user.id for user in found[NOBODY]] == ["6f0e2d1c-3b4a-4c5d-8e9f-a0b1c2d3e4f5"]
    assert len(_lookups(control)) == 2


async def test_no_cache_time_means_every_request_looks_up(emulator: Emulator, control: httpx.Client) -> None:
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=0)
        for _ in range(3):
            await directory.users_by_address(["sam@contoso.com"])
    assert len(_lookups(control)) == 3


def _paused(graph: GraphClient, seconds: float) -> None:
    """The directory's budget paused, as a 429 with this Retry-After would leave it."""
    graph.budget.throttled("directory", retry_after=seconds, sent_at=graph.budget.clock())


@pytest.mark.parametrize("impatient_first", [True, False])
async def test_a_shared_lookup_holds_each_caller_only_for_its_own_wait(
    emulator: Emulator, control: httpx.Client, impatient_first: bool
) -> None:
    """Two requests need the same address in the same turn, one with 0.2 s left, one without a deadline,
    while the directory is paused for 1 s: the impatient one gets BudgetSpent at once, the other its
    answer after the pause, whichever asked first."""
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        _paused(graph, 1.0)

        async def impatient() -> dict[str, Any]:
            with deadline_in(0.2):
                return await directory.users_by_address(["sam@contoso.com"])

        patient = directory.users_by_address(["sam@contoso.com"])
        calls = [impatient(), patient] if impatient_first else [patient, impatient()]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    spent, answered = outcomes if impatient_first else outcomes[::-1]
    assert isinstance(spent, BudgetSpent)
    assert isinstance(answered, dict)
    assert [user.id for user in answered["sam@contoso.com"]] == [SAM.id]
    assert len(_lookups(control)) == 1


async def test_a_caller_with_no_wait_left_still_gets_what_the_budget_can_serve_now(
    emulator: Emulator, control: httpx.Client
) -> None:
    """`Prefer: respond-async` leaves a request no wait, yet its chat is made on the direct path when the
    budget can serve it at once: the deadline bounds the wait for the budget, not Graph's time to answer."""
    control.post("/faults", json={"path": "/v1.0/users", "delay": 0.3, "count": 1}).raise_for_status()
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        with deadline_in(0.0):
            answer = await directory.users_by_address(["sam@contoso.com"])
    assert [user.id for user in answer["sam@contoso.com"]] == [SAM.id]


async def test_the_lookup_a_caller_gave_up_on_goes_on_and_is_remembered(
    emulator: Emulator, control: httpx.Client
) -> None:
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        _paused(graph, 0.5)
        with deadline_in(0.1), pytest.raises(BudgetSpent) as spent:
            await directory.users_by_address(["sam@contoso.com"])
        assert spent.value.retry_in == pytest.approx(0.5, abs=0.2)
        await directory.users_by_address(["sam@contoso.com"])  # joins the lookup still under way
        with deadline_in(0.0):
            answer = await directory.users_by_address(["sam@contoso.com"])
    assert [user.id for user in answer["sam@contoso.com"]] == [SAM.id]
    assert len(_lookups(control)) == 1


async def test_a_429_that_comes_while_a_caller_waits_holds_it_no_longer_than_its_wait(
    emulator: Emulator, control: httpx.Client
) -> None:
    """The budget could serve the lookup when the caller joined, but Graph answers it 429 with a
    Retry-After longer than the caller's wait: the caller gets BudgetSpent when its wait is up (its
    202), not the answer after the pause; a patient caller gets that answer, from the one lookup."""
    control.post(
        "/faults", json={"method": "GET", "path": "/v1.0/users", "status": 429, "retryAfter": 1.5, "count": 1}
    ).raise_for_status()
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)

        async def impatient() -> float:
            started = asyncio.get_running_loop().time()
            with deadline_in(0.3), pytest.raises(BudgetSpent) as spent:
                await directory.users_by_address(["sam@contoso.com"])
            assert spent.value.retry_in > 0
            return asyncio.get_running_loop().time() - started

        held, answer = await asyncio.gather(impatient(), directory.users_by_address(["sam@contoso.com"]))
    assert held < 1.0, "held until the Retry-After was over"
    assert [user.id for user in answer["sam@contoso.com"]] == [SAM.id]
    assert len(_lookups(control)) == 2, "the 429, then the lookup after its pause"


async def test_a_cancelled_request_cancels_no_one_elses_answer(
    emulator: Emulator, control: httpx.Client
) -> None:
    async with graph_for(emulator) as graph:
        directory = Directory(graph, cache_seconds=300)
        _paused(graph, 0.3)
        leaving = asyncio.ensure_future(directory.users_by_address(["sam@contoso.com"]))
        staying = asyncio.ensure_future(directory.users_by_address(["sam@contoso.com"]))
        for _ in range(3):  # both are waiting on the one lookup, which waits out the pause
            await asyncio.sleep(0)
        leaving.cancel()
        answer = await staying
    assert leaving.cancelled()
    assert [user.id for user in answer["sam@contoso.com"]] == [SAM.id]
