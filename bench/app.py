"""The whole app on the local host, measured: what a request costs, and what it survives.

A benchmark a person runs (`make bench-app`), not a test: it prints what it measured, on this machine,
against the Graph emulator and Azurite on 127.0.0.1.

1. Latency: the median 201 through the app, over the median of the same chat made by chatfn's Graph
   client alone (POST /chats and the read of the chat); and Graph's 202 path, with and without
   `--queue-latency 0.2` (the Azure Storage provider's queue hops).
2. Cost per 201: Graph calls and storage operations, without and with an Idempotency-Key.
3. Load: throughput and p50/p95 for 200 requests at concurrency 20, beside the Graph client alone, with
   the Graph budget raised out of the way (300 writes, 1500 reads a second): the app's own cost.
4. Graph fails after acting: 100 group chats while 30% of POST /chats make the chat and then answer 504
   or drop the connection; then the same with Graph's lists lagging 10 s, and with one POST /chats also
   answered only after 45 s (past the client's 30 s read timeout). The chats that exist, duplicates
   (there must be none), the answers, and the extra Graph calls per request.
5. A burst under the limits Microsoft documents (the emulator's `{"documented": true}`): 200 and 1000
   requests of 10 members given by email, drawn from 200 people, at concurrency 20 and 60, on one local
   host and on two sharing one emulator (two workers under one tenant's limit). Requests that ended with
   their chat, 503s, Graph calls per chat, the share of calls answered 429, duplicates, and the time to
   the last chat beside the limit's ideal pace (requests / 30 a second). Then the first size again with
   an Idempotency-Key on every request, and every tenth request sent twice at once with its key (a
   caller that retries): still one chat per request, and both answers name the same chat.
6. Telemetry's cost per request: the same group chats through a host with `CHATFN_TELEMETRY=off` and
   one with `azure-monitor`, in turn; each one's median latency and CPU time per request.

    python -m bench.app [--quick] [--telemetry-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import IO, Any

import httpx
from azure.data.tables.aio import TableClient
from azure.identity.aio import ManagedIdentityCredential

from bench.cold_import import LOCAL_AZURE_MONITOR
from chatfn.devhost import HostHandle, start_in_thread
from chatfn.devhost.azurite import Azurite
from chatfn.emulator import Emulator
from chatfn.emulator.server import DEFAULT_IDENTITY_HEADER
from chatfn.graph.budget import Budget
from chatfn.graph.client import GraphClient
from chatfn.graph.models import CreatedChat
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services, graph_limits
from chatfn.settings import get_settings

ALEX, JACOB, LYNNE = (
    "82fe7758-5bb3-4f0d-a43f-e555fd399c6f",
    "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca",
    "3626a173-f2bc-4883-bcf7-01514c3bfb82",
)
ONE_ON_ONE = {"members": [{"userId": ALEX}, {"userId": JACOB}]}
APP = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
WITH_APP = {"members": [{"userId": ALEX}, {"userId": JACOB}], "apps": [{"teamsAppId": APP}]}
STORAGE_SETTING = "AzureWebJobsStorage"  # as the Functions host names it, set by the local host
# Sections 1 to 4 measure the app, against an emulator that throttles nothing: the Graph budget is
# raised to the most its settings allow, or the load would measure Graph's documented 30 a second.
FAST = {
    "CHATFN_POLL_INTERVAL_SECONDS": "0.2",
    "CHATFN_SYNC_WAIT_SECONDS": "20",
    "CHATFN_GRAPH_WRITE_RPS": "300",
    "CHATFN_GRAPH_READ_RPS": "1500",
}
ROOT = Path(__file__).resolve().parents[1]


def group(topic: str) -> dict[str, Any]:
    return {"topic": topic, "members": [{"userId": ALEX}, {"userId": JACOB}, {"userId": LYNNE}]}


def graph_body(topic: str) -> dict[str, Any]:
    member = "#microsoft.graph.aadUserConversationMember"
    return {
        "chatType": "group",
        "topic": topic,
        "members": [
            {
                "@odata.type": member,
                "roles": ["owner"],
                "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{u}')",
            }
            for u in (ALEX, JACOB, LYNNE)
        ],
    }


@dataclass
class StorageCounter:
    """Counts every request the idempotency store's table client sends."""

    calls: int = 0

    def __call__(self, _response: Any) -> None:
        self.calls += 1


