"""GET /v1.0/users: by id or UPN, and by mail through $filter, as chatfn resolves guests."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.emulator.conftest import ADELE, ANA_GUEST, ANA_GUEST_UPN, error_of

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
    "expression", ["startswith(mail,'ana')", "mail eq ana@fabrikam.com", "displayName eq 'Ana'"]
)
def test_unsupported_filter_is_400(graph: httpx.Client, expression: str) -> None:
    answer = graph.get("/users", params={"$filter": expression})
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "BadRequest"


def test_select_limits_the_properties(graph: httpx.Client) -> None:
    answer = graph.get(
        "/users", params={"$filter": "mail eq 'adele@contoso.com'", "$select": "id,mail"}
    ).json()
    assert answer["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users(id,mail)"
    assert answer["value"] == [{"id": ADELE, "mail": "adele@contoso.com"}]
    assert graph.get(f"/users/{ADELE}", params={"$select": "manager"}).status_code == 400
