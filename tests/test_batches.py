"""Many chats in one request, over HTTP on the local host against the emulator (docs/api.md, "Many chats
in one request"): every item checked before anything starts, each made exactly once through Graph's
failures, its addresses looked up once (and again after Graph's throttling), and a cancel that stops the
sending."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chatfn.durable.batch import CHUNK_SIZE
from chatfn.graph.retry import RetryPolicy
from tests.apphost import AppHost, start_app_host

MEMBERS = [f"member{n:02d}@contoso.com" for n in range(1, 46)]


def _chat(n: int, size: int = 3) -> dict[str, Any]:
    """The n-th chat of a batch: its own topic, `size` members from the directory's numbered ones."""
    return {"topic": f"Batch chat {n}", "emails": [MEMBERS[(n + k) % len(MEMBERS)] for k in range(size)]}


def _follow(api: httpx.Client, answer: httpx.Response, timeout: float = 60) -> httpx.Response:
    """Follow 202 + Location as Power Automate does, until a final answer."""
    deadline = time.monotonic() + timeout
    while answer.status_code == 202:
        assert time.monotonic() < deadline, "the batch never ended"
        time.sleep(0.2)
        answer = api.get(answer.headers["Location"])
    return answer


def _graph_requests(app_control: httpx.Client, path: str = "/v1.0/") -> list[dict[str, Any]]:
    return [r for r in app_control.get("/requests").json() if r["path"].startswith(path)]


def _chat_posts(app_control: httpx.Client) -> list[dict[str, Any]]:
    return [r for r in _graph_requests(app_control, "/v1.0/chats") if r["method"] == "POST"]


def _time(request: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(request["time"].replace("Z", "+00:00"))


def test_a_batch_is_accepted_then_answers_every_items_result_in_order(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    chats = [_chat(n) for n in range(5)]
    chats.insert(2, {"emails": "alex@contoso.com;nobody@contoso.com"})
    accepted = api.post("/chat-batches", json={"chats": chats})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert accepted.headers["Location"].endswith(f"/api/chat-batches/{body['batchId']}")
    assert int(accepted.headers["Retry-After"]) >= 1
    assert body == {
        "batchId": body["batchId"],
        "status": "running",
        "total": 6,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
        "pending": 6,
    }
    done = _follow(api, accepted)
    assert done.status_code == 200, done.text
    final = done.json()
    assert (final["status"], final["succeeded"], final["failed"], final["pending"]) == (
        "completedWithErrors",
        5,
        1,
        0,
    )
    results = final["results"]
    assert [result["index"] for result in results] == list(range(6))
    assert [result["status"] for result in results] == [201, 201, 422, 201, 201, 201]
    assert results[2]["outcome"] == "failed"
    assert results[2]["problem"]["type"] == "urn:chatfn:problem:member-not-found"
    assert "chatId" not in results[2]
    made = {chat["id"]: chat["topic"] for chat in app_control.get("/chats").json()}
    assert {made[result["chatId"]] for result in results if result["outcome"] == "created"} == {
        f"Batch chat {n}" for n in range(5)
    }


def test_an_invalid_item_stops_the_whole_batch_before_anything_starts(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    broken = {"members": [{"email": "alex@contoso.com"}, {"email": "jacob@contoso.com", "gust": True}]}
    answer = api.post("/chat-batches", json={"chats": [_chat(0), broken]})
    assert answer.status_code == 400
    assert [error["field"] for error in answer.json()["errors"]] == ["chats[1].members[1].gust"]
    assert _graph_requests(app_control) == [], "nothing was sent to Graph"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"chats": []}, 400), ({"chats": [_chat(0)] * 1001}, 400)],
    ids=["empty", "more than the most"],
)
def test_a_batch_of_no_chats_or_too_many_is_refused(
    body: dict[str, Any], status: int, api: httpx.Client, app_control: httpx.Client
) -> None:
    assert api.post("/chat-batches", json=body).status_code == status
    assert _graph_requests(app_control) == []