@contextmanager
def running_host(queue_latency: float = 0.0) -> Iterator[tuple[HostHandle, StorageCounter]]:
    """The app on an in-process local host, with its emulator and Azurite, and a storage counter: the
    app's worker services are rebuilt once the host has set the environment, with a counting store."""
    saved = dict(os.environ)
    os.environ.update(FAST)
    for name in (
        "GRAPH_BASE_URL",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_CLIENT_ID",
        "AzureWebJobsStorage",
    ):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    host = start_in_thread(settings=Path("no-local-settings.json"), queue_latency=queue_latency)
    import function_app  # imported by the host, with the environment it set

    counter = StorageCounter()
    settings = get_settings()
    table = TableClient.from_connection_string(
        os.environ[STORAGE_SETTING], table_name=settings.idempotency_table, raw_response_hook=counter
    )
    store = IdempotencyStore(table, timedelta(hours=settings.idempotency_ttl_hours))
    function_app.services = Services(settings, store=store)
    logging.getLogger().setLevel(logging.ERROR)  # the figures, not the app's log lines
    try:
        yield host, counter
    finally:
        host.run(function_app.services.aclose())  # their connections live on the host's loop
        host.stop()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def emulator_of(host: HostHandle) -> Emulator:
    if host.emulator is None:
        raise RuntimeError("the benchmark needs the host's own Graph emulator")
    return host.emulator


def control(host: HostHandle) -> httpx.Client:
    return httpx.Client(base_url=f"{emulator_of(host).url}/_emulator", timeout=30)


def graph_calls(host: HostHandle) -> int:
    with control(host) as client:
        return sum(r["path"].startswith("/v1.0/") for r in client.get("/requests").json())


