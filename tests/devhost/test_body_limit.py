"""FUNCTIONS_REQUEST_BODY_SIZE_LIMIT as the Functions host (Kestrel) enforces it: 413 as soon as
Content-Length says too much, or as soon as a chunked body passes the limit, and nothing buffered
past it, on every route."""

from __future__ import annotations

import json
import socket
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from chatfn.devhost.body_limit import DEFAULT_LIMIT, SETTING, read_limit
from chatfn.devhost.errors import StartError
from tests.devhost.driving import sample_host

pytestmark = pytest.mark.apphost

LIMIT = 64 * 1024
ECHO = "/api/items/1"  # answers the body it was sent


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, azurite: str) -> Iterator[str]:
    """The sample app with a 64 KiB limit, set in local.settings.json as a user would."""
    settings = tmp_path_factory.mktemp("limit") / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {SETTING: str(LIMIT)}}))
    with sample_host(azurite, settings, unset=(SETTING,)) as host:
        yield host.url


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """`total` bytes as a stream (so httpx sends it chunked), one reused buffer."""
    buffer = b"x" * size
    sent = 0
    while sent < total:
        piece = buffer[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def _raw_exchange(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send a request head (and as much body as given, perhaps unfinished) over one socket and read
    the answer's status line and headers, without ever finishing the body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            received = connection.recv(4096)
            if not received:
                break
            answer += received
    return answer


def test_the_limit_comes_from_the_app_setting_with_the_hosts_default() -> None:
    assert read_limit({}) == DEFAULT_LIMIT == 104_857_600
    assert read_limit({SETTING: "1024"}) == 1024
    for wrong in ("100MB", "-1", "1e6", "²"):
        with pytest.raises(StartError, match=SETTING):
            read_limit({SETTING: wrong})


def test_a_body_at_the_limit_is_served_either_way(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        declared = http.post(ECHO, content=b"x" * LIMIT)
        chunked = http.post(ECHO, content=_chunks(LIMIT))
    assert declared.status_code == chunked.status_code == 200
    assert len(declared.json()["body"]) == len(chunked.json()["body"]) == LIMIT


def test_a_body_one_byte_over_is_refused_either_way(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        declared = http.post(ECHO, content=b"x" * (LIMIT + 1))
        chunked = http.post(ECHO, content=_chunks(LIMIT + 1))
        durable = http.post(
            "/runtime/webhooks/durabletask/orchestrators/sequence", content=_chunks(LIMIT + 1)
        )
    assert declared.status_code == chunked.status_code == durable.status_code == 413
    for refused in (declared, chunked, durable):  # Kestrel's answer: no body, and the connection closed
        assert refused.content == b""
        assert refused.headers["connection"] == "close"


def test_content_length_over_the_limit_is_answered_before_any_body_is_sent(url: str) -> None:
    head = f"POST {ECHO} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {10 * 2**30}\r\n\r\n".encode()
    assert _raw_exchange(url, head).startswith(b"HTTP/1.1 413 ")


def test_a_body_declared_too_large_gets_413_instead_of_100_continue(url: str) -> None:
    """curl asks `Expect: 100-continue` before a body over 1 MiB: it must not be told to send it."""
    ask = f"POST {ECHO} HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: {{}}\r\n\r\n"
    assert _raw_exchange(url, ask.format(LIMIT + 1).encode()).startswith(b"HTTP/1.1 413 ")
    assert _raw_exchange(url, ask.format(2).encode()).startswith(b"HTTP/1.1 100 Continue")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(url: str) -> None:
    head = f"POST {ECHO} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    one_over = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in _chunks(LIMIT + 1))
    # No closing zero-length chunk: the body is not over when the answer comes.
    assert _raw_exchange(url, head, one_over).startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_far_over_the_limit_is_not_buffered(url: str, declared: bool) -> None:
    """32 MiB against a 64 KiB limit: what the host (in this process) allocates stays far below."""
    total = 32 * 2**20
    headers = {"Content-Length": str(total)} if declared else {}
    tracemalloc.start()
    try:
        answer = httpx.post(f"{url}{ECHO}", content=_chunks(total), headers=headers, timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413
    assert peak < 4 * 2**20, f"{peak} bytes allocated at the peak"
