"""What the command-line client's tests share: a tap standing for the network between the client and
the app host, and the client as a real process that Ctrl-C reaches."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.apphost import ROOT


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    at: float


class Tap:
    """A forwarding proxy on 127.0.0.1 in front of the app host, standing for the network: it records
    what the client sent, and can lose the answers to POSTs the app acted on (the case an idempotency
    key is for): each entry of `lost_post_answers` takes the next POST's answer, `None` by dropping the
    connection, a status by answering that instead with no body, as a gateway does."""

    _NOT_FORWARDED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
    _SET_HERE = frozenset({"connection", "transfer-encoding", "content-length", "date", "server"})

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[Seen] = []
        self.lost_post_answers: list[int | None] = []
        self._client = httpx.Client(timeout=60)
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tap.forward(self)

            do_POST = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: stderr belongs to the client under test."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        """The app names its own public origin in Location and statusUrl; the tap puts its own there,
        as a gateway in front of the app does (or CHATFN_PUBLIC_ORIGIN set to the gateway's origin)."""
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        self.seen.append(Seen(handler.command, handler.path, headers, time.monotonic()))
        answer = self._client.request(
            handler.command,
            self.target + handler.path,
            headers={k: v for k, v in headers.items() if k not in self._NOT_FORWARDED},
            content=body,
        )
        if handler.command == "POST" and self.lost_post_answers:
            gateway_status = self.lost_post_answers.pop(0)
            if gateway_status is None:
                handler.close_connection = True
            else:
                handler.send_response(gateway_status)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
            return
        content = answer.content.replace(self.target.encode(), self.url.encode())
        handler.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() not in self._SET_HERE:
                handler.send_header(name, value.replace(self.target, self.url))
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def requests(self, method: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


def graph_requests(app_control: httpx.Client, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in app_control.get("/requests").json() if r["method"] == method and r["path"] == path]


def subprocess_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFN_")}
    return env | settings


@contextlib.contextmanager
def sigint_received_by_children() -> Iterator[None]:
    """A child inherits an ignored SIGINT (a suite started in the background, under nohup, by some CI
    runners) and then never sees Ctrl-C. A handled one is reset to the default at exec, where Python
    turns it into KeyboardInterrupt: so while a child starts, SIGINT is handled here."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_cli(*argv: str, env: dict[str, str], stderr: int) -> subprocess.Popen[bytes]:
    """`python -m chatfn ARGV...` (a command and its arguments) as a real process started from the
    repository's root, which Ctrl-C reaches however the test suite was started."""
    with sigint_received_by_children():
        return subprocess.Popen(  # noqa: S603 - this interpreter, our own module, the test's arguments
            [sys.executable, "-m", "chatfn", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )


def read_terminal(terminal: int) -> bytes:
    """All that a process wrote to its terminal (the other end of `terminal`), until it closed it."""
    shown = bytearray()
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the process ended and closed its end of the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    return bytes(shown)
