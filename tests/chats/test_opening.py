"""The direct path against the emulator: Graph's 201 read and answered, Graph's 202 handed on, and a
POST whose outcome is unknown never making a second chat (the emulator makes the chat, then fails)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chatfn.chats.opening import Accepted, Made, open_chat
from chatfn.chats.spec import parse_chat_request
from chatfn.emulator import Emulator
from chatfn.failures import StepFailed
from tests.cases import EQUIVALENT_REQUESTS
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"
LYNNE = "3626a173-f2bc-4883-bcf7-01514c3bfb82"
GROUP = {"topic": "Exactly one", "members": [{"userId": ALEX}, {"userId": JACOB}, {"userId": LYNNE}]}
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
ONE_ON_ONE = {"members": [{"userId": ALEX}, {"userId": JACOB}]}


def _posts(control: httpx.Client) -> int:
    return sum(r["method"] == "POST" and r["path"] == "/v1.0/chats" for r in control.get("/requests").json())


async def _no_sleep(seconds: float) -> None:
    """Graph's lists are up to date at once in these tests: the looks between sends need no real wait."""


async def _open(emulator: Emulator, body: dict[str, Any], **options: Any) -> Made | Accepted:
    async with graph_for(emulator) as graph:
        return await open_chat(
            parse_chat_request(body), graph, attempt_started=datetime.now(UTC), sleep=_no_sleep, **options
        )


async def test_graphs_201_is_read_and_made(emulator: Emulator, control: httpx.Client) -> None:
    made = await _open(emulator, GROUP)
    assert isinstance(made, Made)
    assert not made.reused
    assert made.chat.webUrl
    assert {m.userId for m in made.chat.members} == {ALEX, JACOB, LYNNE}


async def test_graphs_202_is_handed_on(emulator: Emulator) -> None:
    accepted = await _open(emulator, EQUIVALENT_REQUESTS[3])
    assert isinstance(accepted, Accepted)
    assert "/operations(" in accepted.location


@pytest.mark.parametrize("failure", [{"status": 504}, {"drop": True}, {"status": 500}])
async def test_a_group_chat_made_before_graph_failed_is_adopted(
    failure: dict[str, Any], emulator: Emulator, control: httpx.Client
) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "after": True, "count": 1} | failure
    control.post("/faults", json=fault).raise_for_status()
    made = await _open(emulator, GROUP)
    assert isinstance(made, Made)
    assert len(control.get("/chats").json()) == 1
    assert _posts(control) == 1, "found, so never sent again"


async def test_a_group_chat_graph_never_made_is_sent_again_after_looking(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 504, "count": 1})
    made = await _open(emulator, GROUP)
    assert isinstance(made, Made)
    assert len(control.get("/chats").json()) == 1
    assert _posts(control) == 2
    lists = [
        r for r in control.get("/requests").json() if r["path"].endswith("/chats") and r["method"] == "GET"
    ]
    assert len(lists) == 3, "looked three times, as lists are eventually consistent"


async def test_after_every_send_failed_and_nothing_was_found_nothing_was_made(
    emulator: Emulator, control: httpx.Client
) -> None:
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 503, "retryAfter": 0.01})
    with pytest.raises(StepFailed) as failed:
        await _open(emulator, GROUP)
    assert failed.value.failure.createdNothing is True
    assert _posts(control) == 3
    assert control.get("/chats").json() == []


async def test_a_one_on_one_is_simply_sent_again(emulator: Emulator, control: httpx.Client) -> None:
    """Graph returns the existing one-on-one chat for the same two members: no search needed."""
    control.post(
        "/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 1}
    )
    made = await _open(emulator, ONE_ON_ONE)
    assert isinstance(made, Made)
    assert len(control.get("/chats").json()) == 1
    assert not [r for r in control.get("/requests").json() if r["path"].startswith("/v1.0/users/")]


async def test_without_a_searchable_member_the_outcome_stays_unknown(
    emulator: Emulator, control: httpx.Client
) -> None:
    """Members of another tenant are not in this tenant's lists: nothing to search, so no resend."""
    partner_user = {
        "id": "0c4d4f7e-5a8b-4b6e-9a51-3c2d1e0f9a8b",
        "userPrincipalName": "cy@partner.com",
        "tenantId": PARTNER_TENANT,
    }
    control.post("/users", json=partner_user).raise_for_status()
    control.post("/faults", json={"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True})
    federated = {
        "topic": "Federated",
        "members": [
            {"userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d", "tenantId": PARTNER_TENANT},
            {"userId": partner_user["id"], "tenantId": PARTNER_TENANT},
        ],
    }
    with pytest.raises(StepFailed) as failed:
        await _open(emulator, federated)
    assert failed.value.failure.createdNothing is False
    assert _posts(control) == 1, "never sent again while the chat may exist"
    with pytest.raises(StepFailed) as again:
        await _open(emulator, federated, look_first=True)
    assert again.value.failure.createdNothing is False
    assert _posts(control) == 1, "a repeat of the key does not send it again either"


async def test_reuse_existing_answers_the_chat_found(emulator: Emulator, control: httpx.Client) -> None:
    first = await _open(emulator, GROUP | {"reuseExisting": True})
    again = await _open(emulator, GROUP | {"reuseExisting": True})
    other = await _open(emulator, GROUP | {"reuseExisting": True, "topic": "Another"})
    assert isinstance(first, Made)
    assert isinstance(again, Made)
    assert isinstance(other, Made)
    assert (first.reused, again.reused, other.reused) == (False, True, False)
    assert again.chat.id == first.chat.id
    assert len(control.get("/chats").json()) == 2


async def test_an_earlier_attempts_chat_is_looked_for_first(
    emulator: Emulator, control: httpx.Client
) -> None:
    """A worker died after Graph made the chat; its successor finds it before sending anything."""
    began = datetime.now(UTC) - timedelta(seconds=1)
    earlier = await _open(emulator, GROUP)
    assert isinstance(earlier, Made)
    async with graph_for(emulator) as graph:
        carried_on = await open_chat(
            parse_chat_request(GROUP), graph, attempt_started=began, look_first=True, sleep=_no_sleep
        )
    assert isinstance(carried_on, Made)
    assert carried_on.chat.id == earlier.chat.id
    assert _posts(control) == 1
