"""Callers signed in with Microsoft Entra ID (`CHATFN_CALLER_AUTH=entra`): App Service authentication
validates the token and passes the principal in X-MS-CLIENT-PRINCIPAL; the app needs the app role
Chats.Create, keeps each principal's idempotency keys apart, and asks for no function key on top."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.apphost import ROOT, AppHost, start_app_host

pytestmark = [pytest.mark.apphost, pytest.mark.azurite]

GROUP = {"topic": "Signed in", "emails": "alex@contoso.com;jacob@contoso.com;lynne@contoso.com"}
OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _signed_in(object_id: str, *roles: str) -> dict[str, str]:
    claims = [{"typ": OID, "val": object_id}, *({"typ": "roles", "val": role} for role in roles)]
    principal = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": claims}
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": object_id,
    }


@pytest.fixture(scope="module")
def entra_host(azurite: str) -> Iterator[AppHost]:
    host = start_app_host(settings={"CHATFN_CALLER_AUTH": "entra"}, storage=azurite)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def entra_api(entra_host: AppHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{entra_host.emulator_url}/_emulator", timeout=10) as control:
        control.post("/reset").raise_for_status()
    with httpx.Client(base_url=entra_host.api, timeout=60) as client:
        yield client


def test_without_a_principal_or_the_role_nothing_happens(
    entra_api: httpx.Client, entra_host: AppHost
) -> None:
    anonymous = entra_api.post("/chats", json=GROUP)
    no_role = entra_api.post("/chats", json=GROUP, headers=_signed_in("aaaa-1", "Chats.Read"))
    assert (anonymous.status_code, no_role.status_code) == (401, 403)
    assert no_role.json()["type"] == "urn:chatfn:problem:caller-refused"
    with httpx.Client(base_url=f"{entra_host.emulator_url}/_emulator", timeout=10) as control:
        assert control.get("/requests").json() == [], "nothing reached Graph"


def test_a_caller_with_the_role_creates_the_chat(entra_api: httpx.Client) -> None:
    answer = entra_api.post("/chats", json=GROUP, headers=_signed_in("aaaa-1", "Chats.Create"))
    assert answer.status_code == 201, answer.text


def test_two_callers_with_the_same_key_never_meet(entra_api: httpx.Client) -> None:
    key = {"Idempotency-Key": "shared-by-accident"}
    one = entra_api.post("/chats", json=GROUP, headers=_signed_in("aaaa-1", "Chats.Create") | key)
    two = entra_api.post(
        "/chats", json=GROUP | {"topic": "Other"}, headers=_signed_in("bbbb-2", "Chats.Create") | key
    )
    assert (one.status_code, two.status_code) == (201, 201), "no 409 between callers"
    assert one.json()["chatId"] != two.json()["chatId"], "no shared answer"
    mine_again = entra_api.post(
        "/chats", json=GROUP | {"topic": "Other"}, headers=_signed_in("aaaa-1", "Chats.Create") | key
    )
    assert mine_again.status_code == 409, "the same caller's key still guards its own request"


@pytest.mark.parametrize(("mode", "level"), [("key", "FUNCTION"), ("entra", "ANONYMOUS")])
def test_the_functions_auth_level_follows_the_choice(mode: str, level: str) -> None:
    """A caller never needs both a key and a token: with Entra ID the functions are anonymous to the
    Functions host, and App Service authentication guards them."""
    script = (
        "import function_app; "
        "print(function_app.app.get_functions()[0].get_trigger().auth_level.name)"  # POST /api/chats
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFN_")} | {"CHATFN_CALLER_AUTH": mode}
    printed = subprocess.run(  # noqa: S603 - this interpreter, our own app
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip().splitlines()[-1] == level
