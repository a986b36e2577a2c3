"""`python -m chatfn.devhost` as a user runs it, in a subprocess of its own session, so a test can see
what it printed on each stream, how it exited, and whether anything it started outlived it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chatfn.devhost.azurite import STORAGE_SETTING

ROOT = Path(__file__).resolve().parents[2]
_HOST_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/api\b")


@dataclass
class HostProcess:
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def printed(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def wait_for_url(self, timeout: float = 60) -> str:
        """The host's base URL once it prints it (it serves from then on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            found = _HOST_URL.search("".join(self.stdout))
            if found:
                return found.group(1)
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the local host did not start:\n{self.printed()}")

    def finish(self, timeout: float = 60) -> int:
        """Its exit status, once it has exited and everything it printed has been read."""
        status = self.process.wait(timeout)
        for reader in self.readers:
            reader.join(10)
        return status

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()

    def left_running(self) -> list[str]:
        """Processes of its session still alive (the host leads its own session, and whatever it
        starts, Azurite included, stays in it unless it leaves on purpose)."""
        found = subprocess.run(  # noqa: S603 - a fixed command on our own session id
            ["/usr/bin/pgrep", "-a", "-s", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return found.stdout.splitlines()

    def kill(self) -> None:
        """End the whole session (for a test that fails half-way)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(10)


def spawn_host(*args: str, settings: dict[str, str] | None = None, path: str | None = None) -> HostProcess:
    """Start the host with these arguments, the test's environment minus anything that points at Graph,
    an identity or storage, plus `settings`; `path` replaces PATH (to hide Node)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GRAPH_", "IDENTITY_", "CHATFN_", "MSI_", STORAGE_SETTING))
    }
    env.update(settings or {})
    env["PYTHONUNBUFFERED"] = "1"
    if path is not None:
        env["PATH"] = path
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own host module
        [sys.executable, "-m", "chatfn.devhost", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    host = HostProcess(process)
    assert process.stdout is not None
    assert process.stderr is not None
    for stream, lines in ((process.stdout, host.stdout), (process.stderr, host.stderr)):
        reader = threading.Thread(target=_drain, args=(stream, lines), daemon=True)
        reader.start()
        host.readers.append(reader)
    return host


def _drain(stream: IO[str], lines: list[str]) -> None:
    """Keep reading, so the host never blocks on a full pipe."""
    for line in stream:
        lines.append(line)
