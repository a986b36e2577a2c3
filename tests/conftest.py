"""Fixtures shared by every test: one Graph emulator per session, reset before each test that uses it,
and one Azurite per session for Azure Table storage."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chatfn.devhost.azurite import Azurite
from chatfn.emulator import Emulator
from tests.apphost import AppHost, start_app_host

# The fixtures that put a test in a tier: whatever asks for one of them (directly or through another
# fixture) is marked, so `make unit` (`-m "not azurite and not apphost and not infra and not fuzz"`) runs
# without Node, Azurite or the deployment tools. Tests that start these themselves say so with
# `pytestmark`.
_TIER_FIXTURES = {"azurite": ("azurite",), "app_host": ("apphost", "azurite")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, tiers in _TIER_FIXTURES.items():
            if fixture in fixtures:
                for tier in tiers:
                    item.add_marker(tier)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """The emulator on a free port of 127.0.0.1, in this process's background threads."""
    server = Emulator.start(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _control_client(emulator_server: Emulator) -> Iterator[httpx.Client]:
    # One client for the session: each new httpx client loads a CA bundle (~50 ms), even for http://.
    with httpx.Client(base_url=f"{emulator_server.url}/_emulator", timeout=10) as client:
        yield client


@pytest.fixture
def emulator(emulator_server: Emulator, _control_client: httpx.Client) -> Emulator:
    """The session's emulator, back to its default directory, with no chats, faults or log."""
    _control_client.post("/reset").raise_for_status()
    return emulator_server


@pytest.fixture
def control(emulator: Emulator, _control_client: httpx.Client) -> httpx.Client:
    """An HTTP client on the emulator's control API (`/_emulator/...`)."""
    return _control_client


@pytest.fixture
def managed_identity_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Point azure-identity's App Service managed identity flow at the emulator."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", emulator.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emulator.identity_header)
    monkeypatch.delenv("MSI_ENDPOINT", raising=False)
    monkeypatch.delenv("AZURE_CLIENT_ID", raising=False)
    return emulator


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as the Functions worker does."""
    return "asyncio"


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Azurite (in memory, free ports of 127.0.0.1) for the session: its connection string, the value
    for AzureWebJobsStorage. Tests make tables of their own names, so they share it safely."""
    server = Azurite.start()
    try:
        yield server.connection_string
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_host(azurite: str) -> Iterator[AppHost]:
    """The function app on the local host, with its own emulator and the session's Azurite, started
    once for the session."""
    host = start_app_host(storage=azurite)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def app_control(app_host: AppHost) -> Iterator[httpx.Client]:
    """The control API of the app host's emulator, reset before the test, after the orchestrations
    that earlier tests left running (a chat still being polled) were terminated."""
    app_host.terminate_running()
    with httpx.Client(base_url=f"{app_host.emulator_url}/_emulator", timeout=10) as client:
        client.post("/reset").raise_for_status()
        yield client


@pytest.fixture
def api(app_host: AppHost, app_control: httpx.Client) -> Iterator[httpx.Client]:
    """An HTTP client on the app's `/api`, against a freshly reset emulator."""
    with httpx.Client(base_url=app_host.api, timeout=60) as client:
        yield client
