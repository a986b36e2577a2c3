"""The function app over HTTP, on the local host, against the emulator (docs/api.md)."""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.apphost import AppHost
from tests.cases import EQUIVALENT_REQUESTS, INVALID_REQUESTS, reference_body, seed_examples
from tests.chats.test_golden import bound_by_id

GROUP = {"topic": "Incident 4711", "emails": "alex@contoso.com;jacob@contoso.com;lynne@contoso.com"}
# The same members by object id: no address to look up.
GROUP_BY_ID = {
    "topic": "Incident 4712",
    "members": [
        {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"},
        {"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"},
        {"userId": "3626a173-f2bc-4883-bcf7-01514c3bfb82"},
    ],
}


def _graph_requests(app_control: httpx.Client, path: str = "/v1.0/") -> list[dict[str, Any]]:
    return [r for r in app_control.get("/requests").json() if r["path"].startswith(path)]


def _follow(api: httpx.Client, answer: httpx.Response, honour_retry_after: bool = False) -> httpx.Response:
    """Follow 202 + Location as Power Automate does, until a final answer."""
    for _ in range(200):
        if answer.status_code != 202:
            return answer
        location = answer.headers["Location"]
        time.sleep(float(answer.headers["Retry-After"]) if honour_retry_after else 0.1)
        answer = api.get(location)
    raise AssertionError("the request never ended")


def _instances(app_host: AppHost) -> list[str]:
    """The orchestrations the host has run, from the Durable extension's HTTP API."""
    with httpx.Client(timeout=10) as client:
        listed = client.get(f"{app_host.url}/runtime/webhooks/durabletask/instances").json()
    return [instance["instanceId"] for instance in listed]


@pytest.mark.parametrize("number", range(1, 8))
def test_reference_example_through_the_app(
    number: int, api: httpx.Client, app_control: httpx.Client, app_host: AppHost
) -> None:
    """Graph's 201 is answered 201 by the trigger itself, even to `respond-async`; only Graph's 202
    (an app installed) starts an orchestration, which the caller follows."""
    reference = seed_examples()[number]["response"]
    before = set(_instances(app_host))
    answer = api.post("/chats", json=EQUIVALENT_REQUESTS[number], headers={"Prefer": "respond-async"})
    started = set(_instances(app_host)) - before
    if reference["status"] == 202:
        assert answer.status_code == 202
        assert started == {answer.json()["requestId"]}, "exactly one orchestration"
        final = _follow(api, answer)
        assert final.status_code == 200, final.text
    else:
        assert answer.status_code == 201, answer.text
        assert started == set(), "no orchestration for a chat Graph made at once"
        final = answer
    result = final.json()
    [created] = _graph_requests(app_control, "/v1.0/chats")[:1]
    assert created["method"] == "POST"
    assert created["body"] == bound_by_id(reference_body(number), app_control)
    assert result["status"] == "succeeded"
    assert result["chatId"].startswith("19:")
    assert result["chatType"] == reference_body(number)["chatType"]
    assert result["webUrl"].startswith("https://teams.microsoft.com/l/chat/")
    assert len(result["members"]) == len(reference_body(number)["members"])
    if reference["status"] == 202:
        polls = [r for r in _graph_requests(app_control, "/v1.0/chats") if "operations" in r["path"]]
        assert len(polls) >= 2, "the operation was polled until it succeeded"
    elif number in (5, 7):
        assert result["chatId"] == reference["body"]["id"]


def test_a_quick_chat_is_answered_201_at_once(api: httpx.Client) -> None:
    answer = api.post("/chats", json={"emails": "alex@contoso.com;jacob@contoso.com"})
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert (
        result["chatId"]
        == "19:82fe7758-5bb3-4f0d-a43f-e555fd399c6f_8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca@unq.gbl.spaces"
    )
    assert {(m["email"], m["role"]) for m in result["members"]} == {
        ("alex@contoso.com", "owner"),
        ("jacob@contoso.com", "owner"),
    }
    assert set(result) >= {"requestId", "status", "chatId", "chatType", "topic", "webUrl", "createdDateTime"}


def test_an_app_install_is_waited_for_within_the_sync_wait(api: httpx.Client) -> None:
    answer = api.post("/chats", json=EQUIVALENT_REQUESTS[4])
    assert answer.status_code == 201, answer.text


def test_power_automates_asynchronous_pattern(api: httpx.Client, app_host: AppHost) -> None:
    answer = api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers={"Prefer": "respond-async"})
    assert answer.status_code == 202
    body = answer.json()
    assert (
        answer.headers["Location"]
        == body["statusUrl"]
        == f"{app_host.api}/chats/requests/{body['requestId']}"
    )
    assert int(answer.headers["Retry-After"]) >= 1
    assert body["status"] == "running"
    final = _follow(api, answer, honour_retry_after=True)
    assert final.status_code == 200
    assert final.json()["requestId"] == body["requestId"]


