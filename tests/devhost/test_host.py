"""The local host over HTTP with a small sample app (tests/devhost/sample_app.py): HTTP triggers as
the Functions host serves them, the durable client's HTTP API, and orchestrations run by replay."""

from __future__ import annotations

import time

import httpx
import pytest

from chatfn.devhost import HostHandle, NonDeterminismError, check_replay
from tests.apphost import start_app_host
from tests.devhost.driving import INSTANCES, RUNNING, SAMPLE_SETTING, finished, replays_cleanly, start

pytestmark = [pytest.mark.apphost, pytest.mark.azurite]

# --- HTTP triggers ------------------------------------------------------------------------------


def test_a_request_reaches_the_function_as_the_worker_builds_it(http: httpx.Client) -> None:
    answer = http.post("/api/ITEMS/7?x=1&x=2", content=b"hello", headers={"x-sample": "yes"})
    assert answer.status_code == 200
    seen = answer.json()
    assert (seen["method"], seen["id"], seen["header"], seen["body"]) == ("POST", "7", "yes", "hello")
    assert seen["params"] == {"x": "1,2"}
    assert seen["url"].endswith("/api/ITEMS/7?x=1&x=2")
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"], "repeated headers survive"


def test_a_path_with_a_line_break_still_reaches_the_app(http: httpx.Client) -> None:
    answer = http.get("/api/items/a%0Ab")
    assert answer.status_code == 200
    assert answer.json()["id"] == "a\nb"


def test_a_function_may_answer_a_plain_string(http: httpx.Client) -> None:
    answer = http.get("/api/text")
    assert (answer.status_code, answer.text) == (200, "plain")
    assert answer.headers["content-type"].startswith("text/plain")


def test_unknown_routes_and_methods(http: httpx.Client) -> None:
    assert http.get("/api/nowhere").status_code == 404
    wrong = http.delete("/api/items/7")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, POST"


def test_a_failing_function_is_a_bare_500(http: httpx.Client) -> None:
    answer = http.get("/api/boom")
    assert answer.status_code == 500
    assert "secret detail" not in answer.text
    assert "Traceback" not in answer.text


def test_local_settings_values_reach_the_app(http: httpx.Client) -> None:
    assert http.get(f"/api/env/{SAMPLE_SETTING}").json() == {"value": "from the file"}


def test_the_client_binding_points_at_the_hosts_durable_api(http: httpx.Client, sample: HostHandle) -> None:
    payload = http.get("/api/binding").json()
    assert payload["id"] == "some-id"
    assert payload["statusQueryGetUri"].startswith(f"{sample.url}/runtime/webhooks/durabletask/instances/")
    assert f"code={sample.host.system_key}" in payload["statusQueryGetUri"]


# --- orchestrations -----------------------------------------------------------------------------


def test_activities_run_in_sequence_async_on_the_loop_and_sync_in_threads(
    http: httpx.Client, sample: HostHandle
) -> None:
    instance_id = start(http, "sequence", 21)
    status = finished(http, instance_id)
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["doubled"] == 42
    assert output["shouted"]["text"] == "HI"
    assert output["shouted"]["thread"].startswith("devhost-worker")
    replays_cleanly(sample, "sequence", instance_id)


def test_durable_retries_wait_on_timers_and_try_again(http: httpx.Client, sample: HostHandle) -> None:
    instance_id = start(http, "retrying")
    status = finished(http, instance_id)
    assert status["output"] == {"attempts": 3}
    kinds = [event["EventType"] for event in status["historyEvents"]]
    assert kinds.count("TaskFailed") == 2
    assert kinds.count("TimerFired") == 2
    replays_cleanly(sample, "retrying", instance_id)


def test_spent_retries_raise_in_the_orchestrator(http: httpx.Client, sample: HostHandle) -> None:
    instance_id = start(http, "exhausting")
    caught = finished(http, instance_id)["output"]["caught"]
    assert "attempt 2 failed" in caught
    replays_cleanly(sample, "exhausting", instance_id)


def test_an_activity_failure_can_be_caught(http: httpx.Client, sample: HostHandle) -> None:
    instance_id = start(http, "catching")
    assert "no luck with x" in finished(http, instance_id)["output"]["caught"]
    replays_cleanly(sample, "catching", instance_id)


def test_an_uncaught_failure_fails_the_orchestration(http: httpx.Client) -> None:
    status = finished(http, start(http, "propagating"))
    assert status["runtimeStatus"] == "Failed"
    assert "no luck with y" in status["output"]


def test_a_timer_waits_in_real_time_and_moves_the_orchestrators_clock(
    http: httpx.Client, sample: HostHandle
) -> None:
    started = time.monotonic()
    instance_id = start(http, "waiting")
    status = finished(http, instance_id)
    assert time.monotonic() - started >= 1.0
    assert status["output"]["waited"] >= 1.0
    replays_cleanly(sample, "waiting", instance_id)


def test_task_any_lets_the_activity_beat_a_cancelled_timer(http: httpx.Client, sample: HostHandle) -> None:
    started = time.monotonic()
    instance_id = start(http, "racing")
    status = finished(http, instance_id)
    assert status["output"] == {"winner": "activity", "value": 42}
    assert time.monotonic() - started < 10, "the 30 s timer did not hold the orchestration"
    replays_cleanly(sample, "racing", instance_id)


def test_an_external_event_resumes_the_orchestration_and_activities_run_once(
    http: httpx.Client, sample: HostHandle
) -> None:
    instance_id = start(http, "gated")
    deadline = time.monotonic() + 10
    while http.get(f"/api/status/{instance_id}").json()["customStatus"] != {"stage": "waiting"}:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert http.post(f"/api/events/{instance_id}/go", json={"approved": True}).status_code == 202
    status = finished(http, instance_id)
    assert status["output"] == {"event": {"approved": True}, "runs": 1}
    assert status["customStatus"] == {"stage": "done"}
    replays_cleanly(sample, "gated", instance_id)