def reset(host: HostHandle) -> None:
    with control(host) as client:
        client.post("/reset").raise_for_status()


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def post(
    api: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    answer = await api.post("/chats", json=body, headers=headers or {})
    while answer.status_code == 202:
        await asyncio.sleep(0.05)
        answer = await api.get(answer.headers["Location"])
    return answer


async def concurrently(
    count: int, concurrency: int, call: Callable[[int], Awaitable[Any]]
) -> tuple[float, list[float]]:
    """Seconds for `count` calls, `concurrency` at a time, and each call's latency."""
    indexes = iter(range(count))
    latencies: list[float] = []

    async def worker() -> None:
        for i in indexes:
            latencies.append(await timed(lambda i=i: call(i)))  # type: ignore[misc]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def p(latencies: list[float], q: float) -> float:
    return (
        statistics.quantiles(latencies, n=100)[int(q) - 1] * 1000
        if len(latencies) > 1
        else latencies[0] * 1000
    )


def graph_client_for(
    host: HostHandle, credential: ManagedIdentityCredential, http: httpx.AsyncClient
) -> GraphClient:
    """chatfn's Graph client alone, with the budget the app has (FAST)."""
    budget = Budget(graph_limits(get_settings()))
    return GraphClient(base_url=emulator_of(host).graph_url, credential=credential, http=http, budget=budget)


async def latency_and_cost(host: HostHandle, counter: StorageCounter, rounds: int) -> None:
    reset(host)
    async with (
        httpx.AsyncClient(base_url=f"{host.url}/api", timeout=60) as api,
        ManagedIdentityCredential() as cred,
        httpx.AsyncClient() as http,
    ):
        graph = graph_client_for(host, cred, http)

        async def by_client(topic: str) -> None:
            created = await graph.create_chat(graph_body(topic), replay_safe=False)
            if not isinstance(created, CreatedChat):
                raise RuntimeError(f"Graph answered {created} to a chat without an app")
            await graph.get_chat(created.id)

        await post(api, group("warm"))
        await by_client("warm")
        app_times, client_times = [], []
        for i in range(rounds):  # alternate, so drift on a shared machine hits both alike
            app_times.append(await timed(lambda i=i: post(api, group(f"app {i}"))))  # type: ignore[misc]
            client_times.append(await timed(lambda i=i: by_client(f"client {i}")))  # type: ignore[misc]
        app_ms, client_ms = statistics.median(app_times) * 1000, statistics.median(client_times) * 1000
        print(
            f"  group chat 201: app {app_ms:.1f} ms, Graph client alone {client_ms:.1f} ms, "
            f"ratio {app_ms / client_ms:.2f}"
        )

        for label, headers in (("without a key", None), ("with a key", True)):
            reset(host)
            before_storage = counter.calls
            for i in range(rounds):
                key_headers = {"Idempotency-Key": str(uuid.uuid4())} if headers else None
                answer = await post(api, group(f"cost {i}"), key_headers)
                if answer.status_code != 201:
                    raise RuntimeError(f"the app answered {answer.status_code}: {answer.text}")
            print(
                f"  per 201 {label}: {graph_calls(host) / rounds:.1f} Graph calls, "
                f"{(counter.calls - before_storage) / rounds:.1f} storage operations"
            )


async def accepted_path(host: HostHandle, rounds: int, label: str) -> None:
    reset(host)
    with control(host) as client:
        client.post("/operations", json={"polls": 1, "result": "succeeded"}).raise_for_status()
    async with httpx.AsyncClient(base_url=f"{host.url}/api", timeout=60) as api:
        await post(api, WITH_APP)
        times = [await timed(lambda: post(api, WITH_APP)) for _ in range(rounds)]
    print(
        f"  Graph's 202 path {label}: median {statistics.median(times) * 1000:.0f} ms "
        "(one poll of the operation)"
    )


async def load(host: HostHandle, count: int, concurrency: int) -> None:
    reset(host)
    async with httpx.AsyncClient(
        base_url=f"{host.url}/api", timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as api:
        seconds, latencies = await concurrently(count, concurrency, lambda i: post(api, group(f"load {i}")))
    print(
        f"  app: {count / seconds:.0f} requests/s, p50 {p(latencies, 50):.0f} ms, "
        f"p95 {p(latencies, 95):.0f} ms "
        f"({count} group chats, {concurrency} at a time)"
    )
    reset(host)
    async with ManagedIdentityCredential() as cred, httpx.AsyncClient() as http:
        graph = graph_client_for(host, cred, http)
        seconds, latencies = await concurrently(
            count, concurrency, lambda i: graph.create_chat(graph_body(f"client {i}"), replay_safe=False)
        )
    print(
        f"  Graph client alone: {count / seconds:.0f} chats/s, p50 {p(latencies, 50):.0f} ms, "
        f"p95 {p(latencies, 95):.0f} ms"
    )


# A POST /chats that Graph answers this late: past the client's 30 s read timeout, so its outcome is
# unknown, and the chat appears (in GET /chats/{id} at once, in the lists LIST_DELAY later) after it.
SLOW_POST_SECONDS = 45.0
LIST_DELAY_SECONDS = 10.0


async def fails_after_acting(host: HostHandle, count: int, lagging: bool = False, slow: bool = False) -> None:
    """`count` group chats (no idempotency key) while 30% of POST /chats make the chat and then answer
    504 or drop the connection; with `lagging`, Graph's lists show a new chat only 10 s later; with
    `slow`, one POST /chats is answered after 45 s."""
    reset(host)
    async with httpx.AsyncClient(base_url=f"{host.url}/api", timeout=120) as api:
        await concurrently(count, 10, lambda i: post(api, group(f"baseline {i}")))
        baseline = graph_calls(host) / count
        reset(host)
        rules: list[dict[str, Any]] = [
            {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "probability": 0.15},
            # 15% of what the first rule leaves, so 15% of all
            {
                "method": "POST",
                "path": "/v1.0/chats",
                "drop": True,
                "after": True,
                "probability": 0.15 / 0.85,
            },
        ]
        if slow:
            rules.insert(0, {"method": "POST", "path": "/v1.0/chats", "delay": SLOW_POST_SECONDS, "count": 1})
        with control(host) as client:
            client.post("/faults", json=rules).raise_for_status()
            if lagging:
                client.post("/consistency", json={"listDelaySeconds": LIST_DELAY_SECONDS}).raise_for_status()
        answers: list[httpx.Response] = []

        async def one(i: int) -> None:
            answers.append(await follow(api, await api.post("/chats", json=group(f"Incident {i}"))))

        seconds, _ = await concurrently(count, 10, one)
    with control(host) as client:
        topics = Counter(chat["topic"] for chat in client.get("/chats").json())
        failed = sum(
            r["path"] == "/v1.0/chats" and r["method"] == "POST" and r["status"] != 201
            for r in client.get("/requests").json()
        )
    conditions = ", ".join(
        [*(["lists lagging 10 s"] if lagging else []), *(["one POST answered in 45 s"] if slow else [])]
    )
    print(
        f"  {count} group requests{f' ({conditions})' if conditions else ''}, {failed} POSTs failed after "
        f"acting: {sum(topics.values())} chats exist, "
        f"{sum(n - 1 for n in topics.values())} duplicates, answers "
        f"{dict(Counter(a.status_code for a in answers))}, {graph_calls(host) / count - baseline:.2f} extra "
        f"Graph calls per request ({baseline:.1f} without faults), all answered in {seconds:.1f} s"
    )


# --- 5. A burst under Graph's documented limits, on one host and on two --------------------------------

# The tenant a burst draws on: POOL people, each request MEMBERS of them by email, so requests share
# people as they do in a real tenant (each person is in about one request in twenty). Every run has its
# own people (new addresses), so no host's directory cache carries over from an earlier run.
POOL = 200
MEMBERS = 10
# Graph's documented limit on POST /chats, per app per tenant ("Other API calls for Microsoft Teams",
# https://learn.microsoft.com/graph/throttling-limits): a burst's ideal pace is its size over this.
CHATS_PER_SECOND = 30.0
# The hosts run with the defaults, but for a quicker first poll of Graph's operation (none here).
BURST_SETTINGS = {"CHATFN_POLL_INTERVAL_SECONDS": "1"}
_HOST_URL = re.compile(r"chatfn local host: (http://127\.0\.0\.1:\d+)/api")
_EMULATOR_URL = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class BurstFigures:
    """What one burst came to, from the caller's answers and the emulator's log."""

    requests: int
    repeats: int  # requests sent a second time with the same Idempotency-Key, while the first was out
    repeats_answered_alike: int  # of those, answered with the same chat as the first
    with_chat: int  # ended with their chat: 201, or 202 and then 200 through Location
    handed_over: int  # answers that were 202 first (the budget could not serve them within the wait)
    answers_503: int
    other_answers: dict[int, int]
    chats: int
    duplicates: int  # chats beyond the first for one request (one topic each)
    graph_calls: int
    throttled_calls: int  # Graph calls answered 429
    lookups: int  # of the Graph calls, user lookups
    last_chat_seconds: float  # from the first request to the last POST /chats that made a chat
    last_answer_seconds: float

    @property
    def ideal_seconds(self) -> float:
        return self.requests / CHATS_PER_SECOND


@dataclass(frozen=True)
class Child:
    """A child process that has printed its URL."""

    url: str
    pid: int


@contextmanager
def process(args: list[str], env: dict[str, str], ready: re.Pattern[str]) -> Iterator[Child]:
    """A child process whose output goes to a file, once it has printed its URL (`ready`'s group)."""
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen(  # noqa: S603 - this interpreter, the project's own modules
            [sys.executable, *args], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while (found := ready.search(_read(output))) is None:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(args)} did not start:\n{_read(output)}")
                time.sleep(0.05)
            yield Child(found.group(1), child.pid)
        finally:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _read(output: IO[str]) -> str:
    output.seek(0)
    return output.read()


# Settings of the calling shell that would change a host's telemetry.
_TELEMETRY_SETTINGS = ("APPLICATIONINSIGHTS_", "PYTHON_APPLICATIONINSIGHTS_", "OTEL_")


def _environment() -> dict[str, str]:
    """This process's environment without any setting of the app's, Graph's, storage's or telemetry's."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(
            (
                "GRAPH_",
                "IDENTITY_",
                "CHATFN_",
                "MSI_",
                "AZURE_CLIENT_ID",
                STORAGE_SETTING,
                *_TELEMETRY_SETTINGS,
            )
        )
    }


@contextmanager
def graph_and_storage() -> Iterator[tuple[str, str]]:
    """One Graph emulator (a process of its own) and one Azurite, for every host of a setup, as the
    instances of an app in Azure share one tenant's Graph and one storage account: their URL and
    connection string."""
    azurite = Azurite.start()
    try:
        with process(["-m", "chatfn.emulator", "--port", "0"], _environment(), _EMULATOR_URL) as emulator:
            yield emulator.url, azurite.connection_string
    finally:
        azurite.stop()


def local_host(
    emulator: str, storage: str, settings: dict[str, str]
) -> contextlib.AbstractContextManager[Child]:
    """A local host (a process, one worker of the app) on this emulator and Azurite, with `settings`."""
    env = _environment() | settings
    env |= {
        "GRAPH_BASE_URL": f"{emulator}/v1.0",
        "IDENTITY_ENDPOINT": f"{emulator}/msi/token",
        "IDENTITY_HEADER": DEFAULT_IDENTITY_HEADER,
        STORAGE_SETTING: storage,
        "PYTHONUNBUFFERED": "1",
    }
    return process(["-m", "chatfn.devhost", "--port", "0", "--no-azurite", "--no-emulator"], env, _HOST_URL)


@contextmanager
def local_hosts(count: int, emulator: str, storage: str) -> Iterator[list[str]]:
    """`count` local hosts (each a process, one worker of the app) on one emulator and one Azurite."""
    with contextlib.ExitStack() as hosts:
        yield [hosts.enter_context(local_host(emulator, storage, BURST_SETTINGS)).url for _ in range(count)]


def people(run: str) -> list[dict[str, str]]:
    """The run's tenant: each person's mail differs from their sign-in name, as in real tenants."""
    return [
        {
            "id": str(uuid.uuid4()),
            "userPrincipalName": f"{run}.p{i}.k@contoso.onmicrosoft.com",
            "mail": f"{run}.person{i}@contoso.com",
        }
        for i in range(POOL)
    ]


async def follow(api: httpx.AsyncClient, answer: httpx.Response) -> httpx.Response:
    """Follow a 202's Location to the end, as Power Automate does (its Retry-After, at most 1 s)."""
    while answer.status_code == 202:
        await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))
        answer = await api.get(answer.headers["Location"])
    return answer