def test_a_body_over_the_batch_limit_is_413(api: httpx.Client, app_control: httpx.Client) -> None:
    padding = "x" * (4 * 1024 * 1024)
    answer = api.post(
        "/chat-batches",
        content=b'{"chats": [], "pad": "' + padding.encode() + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["type"] == "urn:chatfn:problem:body-too-large"


def test_one_key_is_one_batch(api: httpx.Client, app_control: httpx.Client) -> None:
    body = {"chats": [_chat(n) for n in range(3)]}
    key = {"Idempotency-Key": f"batch-{time.time_ns()}"}
    first = api.post("/chat-batches", json=body, headers=key)
    again = api.post("/chat-batches", json=body, headers=key)
    other = api.post("/chat-batches", json={"chats": [_chat(9)]}, headers=key)
    assert first.status_code == 202
    assert again.json()["batchId"] == first.json()["batchId"]
    assert again.headers["Location"] == first.headers["Location"]
    assert other.status_code == 409
    _follow(api, first)
    assert len(_chat_posts(app_control)) == 3, "the repeat made nothing"


def test_each_item_is_made_exactly_once_while_graph_fails_after_acting(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """15% of POST /chats make the chat, then answer 504 or drop the connection: every item exactly once."""
    for fault in ({"status": 504}, {"drop": True}):
        rule = {"method": "POST", "path": "/v1.0/chats", "after": True, "probability": 0.08} | fault
        app_control.post("/faults", json=rule).raise_for_status()
    items = 3 * CHUNK_SIZE
    done = _follow(
        api, api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]}), timeout=120
    )
    final = done.json()
    assert final["status"] == "succeeded", [r for r in final["results"] if r["outcome"] != "created"]
    topics = [chat["topic"] for chat in app_control.get("/chats").json()]
    assert sorted(topics) == sorted(f"Batch chat {n}" for n in range(items)), "no chat twice, none missing"
    lookups = [r for r in _graph_requests(app_control) if r["path"] == "/v1.0/users"]
    distinct = {address for n in range(items) for address in _chat(n)["emails"]}
    assert len(lookups) == math.ceil(len(distinct) / 15), (
        "every distinct address looked up once, 15 to a call"
    )


def test_each_item_is_made_exactly_once_while_graph_fails_after_acting_and_its_lists_lag(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """The first five POST /chats make the chat and answer 504, and Graph's lists show a new chat only 2 s
    later: each such item's search waits out the lag, finds its chat, and sends nothing again."""
    app_control.post("/consistency", json={"listDelaySeconds": 2}).raise_for_status()
    rule = {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 5}
    app_control.post("/faults", json=rule).raise_for_status()
    items = CHUNK_SIZE + 5
    done = _follow(
        api, api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]}), timeout=120
    )
    final = done.json()
    assert final["status"] == "succeeded", [r for r in final["results"] if r["outcome"] != "created"]
    posts = _chat_posts(app_control)
    assert [post["status"] for post in posts].count(504) == 5, "the faults fired"
    assert len(posts) == items, "no item sent twice"
    topics = Counter(chat["topic"] for chat in app_control.get("/chats").json())
    assert topics == Counter(f"Batch chat {n}" for n in range(items)), "no chat twice, none missing"


def test_a_chunk_hands_back_its_items_that_wait_on_graphs_lists_and_each_is_made_once(
    api: httpx.Client, app_control: httpx.Client, app_host: AppHost
) -> None:
    """docs/api.md: every POST /chats makes the chat and answers 504, and Graph's lists show a new chat
    only 3 s later. The first chunk, started while a fresh chunk remained, hands its items back once they
    all wait on the lists; they go on in a chunk of their own, each finds its chat and sends nothing
    again."""
    app_control.post("/consistency", json={"listDelaySeconds": 3}).raise_for_status()
    rule = {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True}
    app_control.post("/faults", json=rule).raise_for_status()
    items = 2 * CHUNK_SIZE
    accepted = api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]})
    final = _follow(api, accepted, timeout=120).json()
    assert final["status"] == "succeeded", [r for r in final["results"] if r["outcome"] != "created"]
    posts = _chat_posts(app_control)
    assert [post["status"] for post in posts] == [504] * items, "each item sent once"
    topics = Counter(chat["topic"] for chat in app_control.get("/chats").json())
    assert topics == Counter(f"Batch chat {n}" for n in range(items)), "no chat twice, none missing"
    durable = f"{app_host.url}/runtime/webhooks/durabletask/instances"
    with httpx.Client(timeout=10) as client:
        instances = client.get(durable, params={"instanceIdPrefix": final["batchId"]}).json()
    assert len(instances) == 1 + 2 + 1, "the batch, its two chunks, and one of the items handed back"


@pytest.mark.apphost
def test_a_lookup_throttled_past_the_clients_retries_is_waited_out_and_every_item_made_once(
    azurite: str,
) -> None:
    """One 429 on GET /users whose Retry-After is longer than the Graph client waits by itself: the batch
    waits it out on a durable timer (within CHATFN_THROTTLE_PATIENCE_SECONDS, raised here past it), then
    makes every chat, each once."""
    retry_after = RetryPolicy().budget_seconds + 1
    host = start_app_host(settings={"CHATFN_THROTTLE_PATIENCE_SECONDS": "120"}, storage=azurite)
    try:
        with (
            httpx.Client(base_url=f"{host.emulator_url}/_emulator", timeout=10) as control,
            httpx.Client(base_url=host.api, timeout=60) as api,
        ):
            throttled = {"path": "/v1.0/users", "status": 429, "retryAfter": retry_after, "count": 1}
            control.post("/faults", json=throttled).raise_for_status()
            accepted = api.post("/chat-batches", json={"chats": [_chat(n) for n in range(5)]})
            final = _follow(api, accepted, timeout=retry_after + 60).json()
            lookups = [r for r in _graph_requests(control) if r["path"] == "/v1.0/users"]
            topics = [chat["topic"] for chat in control.get("/chats").json()]
    finally:
        host.stop()
    assert (final["status"], final["succeeded"]) == ("succeeded", 5), final
    assert [lookup["status"] for lookup in lookups] == [429, 200]
    waited = _time(lookups[1]) - _time(lookups[0])
    assert waited.total_seconds() >= retry_after, "looked up again only once Graph's Retry-After had passed"
    assert sorted(topics) == sorted(f"Batch chat {n}" for n in range(5)), "no chat twice, none missing"


