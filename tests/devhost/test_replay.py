"""The real orchestrator, `chat_job.run_chat_job`, replays cleanly from every history it records:
each path runs through the local host in this process (against the Graph emulator), and
`check_replay` then replays every prefix of its history and compares the tasks and timers scheduled.
Only Graph's 202 (an app installed) starts an orchestration; a 201 is answered by the trigger."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatfn.devhost import HostHandle, check_replay, start_in_thread
from chatfn.devhost.azurite import STORAGE_SETTING
from chatfn.durable.chat_job import ORCHESTRATOR, TAKE_STEP
from chatfn.services import Services
from chatfn.settings import get_settings
from tests.apphost import TEST_SETTINGS
from tests.cases import EQUIVALENT_REQUESTS

pytestmark = pytest.mark.apphost

OPERATION_READS = "/v1.0/chats('"  # the operation's Location form; GET /chats/{id} has no quote


@pytest.fixture(scope="module")
def host(azurite: str) -> Iterator[HostHandle]:
    """function_app.py on a local host in this process (on the session's Azurite), so the test can
    read raw histories. The app's worker services are built anew from the environment set here (another
    test may have imported the app before); the environment, the settings cache and the app's services
    are put back afterwards, and the services used here are closed on the host's loop, where they live."""
    saved_environ = dict(os.environ)
    os.environ.update(TEST_SETTINGS | {"CHATFN_OPERATION_DEADLINE_SECONDS": "2", STORAGE_SETTING: azurite})
    for name in ("GRAPH_BASE_URL", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_CLIENT_ID"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    handle = start_in_thread(app="function_app:app", settings=Path("no-local-settings.json"))
    import function_app

    saved_services = function_app.services
    function_app.services = Services(get_settings())
    try:
        yield handle
    finally:
        handle.run(function_app.services.aclose())
        function_app.services = saved_services
        handle.stop()
        os.environ.clear()
        os.environ.update(saved_environ)
        get_settings.cache_clear()


@pytest.fixture
def control(host: HostHandle) -> Iterator[httpx.Client]:
    assert host.emulator is not None
    with httpx.Client(base_url=f"{host.emulator.url}/_emulator", timeout=10) as client:
        client.post("/reset").raise_for_status()
        yield client


def _run(host: HostHandle, body: dict[str, Any]) -> tuple[str, int]:
    """POST the request, follow it to its final answer; the request id and the final status."""
    with httpx.Client(base_url=f"{host.url}/api", timeout=30) as api:
        answer = api.post("/chats", json=body, headers={"Prefer": "respond-async"})
        request_id = answer.json()["requestId"]
        deadline = time.monotonic() + 30
        while answer.status_code == 202:
            assert time.monotonic() < deadline, "the request never ended"
            time.sleep(0.05)
            answer = api.get(f"/chats/requests/{request_id}")
    return request_id, answer.status_code


def _assert_replays_cleanly(host: HostHandle, request_id: str) -> list[str]:
    history = host.history(request_id)
    handle = host.host.functions.orchestrators[ORCHESTRATOR].handle
    check_replay(handle, history, host.host.instance_input(request_id), request_id)
    return [event.get("Name") or "" for event in history]


@pytest.mark.parametrize("number", sorted(EQUIVALENT_REQUESTS))
def test_only_graphs_202_starts_an_orchestration(
    number: int, host: HostHandle, control: httpx.Client
) -> None:
    request_id, status = _run(host, EQUIVALENT_REQUESTS[number])
    assert status in (200, 201)
    with httpx.Client(timeout=10) as client:
        instances = client.get(f"{host.url}/runtime/webhooks/durabletask/instances").json()
    started = request_id in {instance["instanceId"] for instance in instances}
    assert started == (number in (3, 4)), "only app installs go through the orchestration"
    if started:
        names = _assert_replays_cleanly(host, request_id)
        assert names.count(TAKE_STEP) >= 2, "Graph's operation polled, then the chat read"


@pytest.mark.parametrize(
    ("name", "setup", "status"),
    [
        ("operation failed", [("/operations", {"polls": 1, "result": "failed"})], 502),
        ("deadline passed", [("/operations", {"polls": 100_000})], 504),
        (
            "transient failures retried on durable timers",
            [
                (
                    "/faults",
                    {"method": "GET", "path": OPERATION_READS, "status": 503, "retryAfter": 0.01, "count": 5},
                )
            ],
            200,
        ),
        (
            "throttled past every retry",
            [("/faults", {"method": "GET", "path": OPERATION_READS, "status": 429, "retryAfter": 0.01})],
            503,
        ),
    ],
)
def test_each_failure_path_replays_cleanly(
    name: str,
    setup: list[tuple[str, dict[str, Any]]],
    status: int,
    host: HostHandle,
    control: httpx.Client,
) -> None:
    for path, rule in setup:
        control.post(path, json=rule).raise_for_status()
    request_id, final = _run(host, EQUIVALENT_REQUESTS[4])
    assert final == status
    names = _assert_replays_cleanly(host, request_id)
    if name.startswith(("transient", "throttled")):
        # The first poll and at least one more on a durable timer. A worker that Graph keeps throttling
        # slows down (docs/graph.md, "One budget per worker"): within the 2 s deadline it may poll twice.
        assert names.count(TAKE_STEP) >= 2, "the orchestrator took the poll again on a durable timer"