# With keys, every REPEAT_EVERY-th request is sent again right after itself, under the same key.
REPEAT_EVERY = 10


async def burst(
    hosts: list[str], emulator: str, run: str, count: int, concurrency: int, keyed: bool = False
) -> BurstFigures:
    """`count` requests of MEMBERS people by email, `concurrency` at a time, spread over the hosts in
    turn, under Graph's documented limits; `keyed`, each with an Idempotency-Key, and some sent twice."""
    pool = people(run)
    draw = random.Random(run)
    bodies = [
        {"topic": f"{run} {i}", "emails": [person["mail"] for person in draw.sample(pool, MEMBERS)]}
        for i in range(count)
    ]
    keys = [{"Idempotency-Key": f"{run}-{i}"} if keyed else {} for i in range(count)]
    # Which request each send is: a repeat goes right after its first, so both are out at once (on
    # another host, when there are two).
    sends = [i for i in range(count) for _ in range(2 if keyed and i % REPEAT_EVERY == 0 else 1)]
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=concurrency)) as api:
        for host in hosts:  # each worker's imports and first token, before anything is counted
            (await api.post(f"{host}/api/chats", json=ONE_ON_ONE)).raise_for_status()
        for setup, body in (("reset", None), ("users", pool), ("throttle", {"documented": True})):
            (await api.post(f"{emulator}/_emulator/{setup}", json=body)).raise_for_status()
        first: list[int] = []
        final: list[int] = []
        chat_ids: dict[int, list[str | None]] = {}
        began = datetime.now(UTC)

        async def one(n: int) -> None:
            i = sends[n]
            answer = await api.post(f"{hosts[n % len(hosts)]}/api/chats", json=bodies[i], headers=keys[i])
            first.append(answer.status_code)
            ended = await follow(api, answer)
            final.append(ended.status_code)
            chat_ids.setdefault(i, []).append(ended.json().get("chatId") if ended.is_success else None)

        seconds, _ = await concurrently(len(sends), concurrency, one)
        chats = (await api.get(f"{emulator}/_emulator/chats")).json()
        calls = [
            r
            for r in (await api.get(f"{emulator}/_emulator/requests")).json()
            if r["path"].startswith("/v1.0/")
        ]
    made = [
        datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        for r in calls
        if r["method"] == "POST" and r["path"] == "/v1.0/chats" and r["status"] == 201
    ]
    topics = Counter(chat["topic"] for chat in chats)
    answers = Counter(final)
    repeated = [ids for ids in chat_ids.values() if len(ids) > 1]
    return BurstFigures(
        requests=count,
        repeats=len(repeated),
        repeats_answered_alike=sum(ids[0] is not None and ids[0] == ids[1] for ids in repeated),
        with_chat=sum(any(ids) for ids in chat_ids.values()),
        handed_over=sum(status == 202 for status in first),
        answers_503=answers[503],
        other_answers={status: n for status, n in answers.items() if status not in (200, 201, 503)},
        chats=len(chats),
        duplicates=sum(n - 1 for n in topics.values()),
        graph_calls=len(calls),
        throttled_calls=sum(r["status"] == 429 for r in calls),
        lookups=sum(r["path"] == "/v1.0/users" for r in calls),
        last_chat_seconds=(max(made) - began).total_seconds() if made else float("nan"),
        last_answer_seconds=seconds,
    )