def test_prefer_wait_bounds_the_wait(api: httpx.Client, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 30, "result": "succeeded"}).raise_for_status()
    started = time.monotonic()
    answer = api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers={"Prefer": "wait=1"})
    assert answer.status_code == 202
    assert 0.9 <= time.monotonic() - started < 5


def test_a_guest_is_resolved_and_joins_as_guest(api: httpx.Client, app_control: httpx.Client) -> None:
    answer = api.post(
        "/chats",
        json={
            "topic": "With a guest",
            "emails": "alex@contoso.com;jacob@contoso.com",
            "guests": "ana@fabrikam.com",
        },
    )
    assert answer.status_code == 201, answer.text
    [chat] = app_control.get("/chats").json()
    roles = {m["userId"]: m["roles"] for m in chat["members"]}
    assert roles["8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"] == ["guest"]


@pytest.mark.parametrize(
    ("name", "body", "field", "words"), INVALID_REQUESTS, ids=[c[0] for c in INVALID_REQUESTS]
)
def test_an_invalid_request_is_a_400_that_reaches_nothing(
    name: str, body: Any, field: str, words: str, api: httpx.Client, app_control: httpx.Client
) -> None:
    answer = api.post("/chats", json=body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 400
    assert any(e["field"] == field and words.lower() in e["message"].lower() for e in problem["errors"]), (
        problem
    )
    assert app_control.get("/requests").json() == [], "nothing was sent to Graph, not even for a token"


@pytest.mark.parametrize(
    ("content", "headers", "status", "field"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "body"),
        (
            b'{"emails": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
            {"Content-Type": "application/json"},
            400,
            "body",
        ),
        (b'{"emails": "a@contoso.com;b@contoso.com"}', {"Content-Type": "text/plain"}, 415, None),
        (b'{"topic": "' + b"x" * 70_000 + b'"}', {"Content-Type": "application/json"}, 413, None),
        (
            b'{"emails": "a@contoso.com;b@contoso.com"}',
            {"Content-Type": "application/json", "Idempotency-Key": ""},
            400,
            "Idempotency-Key",
        ),
        (
            b'{"emails": "a@contoso.com;b@contoso.com"}',
            {"Content-Type": "application/json", "Idempotency-Key": "k" * 201},
            400,
            "Idempotency-Key",
        ),
    ],
)
def test_bodies_and_headers_checked_before_anything(
    content: bytes,
    headers: dict[str, str],
    status: int,
    field: str | None,
    api: httpx.Client,
    app_control: httpx.Client,
) -> None:
    answer = api.post("/chats", content=content, headers=headers)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["status"] == status
    if field:
        assert [e["field"] for e in problem["errors"]] == [field]
    assert app_control.get("/requests").json() == []


def test_same_key_same_body_is_one_chat(api: httpx.Client, app_control: httpx.Client) -> None:
    headers = {"Idempotency-Key": "3f1c6a52-9d0e-4c8e-b5a4-7c1e2d3f4a5b"}
    first = api.post("/chats", json=GROUP, headers=headers)
    again = api.post(
        "/chats",
        json=GROUP | {"emails": "Lynne@contoso.com;alex@contoso.com;jacob@contoso.com"},
        headers=headers,
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert len(app_control.get("/chats").json()) == 1


def test_twenty_concurrent_requests_with_one_key_make_one_chat(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "b7e1d7c0-0f55-4c1a-9a57-0c6b1c1f2e3d"}
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: api.post("/chats", json=GROUP, headers=headers), range(20)))
    assert {a.status_code for a in answers} == {201}
    assert all(a.json() == answers[0].json() for a in answers), "twenty equal answers"
    assert len(app_control.get("/chats").json()) == 1
    assert len(_graph_requests(app_control, "/v1.0/chats")) == 2, "one POST, one read of the chat"


