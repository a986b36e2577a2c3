"""Exactly one chat per request through the whole app, when Graph acts and then fails, when a worker
dies holding a key, and when a flow asks to reuse the chat it opened before (docs/api.md, Exactly one
chat). The emulator makes the chat and then answers 504 or drops the connection (`"after": true`)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from azure.data.tables.aio import TableClient

from chatfn.api.callers import KEY_CALLERS_SCOPE
from chatfn.chats.spec import parse_chat_request
from chatfn.requests.store import LEASE, Claimed, IdempotencyStore
from chatfn.settings import Settings
from tests.apphost import AppHost

MEMBERS = "alex@contoso.com;jacob@contoso.com;lynne@contoso.com"
FAIL_AFTER_ACTING = [
    {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "probability": 0.15},
    {"method": "POST", "path": "/v1.0/chats", "drop": True, "after": True, "probability": 0.15 / 0.85},
]


def _posts(app_control: httpx.Client) -> list[dict[str, Any]]:
    return [
        r for r in app_control.get("/requests").json() if r["method"] == "POST" and r["path"] == "/v1.0/chats"
    ]


def test_a_hundred_group_chats_while_graph_fails_after_acting_make_a_hundred_chats(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    app_control.post("/faults", json=FAIL_AFTER_ACTING).raise_for_status()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(
            pool.map(
                lambda i: api.post("/chats", json={"topic": f"Incident {i}", "emails": MEMBERS}), range(100)
            )
        )
    statuses = Counter(answer.status_code for answer in answers)
    chats = app_control.get("/chats").json()
    failed_after = [r for r in _posts(app_control) if r["status"] in (504, None)]
    assert len(failed_after) >= 10, "the faults fired (about 30 of 100 expected)"
    assert statuses == {201: 100}
    assert len(chats) == 100
    assert Counter(chat["topic"] for chat in chats) == Counter(f"Incident {i}" for i in range(100))
    assert {answer.json()["chatId"] for answer in answers} == {chat["id"] for chat in chats}


def test_a_search_still_looking_when_the_wait_ends_is_handed_over_and_finds_the_chat(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """Graph made the chat and answered 504, and its lists show the chat only 3 s later: the caller's
    wait (1 s) ends mid-search, so the answer is 202, and the orchestration carries the search on, from
    where it was, to the chat Graph made (never a second POST)."""
    app_control.post("/consistency", json={"listDelaySeconds": 3}).raise_for_status()
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 1}
    app_control.post("/faults", json=fault).raise_for_status()
    body = {"topic": "Handed over", "emails": MEMBERS}
    answer = api.post("/chats", json=body, headers={"Prefer": "wait=1"})
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 60
    while answer.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = api.get(answer.headers["Location"])
    assert answer.status_code == 200, answer.text
    chats = app_control.get("/chats").json()
    assert [chat["id"] for chat in chats] == [answer.json()["chatId"]]
    assert len(_posts(app_control)) == 1, "found by the search, not sent again"


def test_a_request_whose_worker_died_after_graph_made_its_chat_is_answered_with_that_chat(
    api: httpx.Client, app_control: httpx.Client, app_host: AppHost, azurite: str
) -> None:
    key = "worker-died-4711"
    body = {"topic": "Died", "emails": MEMBERS}
    asyncio.run(_record_a_dead_attempt(azurite, key, body))
    made = _graph_post(app_host, body_for_graph="Died")  # what the dead worker did before it died
    retry = api.post("/chats", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["chatId"] == made
    assert len(app_control.get("/chats").json()) == 1
    assert len(_posts(app_control)) == 1, "the chat was found, not made again"


def test_reuse_existing_lands_in_the_chat_opened_before(api: httpx.Client, app_control: httpx.Client) -> None:
    body = {"topic": "Incident 9", "emails": MEMBERS, "reuseExisting": True}
    first = api.post("/chats", json=body)
    again = api.post("/chats", json=body)
    other = api.post("/chats", json=body | {"topic": "Incident 10"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert (first.json()["reused"], again.json()["reused"], other.json()["reused"]) == (False, True, False)
    assert again.json()["chatId"] == first.json()["chatId"]
    assert len(app_control.get("/chats").json()) == 2


async def _record_a_dead_attempt(connection: str, key: str, body: dict[str, Any]) -> None:
    """The record a worker leaves when it dies mid-request: running, its lease long run out."""
    began = datetime.now(UTC) - LEASE - timedelta(seconds=30)
    table = TableClient.from_connection_string(connection, table_name=Settings().idempotency_table)
    store = IdempotencyStore(table, timedelta(hours=24))
    fingerprint = parse_chat_request(body).fingerprint()
    claim = await store.claim(KEY_CALLERS_SCOPE, key, fingerprint, "d" * 32, began)
    await store.aclose()
    assert isinstance(claim, Claimed)


def _graph_post(app_host: AppHost, body_for_graph: str) -> str:
    """Make the group chat straight through the emulator's Graph, as the dead worker's POST did."""
    ids = [
        "82fe7758-5bb3-4f0d-a43f-e555fd399c6f",
        "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca",
        "3626a173-f2bc-4883-bcf7-01514c3bfb82",
    ]
    with httpx.Client(base_url=app_host.emulator_url, timeout=10) as emulator:
        token = emulator.get(
            "/msi/token",
            params={"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": "chatfn-local"},
        ).json()["access_token"]
        members = [
            {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": ["owner"],
                "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
            }
            for user_id in ids
        ]
        created = emulator.post(
            "/v1.0/chats",
            json={"chatType": "group", "topic": body_for_graph, "members": members},
            headers={"Authorization": f"Bearer {token}"},
        )
    created.raise_for_status()
    return str(created.json()["id"])
