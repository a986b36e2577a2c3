"""The command-line client, `python -m chatfn create`, against the app on the local host and its Graph
emulator: the exit code, stdout and stderr that a person or a script gets."""

from __future__ import annotations

import email.utils
import json
import os
import pty
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from chatfn.emulator.directory import PARTNER_TENANT
from chatfn.tools.cli import (
    BATCH_EXIT_CODES_HELP,
    EXIT_CODES_HELP,
    REFUSED_STATUSES,
    Endpoint,
    ExitCode,
    ExternalMember,
    Permission,
    chat_body,
    endpoint_from,
    main,
    retry_after_seconds,
)
from tests.apphost import ROOT, AppHost
from tests.cases import EQUIVALENT_REQUESTS
from tests.tools.clients import Tap, graph_requests, read_terminal, start_cli, subprocess_env

ALEX_JACOB_CHAT = (
    "19:82fe7758-5bb3-4f0d-a43f-e555fd399c6f_8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca@unq.gbl.spaces"
)
JACOB_ID = "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"
ALEX_ID = "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"
ANA_GUEST_ID = "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"
BO_PARTNER_ID = "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"
FUNCTION_KEY = "s3cret-function-key-0123456789"
GROUP = ["-m", "alex@contoso.com", "-m", "jacob@contoso.com", "-m", "lynne@contoso.com"]

# EQUIVALENT_REQUESTS[4] as a command line: two members by object id and an app with two permissions.
_APP_REQUEST = EQUIVALENT_REQUESTS[4]
_APP = _APP_REQUEST["apps"][0]
WITH_APP = [
    *(arg for member in _APP_REQUEST["members"] for arg in ("-m", member["userId"])),
    "--app",
    _APP["teamsAppId"],
    *(arg for permission in _APP["permissions"] for arg in ("--permission", permission["value"])),
]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """The CLI in this process, as `python -m chatfn create ARGV...` (pytest's streams are not a TTY)."""
    code = main(["create", *argv])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


# --- 201 at once -------------------------------------------------------------------------------------


def test_a_one_on_one_chat_prints_its_id_and_link_and_nothing_else(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "-m", "alex@contoso.com", "--member", "jacob@contoso.com")
    assert result.code == ExitCode.CREATED, result.err
    chat_id, web_url = result.out.splitlines()
    assert chat_id == ALEX_JACOB_CHAT
    assert web_url.startswith("https://teams.microsoft.com/l/chat/19%3A82fe7758")
    assert result.err == "", "no progress when stderr is not a terminal"
    assert len(graph_requests(app_control, "POST", "/v1.0/chats")) == 1