def test_continue_as_new_starts_a_fresh_history(http: httpx.Client) -> None:
    status = finished(http, start(http, "counting", 0))
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 3)


def test_an_instance_id_runs_once_at_a_time(http: httpx.Client) -> None:
    instance_id = start(http, "gated", instance_id="only-one")
    second = http.post("/api/start/gated", content="null", params={"id": instance_id})
    assert second.status_code == 409
    http.post(f"/api/events/{instance_id}/go", content="null")
    finished(http, instance_id)
    assert start(http, "sequence", 1, instance_id=instance_id) == instance_id, "a finished one is replaced"


def test_an_unknown_orchestrator_cannotstart(http: httpx.Client) -> None:
    answer = http.post("/api/start/nothing", content="null")
    assert answer.status_code == 409
    assert "doesn't exist" in answer.json()["error"]


# --- non-determinism ----------------------------------------------------------------------------


def test_a_non_deterministic_orchestrator_fails_loudly() -> None:
    # Its own process: the SDK's client keeps one HTTP session per process, tied to one host's loop.
    host = start_app_host(app="tests.devhost.nondeterministic_app:app", emulator=False)
    try:
        with httpx.Client(base_url=host.url, timeout=10) as http:
            instance_id = http.post("/api/start").text
            durable = f"/runtime/webhooks/durabletask/instances/{instance_id}"
            deadline = time.monotonic() + 10
            while (status := http.get(durable).json())["runtimeStatus"] in RUNNING:
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        host.stop()
    assert status["runtimeStatus"] == "Failed"
    assert "Non-deterministic orchestrator" in status["output"]
    assert "CALL_ACTIVITY right" in status["output"], "the replay's different choice is named"
    assert "Non-deterministic orchestrator" in host.printed(), "and it is logged"


def test_check_replay_catches_a_history_the_code_would_not_make(
    http: httpx.Client, sample: HostHandle
) -> None:
    instance_id = start(http, "sequence", 5)
    finished(http, instance_id)
    history = sample.history(instance_id)
    [scheduled] = [e for e in history if e.get("Name") == "shout"]
    scheduled["Name"] = "whisper"
    handle = sample.host.functions.orchestrators["sequence"].handle
    with pytest.raises(NonDeterminismError, match="whisper"):
        check_replay(handle, history, sample.host.instance_input(instance_id), instance_id)


# --- the public origin, timer triggers, purge and the instances list ------------------------------


def test_the_public_origin_defaults_to_the_hosts_own_url(http: httpx.Client, sample: HostHandle) -> None:
    assert http.get("/api/env/CHATFN_PUBLIC_ORIGIN").json() == {"value": sample.url}


def test_a_timer_function_runs_through_the_admin_api_and_purges_finished_instances(
    http: httpx.Client, sample: HostHandle
) -> None:
    done = start(http, "sequence", 1)
    finished(http, done)
    running = start(http, "gated")
    runs_before = len(http.get("/api/purges").json())
    answer = http.post("/admin/functions/purge_finished", json={"input": ""})
    assert answer.status_code == 202
    deadline = time.monotonic() + 10
    while len(purges := http.get("/api/purges").json()) == runs_before:
        assert time.monotonic() < deadline, "the timer function never ran"
        time.sleep(0.02)
    assert purges[-1]["pastDue"] is False
    assert purges[-1]["deleted"] >= 1
    assert http.get(f"{INSTANCES}/{done}").status_code == 404, "the finished instance is gone"
    assert http.get(f"{INSTANCES}/{running}").status_code == 202, "a running one is kept"
    http.post(f"/api/events/{running}/go", content="null")


def test_the_admin_api_runs_only_timer_functions(http: httpx.Client) -> None:
    assert http.post("/admin/functions/nothing", json={"input": ""}).status_code == 404
    assert http.post("/admin/functions/items", json={"input": ""}).status_code == 404
    assert http.post("/admin/functions/purge_finished", content=b"{not json").status_code == 400


def test_the_banner_names_the_timer_and_how_to_run_it(sample: HostHandle) -> None:
    [line] = [line for line in sample.host.banner() if "purge_finished" in line]
    assert "timerTrigger (0 30 3 * * *)" in line
    assert f"POST {sample.url}/admin/functions/purge_finished" in line


def test_purge_instance_history_deletes_one_finished_instance(http: httpx.Client) -> None:
    instance_id = start(http, "sequence", 3)
    finished(http, instance_id)
    assert http.delete(f"/api/purge/{instance_id}").json() == {"instancesDeleted": 1}
    assert http.delete(f"/api/purge/{instance_id}").json() == {"instancesDeleted": 0}
    assert http.get(f"{INSTANCES}/{instance_id}").status_code == 404


def test_the_instances_list_filters_by_status_and_creation_time(http: httpx.Client) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    done = start(http, "sequence", 6)
    finished(http, done)
    running = start(http, "gated")

    def listed(**params: str) -> set[str]:
        answer = http.get(INSTANCES, params=params)
        assert answer.status_code == 200
        return {i["instanceId"] for i in answer.json()}

    assert {done, running} <= listed(createdTimeFrom=before)
    assert done in listed(runtimeStatus="Completed") - listed(runtimeStatus="Running,Pending")
    assert running in listed(runtimeStatus="Running,Pending")
    assert not {done, running} & listed(createdTimeFrom=later)
    http.post(f"/api/events/{running}/go", content="null")
