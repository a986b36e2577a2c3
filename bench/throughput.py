"""Chat creations per second through chatfn's Graph client, against raw httpx, on one emulator.

A benchmark a person runs (`make bench`), not a test: it prints what it measured. Both sides send the
same bodies to the same emulator with the same concurrency; the ratio is chatfn's overhead (token
lookup, client-request-id, retry bookkeeping, answer parsing). The emulator's counters show that one
token served every call and how many TCP connections the pooled client opened.

    python -m bench.throughput [--chats 300] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from azure.identity.aio import ManagedIdentityCredential

from chatfn.emulator import Emulator
from chatfn.graph.client import GraphClient
from chatfn.graph.retry import RetryPolicy

# Example 2 of Graph's reference page: a group chat, so every POST creates a new chat.
GROUP_BODY: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "tests" / "data" / "seed-examples.json").read_text()
)[1]["request"]


async def _run(chats: int, concurrency: int, create: Callable[[], Awaitable[None]]) -> float:
    """Seconds taken for `chats` creations, `concurrency` at a time."""
    remaining = iter(range(chats))

    async def worker() -> None:
        for _ in remaining:
            await create()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def _stats(emulator: Emulator) -> dict[str, int]:
    answer: dict[str, int] = httpx.get(f"{emulator.url}/_emulator/stats").json()
    return answer


def _reset(emulator: Emulator) -> None:
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()


async def raw_httpx(emulator: Emulator, chats: int, concurrency: int) -> tuple[float, dict[str, int]]:
    async with ManagedIdentityCredential() as credential:
        token = (await credential.get_token("https://graph.microsoft.com/.default")).token
    _reset(emulator)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:

        async def create() -> None:
            (await http.post(f"{emulator.graph_url}/chats", json=GROUP_BODY)).raise_for_status()

        seconds = await _run(chats, concurrency, create)
    return seconds, _stats(emulator)


async def through_chatfn(emulator: Emulator, chats: int, concurrency: int) -> tuple[float, dict[str, int]]:
    _reset(emulator)
    async with ManagedIdentityCredential() as credential, httpx.AsyncClient() as http:
        graph = GraphClient(
            base_url=emulator.graph_url, credential=credential, http=http, retry=RetryPolicy()
        )

        async def create() -> None:
            await graph.create_chat(GROUP_BODY, replay_safe=False)

        seconds = await _run(chats, concurrency, create)
    return seconds, _stats(emulator)


async def main(chats: int, concurrency: int, rounds: int) -> None:
    raw_runs, chatfn_runs = [], []
    with Emulator.start(port=0) as emulator:
        os.environ["IDENTITY_ENDPOINT"] = emulator.identity_endpoint
        os.environ["IDENTITY_HEADER"] = emulator.identity_header
        await through_chatfn(emulator, 20, concurrency)  # warm both paths before measuring
        await raw_httpx(emulator, 20, concurrency)
        for _ in range(rounds):  # alternate, so drift on a shared machine hits both sides alike
            raw_runs.append(await raw_httpx(emulator, chats, concurrency))
            chatfn_runs.append(await through_chatfn(emulator, chats, concurrency))
    raw_seconds, raw_stats = sorted(raw_runs)[rounds // 2]
    chatfn_seconds, chatfn_stats = sorted(chatfn_runs)[rounds // 2]

    raw_rate, chatfn_rate = chats / raw_seconds, chats / chatfn_seconds
    print(
        f"{chats} group chats, {concurrency} at a time, one emulator on 127.0.0.1, median of {rounds} rounds"
    )
    print(f"  raw httpx        {raw_rate:8.1f} chats/s  ({raw_stats['connections']} TCP connections)")
    print(
        f"  chatfn client    {chatfn_rate:8.1f} chats/s  ({chatfn_stats['connections']} TCP connections, "
        f"{chatfn_stats['tokenRequests']} token request(s) for all {chats})"
    )
    print(f"  chatfn / raw     {chatfn_rate / raw_rate:8.2f}")
    overhead_ms = (chatfn_seconds - raw_seconds) / chats * concurrency * 1000
    print(f"  added latency    {overhead_ms:8.2f} ms per request (negative: within noise)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.chats, args.concurrency, args.rounds))
