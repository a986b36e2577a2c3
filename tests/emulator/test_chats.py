"""POST and GET /v1.0/chats: the reference examples and every rule of docs/graph.md the emulator enforces."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.cases import seed_examples
from tests.emulator.conftest import (
    ADELE,
    ALEX,
    ANA_GUEST,
    ANA_GUEST_UPN,
    APP,
    GRAPH,
    HOME_TENANT,
    JACOB,
    LYNNE,
    MEGAN,
    PARTNER_TENANT,
    error_of,
    group,
    member,
    one_on_one,
    user_bind,
)

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
GROUP_ID = re.compile(r"19:[0-9a-f]{32}@thread\.v2")
LOCATION = re.compile(r"/chats\('(?P<chat>19:[^']+)'\)/operations\('(?P<operation>[0-9a-f-]{100,})'\)")


def _assert_bad_request(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    error = error_of(answer)
    assert error["code"] == "BadRequest"
    for word in words:
        assert word in error["message"]


@pytest.mark.parametrize("number", range(1, 8))
def test_reference_example_is_answered_in_the_reference_shape(graph: httpx.Client, number: int) -> None:
    example = seed_examples()[number]
    expected = example["response"]
    answer = graph.post("/chats", json=example["request"])
    assert answer.status_code == expected["status"], answer.text
    if expected["status"] == 202:
        assert answer.content == b""
        assert LOCATION.fullmatch(answer.headers["Location"])
        return
    assert "Location" not in answer.headers
    body = answer.json()
    assert set(body) == set(expected["body"])
    assert body["@odata.context"] == expected["body"]["@odata.context"]
    assert body["chatType"] == expected["body"]["chatType"]
    assert body["topic"] == expected["body"]["topic"]
    assert ISO_UTC.fullmatch(body["createdDateTime"])
    assert body["lastUpdatedDateTime"] == body["createdDateTime"]
    if body["chatType"] == "group":
        assert GROUP_ID.fullmatch(body["id"])


@pytest.mark.parametrize("number", [5, 7])
def test_reference_one_on_one_ids_are_the_reference_ids(graph: httpx.Client, number: int) -> None:
    example = seed_examples()[number]
    answer = graph.post("/chats", json=example["request"])
    assert answer.json()["id"] == example["response"]["body"]["id"]


def test_example_1_id_is_made_of_its_own_members(graph: httpx.Client) -> None:
    """The reference page shows example 5's id under example 1; Graph's rule gives adele's and megan's."""
    answer = graph.post("/chats", json=seed_examples()[1]["request"])
    assert answer.json()["id"] == f"19:{MEGAN}_{ADELE}@unq.gbl.spaces"


def test_one_on_one_is_reused_and_group_is_not(graph: httpx.Client, control: httpx.Client) -> None:
    first = graph.post("/chats", json=one_on_one(JACOB, ALEX)).json()
    again = graph.post("/chats", json=one_on_one("alex@contoso.com", "JACOB@contoso.com"))
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.json()["createdDateTime"] == first["createdDateTime"]
    groups = {graph.post("/chats", json=group(JACOB, ALEX, LYNNE)).json()["id"] for _ in range(3)}
    assert len(groups) == 3
    assert len(control.get("/chats").json()) == 4


def test_control_lists_chats_with_members_roles_and_tenants(
    graph: httpx.Client, control: httpx.Client
) -> None:
    body = {
        "chatType": "group",
        "topic": "t",
        "members": [member(ADELE), member(ANA_GUEST, ("guest",)), member(MEGAN, tenant=PARTNER_TENANT)],
    }
    chat_id = graph.post("/chats", json=body).json()["id"]
    assert control.get("/chats").json() == [
        {
            "id": chat_id,
            "chatType": "group",
            "topic": "t",
            "members": [
                {"userId": ADELE, "roles": ["owner"], "tenantId": HOME_TENANT},
                {"userId": ANA_GUEST, "roles": ["guest"], "tenantId": HOME_TENANT},
                {"userId": MEGAN, "roles": ["owner"], "tenantId": PARTNER_TENANT},
            ],
            "installedApps": [],
        }
    ]


@pytest.mark.parametrize("count", [1, 3])
def test_one_on_one_needs_exactly_two_members(graph: httpx.Client, count: int) -> None:
    body = {"chatType": "oneOnOne", "members": [member(key) for key in (ADELE, MEGAN, JACOB)[:count]]}
    _assert_bad_request(graph.post("/chats", json=body), "exactly 2")


def test_group_needs_two_to_250_members(graph: httpx.Client, control: httpx.Client) -> None:
    _assert_bad_request(graph.post("/chats", json=group(ADELE)), "2 to 250")
    many = [
        {"id": f"00000000-0000-4000-8000-{n:012d}", "userPrincipalName": f"user{n}@contoso.com"}
        for n in range(251)
    ]
    assert control.post("/users", json=many).status_code == 201
    keys = [user["id"] for user in many]
    _assert_bad_request(graph.post("/chats", json=group(*keys)), "2 to 250")
    assert graph.post("/chats", json=group(*keys[:250])).status_code == 201


@pytest.mark.parametrize("members", [None, [], "absent"])
def test_members_cannot_be_null(graph: httpx.Client, members: Any) -> None:
    body: dict[str, Any] = {"chatType": "group", "topic": "t"}
    if members != "absent":
        body["members"] = members
    _assert_bad_request(graph.post("/chats", json=body), "Chat members cannot be null.")


def test_topic_only_on_group(graph: httpx.Client) -> None:
    body = one_on_one(ADELE, MEGAN) | {"topic": "Not allowed"}
    _assert_bad_request(graph.post("/chats", json=body), "topic")
    assert graph.post("/chats", json=group(ADELE, MEGAN, topic=None)).status_code == 201


@pytest.mark.parametrize("chat_type", [None, "meeting", "OneOnOne", 1])
def test_chat_type_is_required_and_known(graph: httpx.Client, chat_type: Any) -> None:
    body = one_on_one(ADELE, MEGAN) | {"chatType": chat_type}
    _assert_bad_request(graph.post("/chats", json=body), "chatType")


def test_guest_user_must_be_guest(graph: httpx.Client) -> None:
    body: dict[str, Any] = {
        "chatType": "group",
        "topic": "t",
        "members": [member(ADELE), member(MEGAN), member(ANA_GUEST)],
    }
    _assert_bad_request(graph.post("/chats", json=body), ANA_GUEST, "guest")
    body["members"][2] = member(ANA_GUEST, ("owner", "guest"))
    _assert_bad_request(graph.post("/chats", json=body), "guest")


def test_guest_role_only_for_guest_users(graph: httpx.Client) -> None:
    body = {"chatType": "group", "topic": "t", "members": [member(ADELE), member(MEGAN, ("guest",))]}
    _assert_bad_request(graph.post("/chats", json=body), MEGAN, "guest")


@pytest.mark.parametrize("roles", [("guest",), (), ("owner", "owner")])
def test_user_of_another_tenant_must_be_owner(graph: httpx.Client, roles: tuple[str, ...]) -> None:
    body = {"chatType": "oneOnOne", "members": [member(ADELE), member(MEGAN, roles, PARTNER_TENANT)]}
    _assert_bad_request(graph.post("/chats", json=body), PARTNER_TENANT, "owner")


def test_unknown_role_is_refused(graph: httpx.Client) -> None:
    body = {"chatType": "group", "topic": "t", "members": [member(ADELE), member(MEGAN, ("admin",))]}
    _assert_bad_request(graph.post("/chats", json=body), "admin")


@pytest.mark.parametrize(
    ("key", "tenant"),
    [
        ("00000000-0000-4000-8000-000000000000", None),
        ("ana@fabrikam.com", None),  # a guest's email is not its UPN
        (JACOB, PARTNER_TENANT),  # jacob is a user of the home tenant only
    ],
)
def test_unknown_user_is_404(graph: httpx.Client, key: str, tenant: str | None) -> None:
    body = {"chatType": "oneOnOne", "members": [member(ADELE), member(key, tenant=tenant)]}
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 404
    error = error_of(answer)
    assert error["code"] == "NotFound"
    assert key in error["message"]


def test_same_user_twice_is_refused_even_by_id_and_upn(graph: httpx.Client) -> None:
    _assert_bad_request(graph.post("/chats", json=group(ADELE, MEGAN, ADELE.upper())), "more than once")
    _assert_bad_request(graph.post("/chats", json=one_on_one(JACOB, "jacob@contoso.com")), "more than once")


def test_same_object_id_in_two_tenants_is_two_users(graph: httpx.Client) -> None:
    body = {
        "chatType": "group",
        "topic": "t",
        "members": [member(ADELE), member(MEGAN), member(MEGAN, tenant=PARTNER_TENANT)],
    }
    assert graph.post("/chats", json=body).status_code == 201


@pytest.mark.parametrize(
    ("where", "name"),
    [("chat", "members2"), ("chat", "id"), ("member", "email"), ("member", "userId"), ("app", "teamsAppId")],
)
def test_undeclared_property_is_refused(graph: httpx.Client, where: str, name: str) -> None:
    body: dict[str, Any] = one_on_one(ADELE, MEGAN)
    target = {"chat": body, "member": body["members"][1], "app": {}}[where]
    if where == "app":
        target["teamsApp@odata.bind"] = f"{GRAPH}/appCatalogs/teamsApps/{APP}"
        body["installedApps"] = [target]
    target[name] = "x"
    _assert_bad_request(graph.post("/chats", json=body), f"'{name}'")


@pytest.mark.parametrize(
    "odata_type", [None, "#microsoft.graph.conversationMember", "aadUserConversationMember"]
)
def test_member_odata_type_must_be_aad_user_conversation_member(graph: httpx.Client, odata_type: Any) -> None:
    body = one_on_one(ADELE, MEGAN)
    if odata_type is None:
        del body["members"][0]["@odata.type"]
    else:
        body["members"][0]["@odata.type"] = odata_type
    _assert_bad_request(graph.post("/chats", json=body))


def test_chat_odata_type_is_accepted_only_when_right(graph: httpx.Client) -> None:
    body = one_on_one(ADELE, MEGAN)
    assert graph.post("/chats", json=body | {"@odata.type": "#microsoft.graph.chat"}).status_code == 201
    _assert_bad_request(graph.post("/chats", json=body | {"@odata.type": "#microsoft.graph.team"}))


@pytest.mark.parametrize(
    "bind",
    [
        f"{GRAPH}/users/{ADELE}",
        f"https://graph.microsoft.com/beta/users('{ADELE}')",
        f"{GRAPH}/users('')",
        f"{GRAPH}/users('it's')",
        42,
    ],
)
def test_malformed_user_bind_is_refused(graph: httpx.Client, bind: Any) -> None:
    body = one_on_one(ADELE, MEGAN)
    body["members"][0]["user@odata.bind"] = bind
    _assert_bad_request(graph.post("/chats", json=body), "user@odata.bind")


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'"text"', b"null"])
def test_body_must_be_a_json_object(graph: httpx.Client, content: bytes) -> None:
    answer = graph.post("/chats", content=content, headers={"Content-Type": "application/json"})
    _assert_bad_request(answer, "JSON")


def test_percent_encoded_guest_upn_is_decoded(graph: httpx.Client, control: httpx.Client) -> None:
    body: dict[str, Any] = {
        "chatType": "group",
        "topic": "t",
        "members": [member(ADELE), member(MEGAN), member(ANA_GUEST_UPN, ("guest",))],
    }
    body["members"][2]["user@odata.bind"] = user_bind(ANA_GUEST_UPN, encode=True)
    assert "%23EXT%23" in body["members"][2]["user@odata.bind"]
    assert graph.post("/chats", json=body).status_code == 201
    assert control.get("/chats").json()[0]["members"][2]["userId"] == ANA_GUEST


@pytest.mark.parametrize("encode", [False, True])
def test_quote_in_upn_is_an_escaped_odata_literal(
    graph: httpx.Client, control: httpx.Client, encode: bool
) -> None:
    obrien = {"id": "0c7b4b0e-7d1e-4d0b-9a57-0d8f0e6b1a01", "userPrincipalName": "o'brien@contoso.com"}
    control.post("/users", json=obrien).raise_for_status()
    body = one_on_one(ADELE, MEGAN)
    body["members"][1]["user@odata.bind"] = user_bind("o'brien@contoso.com", encode=encode)
    assert "''" in body["members"][1]["user@odata.bind"] or "%27%27" in body["members"][1]["user@odata.bind"]
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] == f"19:{obrien['id']}_{ADELE}@unq.gbl.spaces"


def test_get_chat_gives_the_full_resource(graph: httpx.Client) -> None:
    created = graph.post("/chats", json=group(ADELE, MEGAN, topic="Topic")).json()
    answer = graph.get(f"/chats/{created['id']}")
    assert answer.status_code == 200
    chat = answer.json()
    assert chat["webUrl"] == (
        f"https://teams.microsoft.com/l/chat/{created['id'].replace(':', '%3A').replace('@', '%40')}"
        f"/0?tenantId={HOME_TENANT}"
    )
    assert chat == created | {
        "webUrl": chat["webUrl"],
        "tenantId": HOME_TENANT,
        "onlineMeetingInfo": None,
        "viewpoint": None,
    }


def test_get_chat_accepts_a_percent_encoded_id(graph: httpx.Client) -> None:
    chat_id = graph.post("/chats", json=group(ADELE, MEGAN)).json()["id"]
    encoded = chat_id.replace(":", "%3A").replace("@", "%40")
    answer = graph.get(f"/chats/{encoded}")
    assert "%3A" in str(answer.request.url)
    assert answer.status_code == 200
    assert answer.json()["id"] == chat_id


def test_get_chat_with_members_expanded(graph: httpx.Client) -> None:
    body = {"chatType": "group", "topic": "t", "members": [member(ADELE), member(ANA_GUEST, ("guest",))]}
    chat_id = graph.post("/chats", json=body).json()["id"]
    chat = graph.get(f"/chats/{chat_id}", params={"$expand": "members"}).json()
    members = chat["members"]
    assert [m["userId"] for m in members] == [ADELE, ANA_GUEST]
    assert members[1] == {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "id": members[1]["id"],
        "roles": ["guest"],
        "displayName": "Ana",
        "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        "userId": ANA_GUEST,
        "email": "ana@fabrikam.com",
        "tenantId": HOME_TENANT,
    }
    assert members[0]["id"] != members[1]["id"]
    assert "members" not in graph.get(f"/chats/{chat_id}").json()
    _assert_bad_request(graph.get(f"/chats/{chat_id}", params={"$expand": "messages"}), "messages")


def test_unknown_chat_is_404(graph: httpx.Client) -> None:
    answer = graph.get("/chats/19:00000000000000000000000000000000@thread.v2")
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "NotFound"


def test_unknown_path_and_method_are_graph_errors(graph: httpx.Client) -> None:
    assert error_of(graph.get("/teams"))["code"] == "NotFound"
    assert graph.get("/teams").status_code == 404
    answer = graph.delete("/chats/19:x@thread.v2")
    assert answer.status_code == 405
    assert error_of(answer)["code"] == "MethodNotAllowed"


def test_answers_carry_request_ids(graph: httpx.Client) -> None:
    answer = graph.post("/chats", json=one_on_one(ADELE, MEGAN), headers={"client-request-id": "mine-1"})
    assert answer.headers["client-request-id"] == "mine-1"
    assert re.fullmatch(r"[0-9a-f-]{36}", answer.headers["request-id"])
    assert answer.headers["content-type"] == "application/json"
    refused = graph.post("/chats", json={}, headers={"client-request-id": "mine-2"})
    assert error_of(refused)["innerError"]["client-request-id"] == "mine-2"
