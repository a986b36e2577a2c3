"""Who is calling: function-key callers share one scope; Entra ID callers are told apart by their object
id and need the app role, and their headers count only in Entra ID mode."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from chatfn.api.callers import KEY_CALLERS_SCOPE, CallerRefused, caller_of

OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def _principal(*claims: tuple[str, str]) -> dict[str, str]:
    body: dict[str, Any] = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "roles",
        "claims": [{"typ": typ, "val": val} for typ, val in claims],
    }
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(body).encode()).decode()}


def test_key_mode_ignores_principal_headers_anyone_could_send() -> None:
    forged = _principal((OID, "11111111-1111-1111-1111-111111111111"), ("roles", "Chats.Create"))
    assert caller_of(forged, "key").scope == KEY_CALLERS_SCOPE
    assert caller_of({}, "key").scope == KEY_CALLERS_SCOPE


def test_entra_callers_are_scoped_by_object_id() -> None:
    one = caller_of(_principal((OID, "AAAA-1"), ("roles", "Chats.Create")), "entra")
    two = caller_of(_principal(("oid", "bbbb-2"), ("roles", "Chats.Create")), "entra")
    assert one.scope == "entra:aaaa-1"
    assert two.scope == "entra:bbbb-2"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-MS-CLIENT-PRINCIPAL": "not base64!"}, 401),
        ({"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[1]").decode()}, 401),
        (_principal(("roles", "Chats.Create")), 401),
        (_principal((OID, "aaaa-1")), 403),
        (_principal((OID, "aaaa-1"), ("roles", "Chats.Read")), 403),
    ],
)
def test_entra_mode_refuses_callers_without_a_principal_or_the_role(
    headers: dict[str, str], status: int
) -> None:
    with pytest.raises(CallerRefused) as refused:
        caller_of(headers, "entra")
    assert refused.value.status == status


def test_a_refusal_says_what_to_do() -> None:
    with pytest.raises(CallerRefused) as refused:
        caller_of(_principal((OID, "aaaa-1")), "entra")
    assert refused.value.detail == str(refused.value)
    assert "Chats.Create" in refused.value.detail


def test_a_principal_with_characters_outside_base64_is_refused() -> None:
    """Strict decoding: junk around a valid principal is not skipped over."""
    valid = _principal((OID, "aaaa-1"), ("roles", "Chats.Create"))["X-MS-CLIENT-PRINCIPAL"]
    assert caller_of({"X-MS-CLIENT-PRINCIPAL": valid}, "entra").scope == "entra:aaaa-1"
    with pytest.raises(CallerRefused) as refused:
        caller_of({"X-MS-CLIENT-PRINCIPAL": f"*{valid}*"}, "entra")
    assert refused.value.status == 401
