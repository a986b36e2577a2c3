"""No log line holds an email address, a token or a key: member resolution and chat creation run
in-process with every record at DEBUG captured, after the quieting the app does at start."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote_plus

import httpx
import pytest

from chatfn.chats.members import resolve_members
from chatfn.chats.spec import parse_chat_request
from chatfn.chats.translate import chat_body
from chatfn.emulator import Emulator
from chatfn.graph.directory import Directory
from chatfn.logs import QUIETED_LOGGERS, quiet_http_loggers
from tests.graphs import graph_for

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("managed_identity_env")]

# An address ends in a letters-only top-level domain: chat ids (`19:...@thread.v2`) do not.
EMAIL = re.compile(r"[\w.+#-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
SECRET = re.compile(r"Bearer\s+\S+|access_token|X-IDENTITY-HEADER\W+\w", re.IGNORECASE)


# Chat ids look like addresses (`19:<id>_<id>@unq.gbl.spaces`) and hold no one's email.
CHAT_ID = re.compile(r"19:[\w.-]+@(?:unq\.gbl\.spaces|thread\.v2)")


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Emails, bearer tokens and the given secrets in a text, also once percent-decoded."""
    found: list[str] = []
    for variant in (CHAT_ID.sub("19:<chat>", text), CHAT_ID.sub("19:<chat>", unquote_plus(text))):
        found += EMAIL.findall(variant) + SECRET.findall(variant)
        found += [secret[:4] + "..." for secret in secrets if secret in variant]
    return found


@pytest.fixture
def quieted() -> Iterator[None]:
    """The app's logging at start; the levels are put back for the other tests afterwards."""
    before = {name: logging.getLogger(name).level for name in QUIETED_LOGGERS}
    quiet_http_loggers()
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("quieted")
async def test_resolving_and_creating_log_no_email_token_or_key(
    emulator: Emulator, control: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = parse_chat_request(
        {
            "emails": "sam@contoso.com;alex@contoso.com;nobody@nowhere.example",
            "guests": "ana@fabrikam.com",
            "topic": "Incident 4711",
        }
    )
    good = parse_chat_request({"emails": "sam@contoso.com;alex@contoso.com", "guests": "ana@fabrikam.com"})
    async with graph_for(emulator) as graph:
        token = (await graph._credential.get_token("https://graph.microsoft.com/.default")).token
        with pytest.raises(Exception, match="could not be found"):
            await resolve_members(spec, Directory(graph, cache_seconds=0))
        control.post("/faults", json={"path": "/v1.0/users", "status": 401, "count": 1}).raise_for_status()
        created = await graph.create_chat(
            chat_body(good, await resolve_members(good, Directory(graph, cache_seconds=0)))
        )
        await graph.get_chat(getattr(created, "id", ""))
    assert caplog.records, "the flows logged something to scan"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert leaks(logged, [token, emulator.identity_header]) == []


async def test_without_the_quieting_httpx_would_log_the_addresses(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The scan above can fail: httpx's own INFO line holds the lookup URL with the address."""
    caplog.set_level(logging.DEBUG)
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    async with graph_for(emulator) as graph:
        await graph.find_users(["sam@contoso.com"])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sam@contoso.com" in leaks(logged, [])
