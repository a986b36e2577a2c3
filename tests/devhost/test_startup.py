"""`python -m chatfn.devhost` started as a user starts it: a start that cannot succeed says in one line
what to fix, exits 1 and leaves nothing running; Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

from chatfn.devhost.azurite import ACCOUNT_NAME, STORAGE_SETTING
from tests.devhost.driving import sample_host
from tests.devhost.processes import ROOT, HostProcess, spawn_host

pytestmark = [pytest.mark.apphost, pytest.mark.azurite]

PREFIX = "chatfn local host: "


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# An account that answers nowhere, so that the host starts Azurite of its own (as `make run` does).
DEAD_STORAGE = {
    STORAGE_SETTING: (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{_closed_port()}/{ACCOUNT_NAME};"
    )
}


def _refusal(host: HostProcess) -> str:
    """The one line a failed start printed, once it has exited 1 with nothing of it left running."""
    assert host.finish() == 1, host.printed()
    left = host.left_running()
    host.kill()  # whatever was left, so that a failing test leaves nothing either
    assert left == [], "the failed start left processes behind"
    assert host.stdout == [], host.printed()
    assert len(host.stderr) == 1, host.printed()
    line = host.stderr[0]
    assert line.startswith(PREFIX)
    return line


@pytest.mark.parametrize("value", ["abc", "999999"], ids=["not-a-number", "out-of-range"])
def test_a_setting_the_app_refuses_is_named_and_azurite_is_stopped_again(value: str) -> None:
    """chatfn reads its settings at import, after the host has started Azurite for it."""
    host = spawn_host("--port", "0", settings=DEAD_STORAGE | {"CHATFN_SYNC_WAIT_SECONDS": value})
    line = _refusal(host)
    assert "CHATFN_SYNC_WAIT_SECONDS" in line
    assert "local.settings.json" in line


def test_a_port_in_use_says_how_to_pick_another() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        line = _refusal(spawn_host("--port", str(port), "--no-azurite"))
    assert f"port {port} on 127.0.0.1 is in use" in line
    assert "--port" in line
    assert "PORT=" in line


def test_no_node_says_what_azurite_needs(tmp_path: Path) -> None:
    line = _refusal(spawn_host("--port", "0", settings=DEAD_STORAGE, path=str(tmp_path)))
    assert "Node.js is not installed" in line
    assert "Node.js 20 or later" in line


def test_an_old_node_is_named_with_its_version(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho v18.19.0\n")
    node.chmod(0o755)
    line = _refusal(spawn_host("--port", "0", settings=DEAD_STORAGE, path=str(tmp_path)))
    assert "Node.js v18.19.0" in line
    assert "too old" in line


def test_an_app_module_that_is_not_there_is_named() -> None:
    line = _refusal(spawn_host("--port", "0", "--no-azurite", "--app", "function_ap:app"))
    assert "no module function_ap" in line


def test_ctrl_c_stops_everything_without_unclosed_sessions() -> None:
    """The sample app uses the durable client (the SDK's shared aiohttp session, which the host
    closes) and Azure Tables (closed by the app); after Ctrl-C nothing complains and nothing is left."""
    host = spawn_host(
        "--port", "0", "--app", "tests.devhost.sample_app:app", "--no-emulator", settings=DEAD_STORAGE
    )
    try:
        url = host.wait_for_url()
        with httpx.Client(base_url=f"{url}/api", timeout=30) as http:
            instance_id = http.post("/start/sequence", content=json.dumps(2)).json()["id"]
            deadline = time.monotonic() + 20
            while http.get(f"/status/{instance_id}").json()["runtimeStatus"] != "Completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert http.post("/tables").status_code == 200
            http.post("/start/gated", content="null")  # still running when Ctrl-C comes
    finally:
        status = host.interrupt()
    printed = host.printed()
    assert status == 0, printed
    assert f"{PREFIX}stopping" in printed
    for complaint in ("Unclosed", "Traceback", "Task was destroyed", "Exception ignored"):
        assert complaint not in printed, printed
    left = host.left_running()
    host.kill()
    assert left == [], "Azurite outlived the host"


def test_stopping_closes_the_durable_sdks_shared_session(azurite: str) -> None:
    """The SDK keeps one aiohttp session per process, made on the host's loop by the first client
    call: the host closes it when it stops (the worker never would), or it is reported unclosed."""
    with (
        sample_host(azurite, ROOT / "absent.json") as host,
        httpx.Client(base_url=f"{host.url}/api", timeout=30) as http,
    ):
        assert http.post("/start/sequence", content="1").status_code == 202
        session = http_utils._client_session
        assert session is not None
        assert not session.closed
    assert session.closed


@pytest.mark.parametrize(("arguments", "port"), [([], "7071"), (["PORT=7072"], "7072")])
def test_make_run_takes_the_port_from_port(arguments: list[str], port: str) -> None:
    """A dry run (`make -n`) shows the command without running anything; under `make test` the outer
    make's MAKEFLAGS and MAKELEVEL are left out, so the inner one prints no directory lines."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    shown = subprocess.run(  # noqa: S603 - make, dry run, in the project
        ["/usr/bin/make", "-n", "--no-print-directory", "run", *arguments],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"-m chatfn.devhost --port {port}" in shown.splitlines()[-1]
