"""Fixtures of the command-line client's tests: the app host's URL as a person sets it, or a tap in
front of it, and the suite's own SIGINT disposition."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.apphost import AppHost
from tests.tools.clients import Tap


@pytest.fixture
def chatfn_url(app_host: AppHost, app_control: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> str:
    """CHATFN_URL set to the app as a person types it, without /api; no CHATFN_KEY."""
    monkeypatch.setenv("CHATFN_URL", app_host.url)
    monkeypatch.delenv("CHATFN_KEY", raising=False)
    return app_host.url


@pytest.fixture
def tap(app_host: AppHost, app_control: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tap]:
    """A Tap in front of the app host, with CHATFN_URL pointing at it."""
    proxy = Tap(app_host.url)
    monkeypatch.setenv("CHATFN_URL", f"{proxy.url}/api")
    monkeypatch.delenv("CHATFN_KEY", raising=False)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(params=["default", "ignored"])
def suite_sigint(request: pytest.FixtureRequest) -> Iterator[str]:
    """The suite's own SIGINT disposition: as in a terminal, or ignored as in the background."""
    if request.param == "ignored":
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield request.param
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        yield request.param