def test_same_key_another_body_is_a_409(api: httpx.Client, app_control: httpx.Client) -> None:
    headers = {"Idempotency-Key": "c0ffee00-1234-4abc-8def-0123456789ab"}
    assert api.post("/chats", json=GROUP, headers=headers).status_code == 201
    conflict = api.post("/chats", json=GROUP | {"topic": "Another"}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "urn:chatfn:problem:idempotency-key-reused"
    assert len(app_control.get("/chats").json()) == 1


def test_a_key_whose_request_failed_before_graph_created_anything_starts_it_over(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "0d5f3c1e-8a77-4f3b-9c2d-1e6a4b7c8d90"}
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.05}
    app_control.post("/faults", json=fault).raise_for_status()
    assert api.post("/chats", json=GROUP, headers=headers).status_code == 503
    app_control.delete("/faults").raise_for_status()
    again = api.post("/chats", json=GROUP, headers=headers)
    assert again.status_code == 201, "a retry with the same key, as Power Automate sends, now succeeds"
    assert len(app_control.get("/chats").json()) == 1


def test_a_status_url_handed_to_a_repeat_answers_the_first_requests_failure(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """The contract: a status URL that was ever handed out keeps answering its request's outcome,
    failures included; it never turns into a 404 because the first request failed and freed its key.
    The first request's lookup is slow, then refused; a repeat meanwhile gets 202 and its Location."""
    body = {"topic": "Slow refusal", "emails": _new_users(app_control, 2)}
    headers = {"Idempotency-Key": f"freed-{uuid.uuid4()}"}
    refusals = [
        {"path": "/v1.0/users", "status": 403, "delay": 3, "count": 1},
        {"path": "/v1.0/users", "status": 403, "count": 1},  # the retry with a fresh token
    ]
    app_control.post("/faults", json=refusals).raise_for_status()
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(api.post, "/chats", json=body, headers=headers)
        time.sleep(1)
        repeat = api.post("/chats", json=body, headers=headers | {"Prefer": "respond-async"})
        failed = first.result()
    assert repeat.status_code == 202, repeat.text
    assert failed.status_code == 502, failed.text
    followed = api.get(repeat.headers["Location"])
    assert followed.status_code == 502, followed.text
    assert followed.json() == failed.json(), "the very answer the first request had"
    assert failed.json()["type"] == "urn:chatfn:problem:graph-refused-identity"
    assert app_control.get("/chats").json() == []


def test_a_key_whose_chat_may_exist_keeps_its_answer(api: httpx.Client, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 100_000}).raise_for_status()
    headers = {"Idempotency-Key": "5b2e9d4a-3c1f-4e8b-a7d6-0f9e8d7c6b5a"}
    assert api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers=headers).status_code == 504
    posts = len([r for r in _graph_requests(app_control, "/v1.0/chats") if r["method"] == "POST"])
    again = api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers=headers)
    assert again.status_code == 504, "Teams may still finish that chat: a new one could be a duplicate"
    assert len([r for r in _graph_requests(app_control, "/v1.0/chats") if r["method"] == "POST"]) == posts


def test_without_a_key_each_group_request_is_a_new_chat(api: httpx.Client, app_control: httpx.Client) -> None:
    ids = {api.post("/chats", json=GROUP).json()["chatId"] for _ in range(2)}
    assert len(ids) == 2


def test_an_unknown_user_is_a_422(api: httpx.Client) -> None:
    answer = api.post("/chats", json={"emails": "alex@contoso.com;nobody@contoso.com"})
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == ["emails[1]"]


