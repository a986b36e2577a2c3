"""The whole app as a user runs it: `python -m chatfn.devhost --port 0` in a subprocess, with its
embedded Graph emulator and Azurite (its own, or the session's). Tests talk HTTP to them and can read
everything the host printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chatfn.devhost.azurite import STORAGE_SETTING

ROOT = Path(__file__).resolve().parents[1]
_HOST_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/api\b")
_EMULATOR_URL = re.compile(r"emulator.*?(http://127\.0\.0\.1:\d+)", re.IGNORECASE)
_AZURITE_URL = re.compile(r"^Azurite: (http://127\.0\.0\.1:\d+)", re.MULTILINE)

# Quick polls and a short deadline keep the asynchronous paths fast; the rest are the defaults.
TEST_SETTINGS = {
    "CHATFN_POLL_INTERVAL_SECONDS": "0.2",
    "CHATFN_OPERATION_DEADLINE_SECONDS": "5",
    "CHATFN_SYNC_WAIT_SECONDS": "15",
    "CHATFN_THROTTLE_PATIENCE_SECONDS": "5",
}


@dataclass
class AppHost:
    process: subprocess.Popen[str]
    url: str = ""  # http://127.0.0.1:PORT (routes are under /api)
    emulator_url: str = ""
    azurite_url: str = ""  # only when the host started its own Azurite
    output: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def printed(self) -> str:
        return "".join(self.output)

    def terminate_running(self) -> None:
        """Terminate every orchestration still running, through the host's Durable HTTP API."""
        durable = f"{self.url}/runtime/webhooks/durabletask/instances"
        with httpx.Client(timeout=10) as client:
            running = client.get(durable, params={"runtimeStatus": "Pending,Running"}).json()
            for instance in running:
                client.post(f"{durable}/{instance['instanceId']}/terminate", params={"reason": "test ended"})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_app_host(
    settings: dict[str, str] | None = None,
    timeout: float = 60.0,
    app: str = "function_app:app",
    emulator: bool = True,
    storage: str | None = None,
    queue_latency: float = 0.0,
    activity_reruns: float = 0.0,
) -> AppHost:
    """Start the host in a subprocess and return once it prints its URL (and its emulator's).
    `storage` is a connection string for AzureWebJobsStorage (the session's Azurite); without one the
    host starts its own Azurite, unless `settings` name a reachable account. `activity_reruns`: the
    share of activity runs the host runs twice (a worker that died before recording one)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRAPH_", "IDENTITY_", "CHATFN_", "MSI_", STORAGE_SETTING))
    }
    env.update(TEST_SETTINGS | ({STORAGE_SETTING: storage} if storage else {}) | (settings or {}))
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own host module
        [
            sys.executable,
            "-m",
            "chatfn.devhost",
            "--port",
            "0",
            "--app",
            app,
            "--queue-latency",
            str(queue_latency),
            "--rerun-activities",
            str(activity_reruns),
            *([] if emulator else ["--no-emulator"]),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    host = AppHost(process)
    threading.Thread(target=_drain, args=(host,), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        text = host.printed()
        found, emulator_found = _HOST_URL.search(text), _EMULATOR_URL.search(text)
        if found and (emulator_found or not emulator):
            host.url = found.group(1)
            host.emulator_url = emulator_found.group(1) if emulator_found else ""
            azurite_found = _AZURITE_URL.search(text)
            host.azurite_url = azurite_found.group(1) if azurite_found else ""
            return host
        time.sleep(0.05)
    host.stop()
    raise RuntimeError(f"the local host did not start:\n{host.printed()}")


def _drain(host: AppHost) -> None:
    """Keep reading what the host prints, so its pipe never fills and tests can look at it."""
    assert host.process.stdout is not None
    for line in host.process.stdout:
        host.output.append(line)