def test_ids_emails_guests_and_topic_make_one_group_chat(
    app_host: AppHost, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GUID is sent as userId, a guest joins with the guest role; --json gives the whole result."""
    result = run(
        capsys,
        *("--url", f"{app_host.api}/", "--json", "--topic", "Incident 4711"),
        *("-m", JACOB_ID.upper(), "-m", "alex@contoso.com", "-g", "ana@fabrikam.com"),
    )
    assert result.code == ExitCode.CREATED, result.err
    answer = json.loads(result.out)
    assert (answer["status"], answer["chatType"], answer["topic"]) == ("succeeded", "group", "Incident 4711")
    [chat] = app_control.get("/chats").json()
    assert chat["id"] == answer["chatId"]
    roles = {member["userId"].lower(): member["roles"] for member in chat["members"]}
    assert roles == {JACOB_ID: ["owner"], ALEX_ID: ["owner"], ANA_GUEST_ID: ["guest"]}


def test_the_member_options_become_the_contracts_members_form() -> None:
    request = chat_body(
        [" 8C0A1A67-50CE-4114-BB6C-DA9C5DBCF6CA", "alex@contoso.com", "not-quite-a-guid"],
        ["ana@fabrikam.com"],
        topic="T",
        chat_type="group",
        app=_APP["teamsAppId"],
        permissions=[Permission("ChatMessage.Read.Chat")],
    )
    assert request.body == {
        "members": [
            {"userId": "8C0A1A67-50CE-4114-BB6C-DA9C5DBCF6CA"},
            {"email": "alex@contoso.com"},
            {"email": "not-quite-a-guid"},
            {"email": "ana@fabrikam.com", "guest": True},
        ],
        "topic": "T",
        "chatType": "group",
        "apps": [{"teamsAppId": _APP["teamsAppId"], "permissions": [{"value": "ChatMessage.Read.Chat"}]}],
    }
    assert request.option_for("members[3].email") == "--guest ana@fabrikam.com"
    assert request.option_for("apps[0].permissions[0].value") == "--permission ChatMessage.Read.Chat"
    assert request.option_for("members") == "--member/--guest/--external"
    assert request.option_for("apps[0]") is None


def test_other_organisations_guests_by_id_reuse_and_delegated_permissions_reach_the_body() -> None:
    request = chat_body(
        ["alex@contoso.com"],
        [ANA_GUEST_ID],
        app=_APP["teamsAppId"],
        permissions=[Permission("ChatMessage.Read.Chat", "delegated"), Permission("Member.Read.Chat")],
        external=[ExternalMember(BO_PARTNER_ID, PARTNER_TENANT)],
        reuse=True,
    )
    assert request.body["members"] == [
        {"email": "alex@contoso.com"},
        {"userId": ANA_GUEST_ID, "guest": True},
        {"userId": BO_PARTNER_ID, "tenantId": PARTNER_TENANT},
    ]
    assert request.body["reuseExisting"] is True
    assert request.body["apps"][0]["permissions"] == [
        {"value": "ChatMessage.Read.Chat", "type": "delegated"},
        {"value": "Member.Read.Chat"},
    ]
    assert request.option_for("members[2].tenantId") == f"--external {BO_PARTNER_ID}@{PARTNER_TENANT}"
    assert request.option_for("reuseExisting") == "--reuse"
    assert "reuseExisting" not in chat_body(["a@contoso.com", "b@contoso.com"], []).body


def test_a_member_of_another_organisation_joins_by_id_and_tenant(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(
        capsys,
        *("--topic", "Partners", "--reuse", "--json"),
        *("-m", "alex@contoso.com", "-x", f"{BO_PARTNER_ID}@{PARTNER_TENANT}"),
    )
    assert result.code == ExitCode.CREATED, result.err
    assert json.loads(result.out)["reused"] is False, "no chat of these members existed"
    [chat] = app_control.get("/chats").json()
    tenants = {member["userId"].lower(): member["tenantId"] for member in chat["members"]}
    assert tenants[BO_PARTNER_ID] == PARTNER_TENANT
    [post] = graph_requests(app_control, "POST", "/v1.0/chats")
    [bound] = [m for m in post["body"]["members"] if BO_PARTNER_ID in m["user@odata.bind"]]
    assert bound["tenantId"] == PARTNER_TENANT


@pytest.mark.parametrize(
    "argv",
    [
        ["-x", "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"],
        ["-x", "bo@partner.com@4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"],
        ["--app", "8e55a7b1-6766-4f0a-8610-ecacfe3d569a", "--permission", "ChatMessage.Read.Chat:user"],
    ],
)
def test_a_wrong_external_member_or_permission_type_exits_2(
    argv: list[str], chatfn_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["create", "-m", "alex@contoso.com", *argv])
    assert exited.value.code == ExitCode.USAGE
    assert (
        "USER_ID@TENANT_ID" in capsys.readouterr().err
        or "application or delegated" in capsys.readouterr().err
    )


# --- 202 followed to the end ---------------------------------------------------------------------------


def test_a_chat_with_an_app_is_followed_through_202s_honouring_retry_after(
    tap: Tap, app_control: httpx.Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATFN_KEY", FUNCTION_KEY)
    app_control.post("/operations", json={"polls": 4, "result": "succeeded"}).raise_for_status()
    result = run(capsys, *WITH_APP, "--wait", "0")
    assert result.code == ExitCode.CREATED, result.err
    [chat] = app_control.get("/chats").json()
    assert result.out.splitlines()[0] == chat["id"]
    [app] = chat["installedApps"]
    consented = app["consentedPermissionSet"]["resourceSpecificPermissions"]
    assert [p["permissionValue"] for p in consented] == [p["value"] for p in _APP["permissions"]]
    [post] = tap.requests("POST")
    assert post.headers["prefer"] == "respond-async"
    polls = tap.requests("GET")
    assert len(polls) >= 2, "the chat took several polls"
    assert {poll.path for poll in polls} == {polls[0].path}
    assert polls[0].path.startswith("/api/chats/requests/")
    gaps = [later.at - earlier.at for earlier, later in zip([post, *polls], polls, strict=False)]
    # The app's Retry-After is when it next asks Graph: at least a second, honoured each time.
    assert min(gaps) >= 0.95, f"Retry-After was honoured: {gaps}"
    assert all(seen.headers["x-functions-key"] == FUNCTION_KEY for seen in tap.seen), "polls carry the key"
    assert FUNCTION_KEY not in result.out + result.err


def test_running_out_of_time_exits_5_with_the_status_url_and_the_key_to_resume(
    chatfn_url: str, api: httpx.Client, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    app_control.post("/operations", json={"polls": 100_000, "result": "succeeded"}).raise_for_status()
    key = str(uuid.uuid4())
    result = run(capsys, *WITH_APP, "--wait", "0", "--timeout", "1", "--json", "--idempotency-key", key)
    assert result.code == ExitCode.TIMED_OUT
    status = json.loads(result.out)
    assert status["status"] == "running"
    assert f"still running after 1 s ({status['stage']})" in result.err
    assert f"status: {status['statusUrl']}" in result.err
    assert f"--idempotency-key {key}" in result.err
    assert api.get(status["statusUrl"]).status_code == 202, "the printed status URL follows the request"


# --- failures ------------------------------------------------------------------------------------------


def test_an_invalid_member_exits_3_naming_the_field_and_its_option(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "-m", "alex@contoso.com", "-m", "jacob")
    assert result.code == ExitCode.REFUSED
    assert result.out == ""
    assert result.err.startswith("chatfn: The request is invalid (400)\n")
    assert "  members[1].email (--member jacob): must be an email address" in result.err
    assert app_control.get("/requests").json() == [], "nothing reached Graph"


def test_an_unknown_user_exits_3_naming_the_member(
    chatfn_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "-m", "alex@contoso.com", "-m", "nobody@contoso.com")
    assert result.code == ExitCode.REFUSED
    assert "chatfn: Members could not be found (422)" in result.err
    assert (
        "  members[1].email (--member nobody@contoso.com): nobody@contoso.com matches no user" in result.err
    )


def test_an_unknown_guest_exits_3_naming_the_guest_option(
    chatfn_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "-m", "alex@contoso.com", "-g", "zoe@nowhere.example", "--topic", "Guests")
    assert result.code == ExitCode.REFUSED
    assert "(422)" in result.err
    assert "  members[1].email (--guest zoe@nowhere.example): zoe@nowhere.example" in result.err


def test_one_key_makes_one_chat_and_refuses_another_body(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running the command again with its key is safe; the key with another chat is a 409."""
    key = ["--idempotency-key", str(uuid.uuid4())]
    first = run(capsys, *GROUP, "--topic", "Incident 4711", *key)
    again = run(capsys, *GROUP, "--topic", "Incident 4711", *key)
    other = run(capsys, *GROUP, "--topic", "Another incident", *key)
    assert (first.code, again.code, other.code) == (ExitCode.CREATED, ExitCode.CREATED, ExitCode.REFUSED)
    assert first.out == again.out
    assert "(409)" in other.err
    assert len(app_control.get("/chats").json()) == 1


def test_a_failing_service_exits_4(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    # Graph authorizes by the roles a token was issued with, and the app holds a token from earlier
    # tests: revoking it makes the app meet the change (a 401 for the old token, a 403 for a new one).
    roles = {"roles": ["Chat.ReadBasic.All", "User.Read.All"], "revokeTokens": True}
    app_control.post("/identity", json=roles).raise_for_status()
    result = run(capsys, *GROUP, "--topic", "Incident 4711")
    assert result.code == ExitCode.SERVICE_FAILED
    assert "chatfn: Microsoft Graph refused the function's identity (502)" in result.err
    assert "Graph error: Forbidden" in result.err or "Graph error: InvalidAuthenticationToken" in result.err
    assert "--idempotency-key" not in result.err, "chatfn answered: the same key would answer the same"


def test_throttling_past_chatfns_retries_exits_4_saying_when_to_try_again(
    chatfn_url: str, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    fault = {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": 0.05}
    app_control.post("/faults", json=fault).raise_for_status()
    result = run(capsys, *GROUP, "--topic", "Incident 4711")
    assert result.code == ExitCode.SERVICE_FAILED
    assert "chatfn: Microsoft Graph is throttling requests (503)" in result.err
    assert re.search(r"try again after [1-9][0-9]* s", result.err), result.err


def test_no_answer_exits_4_with_the_key_to_resume(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    result = run(capsys, *GROUP, "--url", f"http://127.0.0.1:{closed_port}", "--timeout", "3")
    assert result.code == ExitCode.SERVICE_FAILED
    assert time.monotonic() - started >= 1.5, "the connection was tried again (0.5 s, then 1 s later)"
    assert result.err.startswith(f"chatfn: no answer from http://127.0.0.1:{closed_port}/api: ")
    key = re.search(r"--idempotency-key (\S+)", result.err)
    assert key is not None
    assert uuid.UUID(key.group(1)).version == 4, "a fresh random key"


def test_a_dropped_connection_is_sent_again_with_the_same_key_and_makes_one_chat(
    tap: Tap, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    tap.lost_post_answers = [None]
    result = run(capsys, *GROUP, "--topic", "Incident 4711")
    assert result.code == ExitCode.CREATED, result.err
    first, second = tap.requests("POST")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    [chat] = app_control.get("/chats").json()
    assert result.out.splitlines()[0] == chat["id"]


def test_a_gateway_error_exits_4_and_the_printed_key_picks_the_chat_up(
    tap: Tap, app_control: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gateway's 502 hides whether the app acted: the same command with the printed key tells."""
    tap.lost_post_answers = [502]
    lost = run(capsys, *GROUP, "--topic", "Incident 4711")
    assert lost.code == ExitCode.SERVICE_FAILED
    assert lost.err.startswith("chatfn: HTTP 502 Bad Gateway, not an answer from chatfn\n")
    key = re.search(r"--idempotency-key (\S+)", lost.err)
    assert key is not None
    again = run(capsys, *GROUP, "--topic", "Incident 4711", "--idempotency-key", key.group(1))
    assert again.code == ExitCode.CREATED, again.err
    [chat] = app_control.get("/chats").json()
    assert again.out.splitlines()[0] == chat["id"]


def test_a_wrong_url_exits_1_with_a_hint(app_host: AppHost, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, *GROUP, "--url", f"{app_host.url}/functions")
    assert result.code == ExitCode.FAILED
    assert result.err.startswith("chatfn: HTTP 404 Not Found, not an answer from chatfn\n")
    assert "check the URL (--url or CHATFN_URL)" in result.err


def test_each_run_has_its_own_random_key(tap: Tap, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        assert run(capsys, "-m", "alex@contoso.com", "-m", "jacob@contoso.com").code == ExitCode.CREATED
    keys = [seen.headers["idempotency-key"] for seen in tap.requests("POST")]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(key).version == 4 for key in keys)


# --- the function key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "code"),
    [
        (["-m", "alex@contoso.com", "-m", "jacob@contoso.com"], ExitCode.CREATED),
        (["-m", "alex@contoso.com", "-m", "jacob"], ExitCode.REFUSED),
        (["-m", "alex@contoso.com", "-m", "nobody@contoso.com"], ExitCode.REFUSED),
    ],
)
def test_the_key_is_sent_as_a_header_and_never_printed(
    members: list[str], code: ExitCode, tap: Tap, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, *members, "--key", FUNCTION_KEY)
    assert result.code == code
    [post] = tap.requests("POST")
    assert post.headers["x-functions-key"] == FUNCTION_KEY
    assert "code=" not in post.path
    assert FUNCTION_KEY not in result.out + result.err


def test_a_function_url_with_its_code_sends_the_code_as_the_key(
    tap: Tap, capsys: pytest.CaptureFixture[str]
) -> None:
    """The URL as the Azure portal shows it: the key leaves the URL and goes into the header."""
    url = f"{tap.url}/api/chats?code={FUNCTION_KEY}"
    result = run(capsys, "-m", "alex@contoso.com", "-m", "jacob", "--url", url)
    assert result.code == ExitCode.REFUSED
    [post] = tap.requests("POST")
    assert (post.path, post.headers["x-functions-key"]) == ("/api/chats", FUNCTION_KEY)
    assert FUNCTION_KEY not in result.err


def test_the_key_goes_to_the_apps_own_origin_only() -> None:
    endpoint = Endpoint("https://app.azurewebsites.net/api", FUNCTION_KEY)
    assert endpoint.key_headers("https://APP.azurewebsites.net/api/chats/requests/1") == {
        "x-functions-key": FUNCTION_KEY
    }
    assert endpoint.key_headers("https://elsewhere.example/api/chats/requests/1") == {}
    assert endpoint.key_headers("http://app.azurewebsites.net/api/chats/requests/1") == {}


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        ("http://127.0.0.1:7071", None, Endpoint("http://127.0.0.1:7071/api", None)),
        ("http://127.0.0.1:7071/", None, Endpoint("http://127.0.0.1:7071/api", None)),
        ("https://app.azurewebsites.net/api", "k", Endpoint("https://app.azurewebsites.net/api", "k")),
        ("https://app.azurewebsites.net/api/", None, Endpoint("https://app.azurewebsites.net/api", None)),
        (
            "https://app.azurewebsites.net/api/chats?code=c",
            None,
            Endpoint("https://app.azurewebsites.net/api", "c"),
        ),
        (
            "https://app.azurewebsites.net/api/chats?code=c",
            "k",
            Endpoint("https://app.azurewebsites.net/api", "k"),
        ),
        ("https://gw.contoso.com/teams/", None, Endpoint("https://gw.contoso.com/teams", None)),
    ],
)
def test_the_url_is_taken_with_or_without_api(url: str, key: str | None, expected: Endpoint) -> None:
    assert endpoint_from(url, key) == expected


# --- the command line ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-m", "a@contoso.com", "-m", "b@contoso.com"], "give the function app's URL"),
        (["--url", "127.0.0.1:7071", "-m", "a@contoso.com"], "must start with http:// or https://"),
        (["--url", "http://127.0.0.1:1", "--permission", "A.B"], "--permission needs --app"),
        (["--idempotency-key", "two words"], "argument --idempotency-key: must be 1 to 200 visible ASCII"),
        (["--wait", "61"], "argument --wait: must be 0 to 60 seconds"),
        (["--timeout", "0"], "argument --timeout: must be a number of seconds above 0"),
        (["--chat-type", "meeting"], "argument --chat-type: invalid choice"),
    ],
)
def test_a_wrong_command_line_exits_2(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse exits by itself, the checks after it return the code: either way the status is 2."""
    monkeypatch.delenv("CHATFN_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(["create", *argv]))
    assert exited.value.code == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_no_member_is_a_usage_error_before_anything_is_sent(
    tap: Tap, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "--topic", "Nobody")
    assert result.code == ExitCode.USAGE
    assert "give the chat's members" in result.err
    assert tap.requests("POST") == [], "the app's 400 (exit 3) is for requests it refuses, not for this"


def test_the_readme_gives_each_exit_status_as_the_client_does(
    tap: Tap, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's table of exit statuses, and its examples of 2 and 3 run here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| exit status | when |")
    table = readme[start : readme.index("\n\n", start)]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", table, re.MULTILINE))
    assert {int(code) for code in rows} == {int(code) for code in ExitCode}
    assert {int(status) for status in re.findall(r"\d{3}", rows["3"])} == REFUSED_STATUSES
    explained = {
        "create": set(re.findall(r"^  (\d+) +\S", EXIT_CODES_HELP, re.MULTILINE)),
        "create-many": set(re.findall(r"^  (\d+) +\S", BATCH_EXIT_CODES_HELP, re.MULTILINE)),
    }
    assert explained["create-many"] == set(rows), "create-many --help explains every status"
    assert explained["create"] == set(rows) - {str(ExitCode.NOT_ALL_CREATED.value)}
    assert "no member" in rows["2"]
    assert run(capsys, "--topic", "Nobody").code == 2
    assert "a single member" in rows["3"]
    assert run(capsys, "-m", "alex@contoso.com").code == 3


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0.25", 0.25), (None, 2.0), ("soon", 2.0), ("-1", 0.0), ("inf", 2.0), ("1e9", 300.0)],
)
def test_retry_after_is_read_as_seconds(value: str | None, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize(
    "as_date",
    [
        lambda when: email.utils.formatdate(when, usegmt=True),  # IMF-fixdate
        lambda when: time.asctime(time.gmtime(when)),  # asctime: no zone, meaning GMT
    ],
)
def test_retry_after_may_be_an_http_date(as_date: Callable[[float], str]) -> None:
    """RFC 9110 section 10.2.3 allows either form; a gateway before the app may send a date."""
    assert 8.0 <= retry_after_seconds(as_date(time.time() + 10)) <= 10.0


# --- as a real process ---------------------------------------------------------------------------------


def test_as_a_process_without_a_terminal_only_the_chat_is_printed(tap: Tap) -> None:
    process = start_cli(
        "create",
        *("-m", "alex@contoso.com", "-m", "jacob@contoso.com"),
        env=subprocess_env(CHATFN_URL=tap.url, CHATFN_KEY=FUNCTION_KEY),
        stderr=subprocess.PIPE,
    )
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, b"")
    assert stdout.decode().splitlines()[0] == ALEX_JACOB_CHAT
    [post] = tap.requests("POST")
    assert post.headers["x-functions-key"] == FUNCTION_KEY
    assert FUNCTION_KEY.encode() not in stdout


def test_as_a_process_on_a_terminal_progress_is_shown_on_stderr_and_cleared(
    tap: Tap, app_control: httpx.Client
) -> None:
    app_control.post("/operations", json={"polls": 4, "result": "succeeded"}).raise_for_status()
    terminal, terminal_end = pty.openpty()
    process = start_cli(
        "create", *WITH_APP, "--wait", "0", env=subprocess_env(CHATFN_URL=tap.url), stderr=terminal_end
    )
    os.close(terminal_end)
    shown = read_terminal(terminal)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, shown
    assert stdout.decode().startswith("19:4b822dfc")
    stages = re.findall(rb"\rchatfn: ([a-zA-Z ]+)[^\r]*?\x1b\[K", shown)
    assert stages[0] == b"sending the request"
    assert b"waiting for Teams" in stages, shown
    assert shown.endswith(b"\r\x1b[K"), "the line is cleared at the end"


@pytest.mark.usefixtures("suite_sigint")
def test_ctrl_c_exits_130_with_the_key_to_resume(tap: Tap, app_control: httpx.Client) -> None:
    app_control.post("/operations", json={"polls": 100_000, "result": "succeeded"}).raise_for_status()
    key = str(uuid.uuid4())
    process = start_cli(
        "create",
        *WITH_APP,
        *("--wait", "0", "--idempotency-key", key),
        env=subprocess_env(CHATFN_URL=tap.url),
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not tap.requests("POST") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the pause before the first poll
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert stdout == b""
    assert b"chatfn: interrupted; the request goes on in the function app" in stderr
    assert f"--idempotency-key {key}".encode() in stderr
    assert b"Traceback" not in stderr