def test_an_unknown_guest_is_a_422_naming_it(api: httpx.Client, app_control: httpx.Client) -> None:
    answer = api.post("/chats", json={"emails": "alex@contoso.com", "guests": "zoe@nowhere.example"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "guests[0]"
    assert not [r for r in _graph_requests(app_control) if r["method"] == "POST"], "no chat was attempted"


def test_an_identity_without_chat_create_is_a_502(api: httpx.Client, app_control: httpx.Client) -> None:
    # Graph authorizes by the roles a token was issued with, and the app holds a token from earlier
    # tests: revoking it makes the app meet the change (a 401 for the old token, a 403 for a new one).
    roles = {"roles": ["Chat.ReadBasic.All", "User.Read.All"], "revokeTokens": True}
    app_control.post("/identity", json=roles).raise_for_status()
    answer = api.post("/chats", json=GROUP)
    assert answer.status_code == 502
    assert answer.json()["graphError"]["code"] in ("InvalidAuthenticationToken", "Forbidden")


def test_throttling_past_the_budget_is_a_503_with_retry_after(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.05}
    app_control.post("/faults", json=fault).raise_for_status()
    answer = api.post("/chats", json=GROUP)
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["graphError"]["code"] == "TooManyRequests"
    assert app_control.get("/chats").json() == []


def test_a_request_the_budget_cannot_serve_within_its_wait_is_a_202_then_its_chat(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """Queue instead of failing: Graph's Retry-After (2 s) pauses the worker's budget past the caller's
    wait (1 s), so the request is answered 202 + Location, and the orchestration makes its one chat when
    the budget can serve it (the status URL answers 200 with it), within the host's 5 s patience. A
    request served first sets the worker as a busy one is (earlier tests leave its budget at its slowest
    rate after their 429s, and its token without Chat.Create, which costs a 403 and a call more)."""
    served = api.post("/chats", json=GROUP_BY_ID)
    assert served.status_code == 201
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 2, "count": 1}
    app_control.post("/faults", json=fault).raise_for_status()
    started = time.monotonic()
    answer = api.post("/chats", json=GROUP_BY_ID, headers={"Prefer": "wait=1"})
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - started < 2.5, "held past its wait"
    assert answer.headers["Location"].endswith(f"/api/chats/requests/{answer.json()['requestId']}")
    final = _follow(api, answer)
    assert (final.status_code, final.json()["status"]) == (200, "succeeded"), final.text
    chats = app_control.get("/chats").json()
    assert sorted(chat["id"] for chat in chats) == sorted([served.json()["chatId"], final.json()["chatId"]])


def test_throttling_that_passes_still_makes_one_chat(api: httpx.Client, app_control: httpx.Client) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.1, "count": 2}
    app_control.post("/faults", json=fault).raise_for_status()
    assert api.post("/chats", json=GROUP).status_code == 201
    assert len(app_control.get("/chats").json()) == 1


def test_an_operation_that_fails_is_the_mapped_problem(api: httpx.Client, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 1, "result": "failed"}).raise_for_status()
    answer = _follow(api, api.post("/chats", json=EQUIVALENT_REQUESTS[3]))
    assert answer.status_code == 502
    assert answer.json()["type"] == "urn:chatfn:problem:operation-failed"


def test_an_operation_that_never_ends_is_a_504(api: httpx.Client, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 100_000, "result": "succeeded"}).raise_for_status()
    answer = _follow(
        api, api.post("/chats", json=EQUIVALENT_REQUESTS[4], headers={"Prefer": "respond-async"})
    )
    assert answer.status_code == 504
    assert answer.json()["type"] == "urn:chatfn:problem:operation-timeout"


def test_the_status_of_an_unknown_request_is_a_404(api: httpx.Client) -> None:
    assert api.get("/chats/requests/0123456789abcdef0123456789abcdef").status_code == 404
    assert api.get("/chats/requests/not-an-id").status_code == 404


def test_a_finished_request_keeps_its_answer(api: httpx.Client) -> None:
    created = api.post("/chats", json=EQUIVALENT_REQUESTS[3])
    assert created.status_code == 201, created.text
    again = api.get(f"/chats/requests/{created.json()['requestId']}")
    assert again.status_code == 200
    assert again.json() == created.json()
    assert again.headers["Cache-Control"] == "no-store"


def test_the_status_url_is_the_public_origins_whatever_the_host_header(
    api: httpx.Client, app_host: AppHost
) -> None:
    answer = api.post(
        "/chats",
        json=EQUIVALENT_REQUESTS[3],
        headers={
            "Prefer": "respond-async",
            "Host": "user:pw@evil.example",
            "X-Forwarded-Host": "evil.example",
        },
    )
    assert answer.status_code == 202
    assert answer.headers["Location"].startswith(f"{app_host.url}/api/chats/requests/")
    assert "evil" not in answer.text
    servers = api.get("/openapi.json", headers={"Host": "evil.example"}).json()["servers"]
    assert [server["url"] for server in servers] == [f"{app_host.url}/api"]


def test_request_ids_are_random_whatever_the_key(api: httpx.Client) -> None:
    key = "incident-4711"
    first = api.post("/chats", json=GROUP, headers={"Idempotency-Key": key}).json()["requestId"]
    other = api.post("/chats", json=GROUP | {"topic": "Other"}, headers={"Idempotency-Key": key + "-b"})
    assert first != hashlib.sha256(f"chatfn-idempotency:{key}".encode()).hexdigest()[:32]
    assert len(first) == 32
    assert other.json()["requestId"] != first


@pytest.mark.parametrize("key", ["a, b", "a,b"])
def test_a_repeated_idempotency_key_header_is_refused(
    key: str, api: httpx.Client, app_control: httpx.Client
) -> None:
    """Azure joins a header sent twice with a comma: both arrive alike and are refused alike."""
    answer = api.post("/chats", json=GROUP, headers={"Idempotency-Key": key})
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["Idempotency-Key"]
    assert app_control.get("/requests").json() == []


