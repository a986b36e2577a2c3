"""Driving the sample app's orchestrations over HTTP, and checking their recorded histories."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from chatfn.devhost import HostHandle, check_replay, start_in_thread
from chatfn.devhost.azurite import STORAGE_SETTING

SAMPLE_SETTING = "CHATFN_DEVHOST_SAMPLE_SETTING"
RUNNING = {"Pending", "Running", "ContinuedAsNew"}
INSTANCES = "/runtime/webhooks/durabletask/instances"


@contextmanager
def sample_host(
    azurite: str,
    settings: Path,
    host_json: Path | None = None,
    unset: tuple[str, ...] = (),
    activity_reruns: float = 0.0,
) -> Iterator[HostHandle]:
    """The sample app on a local host in this process, on the session's Azurite, without the Graph
    emulator. The whole environment is put back afterwards: the host writes the settings file's values
    into it."""
    saved_environ = dict(os.environ)
    os.environ[STORAGE_SETTING] = azurite
    for name in unset:
        os.environ.pop(name, None)
    host = start_in_thread(
        app="tests.devhost.sample_app:app",
        emulator=False,
        settings=settings,
        host_json=host_json,
        activity_reruns=activity_reruns,
    )
    try:
        yield host
    finally:
        host.stop()
        os.environ.clear()
        os.environ.update(saved_environ)


def start(http: httpx.Client, name: str, payload: Any = None, instance_id: str | None = None) -> str:
    """Start an orchestration through the sample app's durable client; its instance id."""
    params = {"id": instance_id} if instance_id else {}
    answer = http.post(f"/api/start/{name}", content=json.dumps(payload), params=params)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def finished(http: httpx.Client, instance_id: str, timeout: float = 20) -> dict[str, Any]:
    """The status (with history) once the instance has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = http.get(f"/api/status/{instance_id}").json()
        if status["runtimeStatus"] not in RUNNING:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{instance_id} did not finish in {timeout} s")


def replays_cleanly(sample: HostHandle, name: str, instance_id: str) -> None:
    handle = sample.host.functions.orchestrators[name].handle
    check_replay(handle, sample.history(instance_id), sample.host.instance_input(instance_id), instance_id)
