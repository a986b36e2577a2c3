"""The HTTP edge's pure parts: RFC 7240's Prefer, and outcomes rendered as answers. The routes
themselves run over HTTP in test_function_app.py."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import azure.functions as func
import httpx
import pytest
from azure.data.tables.aio import TableClient
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from chatfn import runtime
from chatfn.api import endpoints
from chatfn.api.endpoints import outcome_response, wait_seconds
from chatfn.durable.operation import Progress
from chatfn.emulator import Emulator
from chatfn.failures import Failure
from chatfn.requests.outcome import Failed, Succeeded, chat_result
from chatfn.requests.store import IdempotencyStore
from chatfn.settings import get_settings
from tests.graphs import graph_for
from tests.requests.test_outcome import CHAT


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, 20.0),
        ("", 20.0),
        ("respond-async", 0.0),
        ("RESPOND-ASYNC", 0.0),
        ("respond-async, wait=5", 5.0),
        ("wait=2;foo", 2.0),
        ('wait="3"', 3.0),
        ("wait=0", 0.0),
        ("wait=600", 60.0),
        ("wait=1e1", 20.0),
        ("wait=-1", 20.0),
        ("wait=2.5", 20.0),
        ("wait=", 20.0),
        # Quotes count only in pairs around the value.
        ('wait=15"', 20.0),
        ('wait="15', 20.0),
        ("handling=lenient", 20.0),
    ],
)
def test_prefer_as_rfc_7240_says(prefer: str | None, wait: float) -> None:
    assert wait_seconds(prefer, default=20.0) == wait


def test_a_wait_is_never_negative() -> None:
    assert wait_seconds(None, default=-1.0) == 0.0


def test_a_reused_chat_is_200_and_a_new_one_the_success_status() -> None:
    assert outcome_response(Succeeded(result=chat_result("r", CHAT)), success_status=201).status_code == 201
    reused = outcome_response(Succeeded(result=chat_result("r", CHAT, reused=True)), success_status=201)
    assert reused.status_code == 200
    assert json.loads(reused.get_body())["reused"] is True


def test_a_failure_is_rendered_as_its_problem_only_here() -> None:
    failure = Failure(kind="graph", step="create", createdNothing=True, status=429, retryAfter=2.2)
    answer = outcome_response(Failed(failure=failure), success_status=201)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "3"
    assert answer.mimetype == "application/problem+json"


def test_a_failure_whose_chat_may_exist_never_says_retry_after() -> None:
    failure = Failure(kind="graph", step="create", createdNothing=False, status=503)
    answer = outcome_response(Failed(failure=failure), success_status=201)
    assert answer.status_code == 502
    assert "Retry-After" not in answer.headers
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:outcome-unknown"


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env")
async def test_storage_that_does_not_answer_is_a_503_before_anything_reaches_graph(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator, control: httpx.Client
) -> None:
    unreachable = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1"
    )
    store = IdempotencyStore(
        TableClient.from_connection_string(unreachable, table_name="t1"), timedelta(hours=1)
    )
    monkeypatch.setattr(runtime, "_store", store)
    request = func.HttpRequest(
        "POST",
        "http://127.0.0.1/api/chats",
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-1"},
        body=json.dumps({"emails": "alex@contoso.com;jacob@contoso.com"}).encode(),
    )
    async with graph_for(emulator) as graph:  # the worker's Graph client: the emulator's
        monkeypatch.setattr(runtime, "_graph", graph)
        answer = await endpoints.post_chats(request, client=None)  # type: ignore[arg-type]  # never reached
    await store.aclose()
    assert answer.status_code == 503
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:storage-unavailable"
    assert int(answer.headers["Retry-After"]) >= 1
    assert control.get("/requests").json() == [], "nothing was sent to Graph"


def test_a_202s_retry_after_is_when_graph_is_next_asked() -> None:
    next_poll = datetime.now(UTC) + timedelta(seconds=7.2)
    progress = Progress(stage="waiting for Teams", polls=3, nextPollAt=next_poll)
    status = DurableOrchestrationStatus(
        instanceId="r1", runtimeStatus="Running", customStatus=progress.model_dump(mode="json")
    )
    answer = endpoints.running_answer("0" * 32, status)
    assert answer.status_code == 202
    assert answer.headers["Retry-After"] == "8"
    assert json.loads(answer.get_body())["polls"] == 3


def test_before_the_first_poll_retry_after_is_the_poll_interval() -> None:
    status = DurableOrchestrationStatus(instanceId="r1", runtimeStatus="Pending")
    answer = endpoints.running_answer("0" * 32, status)
    assert answer.headers["Retry-After"] == str(max(1, math.ceil(get_settings().poll_interval_seconds)))
