"""Sub-orchestrations on the local host, replayed by the real SDK: child instances numbered, named and
reported to their parent as the SDK and the Durable extension (DTFx) expect, retried like activities,
listed and purged like any instance, and left running when their parent is terminated."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from chatfn.devhost import HostHandle, NonDeterminismError, check_replay
from chatfn.devhost import history as h
from chatfn.devhost.replay import Schedule
from tests.devhost.driving import INSTANCES, finished, replays_cleanly, start

pytestmark = pytest.mark.apphost

CREATED = HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED.name
SCHEDULED = HistoryEventType.TASK_SCHEDULED.name
TIMER = HistoryEventType.TIMER_CREATED.name


def _decisions(history: list[h.Event]) -> list[tuple[str, int, str | None, str | None]]:
    """What each episode scheduled: kind, sequence number, name and (for a child) its instance id."""
    return [
        (HistoryEventType(e["EventType"]).name, e["EventId"], e.get("Name"), e.get("InstanceId"))
        for e in history
        if e["EventType"] in h.DECISIONS
    ]


def _durable_status(http: httpx.Client, instance_id: str) -> dict[str, Any]:
    answer = http.get(f"{INSTANCES}/{instance_id}")
    assert answer.status_code in (200, 202), (instance_id, answer.status_code)
    status: dict[str, Any] = answer.json()
    return status


def _wait_for_status(http: httpx.Client, instance_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 10
    while (answer := http.get(f"{INSTANCES}/{instance_id}")).status_code == 404 or (
        answer.json()["runtimeStatus"] != wanted
    ):
        assert time.monotonic() < deadline, f"{instance_id} never became {wanted}"
        time.sleep(0.02)


def test_children_are_numbered_and_named_as_the_sdk_and_dtfx_do(
    http: httpx.Client, sample: HostHandle
) -> None:
    parent = start(http, "family")
    status = finished(http, parent)
    assert status["runtimeStatus"] == "Completed", status
    history = sample.history(parent)
    execution, _ = h.execution_ids(history)
    # task_all numbers its children in list order; a child without an id is `<execution id>:<number>`.
    assert _decisions(history) == [
        (CREATED, 0, "child", f"{parent}-named"),
        (SCHEDULED, 1, "double", None),
        (CREATED, 2, "child", f"{execution}:2"),
        (CREATED, 3, "child", f"{execution}:3"),
    ]
    ended = [
        e["TaskScheduledId"]
        for e in history
        if e["EventType"] == HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED
    ]
    assert sorted(ended) == [0, 2, 3]
    assert status["output"] == {
        "together": [
            {"doubled": 2, "me": f"{parent}-named", "parent": parent},
            20,
            {"doubled": 4, "me": f"{execution}:2", "parent": parent},
        ],
        "last": {"doubled": 6, "me": f"{execution}:3", "parent": parent},
    }
    replays_cleanly(sample, "family", parent)
    for child_id in (f"{parent}-named", f"{execution}:2", f"{execution}:3"):
        replays_cleanly(sample, "child", child_id)


def test_task_any_lets_a_child_beat_a_cancelled_timer(http: httpx.Client, sample: HostHandle) -> None:
    started = time.monotonic()
    parent = start(http, "racing_child")
    status = finished(http, parent)
    assert status["output"]["winner"] == "child"
    assert status["output"]["value"]["doubled"] == 42
    assert time.monotonic() - started < 10, "the 30 s timer did not hold the parent"
    execution, _ = h.execution_ids(sample.history(parent))
    assert [(kind, number) for kind, number, *_ in _decisions(sample.history(parent))] == [
        (TIMER, 0),
        (CREATED, 1),
    ]
    assert status["output"]["value"]["me"] == f"{execution}:1"
    replays_cleanly(sample, "racing_child", parent)


def test_a_child_that_continues_as_new_reports_only_its_last_execution(http: httpx.Client) -> None:
    """`counting` continues as new until its input reaches 3; its parent link goes along."""
    status = finished(http, start(http, "guardian", {"child": "counting", "input": 0, "id": "counter-child"}))
    assert status["output"] == {"child": 3}


def test_the_status_api_folds_a_childs_creation_into_its_end(http: httpx.Client) -> None:
    events = finished(http, start(http, "family"))["historyEvents"]
    kinds = [event["EventType"] for event in events]
    assert "SubOrchestrationInstanceCreated" not in kinds
    ends = [event for event in events if event["EventType"] == "SubOrchestrationInstanceCompleted"]
    assert len(ends) == 3
    assert all(event["FunctionName"] == "child" and "ScheduledTime" in event for event in ends)
    assert all("TaskScheduledId" not in event for event in ends)
    assert "OrchestrationInstance" not in events[0]


def test_children_are_listed_and_purged_like_any_instance(http: httpx.Client, sample: HostHandle) -> None:
    parent = start(http, "family")
    finished(http, parent)
    execution, _ = h.execution_ids(sample.history(parent))
    children = {f"{parent}-named", f"{execution}:2", f"{execution}:3"}
    listed = {i["instanceId"]: i for i in http.get(INSTANCES).json()}
    assert children | {parent} <= set(listed)
    for child_id in children:
        entry = listed[child_id]
        assert (entry["name"], entry["runtimeStatus"]) == ("child", "Completed")
        assert {"createdTime", "customStatus", "lastUpdatedTime"} <= set(entry)
        assert "parentInstanceId" not in entry, "the extension's status payload has no parent id"
    assert http.delete(f"/api/purge/{parent}-named").json() == {"instancesDeleted": 1}
    assert http.post("/admin/functions/purge_finished", json={"input": ""}).status_code == 202
    deadline = time.monotonic() + 10
    while any(http.get(f"{INSTANCES}/{i}").status_code != 404 for i in children | {parent}):
        assert time.monotonic() < deadline, "purge_instance_history_by left children behind"
        time.sleep(0.02)


def test_a_failing_child_is_retried_on_durable_timers(http: httpx.Client, sample: HostHandle) -> None:
    parent = start(http, "retrying_parent", 2)
    status = finished(http, parent)
    assert status["output"] == {"result": {"attempts": 3}}
    history = sample.history(parent)
    execution, _ = h.execution_ids(history)
    # As the SDK's own tests lay it out: the failure, a timer numbered next, then a new child.
    assert _decisions(history) == [
        (CREATED, 0, "fragile", f"{execution}:0"),
        (TIMER, 1, None, None),
        (CREATED, 2, "fragile", f"{execution}:2"),
        (TIMER, 3, None, None),
        (CREATED, 4, "fragile", f"{execution}:4"),
    ]
    outcomes = [_durable_status(http, f"{execution}:{n}")["runtimeStatus"] for n in (0, 2, 4)]
    assert outcomes == ["Failed", "Failed", "Completed"]
    replays_cleanly(sample, "retrying_parent", parent)


def test_spent_retries_fail_the_parents_task_after_one_more_timer(
    http: httpx.Client, sample: HostHandle
) -> None:
    parent = start(http, "retrying_parent", 5)
    caught = finished(http, parent)["output"]["caught"]
    assert "Orchestrator function 'fragile' failed" in caught
    assert "attempt 3 failed" in caught
    decisions = _decisions(sample.history(parent))
    assert [kind for kind, *_ in decisions] == [CREATED, TIMER, CREATED, TIMER, CREATED, TIMER]
    replays_cleanly(sample, "retrying_parent", parent)


def test_a_failed_child_raises_in_its_parent(http: httpx.Client) -> None:
    caught = finished(http, start(http, "guardian", {"child": "propagating"}))["output"]["caught"]
    assert "Orchestrator function 'propagating' failed" in caught
    assert "no luck with y" in caught


def test_a_child_that_cannot_start_fails_the_parents_task(http: httpx.Client) -> None:
    unknown = finished(http, start(http, "guardian", {"child": "nobody"}))["output"]["caught"]
    assert "The function 'nobody' doesn't exist" in unknown
    busy = start(http, "gated")
    taken = finished(http, start(http, "guardian", {"child": "gated", "id": busy}))["output"]["caught"]
    assert busy in taken
    assert "already exists" in taken
    assert _durable_status(http, busy)["runtimeStatus"] == "Running", "the running instance is untouched"
    http.post(f"/api/events/{busy}/go", content="null")


def test_terminating_a_parent_leaves_its_child_running(http: httpx.Client, sample: HostHandle) -> None:
    parent = start(http, "guardian", {"child": "gated", "id": "kept-child"}, instance_id="cut-parent")
    _wait_for_status(http, "kept-child", "Running")
    assert http.post(f"{INSTANCES}/{parent}/terminate", params={"reason": "enough"}).status_code == 202
    assert _durable_status(http, parent)["runtimeStatus"] == "Terminated"
    assert _durable_status(http, "kept-child")["runtimeStatus"] == "Running"
    http.post("/api/events/kept-child/go", content="null")
    assert finished(http, "kept-child")["runtimeStatus"] == "Completed"
    time.sleep(0.2)  # the child's completion message has had time to arrive
    assert _durable_status(http, parent)["runtimeStatus"] == "Terminated"
    ends = {
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
    }
    assert not [e for e in sample.history(parent) if e["EventType"] in ends]


def test_terminating_a_child_fails_its_parents_task(http: httpx.Client) -> None:
    parent = start(http, "guardian", {"child": "gated", "id": "cut-child"})
    _wait_for_status(http, "cut-child", "Running")
    assert (
        http.post(f"{INSTANCES}/cut-child/terminate", params={"reason": "no longer needed"}).status_code
        == 202
    )
    status = finished(http, parent)
    assert status["runtimeStatus"] == "Completed"
    assert "no longer needed" in status["output"]["caught"]


def test_check_replay_catches_a_child_the_code_would_not_call(http: httpx.Client, sample: HostHandle) -> None:
    parent = start(http, "family")
    finished(http, parent)
    recorded = sample.history(parent)
    handle = sample.host.functions.orchestrators["family"].handle
    renamed = copy.deepcopy(recorded)
    next(e for e in renamed if e.get("EventId") == 2 and e.get("Name") == "child")["Name"] = "stranger"
    with pytest.raises(NonDeterminismError, match="stranger"):
        check_replay(handle, renamed, sample.host.instance_input(parent), parent)
    moved = copy.deepcopy(recorded)
    next(e for e in moved if e.get("EventId") == 0 and e.get("Name") == "child")["InstanceId"] = "elsewhere"
    with pytest.raises(NonDeterminismError, match="episode 0"):
        check_replay(handle, moved, sample.host.instance_input(parent), parent)


def test_a_replay_that_calls_another_child_is_non_deterministic() -> None:
    at = datetime.now(UTC)
    call = {
        "actionType": ActionType.CALL_SUB_ORCHESTRATOR,
        "functionName": "child",
        "input": "1",
        "instanceId": None,
    }
    schedule = Schedule("an-execution")
    [created] = schedule.after_replay([call], at)
    assert (created["EventId"], created["InstanceId"]) == (0, "an-execution:0")
    with pytest.raises(NonDeterminismError, match="CALL_SUB_ORCHESTRATOR other"):
        schedule.after_replay([call | {"functionName": "other"}], at)
