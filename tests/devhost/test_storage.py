"""Storage for the local host: Azurite when AzureWebJobsStorage names no reachable account, used by the
app through azure-data-tables' async TableClient, stopped with the host. The host here runs in its
own process, as `make run` runs it, with settings a user could have."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from chatfn.devhost.azurite import (
    ACCOUNT_KEY,
    ACCOUNT_NAME,
    STORAGE_SETTING,
    answers,
    ensure_storage,
    is_reachable,
    table_endpoint,
)
from tests.apphost import AppHost, start_app_host

pytestmark = [pytest.mark.apphost, pytest.mark.azurite]

LATENCY = 0.3
GATEWAY = "https://chats.example.net"


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


DEAD_ACCOUNT = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey=a2V5;"
    f"TableEndpoint=http://127.0.0.1:{_closed_port()}/{ACCOUNT_NAME};"
)


@pytest.fixture(scope="module")
def own_storage_host() -> Iterator[AppHost]:
    """The sample app with an AzureWebJobsStorage that answers nowhere, a public origin of its own and
    queue latency: the host must start its own Azurite and keep the origin."""
    host = start_app_host(
        app="tests.devhost.sample_app:app",
        emulator=False,
        settings={STORAGE_SETTING: DEAD_ACCOUNT, "CHATFN_PUBLIC_ORIGIN": GATEWAY},
        queue_latency=LATENCY,
    )
    try:
        yield host
    finally:
        host.stop()


def test_connection_strings_name_their_table_endpoint() -> None:
    assert table_endpoint("UseDevelopmentStorage=true") == f"http://127.0.0.1:10002/{ACCOUNT_NAME}"
    assert table_endpoint("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5==") == (
        "https://acme.table.core.windows.net"
    )
    assert table_endpoint("AccountName=acme;AccountKey=k;EndpointSuffix=core.chinacloudapi.cn") == (
        "https://acme.table.core.chinacloudapi.cn"
    )
    assert table_endpoint(DEAD_ACCOUNT) == DEAD_ACCOUNT.split("TableEndpoint=")[1].rstrip(";")
    assert table_endpoint("AccountKey=only") is None


def test_a_reachable_account_is_kept(azurite: str) -> None:
    environ = {STORAGE_SETTING: azurite}
    assert is_reachable(azurite)
    assert ensure_storage(environ) is None
    assert environ == {STORAGE_SETTING: azurite}


def test_an_unreachable_account_is_left_alone_when_azurite_is_not_wanted() -> None:
    environ = {STORAGE_SETTING: DEAD_ACCOUNT}
    assert not is_reachable(DEAD_ACCOUNT)
    assert ensure_storage(environ, start=False) is None
    assert environ == {STORAGE_SETTING: DEAD_ACCOUNT}


def test_the_host_starts_azurite_and_the_app_uses_it_through_table_client(own_storage_host: AppHost) -> None:
    assert own_storage_host.azurite_url, own_storage_host.printed()
    assert answers(own_storage_host.azurite_url)
    with httpx.Client(base_url=own_storage_host.api, timeout=30) as http:
        answer = http.post("/tables")
    assert answer.status_code == 200, own_storage_host.printed()
    result = answer.json()
    assert result["staleRefused"] is True, "a stale ETag must not overwrite"
    assert [(e["RowKey"], e["state"]) for e in result["entities"]] == [("k1", "succeeded")]


def test_the_connection_string_never_reaches_the_output(own_storage_host: AppHost) -> None:
    printed = own_storage_host.printed()
    assert "AccountKey" not in printed
    assert ACCOUNT_KEY not in printed


def test_an_origin_that_is_set_is_kept(own_storage_host: AppHost) -> None:
    with httpx.Client(base_url=own_storage_host.api, timeout=10) as http:
        assert http.get("/env/CHATFN_PUBLIC_ORIGIN").json() == {"value": GATEWAY}


def test_queue_latency_delays_every_durable_message(own_storage_host: AppHost) -> None:
    """`sequence` sends five messages (start, two activities scheduled and done): at least 5 x latency."""
    with httpx.Client(base_url=own_storage_host.api, timeout=30) as http:
        started = time.monotonic()
        answer = http.post("/start/sequence", content=json.dumps(4))
        assert answer.json()["runtimeStatus"] == "Pending", "the start message is still in its queue"
        instance_id = answer.json()["id"]
        while (status := http.get(f"/status/{instance_id}").json())["runtimeStatus"] != "Completed":
            assert time.monotonic() - started < 20, status
            time.sleep(0.02)
    assert time.monotonic() - started >= 5 * LATENCY
    assert status["output"]["doubled"] == 8


def test_azurite_stops_with_the_host() -> None:
    host = start_app_host(
        app="tests.devhost.sample_app:app", emulator=False, settings={STORAGE_SETTING: DEAD_ACCOUNT}
    )
    assert answers(host.azurite_url)
    host.stop()
    deadline = time.monotonic() + 10
    while answers(host.azurite_url):
        assert time.monotonic() < deadline, "Azurite outlived its host"
        time.sleep(0.1)


def test_queue_latency_delays_a_childs_start_and_end(own_storage_host: AppHost) -> None:
    """`lone_parent` waits for `child`, which runs one activity: the parent's start, the child's start,
    its activity scheduled and done, and its end reported to the parent make five messages."""
    with httpx.Client(base_url=own_storage_host.api, timeout=30) as http:
        started = time.monotonic()
        instance_id = http.post("/start/lone_parent", content=json.dumps(4)).json()["id"]
        while (status := http.get(f"/status/{instance_id}").json())["runtimeStatus"] != "Completed":
            assert time.monotonic() - started < 20, status
            time.sleep(0.02)
    assert time.monotonic() - started >= 5 * LATENCY
    assert status["output"]["doubled"] == 8