def report(setup: str, concurrency: int, figures: BurstFigures) -> None:
    f = figures
    others = f", other answers {f.other_answers}" if f.other_answers else ""
    repeats = (
        f" ({f.repeats} sent twice with their key, {f.repeats_answered_alike} of them answered with the "
        "same chat both times)"
        if f.repeats
        else ""
    )
    print(
        f"  {setup}, {f.requests} requests{repeats} at concurrency {concurrency}: {f.with_chat}/{f.requests} "
        f"ended with their chat ({f.handed_over} answers after a 202), {f.answers_503} answered 503{others}, "
        f"{f.duplicates} duplicate chats; {f.graph_calls / max(f.chats, 1):.2f} Graph calls per chat "
        f"({f.lookups / max(f.chats, 1):.2f} of them lookups), "
        f"{f.throttled_calls / max(f.graph_calls, 1):.1%} answered 429; last chat at "
        f"{f.last_chat_seconds:.1f} s (ideal pace {f.ideal_seconds:.1f} s), last answer at "
        f"{f.last_answer_seconds:.1f} s"
    )


async def bursts(host_counts: Sequence[int], sizes: Sequence[int], concurrencies: Sequence[int]) -> None:
    """Each setup and size on fresh hosts (cold budgets and caches, warm imports and tokens); then the
    first size, keyed, at the highest concurrency."""
    with graph_and_storage() as (emulator, storage):
        for hosts in host_counts:
            setup = "1 host" if hosts == 1 else f"{hosts} hosts"
            runs = [(size, concurrency, False) for size in sizes for concurrency in concurrencies]
            for size, concurrency, keyed in [*runs, (sizes[0], max(concurrencies), True)]:
                with local_hosts(hosts, emulator, storage) as urls:
                    run = f"b{hosts}x{size}x{concurrency}{'k' if keyed else ''}"
                    figures = await burst(urls, emulator, run, size, concurrency, keyed)
                    report(f"{setup}{', keyed' if keyed else ''}", concurrency, figures)


