"""Request -> Graph body: each reference example comes out exactly, whatever the form it was asked in."""

from __future__ import annotations

import json

import pytest

from chatfn.chats.spec import ChatSpec, parse_chat_request
from chatfn.chats.translate import ResolvedMember, chat_body, member_body, odata_key, user_bind
from tests.cases import EQUIVALENT_REQUESTS, EXAMPLE_6_GUEST_ID, reference_body


def _bound_as_given(spec: ChatSpec) -> list[ResolvedMember]:
    """What resolution gives when no guest needs a lookup: each member as it was asked for."""
    return [
        ResolvedMember(key=m.userId or m.email or "", guest=m.guest, tenant_id=m.tenantId)
        for m in spec.members
    ]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 7])
def test_reference_example_body(number: int) -> None:
    spec = parse_chat_request(EQUIVALENT_REQUESTS[number])
    body = chat_body(spec, _bound_as_given(spec))
    assert json.loads(json.dumps(body)) == reference_body(number)


def test_reference_example_6_with_the_guest_id_given() -> None:
    request = {
        "topic": "Group chat title",
        "members": [
            {"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"},
            {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"},
            {"userId": EXAMPLE_6_GUEST_ID, "guest": True},
        ],
    }
    spec = parse_chat_request(request)
    assert chat_body(spec, _bound_as_given(spec)) == reference_body(6)


def test_keys_follow_the_reference_order() -> None:
    spec = parse_chat_request(EQUIVALENT_REQUESTS[4] | {"chatType": "oneOnOne"})
    assert list(chat_body(spec, _bound_as_given(spec))) == ["chatType", "members", "installedApps"]
    spec = parse_chat_request(EQUIVALENT_REQUESTS[2])
    assert list(chat_body(spec, _bound_as_given(spec))) == ["chatType", "topic", "members"]


def test_a_quote_in_an_address_is_doubled() -> None:
    assert (
        user_bind("o'brien@contoso.com") == "https://graph.microsoft.com/v1.0/users('o''brien@contoso.com')"
    )


def test_a_guest_upn_is_percent_encoded() -> None:
    assert odata_key("ana_fabrikam.com#EXT#@contoso.onmicrosoft.com") == (
        "ana_fabrikam.com%23EXT%23@contoso.onmicrosoft.com"
    )


def test_binds_name_graph_even_when_requests_go_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/api.md (Settings): binds identify objects; GRAPH_BASE_URL only says where requests go."""
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:1/v1.0")
    spec = parse_chat_request(EQUIVALENT_REQUESTS[3])
    body = chat_body(spec, _bound_as_given(spec))
    assert body["members"][0]["user@odata.bind"].startswith("https://graph.microsoft.com/v1.0/users(")
    assert body["installedApps"][0]["teamsApp@odata.bind"].startswith(
        "https://graph.microsoft.com/v1.0/appCatalogs/"
    )


def test_guests_get_role_guest_and_federated_users_keep_their_tenant() -> None:
    spec = parse_chat_request(
        {
            "members": [
                {"email": "alex@contoso.com"},
                {"userId": EXAMPLE_6_GUEST_ID, "guest": True},
                {
                    "userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d",
                    "tenantId": "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1",
                },
            ]
        }
    )
    members = chat_body(spec, _bound_as_given(spec))["members"]
    assert [m["roles"] for m in members] == [["owner"], ["guest"], ["owner"]]
    assert "tenantId" not in members[0]
    assert members[2]["tenantId"] == "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"


def test_a_member_is_an_owner_unless_said_to_be_a_guest() -> None:
    assert member_body(ResolvedMember(key="82fe7758-5bb3-4f0d-a43f-e555fd399c6f"))["roles"] == ["owner"]