@pytest.mark.apphost
def test_workers_that_die_mid_batch_lose_nothing_and_repeat_nothing(azurite: str) -> None:
    """Half the activity runs are run a second time, the first run's completion lost (a worker that died
    after the work, before recording it: Durable Functions runs activities at least once). A send run
    again finds its fence taken and looks for the chat the first run made: every item ends with its
    chat, each chat made by one POST."""
    items = 2 * CHUNK_SIZE + 5
    host = start_app_host(storage=azurite, activity_reruns=0.5)
    try:
        with (
            httpx.Client(base_url=f"{host.emulator_url}/_emulator", timeout=10) as control,
            httpx.Client(base_url=host.api, timeout=60) as api,
        ):
            accepted = api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]})
            final = _follow(api, accepted, timeout=120).json()
            topics = Counter(chat["topic"] for chat in control.get("/chats").json())
            posts = len(_chat_posts(control))
        reruns = sum("run again: its worker died" in line for line in host.output)
    finally:
        host.stop()
    assert reruns >= items / 4, f"the host ran activities twice ({reruns} times)"
    assert (final["status"], final["succeeded"]) == ("succeeded", items), final
    assert topics == Counter(f"Batch chat {n}" for n in range(items)), "no chat twice, none missing"
    assert posts == items, "a send run again found its fence and searched, never sending twice"


def test_a_batch_whose_every_item_fails_ends_with_each_problem(api: httpx.Client) -> None:
    chats = [{"emails": f"nobody{n}@contoso.com;alex@contoso.com"} for n in range(3)]
    final = _follow(api, api.post("/chat-batches", json={"chats": chats})).json()
    assert final["status"] == "completedWithErrors"
    assert final["failed"] == 3
    assert {result["problem"]["status"] for result in final["results"]} == {422}


def test_a_cancel_stops_the_sending(api: httpx.Client, app_control: httpx.Client) -> None:
    """Each POST /chats takes a second: a DELETE soon after the start leaves most items unsent."""
    app_control.post(
        "/faults", json={"method": "POST", "path": "/v1.0/chats", "delay": 1.0}
    ).raise_for_status()
    items = 4 * CHUNK_SIZE
    accepted = api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]})
    time.sleep(0.5)
    cancelled = api.delete(accepted.headers["Location"])
    assert cancelled.status_code == 202, cancelled.text
    cancelled_at = datetime.now(UTC)
    final = _follow(api, accepted, timeout=120).json()
    assert final["status"] == "cancelled"
    assert final["cancelled"] > 0
    assert final["succeeded"] + final["cancelled"] == items
    assert all(r["status"] == 409 for r in final["results"] if r["outcome"] == "cancelled")
    late = [
        r
        for r in _chat_posts(app_control)
        if datetime.fromisoformat(r["time"].replace("Z", "+00:00")) > cancelled_at
    ]
    assert late == [], "no POST /chats began after the cancel was answered"
    assert api.delete(accepted.headers["Location"]).status_code == 200, "an ended batch is answered as it is"


def test_an_unknown_batch_is_404(api: httpx.Client) -> None:
    assert api.get("/chat-batches/" + "0" * 32).status_code == 404
    assert api.get("/chat-batches/not-a-batch").status_code == 404


def test_no_history_grows_past_a_few_hundred_events(
    api: httpx.Client, app_control: httpx.Client, app_host: AppHost
) -> None:
    items = 3 * CHUNK_SIZE
    accepted = api.post("/chat-batches", json={"chats": [_chat(n) for n in range(items)]})
    batch_id = accepted.json()["batchId"]
    _follow(api, accepted, timeout=120)
    durable = f"{app_host.url}/runtime/webhooks/durabletask/instances"
    with httpx.Client(timeout=10) as client:
        instances = [
            i["instanceId"] for i in client.get(durable, params={"instanceIdPrefix": batch_id}).json()
        ]
        sizes = [
            len(client.get(f"{durable}/{instance}", params={"showHistory": "true"}).json()["historyEvents"])
            for instance in instances
        ]
    assert len(instances) == 1 + math.ceil(items / CHUNK_SIZE), "the batch and its chunks"
    assert max(sizes) < 300, sizes
