"""The routes' functions with the worker's services handed in, as function_app.py binds them; the
routes over HTTP are in test_function_app.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import timedelta

import azure.functions as func
import httpx
import pytest
from azure.data.tables.aio import TableClient

from chatfn.api import endpoints
from chatfn.devhost.azurite import Azurite
from chatfn.emulator import Emulator
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services
from chatfn.settings import Settings
from tests.graphs import graph_for
from tests.requests.test_driver import UNREACHABLE_STORAGE


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_storage_that_does_not_answer_is_a_503_before_anything_reaches_graph(
    emulator: Emulator, control: httpx.Client
) -> None:
    table = TableClient.from_connection_string(UNREACHABLE_STORAGE, table_name="t1", retry_total=0)
    store = IdempotencyStore(table, timedelta(hours=1))
    request = func.HttpRequest(
        "POST",
        "http://127.0.0.1/api/chats",
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-1"},
        body=json.dumps({"emails": "alex@contoso.com;jacob@contoso.com"}).encode(),
    )
    async with graph_for(emulator) as graph:
        services = Services(Settings(), graph=graph, store=store)
        answer = await endpoints.post_chats(request, client=None, services=services)  # type: ignore[arg-type]  # never reached
    await store.aclose()
    assert answer.status_code == 503
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:storage-unavailable"
    assert int(answer.headers["Retry-After"]) >= 1
    assert control.get("/requests").json() == [], "nothing was sent to Graph"


def _chat_request(key: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        "http://127.0.0.1/api/chats",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        body=json.dumps({"emails": "alex@contoso.com;jacob@contoso.com"}).encode(),
    )


@pytest.mark.anyio
@pytest.mark.azurite
@pytest.mark.usefixtures("managed_identity_env")
@pytest.mark.parametrize("warm", [False, True], ids=["its first call", "after a call"])
async def test_storage_that_hangs_is_a_503_within_seconds_before_anything_reaches_graph(
    warm: bool, emulator: Emulator, control: httpx.Client
) -> None:
    """A storage account that stops answering (an Azurite paused with SIGSTOP: connections are
    accepted, nothing is answered) once held a keyed request for minutes, past any caller's patience.
    The table client is the worker's own, as Services makes it from the settings."""
    server = Azurite.start()
    try:
        async with graph_for(emulator) as graph:
            services = Services(Settings(storage_connection_string=server.connection_string), graph=graph)
            if warm:  # the table made, a connection kept alive in the pool
                await services.store.claim("warm-up", "k-0", "fp", "0" * 32, services.clock())
            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                answer = await asyncio.wait_for(
                    endpoints.post_chats(_chat_request("k-1"), client=None, services=services),  # type: ignore[arg-type]  # never reached
                    timeout=30,
                )
                elapsed = time.monotonic() - started
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            await services.store.aclose()
    finally:
        server.stop()
    assert answer.status_code == 503
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:storage-unavailable"
    assert int(answer.headers["Retry-After"]) >= 1
    assert elapsed < 15, f"answered after {elapsed:.1f} s"
    assert control.get("/requests").json() == [], "nothing was sent to Graph"
