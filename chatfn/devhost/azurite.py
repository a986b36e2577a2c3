"""Azure Storage for the local host and the tests: Azurite (the npm package pinned in package.json,
installed by `make` into node_modules/), in memory on free ports of 127.0.0.1.

`ensure_storage` keeps an `AzureWebJobsStorage` that names a reachable account and starts Azurite
otherwise, so the app meets the real Azure Tables API locally, as it does in Azure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from chatfn.devhost.errors import StartError

STORAGE_SETTING = "AzureWebJobsStorage"
# Azurite's account and key are public, the same on every machine (Microsoft documents them):
# https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
DEVELOPMENT_TABLE_ENDPOINT = f"http://127.0.0.1:10002/{ACCOUNT_NAME}"
AZURITE_BIN = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite"
NODE_NEEDED = "Node.js 20 or later with npm"
NODE_MAJOR_NEEDED = 20  # Azurite 3.35.0, the version pinned, runs on Node 20
OR_STORAGE = "or set AzureWebJobsStorage to a storage account that answers"

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)")
_SERVICES = ("Blob", "Queue", "Table")


class AzuriteError(StartError):
    """Azurite is not installed, Node.js is missing or too old, or Azurite did not start."""


def table_endpoint(connection_string: str) -> str | None:
    """The Table service URL a storage connection string names (None if it names none)."""
    if connection_string.strip().rstrip(";").lower() == DEVELOPMENT_STORAGE.lower():
        return DEVELOPMENT_TABLE_ENDPOINT
    parts = dict(
        part.split("=", 1) for part in connection_string.split(";") if "=" in part
    )  # values (the key) may hold '=': split once
    if "TableEndpoint" in parts:
        return parts["TableEndpoint"].rstrip("/")
    account, suffix = parts.get("AccountName"), parts.get("EndpointSuffix", "core.windows.net")
    if not account:
        return None
    return f"{parts.get('DefaultEndpointsProtocol', 'https')}://{account}.table.{suffix}"


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether anything answers HTTP at the URL (any status: a storage service refuses anonymous calls).
    urllib rather than httpx, whose request log would show every probe as a 400 at start-up."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        urllib.request.urlopen(url, timeout=timeout).close()  # noqa: S310 - scheme checked above
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


def is_reachable(connection_string: str | None) -> bool:
    """Whether the account the connection string names answers on its Table endpoint."""
    endpoint = table_endpoint(connection_string) if connection_string else None
    return endpoint is not None and answers(endpoint)


@dataclass
class Azurite:
    """One Azurite process; `stop()` ends it (all its data is in memory and goes with it)."""

    process: subprocess.Popen[str]
    blob_url: str
    queue_url: str
    table_url: str

    @property
    def url(self) -> str:
        """The Table service's base URL, the one the app uses (what the host prints)."""
        return self.table_url

    @property
    def connection_string(self) -> str:
        """The connection string for AzureWebJobsStorage (it holds Azurite's public key: never log it)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_url}/{ACCOUNT_NAME};QueueEndpoint={self.queue_url}/{ACCOUNT_NAME};"
            f"TableEndpoint={self.table_url}/{ACCOUNT_NAME};"
        )

    @classmethod
    def start(cls, timeout: float = 30.0, executable: Path = AZURITE_BIN) -> Azurite:
        """Start Azurite on free ports and return once its Table service answers."""
        if not executable.exists():
            raise AzuriteError(
                f"Azurite is not installed ({executable} is missing): run `make run` or `npm ci`, "
                f"which need {NODE_NEEDED}, {OR_STORAGE}"
            )
        check_node()
        process = subprocess.Popen(  # noqa: S603 - the project's own pinned Azurite
            [
                str(executable),
                "--inMemoryPersistence",
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",  # azure-data-tables may send a newer x-ms-version than it knows
                *(arg for service in _SERVICES for arg in (f"--{service.lower()}Host", "127.0.0.1")),
                *(arg for service in _SERVICES for arg in (f"--{service.lower()}Port", "0")),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        urls = _read_urls(process, timeout)
        if urls is None:
            _end(process)
            raise AzuriteError(f"Azurite did not start: run `npm ci` (with {NODE_NEEDED}), {OR_STORAGE}")
        azurite = cls(process, urls["Blob"], urls["Queue"], urls["Table"])
        deadline = time.monotonic() + timeout
        while not answers(azurite.table_url):
            if time.monotonic() > deadline or process.poll() is not None:
                azurite.stop()
                raise AzuriteError("Azurite's Table service never answered")
            time.sleep(0.05)
        return azurite

    def stop(self) -> None:
        _end(self.process)


def check_node() -> None:
    """The `node` that Azurite's launcher (`#!/usr/bin/env node`) would run is there and new enough."""
    node = shutil.which("node")
    if node is None:
        raise AzuriteError(
            f"Node.js is not installed: Azurite needs {NODE_NEEDED} (https://nodejs.org/), {OR_STORAGE}"
        )
    version = subprocess.run(  # noqa: S603 - the node on PATH, asked its version
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    found = re.fullmatch(r"v(\d+)\.\d+\.\d+", version)
    if found is None:
        raise AzuriteError(
            f"{node} is not a Node.js that Azurite can use: it needs {NODE_NEEDED}, {OR_STORAGE}"
        )
    if int(found.group(1)) < NODE_MAJOR_NEEDED:
        raise AzuriteError(
            f"Node.js {version} ({node}) is too old: Azurite needs {NODE_NEEDED} (https://nodejs.org/), "
            f"{OR_STORAGE}"
        )


def ensure_storage(environ: MutableMapping[str, str], start: bool = True) -> Azurite | None:
    """Keep `AzureWebJobsStorage` when it names a reachable account; otherwise start Azurite (when
    `start`) and point the setting at it. Returns the Azurite started, if any."""
    if is_reachable(environ.get(STORAGE_SETTING)) or not start:
        return None
    azurite = Azurite.start()
    environ[STORAGE_SETTING] = azurite.connection_string
    return azurite


def _read_urls(process: subprocess.Popen[str], timeout: float) -> dict[str, str] | None:
    """Each service's URL from what Azurite prints (it picks the ports); None if it exits or stalls.
    A thread keeps reading afterwards, so Azurite never blocks on a full pipe."""
    urls: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout or ():
            found = _LISTENING.search(line)
            if found:
                urls[found.group(1)] = found.group(2).rstrip("/")
                if len(urls) == len(_SERVICES):
                    ready.set()
        ready.set()  # it exited

    threading.Thread(target=read, name="azurite-output", daemon=True).start()
    ready.wait(timeout)
    return dict(urls) if len(urls) == len(_SERVICES) else None


def _end(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
