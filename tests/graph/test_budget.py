"""The worker's Graph budget: the adaptive limiter on an injected clock, and the budget as the Graph
client uses it against the emulator's buckets over HTTP (its `/_emulator/throttle`)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.identity.aio import ManagedIdentityCredential

from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS
from chatfn.errors import BudgetSpent, GraphThrottled
from chatfn.graph.budget import (
    DECREASE,
    DOCUMENTED_LIMITS,
    MIN_RATE,
    Budget,
    Kind,
    Limiter,
    Rate,
    deadline_in,
    seconds_left,
)
from chatfn.graph.client import GraphClient
from chatfn.graph.models import CreatedChat
from chatfn.graph.retry import MAX_RETRY_AFTER_SECONDS
from chatfn.services import graph_limits
from chatfn.settings import Settings, SettingsError
from tests.clocks import MonotonicClock
from tests.emulator.conftest import group
from tests.graphs import FAST_RETRY

WRITE = Rate(30, 10)


# --- the limiter, on an injected clock --------------------------------------------------------------


def test_callers_queue_at_the_rate_once_the_burst_is_spent() -> None:
    limiter = Limiter(WRITE, MonotonicClock())
    waits = [limiter.reserve(1, deadline=None) for _ in range(13)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([1 / 30, 2 / 30, 3 / 30])


def test_a_429_lowers_the_rate_and_successes_climb_it_back() -> None:
    clock = MonotonicClock()
    limiter = Limiter(WRITE, clock)
    limiter.throttled(retry_after=None, sent_at=clock.now)
    assert limiter.rate == pytest.approx(30 * DECREASE) == pytest.approx(21)
    clock.now += 1
    limiter.succeeded()
    assert limiter.rate == pytest.approx(22.5), "5% of the configured rate per second of successes"
    clock.now += 2
    limiter.succeeded()
    assert limiter.rate == pytest.approx(25.5)
    clock.now += 60
    limiter.succeeded()
    assert limiter.rate == 30, "never above the configured rate"


def test_the_rate_climbs_only_on_success() -> None:
    clock = MonotonicClock()
    limiter = Limiter(WRITE, clock)
    limiter.throttled(retry_after=None, sent_at=clock.now)
    clock.now += 10
    assert limiter.rate == pytest.approx(21)
    limiter.throttled(retry_after=None, sent_at=clock.now)
    assert limiter.rate == pytest.approx(21 * DECREASE), "ten quiet seconds gave nothing back"


def test_429s_to_calls_already_on_their_way_lower_the_rate_once() -> None:
    """Calls sent before the rate was lowered could not have known: their 429s tell of the same congestion."""
    clock = MonotonicClock()
    limiter = Limiter(WRITE, clock)
    sent = clock.now
    clock.now += 0.1
    for _ in range(5):
        limiter.throttled(retry_after=0.05, sent_at=sent)
    assert limiter.rate == pytest.approx(21)
    clock.now += 0.1
    limiter.throttled(retry_after=0.05, sent_at=clock.now - 0.01)
    assert limiter.rate == pytest.approx(21 * DECREASE), "a call sent at the lowered rate lowers it again"


def test_the_rate_never_falls_below_its_floor() -> None:
    clock = MonotonicClock()
    limiter = Limiter(WRITE, clock)
    for _ in range(50):
        clock.now += 1
        limiter.throttled(retry_after=None, sent_at=clock.now)
    assert limiter.rate == MIN_RATE


def test_a_retry_after_pauses_the_kind_and_the_bucket_starts_empty_after_it() -> None:
    """No token flows back while paused: after a pause callers go at the lowered rate, not in a burst
    that Graph's own bucket (which the Retry-After just emptied) would refuse."""
    clock = MonotonicClock()
    limiter = Limiter(WRITE, clock)
    limiter.throttled(retry_after=2.0, sent_at=clock.now)
    waits = [limiter.reserve(1, deadline=None) for _ in range(3)]
    assert waits == pytest.approx([2 + 1 / 21, 2 + 2 / 21, 2 + 3 / 21])
    clock.now += 1.5
    assert limiter.reserve(1, deadline=None) == pytest.approx(0.5 + 4 / 21)
    assert limiter.ready_in(1) == pytest.approx(0.5 + 5 / 21), "ready_in takes nothing"
    assert limiter.ready_in(1) == pytest.approx(0.5 + 5 / 21)