def test_prefer_parameters_and_odd_numerals(api: httpx.Client, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 30, "result": "succeeded"}).raise_for_status()
    started = time.monotonic()
    answer = api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers={"Prefer": "wait=1;foo, bar"})
    assert answer.status_code == 202
    assert 0.9 <= time.monotonic() - started < 5, "wait=1;foo is a wait of 1 second"


def test_of_two_prefer_headers_the_first_wait_counts(api: httpx.Client, app_control: httpx.Client) -> None:
    """RFC 7240 section 2: "only the first instance is to be considered"; the host joins the two
    headers with a comma, as Azure does."""
    app_control.post("/operations", json={"polls": 30, "result": "succeeded"}).raise_for_status()
    started = time.monotonic()
    answer = api.post(
        "/chats", json=EQUIVALENT_REQUESTS[3], headers=[("Prefer", "wait=1"), ("Prefer", "wait=30")]
    )
    assert answer.status_code == 202
    assert 0.9 <= time.monotonic() - started < 5


def test_health(api: httpx.Client) -> None:
    answer = api.get("/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["version"]


def test_no_answer_or_log_leaks_a_secret(api: httpx.Client, app_host: AppHost) -> None:
    answers = [
        api.post("/chats", json=EQUIVALENT_REQUESTS[3], headers={"Prefer": "respond-async"}),
        api.post("/chats", json=GROUP),
        api.post("/chats", json={"emails": "alex@contoso.com;nobody@contoso.com"}),
    ]
    answers.append(api.get(answers[0].headers["Location"]))
    for answer in answers:
        text = answer.text + str(answer.headers)
        assert "system-key" not in text
        assert "/runtime/webhooks" not in text
        assert "Bearer" not in text
        assert "Traceback" not in text
    printed = app_host.printed()
    assert "Bearer " not in printed
    assert "alex@contoso.com" not in printed, "logs never hold a full email"


# --- Retry-After as an HTTP date (RFC 9110 section 10.2.3) ---------------------------------------------


def _new_users(app_control: httpx.Client, count: int) -> list[str]:
    """Users no earlier request looked up, so the app's directory cache cannot answer for Graph."""
    users = [uuid.uuid4() for _ in range(count)]
    app_control.post(
        "/users",
        json=[
            {
                "id": str(user),
                "userPrincipalName": f"u{user.hex}@contoso.onmicrosoft.com",
                "mail": f"{user.hex}@contoso.com",
            }
            for user in users
        ],
    ).raise_for_status()
    return [f"{user.hex}@contoso.com" for user in users]


@pytest.mark.parametrize(
    ("status", "form"), [(429, "asctime"), (503, "-0000"), (429, "rfc850"), (503, "IMF-fixdate")]
)
def test_a_member_lookup_told_to_retry_at_a_date_retries_then(
    status: int, form: str, api: httpx.Client, app_control: httpx.Client
) -> None:
    """Every form of HTTP-date counts as GMT (RFC 9110 section 5.6.7); those without a zone were once
    a TypeError and a 500."""
    emails = _new_users(app_control, 2)
    fault = {"path": "/v1.0/users", "status": status, "retryAfter": 2, "retryAfterDate": form, "count": 1}
    app_control.post("/faults", json=fault).raise_for_status()
    answer = api.post("/chats", json={"emails": emails})
    assert answer.status_code == 201, answer.text
    first, second = [r for r in _graph_requests(app_control, "/v1.0/users") if r["method"] == "GET"]
    assert (first["status"], second["status"]) == (status, 200)
    waited = datetime.fromisoformat(second["time"]) - datetime.fromisoformat(first["time"])
    assert waited.total_seconds() > 1.5, "the date was waited for"


@pytest.mark.parametrize(
    ("fault", "form"),
    [
        ({"status": 429}, "-0000"),  # refused before acting: sent again at that date
        ({"status": 503, "after": True}, "asctime"),  # made, then failed: found, not made twice
    ],
)
def test_post_chats_told_to_retry_at_a_date_makes_one_chat(
    fault: dict[str, Any], form: str, api: httpx.Client, app_control: httpx.Client
) -> None:
    rule = {"method": "POST", "path": "/v1.0/chats", "retryAfter": 1, "retryAfterDate": form, "count": 1}
    app_control.post("/faults", json=rule | fault).raise_for_status()
    answer = api.post("/chats", json=GROUP_BY_ID)
    assert answer.status_code == 201, answer.text
    [chat] = app_control.get("/chats").json()
    assert answer.json()["chatId"] == chat["id"]
