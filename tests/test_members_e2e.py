"""Members by email through the whole app on the local host (`make run`): a mail that is not the
UPN, unknown addresses named in one 422, 40 members for 3 lookups, and nothing personal printed."""

from __future__ import annotations

import httpx

from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from tests.apphost import AppHost
from tests.test_logs import leaks

ALEX = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"  # alex@contoso.com in the emulator's directory
JACOB = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"


def _lookups(app_control: httpx.Client) -> list[dict[str, object]]:
    return [r for r in app_control.get("/requests").json() if r["path"] == "/v1.0/users"]


def test_a_member_given_by_a_mail_that_is_not_the_upn(api: httpx.Client, app_control: httpx.Client) -> None:
    answer = api.post(
        "/chats", json={"emails": "Sam@Contoso.com;alex@contoso.com", "topic": "Renamed domains"}
    )
    assert answer.status_code == 201, answer.text
    assert SAM.id in {member["userId"] for member in answer.json()["members"]}
    [chat] = app_control.get("/chats").json()
    assert SAM.id in {member["userId"] for member in chat["members"]}


def test_three_unknown_addresses_are_named_in_one_422(api: httpx.Client, app_control: httpx.Client) -> None:
    unknown = ["zoe@nowhere.example", "yan@nowhere.example", "xia@nowhere.example"]
    answer = api.post(
        "/chats", json={"emails": ["alex@contoso.com", unknown[0], unknown[1]], "guests": [unknown[2]]}
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [error["field"] for error in errors] == ["emails[1]", "emails[2]", "guests[0]"]
    assert [error["message"].split(" ")[0] for error in errors] == unknown
    assert app_control.get("/chats").json() == []
    assert len(_lookups(app_control)) == 1


def test_one_user_named_by_email_and_by_user_id_is_a_422_naming_the_later_entry(
    api: httpx.Client, app_control: httpx.Client
) -> None:
    """Graph would refuse the whole chat for a member named twice; chatfn says which entry, after the
    lookup has shown both are one user, and sends nothing."""
    members = [{"email": "alex@contoso.com"}, {"userId": JACOB}, {"userId": ALEX}]
    body = {"topic": "Twice", "members": members}
    answer = api.post("/chats", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "urn:chatfn:problem:member-not-found"
    [error] = answer.json()["errors"]
    assert error["field"] == "members[2]"
    assert "the same user as members[0]" in error["message"]
    assert not [r for r in app_control.get("/requests").json() if r["method"] == "POST"], "nothing sent"


def test_forty_members_by_email_cost_three_lookups(api: httpx.Client, app_control: httpx.Client) -> None:
    mails = [member.mail for member in NUMBERED_MEMBERS[:40]]
    answer = api.post("/chats", json={"emails": mails, "topic": "All hands"})
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["members"]) == 40
    assert len(_lookups(app_control)) <= 3


def test_the_host_prints_no_email_or_token(app_host: AppHost, api: httpx.Client) -> None:
    assert api.post("/chats", json={"emails": "sam@contoso.com;nobody@nowhere.example"}).status_code == 422
    created = api.post("/chats", json={"emails": "sam@contoso.com;alex@contoso.com", "topic": "Logs"})
    assert created.status_code == 201
    printed = app_host.printed()
    assert "graph GET /users -> 200" in printed, "the host prints the app's log lines"
    assert leaks(printed, []) == []
