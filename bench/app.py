"""The whole app on the local host, measured: what a request costs, and what it survives.

A benchmark a person runs (`make bench-app`), not a test: it prints what it measured, on this machine,
against the Graph emulator and Azurite on 127.0.0.1.

1. Latency: the median 201 through the app, over the median of the same chat made by chatfn's Graph
   client alone (POST /chats and the read of the chat); and Graph's 202 path, with and without
   `--queue-latency 0.2` (the Azure Storage provider's queue hops).
2. Cost per 201: Graph calls and storage operations, without and with an Idempotency-Key.
3. Load: throughput and p50/p95 for 200 requests at concurrency 20, beside the Graph client alone.
4. Graph fails after acting: 100 group chats while 30% of POST /chats make the chat and then answer 504
   or drop the connection; the chats that exist, the answers, and the extra Graph calls per request.
5. Throttling: a burst of 200 requests of 10 members given by email under the emulator's 30 rps per-app
   throttle; the success share and the Graph calls per chat.

    python -m bench.app [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from azure.data.tables.aio import TableClient
from azure.identity.aio import ManagedIdentityCredential

from chatfn.devhost import HostHandle, start_in_thread
from chatfn.emulator import Emulator
from chatfn.graph.client import GraphClient
from chatfn.graph.models import CreatedChat
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services
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
FAST = {"CHATFN_POLL_INTERVAL_SECONDS": "0.2", "CHATFN_SYNC_WAIT_SECONDS": "20"}


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
    return GraphClient(base_url=emulator_of(host).graph_url, credential=credential, http=http)


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


async def fails_after_acting(host: HostHandle, count: int) -> None:
    reset(host)
    async with httpx.AsyncClient(base_url=f"{host.url}/api", timeout=60) as api:
        await concurrently(count, 10, lambda i: post(api, group(f"baseline {i}")))
        baseline = graph_calls(host) / count
        reset(host)
        with control(host) as client:
            client.post(
                "/faults",
                json=[
                    {
                        "method": "POST",
                        "path": "/v1.0/chats",
                        "status": 504,
                        "after": True,
                        "probability": 0.15,
                    },
                    {
                        "method": "POST",
                        "path": "/v1.0/chats",
                        "drop": True,
                        "after": True,
                        "probability": 0.15 / 0.85,
                    },
                ],
            ).raise_for_status()
        answers: list[httpx.Response] = []

        async def one(i: int) -> None:
            answers.append(await post(api, group(f"Incident {i}")))

        await concurrently(count, 10, one)
    with control(host) as client:
        chats = client.get("/chats").json()
        failed = sum(
            r["path"] == "/v1.0/chats" and r["method"] == "POST" and r["status"] != 201
            for r in client.get("/requests").json()
        )
    print(
        f"  {count} group requests, {failed} POSTs failed after acting: {len(chats)} chats exist, answers "
        f"{dict(Counter(a.status_code for a in answers))}, {graph_calls(host) / count - baseline:.2f} extra "
        f"Graph calls per request ({baseline:.1f} without faults)"
    )


async def throttled(host: HostHandle, count: int) -> None:
    reset(host)
    users = [
        {
            "id": str(uuid.uuid4()),
            "userPrincipalName": f"t{i}.k@contoso.onmicrosoft.com",
            "mail": f"throttle{i}@contoso.com",
        }
        for i in range(10)
    ]
    with control(host) as client:
        client.post("/users", json=users).raise_for_status()
        client.post("/throttle", json={"rps": 30, "burst": 30}).raise_for_status()
    body = {"topic": "Throttled", "emails": [user["mail"] for user in users]}
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(
        base_url=f"{host.url}/api", timeout=120, limits=httpx.Limits(max_connections=200)
    ) as api:

        async def one(i: int) -> None:
            statuses[(await post(api, body | {"topic": f"Throttled {i}"})).status_code] += 1

        seconds, _ = await concurrently(count, count, one)
    with control(host) as client:
        chats = len(client.get("/chats").json())
        calls = sum(r["path"].startswith("/v1.0/") for r in client.get("/requests").json())
        throttled_calls = sum(r["status"] == 429 for r in client.get("/requests").json())
    print(
        f"  burst of {count} requests (10 members by email) at 30 rps: {chats} chats in {seconds:.1f} s "
        f"({statuses[201] / count:.0%} answered 201), answers {dict(statuses)}, "
        f"{calls / max(chats, 1):.1f} Graph calls per chat, {throttled_calls} of them answered 429"
    )


async def main(quick: bool) -> None:
    rounds = 10 if quick else 30
    print("chatfn on the local host, against the Graph emulator and Azurite on 127.0.0.1")
    with running_host() as (host, counter):
        print("Latency and cost of Graph's 201 (answered by the HTTP trigger, no orchestration):")
        await latency_and_cost(host, counter, rounds)
        await accepted_path(host, max(rounds // 3, 3), "(queue latency 0)")
        print("Load:")
        await load(host, 50 if quick else 200, 20)
        print("Graph fails after acting (no idempotency key):")
        await fails_after_acting(host, 30 if quick else 100)
        print("Throttled by Graph:")
        await throttled(host, 50 if quick else 200)
    with running_host(queue_latency=0.2) as (host, _):
        await accepted_path(host, max(rounds // 3, 3), "(queue latency 0.2 s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a first look")
    asyncio.run(main(parser.parse_args().quick))
