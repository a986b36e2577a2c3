"""GET /v1.0/users: by id or UPN, and by mail through $filter, as chatfn resolves guests."""

from __future__ import annotations

import socket
from urllib.parse import quote

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from tests.emulator.conftest import ADELE, ALEX, ANA_GUEST, ANA_GUEST_UPN, JACOB, error_of, group, member

ADELE_JSON = {
    "id": ADELE,
    "displayName": "Adele",
    "userPrincipalName": "adele@contoso.com",
    "mail": "adele@contoso.com",
    "userType": "Member",
}


@pytest.mark.parametrize("key", [ADELE, ADELE.upper(), "adele@contoso.com", "Adele@Contoso.com"])
def test_user_by_id_or_upn(graph: httpx.Client, key: str) -> None:
    answer = graph.get(f"/users/{key}")
    assert answer.status_code == 200
    assert (
        answer.json()
        == {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity"} | ADELE_JSON
    )


def test_guest_by_encoded_upn(graph: httpx.Client) -> None:
    assert graph.get(f"/users/{quote(ANA_GUEST_UPN, safe='@')}").json()["id"] == ANA_GUEST


def test_unknown_user_is_request_resource_not_found(graph: httpx.Client) -> None:
    answer = graph.get("/users/ana@fabrikam.com")  # an email that is not a UPN
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "Request_ResourceNotFound"


def test_user_of_another_tenant_is_not_found_here(graph: httpx.Client) -> None:
    assert graph.get("/users/bo@partner.com").status_code == 404


@pytest.mark.parametrize("mail", ["ana@fabrikam.com", "ANA@Fabrikam.com"])
def test_filter_by_mail(graph: httpx.Client, mail: str) -> None:
    answer = graph.get("/users", params={"$filter": f"mail eq '{mail}'"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users"
    assert [user["id"] for user in body["value"]] == [ANA_GUEST]


def test_filter_spelt_in_the_url_and_with_plus_for_space(graph: httpx.Client) -> None:
    assert graph.get("/users?$filter=mail eq 'ana@fabrikam.com'").json()["value"][0]["id"] == ANA_GUEST
    assert (
        graph.get("/users?%24filter=mail+eq+%27ana%40fabrikam.com%27").json()["value"][0]["id"] == ANA_GUEST
    )


def test_filter_with_escaped_quote_and_no_match(graph: httpx.Client, control: httpx.Client) -> None:
    control.post(
        "/users",
        json={
            "id": "0c7b4b0e-7d1e-4d0b-9a57-0d8f0e6b1a02",
            "userPrincipalName": "x@contoso.com",
            "mail": "o'k@y.com",
        },
    ).raise_for_status()
    found = graph.get("/users", params={"$filter": "mail eq 'o''k@y.com'"}).json()["value"]
    assert [user["userPrincipalName"] for user in found] == ["x@contoso.com"]
    assert graph.get("/users", params={"$filter": "mail eq 'nobody@y.com'"}).json()["value"] == []


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("startswith(mail,'ana')", "Request_UnsupportedQuery"),
        ("mail eq ana@fabrikam.com", "BadRequest"),
        ("mail in 'ana@fabrikam.com'", "BadRequest"),
        ("mail in ('ana@fabrikam.com'", "BadRequest"),
        ("mail eq 'a@x.com' or", "BadRequest"),
        ("displayName eq 'Ana'", "Request_UnsupportedQuery"),
        ("mail ne 'ana@fabrikam.com'", "Request_UnsupportedQuery"),
        ("mail eq 'a@x.com' and userPrincipalName eq 'a@x.com'", "Request_UnsupportedQuery"),
    ],
)
def test_unsupported_filter_is_400(graph: httpx.Client, expression: str, code: str) -> None:
    answer = graph.get("/users", params={"$filter": expression})
    assert answer.status_code == 400
    assert error_of(answer)["code"] == code


def test_mail_differs_from_upn_in_the_default_directory(graph: httpx.Client) -> None:
    """Real tenants: the mail is not the sign-in name, so only a lookup by mail finds sam."""
    assert SAM.mail != SAM.user_principal_name
    assert graph.get(f"/users/{SAM.mail}").status_code == 404
    assert graph.get(f"/users/{SAM.user_principal_name}").json()["id"] == SAM.id
    by_mail = graph.get("/users", params={"$filter": "mail eq 'SAM@contoso.com'"}).json()["value"]
    assert [user["id"] for user in by_mail] == [SAM.id]


def test_in_and_or_over_mail_and_upn(graph: httpx.Client) -> None:
    expression = (
        "mail in ('sam@contoso.com','MEMBER01@contoso.com','nobody@contoso.com') "
        "or userPrincipalName in ('m02.k@contoso.onmicrosoft.com','sam@contoso.com') "
        "or userPrincipalName eq 'Adele@contoso.com'"
    )
    found = graph.get("/users", params={"$filter": expression, "$select": "id,mail"}).json()["value"]
    assert sorted(user["mail"] for user in found) == [
        "adele@contoso.com",
        "member01@contoso.com",
        "member02@contoso.com",
        "sam@contoso.com",
    ]


def test_fifteen_values_per_in_and_not_sixteen(graph: httpx.Client) -> None:
    """Graph's default cap on `in`, and its error for more (microsoftgraph/microsoft-graph-docs#21098)."""
    mails = [member.mail for member in NUMBERED_MEMBERS[:16]]
    listed = ",".join(f"'{mail}'" for mail in mails[:15])
    assert len(graph.get("/users", params={"$filter": f"mail in ({listed})"}).json()["value"]) == 15
    too_many = ",".join(f"'{mail}'" for mail in mails)
    answer = graph.get("/users", params={"$filter": f"mail in ({too_many})"})
    assert answer.status_code == 400
    assert error_of(answer) | {"innerError": None} == {
        "code": "Request_UnsupportedQuery",
        "message": "Too many child clauses specified in search filter expression containing 'OR' "
        "operators: 16. Max allowed: 15.",
        "innerError": None,
    }


def test_quoted_literal_is_cut_out_before_percent_decoding(graph: httpx.Client) -> None:
    """`%27` inside users('...') is a quote of the literal only once decoded: o%27%27k is o'k."""
    assert graph.get("/users('adele%40contoso.com')").json()["id"] == ADELE
    assert graph.get(f"/users('{quote(ANA_GUEST_UPN, safe='@')}')").json()["id"] == ANA_GUEST


def test_raw_hash_in_a_key_is_400(emulator: Emulator, token: str) -> None:
    """A raw `#` starts a URL's fragment: Graph wants %23 (sent here on a raw socket, as a sloppy
    client would; an HTTP library would cut the key short at the `#`, which is a 400 too)."""
    host, port = emulator.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            f"GET /v1.0/users('{ANA_GUEST_UPN}') HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = connection.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 400")
    assert "%23" in answer


