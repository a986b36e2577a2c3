"""Helpers for the emulator's tests: a Graph client holding a token, and Graph request bodies."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from chatfn.emulator import Emulator

GRAPH = "https://graph.microsoft.com/v1.0"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
HOME_TENANT = "5f2c7a4e-1b3d-4c8e-9a6f-0d1e2f3a4b5c"
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
ADELE = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
MEGAN = "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"
ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
LYNNE = "3626a173-f2bc-4883-bcf7-01514c3bfb82"
ANA_GUEST = "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"
ANA_GUEST_UPN = "ana_fabrikam.com#EXT#@contoso.onmicrosoft.com"
APP = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"

# Built once: httpx otherwise loads a CA bundle for every client, which dominates these fast tests.
_TLS = ssl.create_default_context()


def client(base_url: str = "", **options: Any) -> httpx.Client:
    """An httpx client as any caller would make one, minus the per-client CA bundle load."""
    return httpx.Client(base_url=base_url, verify=_TLS, **{"timeout": 10, **options})


def get_token(
    emulator: Emulator, resource: str = "https://graph.microsoft.com", client_id: str | None = None
) -> str:
    """A token from the emulator's managed identity endpoint; `client_id`: a user-assigned identity's."""
    params = {"resource": resource, "api-version": "2019-08-01"} | (
        {"client_id": client_id} if client_id else {}
    )
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint,
            params=params,
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def user_bind(key: str, *, encode: bool = False) -> str:
    """users('<key>') with the key as an OData literal, percent-encoded when asked."""
    literal = key.replace("'", "''")
    return f"{GRAPH}/users('{quote(literal, safe='') if encode else literal}')"


def member(key: str, roles: tuple[str, ...] = ("owner",), tenant: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": MEMBER_TYPE,
        "roles": list(roles),
        "user@odata.bind": user_bind(key),
    }
    if tenant is not None:
        body["tenantId"] = tenant
    return body


def group(*keys: str, topic: str | None = "Incident 4711") -> dict[str, Any]:
    return {"chatType": "group", "topic": topic, "members": [member(key) for key in keys]}


def one_on_one(first: str, second: str) -> dict[str, Any]:
    return {"chatType": "oneOnOne", "members": [member(first), member(second)]}


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The `error` object of a Graph error answer, after checking the shape around it."""
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["innerError"]["request-id"] == answer.headers["request-id"]
    return error


@pytest.fixture
def token(emulator: Emulator) -> str:
    return get_token(emulator)


@pytest.fixture
def graph(emulator: Emulator, token: str) -> Iterator[httpx.Client]:
    """A client on the emulator's /v1.0 carrying a Graph token, as chatfn's Graph client would."""
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http
