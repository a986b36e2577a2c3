"""The per-app token bucket over Graph calls, as Teams limits each app
(https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits)."""

from __future__ import annotations

import time

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.throttle import TokenBucket
from tests.emulator.conftest import ADELE, MEGAN, client, error_of, get_token, group

USER_ASSIGNED = "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"


def test_an_empty_bucket_answers_429_saying_when_a_token_is_free(
    graph: httpx.Client, control: httpx.Client
) -> None:
    assert control.post("/throttle", json={"rps": 4, "burst": 3}).json() == {"rps": 4, "burst": 3}
    answers = [graph.get(f"/users/{ADELE}") for _ in range(3)]
    answers.append(graph.post("/chats", json=group(ADELE, MEGAN)))
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    throttled = answers[-1]
    assert error_of(throttled)["code"] == "TooManyRequests"
    wait = float(throttled.headers["Retry-After"])
    assert 0 < wait <= 0.25, "one token in 1/rps seconds at most"
    assert control.get("/chats").json() == [], "a throttled call is not carried out"
    time.sleep(wait)
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 201
    statuses = [
        entry["status"] for entry in control.get("/requests").json() if entry["path"] == "/v1.0/chats"
    ]
    assert statuses == [429, 201], "throttled calls are in the request log"


def test_each_app_has_its_own_bucket(emulator: Emulator, graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/identity", json={"clientIds": [USER_ASSIGNED]}).raise_for_status()
    control.post("/throttle", json={"rps": 0.5, "burst": 1}).raise_for_status()
    issued = get_token(emulator, client_id=USER_ASSIGNED)
    assert graph.get(f"/users/{ADELE}").status_code == 200
    assert graph.get(f"/users/{ADELE}").status_code == 429
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {issued}"}) as other_app:
        assert other_app.get(f"/users/{ADELE}").status_code == 200


def test_null_turns_the_throttle_off(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/throttle", json={"rps": 0.1, "burst": 1}).raise_for_status()
    assert [graph.get(f"/users/{ADELE}").status_code for _ in range(2)] == [200, 429]
    control.post("/throttle", json={"rps": None}).raise_for_status()
    assert [graph.get(f"/users/{ADELE}").status_code for _ in range(5)] == [200] * 5


def test_reset_turns_the_throttle_off(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/throttle", json={"rps": 0.1, "burst": 1}).raise_for_status()
    control.post("/reset").raise_for_status()
    assert [graph.get(f"/users/{ADELE}").status_code for _ in range(3)] == [200] * 3


@pytest.mark.parametrize("body", [{"rps": 0}, {"rps": 5, "burst": 0.5}, {"rps": "fast"}, {"rate": 5}])
def test_invalid_throttle_settings_are_400(control: httpx.Client, body: dict[str, object]) -> None:
    assert control.post("/throttle", json=body).status_code == 400


def test_the_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2, burst=2, clock=lambda: now[0])
    assert [bucket.take("app") for _ in range(3)] == [None, None, 0.5]
    now[0] += 0.25
    assert bucket.take("app") == 0.25
    now[0] += 0.25
    assert bucket.take("app") is None
    now[0] += 60
    assert [bucket.take("app") for _ in range(3)] == [None, None, 0.5], "never more than the burst"