def test_key_cut_short_by_a_fragment_is_400(graph: httpx.Client) -> None:
    assert graph.get("/users('ana_fabrikam.com").status_code == 400


def test_raw_hash_in_a_user_bind_is_400(graph: httpx.Client) -> None:
    body = group(ADELE, ALEX)
    body["members"].append(member(ANA_GUEST_UPN, roles=("guest",)))  # '#EXT#' as it is, not %23
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 400
    assert "%23" in error_of(answer)["message"]
    body["members"][2] = member(quote(ANA_GUEST_UPN, safe="@"), roles=("guest",))
    assert graph.post("/chats", json=body).status_code == 201


@pytest.mark.parametrize(("key", "roles"), [(ADELE, ("guest",)), (ANA_GUEST, ("owner",))])
def test_role_contradicting_user_type_is_400(graph: httpx.Client, key: str, roles: tuple[str, ...]) -> None:
    """chat-post: a guest user of the tenant joins with role guest, a member never does
    (https://learn.microsoft.com/graph/api/chat-post; microsoftgraph/microsoft-graph-docs#15867)."""
    body = group(ALEX, JACOB)
    body["members"].append(member(key, roles=roles))
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "BadRequest"


def test_select_limits_the_properties(graph: httpx.Client) -> None:
    answer = graph.get(
        "/users", params={"$filter": "mail eq 'adele@contoso.com'", "$select": "id,mail"}
    ).json()
    assert answer["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users(id,mail)"
    assert answer["value"] == [{"id": ADELE, "mail": "adele@contoso.com"}]
    assert graph.get(f"/users/{ADELE}", params={"$select": "manager"}).status_code == 400
