"""HTTP plumbing: a threaded stdlib server on 127.0.0.1, fault injection, throttling, the request
log, `Emulator`.

Faults are applied here, around the surfaces (a fault fires before auth, or with `after` once the
request was carried out), because they stand for the network and Graph's front door failing, not for
Graph's own answers. Throttling too is the front door's (front_door): it counts an app's calls by kind.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from chatfn.emulator import batch, control, front_door, identity
from chatfn.emulator.faults import fault_response
from chatfn.emulator.messages import Request, Response, graph_error, json_response
from chatfn.emulator.state import State

DEFAULT_IDENTITY_HEADER = "chatfn-local"
HOST = "127.0.0.1"

_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not overflow the listen backlog

    def __init__(self, port: int, state: State) -> None:
        self.state = state
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.state.count_connection()
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (say, timed out during an injected delay) is routine, not a traceback."""
        if not isinstance(sys.exception(), ConnectionError):
            _log.exception("emulator failed serving %s", client_address)

    def close_open_connections(self) -> None:
        """Cut keep-alive connections, so a stopped emulator answers no one."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _is_graph(path: str) -> bool:
    return path == "/v1.0" or path.startswith("/v1.0/")


def _route(state: State, request: Request) -> Response:
    if request.path == identity.PATH:
        return identity.handle(state, request)
    if request.path == batch.PATH:
        return batch.handle(state, request)
    if _is_graph(request.path):
        return front_door.serve(state, request)
    return json_response(404, {"error": f"nothing is served at {request.path}"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the second

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; /_emulator/requests is the log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        return Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length > 0 else b"",
            raw_path=self.path.split("?", 1)[0],
        )

    def _serve(self) -> None:
        state = cast(_Server, self.server).state
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._write(json_response(411, {"error": "send the body with Content-Length"}))
            return
        try:
            request = self._read_request()
        except ValueError:  # a Content-Length that is not a number: the body's end is unknown
            self.close_connection = True
            self._write(json_response(400, {"error": "Content-Length is not a number"}))
            return
        if control.is_control(request.path):
            self._write(control.handle(state, request))
            return
        entry = state.log_request(request)
        rule = state.take_fault(request)
        if rule is not None and rule.delay:
            time.sleep(rule.delay)
        if rule is not None and not rule.after and rule.drop:
            self._drop()
            return
        try:
            if rule is not None and not rule.after and rule.status is not None:
                response = fault_response(request, rule, rule.status)
            else:
                response = _route(state, request)
        except Exception:
            _log.exception("emulator failed on %s %s", request.method, request.path)
            response = graph_error(request, 500, "The emulator failed on this request.")
        if rule is not None and rule.after:
            # Carried out (the chat exists), yet the client gets the failure, as Graph sometimes does.
            if rule.drop:
                self._drop()
                return
            if rule.status is not None:
                response = fault_response(request, rule, rule.status)
        state.settle_request(entry, response.status)
        self._write(response)

    def _drop(self) -> None:
        """No answer at all: the client sees the connection closed under its request."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)


class Emulator:
    """A running emulator: Graph under `graph_url`, the managed identity endpoint, and /_emulator."""

    def __init__(self, server: _Server, thread: threading.Thread, identity_header: str) -> None:
        self._server = server
        self._thread = thread
        self.identity_header = identity_header
        self.port: int = server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.graph_url = f"{self.url}/v1.0"
        self.identity_endpoint = f"{self.url}/msi/token"

    @classmethod
    def start(cls, port: int = 0, identity_header: str = DEFAULT_IDENTITY_HEADER) -> Emulator:
        """Listen on 127.0.0.1:`port` (0: a free one) and serve in daemon threads; returns once listening."""
        server = _Server(port, State(identity_header))
        name = f"graph-emulator-{server.server_address[1]}"
        # A short poll interval makes stop() quick; the default 0.5 s adds up in test teardowns.
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
        thread.start()
        return cls(server, thread, identity_header)

    def stop(self) -> None:
        """Stop serving, close the listening socket and cut the connections still open."""
        self._server.shutdown()
        self._server.server_close()
        self._server.close_open_connections()
        self._thread.join()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