def test_a_deadline_refuses_the_call_and_takes_nothing() -> None:
    clock = MonotonicClock()
    limiter = Limiter(Rate(1, 1), clock)
    assert limiter.reserve(1, deadline=None) == 0
    with pytest.raises(BudgetSpent) as refused:
        limiter.reserve(1, deadline=clock.now + 0.5)
    assert refused.value.retry_in == pytest.approx(1.0)
    assert limiter.reserve(1, deadline=clock.now + 1.0) == pytest.approx(1.0), "the refusal took no place"


def test_a_call_within_the_burst_goes_even_at_its_deadline() -> None:
    clock = MonotonicClock()
    assert Limiter(WRITE, clock).reserve(1, deadline=clock.now) == 0


# --- the budget: callers in line ---------------------------------------------------------------------


class FakeTime(MonotonicClock):
    """A clock and a sleep for several tasks: a sleeper wakes once the test has moved time past its end."""

    def __init__(self) -> None:
        super().__init__()
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for wake, woken in [(w, f) for w, f in self._sleepers if w <= self.now]:
            self._sleepers.remove((wake, woken))
            woken.set_result(None)
        for _ in range(10):  # let every woken task run on
            await asyncio.sleep(0)


@pytest.mark.anyio
async def test_a_caller_in_line_when_a_429_comes_waits_out_the_pause() -> None:
    """A caller that reserved its place before the 429 does not go inside the pause (nor at the old rate)."""
    time = FakeTime()
    budget = Budget({"chats.write": Rate(2, 1)}, clock=time, sleep=time.sleep)
    await budget.acquire("chats.write")
    sent_at = time.now
    released: list[float] = []

    async def queued() -> None:
        await budget.acquire("chats.write")
        released.append(time.now)

    waiting = [asyncio.create_task(queued()) for _ in range(2)]
    await time.advance(0.01)
    budget.throttled("chats.write", retry_after=3.0, sent_at=sent_at)  # for the call that went first
    for _ in range(60):
        await time.advance(0.1)
    await asyncio.gather(*waiting)
    assert min(released) >= sent_at + 0.01 + 3.0, "nobody goes while the kind is paused"
    pause_end = sent_at + 0.01 + 3.0
    assert sorted(released) == pytest.approx([pause_end + 1 / 1.4, pause_end + 2 / 1.4], abs=0.11), (
        "after the pause, at the lowered rate (1.4 a second)"
    )


@pytest.mark.anyio
async def test_a_429_of_one_kind_leaves_the_others_alone() -> None:
    time = FakeTime()
    budget = Budget({"chats.write": WRITE, "directory": Rate(350, 100)}, clock=time, sleep=time.sleep)
    budget.throttled("chats.write", retry_after=30.0, sent_at=time.now)
    assert await budget.acquire("directory") == 0
    assert budget.limiters["directory"].rate == 350


# --- the budget in the Graph client, against the emulator's buckets ----------------------------------


