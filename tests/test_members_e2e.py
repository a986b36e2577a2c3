"""Members by email through the whole app on the local host (`make run`): a mail that is not the
UPN, unknown addresses named in one 422, 40 members for 3 lookups, and nothing personal printed."""

from __future__ import annotations

import httpx

from chatfn.emulator.directory import NUMBERED_MEMBERS, SAM
from tests.apphost import AppHost
from tests.test_logs import leaks


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
