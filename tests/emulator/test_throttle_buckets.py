"""Token buckets by kind of call, per app, and the limits Microsoft documents
(https://learn.microsoft.com/graph/throttling-limits)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.throttle import DIRECTORY, DOCUMENTED_LIMITS, Call, Throttle, TokenBucket
from tests.emulator.conftest import ADELE, JACOB, MEGAN, client, error_of, get_token, group

USER_ASSIGNED = "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"
LOOKUP = {"$filter": "mail eq 'adele@contoso.com'"}

DOCUMENTED = {
    "buckets": {
        "chats.write": {"rps": 30, "burst": 30},
        "chats.read": {"rps": 30, "burst": 30},
        "chats.perChat": {"rps": 1, "burst": 1},
        "directory": {"rps": 350, "burst": 3500, "resourceUnits": True},
    }
}


def _chat(graph: httpx.Client) -> str:
    answer = graph.post("/chats", json=group(ADELE, MEGAN))
    assert answer.status_code == 201, answer.text
    chat_id: str = answer.json()["id"]
    return chat_id


def _calls(graph: httpx.Client, chat_id: str) -> dict[str, Callable[[], httpx.Response]]:
    """One call of each kind: a Teams write, Teams reads of several shapes, a user lookup."""
    reads = iter(
        [f"/chats/{chat_id}", f"/chats/{chat_id}/members", f"/users/{ADELE}/chats", f"/users/{MEGAN}/chats"]
        * 5
    )
    return {
        "chats.write": lambda: graph.post("/chats", json=group(ADELE, JACOB)),
        "chats.read": lambda: graph.get(next(reads)),
        "directory": lambda: graph.get(f"/users/{ADELE}"),
    }


@pytest.mark.parametrize("kind", ["chats.write", "chats.read", "directory"])
def test_a_burst_empties_only_its_own_kinds_bucket(
    graph: httpx.Client, control: httpx.Client, kind: str
) -> None:
    chat_id = _chat(graph)
    shown = control.post("/throttle", json={"buckets": {kind: {"rps": 0.1, "burst": 3}}}).json()
    assert shown["buckets"][kind] == {"rps": 0.1, "burst": 3}
    assert [name for name, setting in shown["buckets"].items() if setting is not None] == [kind]
    calls = _calls(graph, chat_id)

    burst = [calls[kind]() for _ in range(6)]
    assert [answer.status_code < 300 for answer in burst] == [True] * 3 + [False] * 3
    throttled = burst[3:]
    assert {answer.status_code for answer in throttled} == {429}
    assert {error_of(answer)["code"] for answer in throttled} == {"TooManyRequests"}
    waits = [float(answer.headers["Retry-After"]) for answer in throttled]
    assert waits == sorted(set(waits)), "calling on while throttled lengthens the wait"
    for other, call in calls.items():
        if other != kind:
            assert [call().status_code < 300 for _ in range(6)] == [True] * 6, f"{other} is not limited"
    if kind == "chats.write":
        assert len(control.get("/chats").json()) == 1 + 3, "a throttled POST /chats makes no chat"


def test_waiting_as_long_as_retry_after_finds_a_token(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/throttle", json={"buckets": {"chats.read": {"rps": 4, "burst": 1}}}).raise_for_status()
    assert graph.get(f"/users/{ADELE}/chats").status_code == 200
    throttled = graph.get(f"/users/{ADELE}/chats")
    assert throttled.status_code == 429
    wait = float(throttled.headers["Retry-After"])
    assert 0.25 < wait <= 0.5, "the refused call was charged: two tokens at 4 a second"
    assert len(throttled.headers["Retry-After"].partition(".")[2]) <= 3, "milliseconds at most"
    time.sleep(wait)
    assert graph.get(f"/users/{ADELE}/chats").status_code == 200


def test_each_app_has_its_own_buckets(emulator: Emulator, graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/identity", json={"clientIds": [USER_ASSIGNED]}).raise_for_status()
    control.post("/throttle", json={"buckets": {"directory": {"rps": 0.1, "burst": 1}}}).raise_for_status()
    other_token = get_token(emulator, client_id=USER_ASSIGNED)
    assert [graph.get(f"/users/{ADELE}").status_code for _ in range(2)] == [200, 429]
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {other_token}"}) as other_app:
        assert other_app.get(f"/users/{ADELE}").status_code == 200


def test_the_per_chat_bucket_limits_calls_on_one_chat(graph: httpx.Client, control: httpx.Client) -> None:
    first, second = _chat(graph), _chat(graph)
    control.post(
        "/throttle", json={"buckets": {"chats.perChat": {"rps": 0.1, "burst": 1}}}
    ).raise_for_status()
    assert graph.get(f"/chats/{first}").status_code == 200
    assert graph.get(f"/chats/{first}/members").status_code == 429, "one chat, whatever the call"
    assert graph.get(f"/chats/{second}").status_code == 200, "another chat has its own bucket"
    assert [graph.get(f"/users/{ADELE}/chats").status_code for _ in range(3)] == [200] * 3, "not on a chat"


@pytest.mark.parametrize(
    ("path", "params", "cost"),
    [
        ("/users", LOOKUP, 2),
        ("/users", {**LOOKUP, "$select": "id,mail"}, 1),
        (f"/users/{ADELE}", {}, 1),
        (f"/users/{ADELE}", {"$select": "id"}, 1),
    ],
)
def test_a_directory_bucket_in_resource_units_charges_each_lookup_its_cost(
    graph: httpx.Client, control: httpx.Client, path: str, params: dict[str, str], cost: int
) -> None:
    """GET users costs 2 resource units, any other identity GET 1, `$select` 1 less, never under 1."""
    setting = {"rps": 0.1, "burst": 4, "resourceUnits": True}
    control.post("/throttle", json={"buckets": {"directory": setting}}).raise_for_status()
    answers = [graph.get(path, params=params) for _ in range(4 // cost + 1)]
    assert [answer.status_code for answer in answers] == [200] * (4 // cost) + [429]
    assert {answer.headers["x-ms-resource-unit"] for answer in answers[:-1]} == {str(cost)}


def test_every_user_lookup_says_its_resource_unit_cost(graph: httpx.Client) -> None:
    assert graph.get("/users", params=LOOKUP).headers["x-ms-resource-unit"] == "2"
    assert graph.get("/users", params={"$top": "5"}).headers["x-ms-resource-unit"] == "1"
    assert "x-ms-resource-unit" not in graph.get(f"/users/{ADELE}/chats").headers, "a Teams call"


def test_documented_limits_are_set_and_shown(graph: httpx.Client, control: httpx.Client) -> None:
    assert control.post("/throttle", json={"documented": True}).json() == DOCUMENTED
    assert control.get("/throttle").json() == DOCUMENTED
    assert control.post("/throttle", json=DOCUMENTED).json() == DOCUMENTED, "an answer can be posted back"


def test_documented_limits_throttle_a_burst_of_chats_and_reads_of_one_chat(
    graph: httpx.Client, control: httpx.Client
) -> None:
    control.post("/throttle", json={"documented": True}).raise_for_status()
    create = {"method": "POST", "url": "/chats", "headers": {"Content-Type": "application/json"}}
    started = time.monotonic()
    created = [
        answer["status"]
        for first in (0, 20)  # two batches of 20: a burst of 40 in two round trips
        for answer in graph.post(
            "/$batch",
            json={
                "requests": [{**create, "id": str(first + n), "body": group(ADELE, MEGAN)} for n in range(20)]
            },
        ).json()["responses"]
    ]
    elapsed = time.monotonic() - started
    assert elapsed < 0.3, "the machine is too slow for this test's timing"
    assert 30 <= created.count(201) <= 30 + 30 * elapsed + 1, "30 at once, then 30 a second"
    assert created.count(429) == 40 - created.count(201)
    chat_id = control.get("/chats").json()[0]["id"]
    assert [graph.get(f"/chats/{chat_id}").status_code for _ in range(2)] == [200, 429], "1 rps per chat"


def test_documented_directory_bucket_holds_1750_lookups_by_filter() -> None:
    """3,500 resource units per 10 s for a small tenant, 2 for each GET /users."""
    now = [0.0]
    throttle = Throttle(DOCUMENTED_LIMITS, clock=lambda: now[0])
    lookup = Call(DIRECTORY, resource_units=2)
    assert [throttle.take("app", lookup) for _ in range(1750)] == [None] * 1750
    assert throttle.take("app", lookup) == pytest.approx(4 / 350, abs=0.001), "charged, then 2 more needed"
    now[0] += 10
    assert throttle.take("app", lookup) is None


def test_reset_turns_bucket_throttling_off(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/throttle", json={"documented": True}).raise_for_status()
    control.post("/reset").raise_for_status()
    assert control.get("/throttle").json() == {"rps": None, "burst": None}
    chat_id = _chat(graph)
    assert [graph.get(f"/chats/{chat_id}").status_code for _ in range(3)] == [200] * 3


def test_the_first_form_still_shows_as_it_was(control: httpx.Client) -> None:
    assert control.post("/throttle", json={"rps": 4, "burst": 3}).json() == {"rps": 4, "burst": 3}
    assert control.get("/throttle").json() == {"rps": 4, "burst": 3}
    assert control.post("/throttle", json={"rps": None}).json() == {"rps": None, "burst": None}
    off = control.post("/throttle", json={"rps": None, "burst": "ignored, as it always was"})
    assert off.json() == {"rps": None, "burst": None}


@pytest.mark.parametrize(
    "body",
    [
        {"documented": False},
        {"documented": True, "rps": 5},
        {"buckets": {"chats.write": {"rps": 1}}, "rps": 1},
        {"buckets": []},
        {"buckets": {"teams": {"rps": 1}}},
        {"buckets": {"chats.read": 5}},
        {"buckets": {"chats.read": {"rps": 0}}},
        {"buckets": {"chats.read": {"rps": 0.5}}},
        {"buckets": {"chats.read": {"rps": 1, "rate": 2}}},
        {"buckets": {"chats.write": {"rps": 30, "resourceUnits": True}}},
        {"buckets": {"directory": {"rps": 1, "burst": 2, "resourceUnits": True}}},
    ],
)
def test_invalid_bucket_settings_are_400_and_change_nothing(
    control: httpx.Client, body: dict[str, Any]
) -> None:
    control.post("/throttle", json={"buckets": {"chats.write": {"rps": 7}}}).raise_for_status()
    answer = control.post("/throttle", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert control.get("/throttle").json()["buckets"]["chats.write"] == {"rps": 7, "burst": 7}


def test_a_null_bucket_is_unlimited(graph: httpx.Client, control: httpx.Client) -> None:
    shown = control.post("/throttle", json={"buckets": {"directory": None}}).json()
    assert shown == {"buckets": dict.fromkeys(DOCUMENTED["buckets"])}
    assert [graph.get(f"/users/{ADELE}").status_code for _ in range(3)] == [200] * 3


def test_debt_from_refused_calls_is_at_most_one_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1, burst=2, clock=lambda: now[0])
    for _ in range(10):
        bucket.spend("app")
    assert bucket.wait("app") == 3.0, "from -2 back to 1 token"