class Sleeps:
    """A sleep that only records: a caller that would be held shows up here instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class WatchedBudget(Budget):
    """The budget, telling the test when a 429 has come back."""

    def __init__(self, limits: dict[Kind, Rate]) -> None:
        super().__init__(limits)
        self.a_429_came = asyncio.Event()
        self.retry_afters: list[float | None] = []

    def throttled(self, kind: Kind, retry_after: float | None, sent_at: float | None = None) -> None:
        super().throttled(kind, retry_after, sent_at)
        self.retry_afters.append(retry_after)
        self.a_429_came.set()


@asynccontextmanager
async def graph_with(
    emulator: Emulator,
    budget: Budget | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[GraphClient]:
    """A Graph client on the emulator with this budget (else the documented limits, as a worker has)."""
    async with ManagedIdentityCredential() as credential, httpx.AsyncClient(timeout=30) as http:
        yield GraphClient(
            base_url=emulator.graph_url,
            credential=credential,
            http=http,
            retry=FAST_RETRY,
            budget=budget or Budget(DOCUMENTED_LIMITS),
            sleep=sleep,
        )


def _calls(control: httpx.Client, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in control.get("/requests").json() if r["method"] == method and r["path"] == path]


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))


def _chat(topic: str) -> dict[str, Any]:
    return group(*(m.id for m in NUMBERED_MEMBERS[:3]), topic=topic)


http_tests = pytest.mark.usefixtures("managed_identity_env")


@pytest.mark.anyio
@http_tests
async def test_a_burst_of_creates_stays_under_the_documented_limit(
    emulator: Emulator, control: httpx.Client
) -> None:
    """60 group chats at once through one client, under Graph's documented buckets: all made, none
    refused (without the budget, Graph's bucket of 30 refuses about half of them)."""
    control.post("/throttle", json={"documented": True}).raise_for_status()
    async with graph_with(emulator) as graph:
        created = await asyncio.gather(*(graph.create_chat(_chat(f"Burst {i}")) for i in range(60)))
    assert len({chat.id for chat in created if isinstance(chat, CreatedChat)}) == 60
    assert [post["status"] for post in _calls(control, "POST", "/v1.0/chats")] == [201] * 60


@pytest.mark.anyio
@http_tests
async def test_one_retry_after_pauses_every_call_of_its_kind_and_no_other(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Graph's bucket for Teams writes holds one call and refills two a second, charging a refused call
    too; the worker's budget is faster. The first of three creates takes the bucket's token, the second
    meets the empty bucket (a 429 whose Retry-After says when the next token comes), and the third, in
    line behind it, waits that pause out too rather than meeting the empty bucket as well; a user lookup
    made during the pause goes at once (another bucket)."""
    teams_writes = {"buckets": {"chats.write": {"rps": 2, "burst": 1}}}
    control.post("/throttle", json=teams_writes).raise_for_status()
    budget = WatchedBudget({**DOCUMENTED_LIMITS, "chats.write": Rate(10, 1)})
    async with graph_with(emulator, budget) as graph:
        creates = asyncio.gather(*(graph.create_chat(_chat(f"Paused {i}")) for i in range(3)))
        await budget.a_429_came.wait()
        await graph.find_users([NUMBERED_MEMBERS[0].mail or ""])
        await creates
    made, throttled, *later = _calls(control, "POST", "/v1.0/chats")
    assert (made["status"], throttled["status"]) == (201, 429)
    first_pause = budget.retry_afters[0]
    assert first_pause is not None
    pause_end = _at(throttled) + timedelta(seconds=first_pause)
    assert [post["status"] for post in later].count(201) == 2, "each create made once the bucket allows"
    assert all(_at(post) >= pause_end for post in later), "no create went inside the pause"
    (lookup,) = _calls(control, "GET", "/v1.0/users")
    assert _at(lookup) < pause_end, "the directory is not paused by a Teams 429"


@pytest.mark.anyio
@http_tests
async def test_a_caller_is_never_held_past_its_wait(emulator: Emulator, control: httpx.Client) -> None:
    """`deadline_in`: when the budget could serve the call only after the caller's wait, BudgetSpent says
    when it could, at once, and nothing is sent; a call of another kind still goes."""
    sleeps = Sleeps()
    budget = Budget(DOCUMENTED_LIMITS, sleep=sleeps)
    budget.throttled("chats.write", retry_after=30.0, sent_at=budget.clock())
    async with graph_with(emulator, budget, sleeps) as graph:
        with deadline_in(5.0):
            with pytest.raises(BudgetSpent) as spent:
                await graph.create_chat(_chat("Too late"))
            assert await graph.find_users([NUMBERED_MEMBERS[0].mail or ""])
    assert spent.value.retry_in == pytest.approx(30 + 1 / 21, abs=0.5)
    assert sleeps.seconds == []
    assert _calls(control, "POST", "/v1.0/chats") == []


@pytest.mark.anyio
@http_tests
async def test_a_retry_after_past_the_callers_wait_is_raised_not_waited_for(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post(
        "/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 5, "count": 1}
    ).raise_for_status()
    sleeps = Sleeps()
    async with graph_with(emulator, Budget(DOCUMENTED_LIMITS, sleep=sleeps), sleeps) as graph:
        with deadline_in(1.0), pytest.raises(GraphThrottled) as throttled:
            await graph.create_chat(_chat("Throttled"))
    assert throttled.value.retry_after == 5
    assert sleeps.seconds == []
    assert len(_calls(control, "POST", "/v1.0/chats")) == 1


@pytest.mark.anyio
@http_tests
@pytest.mark.parametrize(
    ("header", "pause"),
    [("2.128", 2.128), ("100000", MAX_RETRY_AFTER_SECONDS), ("inf", MAX_RETRY_AFTER_SECONDS), ("-5", 0.0)],
)
async def test_graphs_retry_after_pauses_the_budget_clamped_to_300_seconds(
    emulator: Emulator, control: httpx.Client, header: str, pause: float
) -> None:
    control.post(
        "/faults",
        json={"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": header, "count": 1},
    ).raise_for_status()
    budget = Budget(DOCUMENTED_LIMITS)
    limiter = budget.limiters["chats.write"]
    async with graph_with(emulator, budget) as graph:
        before = budget.clock()
        with deadline_in(1.0), contextlib.suppress(GraphThrottled):
            await graph.create_chat(_chat("Clamped"))
        after = budget.clock()
    assert before + pause <= limiter.paused_until <= after + pause
    statuses = [post["status"] for post in _calls(control, "POST", "/v1.0/chats")]
    assert statuses == ([429, 201] if pause < 1 else [429])


# --- the settings that make the budget ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("CHATFN_GRAPH_WRITE_RPS", 0.5, 300.0),
        ("CHATFN_GRAPH_READ_RPS", 0.5, 1500.0),
        ("CHATFN_GRAPH_DIRECTORY_RPS", 0.5, 10_000.0),
        ("CHATFN_DIRECTORY_CACHE_SECONDS", 0.0, 86_400.0),
    ],
)
def test_a_budget_setting_out_of_range_is_refused_with_its_name(name: str, low: float, high: float) -> None:
    """function_app reads its settings at import, so the worker (and the local host) refuses to start."""
    for end in (low, high):
        Settings.from_env({name: repr(end)})
    for past in (repr(low - 0.001), repr(high + 0.001), "nan", "fast"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: past})


def test_the_default_budget_is_the_documented_limits() -> None:
    assert graph_limits(Settings()) == DOCUMENTED_LIMITS


def test_the_budget_settings_set_each_kinds_rate() -> None:
    settings = Settings.from_env(
        {"CHATFN_GRAPH_WRITE_RPS": "12", "CHATFN_GRAPH_READ_RPS": "45", "CHATFN_GRAPH_DIRECTORY_RPS": "90"}
    )
    limits: dict[Kind, Rate] = graph_limits(settings)
    assert {kind: rate.per_second for kind, rate in limits.items()} == {
        "chats.write": 12,
        "chats.read": 45,
        "directory": 90,
    }
    assert settings.directory_cache_seconds == 300


def test_no_deadline_outside_deadline_in() -> None:
    assert seconds_left() is None
    with deadline_in(-3):
        left = seconds_left()
        assert left is not None
        assert math.isclose(left, 0, abs_tol=0.1), "a wait already over counts as none left"
    assert seconds_left() is None
