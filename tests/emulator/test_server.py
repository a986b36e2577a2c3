"""The server itself: concurrency, keep-alive, start and stop, and the command line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, JACOB, MEGAN, client, get_token, group

REPO = Path(__file__).resolve().parents[2]


def test_concurrent_posts_all_succeed_with_distinct_ids(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    start = threading.Barrier(50)

    def create(_: int) -> httpx.Response:
        start.wait(timeout=10)
        return graph.post("/chats", json=group(ADELE, MEGAN, JACOB))

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(create, range(50)))
    assert [answer.status_code for answer in answers] == [201] * 50
    assert len({answer.json()["id"] for answer in answers}) == 50
    assert len(control.get("/chats").json()) == 50
    assert control.get("/stats").json()["graphRequests"] == 50


def test_start_stop_and_context_manager() -> None:
    with Emulator.start(port=0, identity_header="s3cret") as emulator:
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert emulator.graph_url == f"{emulator.url}/v1.0"
        assert emulator.identity_endpoint == f"{emulator.url}/msi/token"
        assert emulator.identity_header == "s3cret"
        assert get_token(emulator)
    with client() as http, pytest.raises(httpx.ConnectError):
        http.get(f"{emulator.url}/_emulator/stats")


def test_stop_cuts_keep_alive_connections() -> None:
    emulator = Emulator.start()
    with client(emulator.url) as http:
        assert http.get("/_emulator/stats").status_code == 200
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            http.get("/_emulator/stats")


def test_chunked_body_is_refused_with_411(emulator: Emulator, token: str) -> None:
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {token}"}) as http:
        answer = http.post("/chats", content=iter([b"{}"]))
    assert answer.status_code == 411


def test_unreadable_content_length_is_400(emulator: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as raw:
        raw.sendall(b"POST /v1.0/chats HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_client_hanging_up_during_a_delay_is_quiet(
    emulator: Emulator, control: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    control.post("/faults", json={"path": "/v1.0/users", "delay": 0.3, "count": 1}).raise_for_status()
    with client(emulator.graph_url, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
        http.get(f"/users/{ADELE}")
    time.sleep(0.4)
    assert "Traceback" not in capfd.readouterr().err
    assert control.get("/requests").json()[-1]["status"] == 401


def test_identity_header_is_per_emulator(emulator: Emulator) -> None:
    with Emulator.start(identity_header="other") as other, client() as http:
        params = {"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"}
        assert http.get(
            other.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": "other"}
        ).is_success
        wrong = http.get(
            other.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": "chatfn-local"}
        )
        assert wrong.status_code == 401


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_command_line(stop_with: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfn.emulator", "--port", "0", "--identity-header", "cli-secret"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        prefix = "Graph emulator listening on http://127.0.0.1:"
        assert first.startswith(prefix), first
        url = first.removeprefix("Graph emulator listening on ")
        with client() as http:
            answer = http.get(
                f"{url}/msi/token",
                params={"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"},
                headers={"X-IDENTITY-HEADER": "cli-secret"},
            )
            assert answer.status_code == 200
        process.send_signal(stop_with)
        _, errors = process.communicate(timeout=10)
        assert process.returncode == 0
        assert errors == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_reports_a_busy_port(emulator: Emulator) -> None:
    result = subprocess.run(  # noqa: S603 - a fixed command line: this interpreter and the emulator module
        [sys.executable, "-m", "chatfn.emulator", "--port", str(emulator.port)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr
