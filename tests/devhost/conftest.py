"""The sample app on a local host in the test's own process (so tests can read raw histories), one
per test module, on the session's Azurite; the environment is put back after."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from chatfn.devhost import HostHandle
from chatfn.devhost.server import PUBLIC_ORIGIN_SETTING
from tests.devhost.driving import SAMPLE_SETTING, sample_host


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, azurite: str) -> Iterator[HostHandle]:
    settings = tmp_path_factory.mktemp("sample") / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {SAMPLE_SETTING: "from the file"}}))
    with sample_host(azurite, settings, unset=(PUBLIC_ORIGIN_SETTING,)) as host:
        yield host


@pytest.fixture
def http(sample: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample.url, timeout=30) as client:
        yield client