# --- 6. Telemetry's cost per request ---------------------------------------------------------------------

# The telemetry-on host: chatfn sets Azure Monitor's distribution up itself (as without the worker's
# PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY; the same SDK pipeline), exporting to a stand-in for
# Application Insights' ingestion on 127.0.0.1 that accepts everything. Spans and log records go out in
# batches every 5 s (OpenTelemetry's default, which the distribution keeps): CPU time is read this long
# after the last request, so that it includes their export; metrics go out every 60 s, mostly outside.
EXPORT_SETTLE_SECONDS = 6.0


class Ingestion(BaseHTTPRequestHandler):
    """Application Insights' ingestion, on 127.0.0.1: every item sent to the track endpoint accepted, and
    counted; Live Metrics' pings answered as when nobody watches them in the portal."""

    items = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.path.startswith("/v2.1/track"):  # a Live Metrics ping
            self.send_response(200)
            self.send_header("x-ms-qps-subscribed", "false")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = len(json.loads(body))
        type(self).items += items
        answer = json.dumps({"itemsReceived": items, "itemsAccepted": items, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def ingestion() -> Iterator[tuple[str, type[Ingestion]]]:
    """The stand-in for Application Insights: its connection string, and its handler (the count)."""

    class Counting(Ingestion):
        items = 0

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    key = "00000000-0000-0000-0000-000000000000"
    try:
        yield f"InstrumentationKey={key};IngestionEndpoint={url};LiveEndpoint={url}", Counting
    finally:
        server.shutdown()
        server.server_close()


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) a process has used so far; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def telemetry_overhead(rounds: int) -> None:
    """`rounds` group chats (by object id: a request span with two Graph calls' spans, their metrics and
    log lines) through each of three hosts on one emulator and Azurite, one request to each in turn, so
    that drift on a shared machine hits all alike: telemetry off; Azure Monitor as deployed, whose
    distribution keeps 5 traces a second by default (so at this pace most spans are not recorded); and
    Azure Monitor keeping every trace, as at fewer than 5 requests a second. Each host's median latency
    and CPU time per request (from /proc, where there is one), and what telemetry adds to them."""
    with graph_and_storage() as (emulator, storage), ingestion() as (connection, counted):
        azure_monitor = {
            "CHATFN_TELEMETRY": "azure-monitor",
            **LOCAL_AZURE_MONITOR,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": connection,
        }
        modes = {
            "off": {"CHATFN_TELEMETRY": "off"},
            "azure-monitor, 5 traces/s (default)": azure_monitor,
            "azure-monitor, every trace": azure_monitor | {"OTEL_TRACES_SAMPLER": "always_on"},
        }
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as spool:
            hosts = {
                mode: stack.enter_context(local_host(emulator, storage, FAST | settings | {"TMPDIR": spool}))
                for mode, settings in modes.items()
            }
            async with httpx.AsyncClient(timeout=60) as api:

                async def chat(host: Child, topic: str) -> None:
                    answer = await api.post(f"{host.url}/api/chats", json=group(topic))
                    if answer.status_code != 201:
                        raise RuntimeError(f"the app answered {answer.status_code}: {answer.text}")

                for mode, host in hosts.items():  # imports, the first token, the first connections
                    for i in range(5):
                        await chat(host, f"warm {mode} {i}")
                await asyncio.sleep(EXPORT_SETTLE_SECONDS)  # the warm-up's telemetry goes out first
                before = {mode: cpu_seconds(host.pid) for mode, host in hosts.items()}
                items_before = counted.items
                times: dict[str, list[float]] = {mode: [] for mode in hosts}
                for i in range(rounds):
                    for mode, host in hosts.items():
                        times[mode].append(await timed(lambda: chat(host, f"{mode} {i}")))  # noqa: B023 - awaited at once
                await asyncio.sleep(EXPORT_SETTLE_SECONDS)
                after = {mode: cpu_seconds(host.pid) for mode, host in hosts.items()}
    medians = {mode: statistics.median(seconds) * 1000 for mode, seconds in times.items()}
    cpu: dict[str, float] = {}
    for mode in hosts:
        spent_before, spent_after = before[mode], after[mode]
        if spent_before is not None and spent_after is not None:
            cpu[mode] = (spent_after - spent_before) / rounds * 1000
    print(f"  {rounds} group chats through each host, one request at a time, in turn:")
    for mode in hosts:
        figures = f"median {medians[mode]:5.1f} ms"
        if mode in cpu:
            figures += f", CPU {cpu[mode]:5.2f} ms per request"
        if mode != "off":
            figures += f" (+{medians[mode] - medians['off']:.1f} ms"
            figures += f", +{cpu[mode] - cpu['off']:.2f} ms CPU)" if mode in cpu and "off" in cpu else ")"
        print(f"    telemetry {mode:<36} {figures}")
    print(
        f"  {(counted.items - items_before) / rounds:.1f} items exported per request by the two "
        "azure-monitor hosts together (spans, log records, metrics)"
    )


async def main(quick: bool, telemetry_only: bool) -> None:
    rounds = 10 if quick else 30
    print("chatfn on the local host, against the Graph emulator and Azurite on 127.0.0.1")
    if telemetry_only:
        print("Telemetry's cost per request (CHATFN_TELEMETRY off, and azure-monitor to a local ingestion):")
        await telemetry_overhead(rounds * 3)
        return
    print("chatfn on the local host, against the Graph emulator and Azurite on 127.0.0.1")
    with running_host() as (host, counter):
        print("Latency and cost of Graph's 201 (answered by the HTTP trigger, no orchestration):")
        await latency_and_cost(host, counter, rounds)
        await accepted_path(host, max(rounds // 3, 3), "(queue latency 0)")
        print("Load:")
        await load(host, 50 if quick else 200, 20)
        print("Graph fails after acting (no idempotency key):")
        after_acting = 30 if quick else 100
        await fails_after_acting(host, after_acting)
        await fails_after_acting(host, after_acting, lagging=True)
        await fails_after_acting(host, after_acting, lagging=True, slow=True)
    with running_host(queue_latency=0.2) as (host, _):
        await accepted_path(host, max(rounds // 3, 3), "(queue latency 0.2 s)")
    print(
        f'A burst under Graph\'s documented limits ({{"documented": true}}): {MEMBERS} members by email '
        f"from {POOL} people, requests spread over the hosts, each host one worker:"
    )
    await bursts((1, 2), (100,) if quick else (200, 1000), (20, 60))
    print("Telemetry's cost per request (CHATFN_TELEMETRY off, and azure-monitor to a local ingestion):")
    await telemetry_overhead(rounds * 3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a first look")
    parser.add_argument("--telemetry-only", action="store_true", help="only section 6, telemetry's cost")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.telemetry_only))
