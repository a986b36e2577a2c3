"""host.json's functionTimeout on every kind of function, as the Functions host and the Durable
extension enforce it: an HTTP caller gets a 500, an activity's orchestrator a TaskFailed with the
WebJobs SDK's message, an orchestrator episode is aborted and retried, a timer run is cancelled."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from chatfn.devhost import HostHandle
from chatfn.devhost.errors import StartError
from chatfn.devhost.timeouts import DEFAULT_SECONDS, FunctionTimeout
from tests.devhost import sample_app
from tests.devhost.driving import finished, replays_cleanly, sample_host, start
from tests.devhost.processes import spawn_host

pytestmark = pytest.mark.apphost

TIMEOUT_MESSAGE = "Timeout value of 00:00:01 was exceeded by function: Functions.{}"


@pytest.fixture(scope="module")
def brief(tmp_path_factory: pytest.TempPathFactory, azurite: str) -> Iterator[HostHandle]:
    """The sample app under a host.json that gives every function one second."""
    root = tmp_path_factory.mktemp("brief")
    (root / "host.json").write_text(json.dumps({"version": "2.0", "functionTimeout": "00:00:01"}))
    with sample_host(azurite, root / "local.settings.json", host_json=root / "host.json") as host:
        yield host


@pytest.fixture
def http(brief: HostHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=brief.url, timeout=30) as client:
        yield client


def _eventually(check: str, seconds: float = 5) -> str:
    """What sample_app.SLOW records for `check`, once it records something."""
    deadline = time.monotonic() + seconds
    while check not in sample_app.SLOW:
        assert time.monotonic() < deadline, f"{check} never ended"
        time.sleep(0.02)
    return sample_app.SLOW[check]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:05:00", 300.0),
        ("1.00:00:00", 86400.0),
        ("00:00:01.5", 1.5),
        ("-1", None),
        (None, DEFAULT_SECONDS),
    ],
)
def test_host_json_function_timeout_is_read_as_the_functions_host_reads_it(
    tmp_path: Path, value: str | None, seconds: float | None
) -> None:
    document = {"version": "2.0"} | ({"functionTimeout": value} if value else {})
    (tmp_path / "host.json").write_text(json.dumps(document))
    assert FunctionTimeout.from_host_json(tmp_path / "host.json").seconds == seconds
    assert FunctionTimeout.from_host_json(tmp_path / "absent.json").seconds == DEFAULT_SECONDS


@pytest.mark.parametrize("value", ["24:00:00", "5 minutes", "00:60:00", "00:00:00"])
def test_a_function_timeout_the_host_cannot_read_stops_the_start(tmp_path: Path, value: str) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"functionTimeout": value}))
    with pytest.raises(StartError, match="functionTimeout"):
        FunctionTimeout.from_host_json(tmp_path / "host.json")


def test_the_limit_is_printed_as_dotnet_prints_a_timespan() -> None:
    assert FunctionTimeout(300).span == "00:05:00"
    assert FunctionTimeout(86400 + 3661).span == "1.01:01:01"
    assert FunctionTimeout(1.5).span == "00:00:01.5000000"


def test_an_async_http_function_that_overruns_is_cancelled_and_answered_500(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    sample_app.SLOW.pop("slow_async", None)
    started = time.monotonic()
    answer = http.get("/api/slow/async", params={"seconds": 10})
    assert answer.status_code == 500
    assert 1 <= time.monotonic() - started < 3
    assert _eventually("slow_async") == "cancelled"
    assert "Timeout value of 00:00:01 exceeded by function 'Functions.slow_async'" in caplog.text


def test_a_sync_http_function_that_overruns_is_answered_500_and_left_to_finish_in_its_thread(
    http: httpx.Client,
) -> None:
    sample_app.SLOW.pop("slow_sync", None)
    started = time.monotonic()
    assert http.get("/api/slow/sync", params={"seconds": 2}).status_code == 500
    assert time.monotonic() - started < 1.9, "the caller did not wait for the thread"
    assert _eventually("slow_sync") == "finished", "a thread cannot be stopped: it runs on"


def test_an_http_function_within_the_limit_answers(http: httpx.Client) -> None:
    assert http.get("/api/slow/async", params={"seconds": 0.2}).json() == {"slept": True}


def test_an_activity_that_overruns_fails_its_task_with_the_extensions_message(
    http: httpx.Client, brief: HostHandle
) -> None:
    sample_app.SLOW.pop("dawdle", None)
    instance_id = start(http, "impatient", 10)
    caught = finished(http, instance_id)["output"]["caught"]
    reason = f"Activity function 'dawdle' failed: {TIMEOUT_MESSAGE.format('dawdle')}"
    assert caught.startswith(reason)
    [failed] = [e for e in brief.history(instance_id) if e["EventType"] == HistoryEventType.TASK_FAILED]
    assert failed["Reason"] == reason
    assert _eventually("dawdle") == "cancelled"
    replays_cleanly(brief, "impatient", instance_id)


def test_an_orchestrator_episode_that_overruns_is_aborted_and_retried_from_the_same_history(
    http: httpx.Client, brief: HostHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """The first episode sleeps 1.5 s: aborted at 1 s, tried again 2 s later (the queue's backoff)."""
    started = time.monotonic()
    instance_id = start(http, "stalling", 1.5)
    status = finished(http, instance_id)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"doubled": 10, "calls": 3}, "the aborted call, its retry, the replay"
    assert time.monotonic() - started >= 3
    assert f"orchestration {instance_id}: the episode was aborted" in caplog.text
    replays_cleanly(brief, "stalling", instance_id)


def test_a_timer_run_that_overruns_is_cancelled(http: httpx.Client) -> None:
    sample_app.SLOW.pop("slow_timer", None)
    assert http.post("/admin/functions/slow_timer", json={"input": ""}).status_code == 202
    assert _eventually("slow_timer", seconds=3) == "cancelled"


def test_function_timeout_on_the_command_line_overrides_host_json() -> None:
    """host.json in the app's root says five minutes; --function-timeout 0.5 wins."""
    host = spawn_host(
        "--port", "0", "--app", "tests.devhost.sample_app:app", "--no-emulator", "--no-azurite",
        "--function-timeout", "0.5",
    )  # fmt: skip
    try:
        url = host.wait_for_url()
        started = time.monotonic()
        answer = httpx.get(f"{url}/api/slow/sync", params={"seconds": 3}, timeout=10)
        elapsed = time.monotonic() - started
    finally:
        host.interrupt()
    assert answer.status_code == 500
    assert elapsed < 2
    assert "Timeout value of 00:00:00.5000000 exceeded by function 'Functions.slow_sync'" in host.printed()
