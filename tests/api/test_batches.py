"""The batch routes' functions with the worker's services handed in, as function_app.py binds them;
the routes over HTTP are in tests/test_batches.py."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.functions as func
import httpx
import pytest
from azure.data.tables.aio import TableClient

from chatfn.api import batches
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services
from chatfn.settings import Settings
from tests.requests.test_driver import UNREACHABLE_STORAGE


@pytest.mark.anyio
async def test_storage_that_does_not_answer_is_a_503_with_nothing_started(control: httpx.Client) -> None:
    """The batch's row is written before the batch starts: no storage, no batch (and no key needed)."""
    table = TableClient.from_connection_string(UNREACHABLE_STORAGE, table_name="t1", retry_total=0)
    store = IdempotencyStore(table, timedelta(hours=1))
    request = func.HttpRequest(
        "POST",
        "http://127.0.0.1/api/chat-batches",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"chats": [{"emails": "alex@contoso.com;jacob@contoso.com"}]}).encode(),
    )
    services = Services(Settings(), store=store)
    answer = await batches.post_batches(request, client=None, services=services)  # type: ignore[arg-type]  # never reached
    await store.aclose()
    assert answer.status_code == 503
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:storage-unavailable"
    assert control.get("/requests").json() == [], "nothing was sent to Graph"
