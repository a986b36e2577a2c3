"""History events as the Durable extension sends them to the Python SDK, and as its status API shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

Event = dict[str, Any]

# What the extension sends with every orchestration (Azure Storage defaults): timers longer than
# the short limit are split by the SDK into intervals.
MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"
UPPER_SCHEMA_VERSION = 2  # actions as one cumulative list, compound actions for task_any/task_all

DECISIONS = frozenset(
    {
        HistoryEventType.TASK_SCHEDULED,
        HistoryEventType.TIMER_CREATED,
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    }
)
ENDINGS = frozenset(
    {
        HistoryEventType.ORCHESTRATOR_COMPLETED,
        HistoryEventType.EXECUTION_COMPLETED,
        HistoryEventType.EXECUTION_FAILED,
        HistoryEventType.EXECUTION_TERMINATED,
    }
)
# What the status API folds into the event that ends the task (the extension's DurableClient does too).
_SCHEDULED, _CREATED = HistoryEventType.TASK_SCHEDULED, HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED
_FOLDED = {
    HistoryEventType.TASK_COMPLETED: _SCHEDULED,
    HistoryEventType.TASK_FAILED: _SCHEDULED,
    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED: _CREATED,
    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED: _CREATED,
}
_SUCCESSES = frozenset(
    {HistoryEventType.TASK_COMPLETED, HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """The SDK's own timestamp format (microseconds, `Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event(kind: HistoryEventType, at: datetime, event_id: int = -1, **fields: Any) -> Event:
    """One history event; `EventId` is the task's sequence number for scheduling events, else -1."""
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": stamp(at), **fields}


def orchestrator_started(at: datetime) -> Event:
    return event(HistoryEventType.ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> Event:
    return event(HistoryEventType.ORCHESTRATOR_COMPLETED, at)


def execution_started(
    at: datetime,
    name: str,
    input_json: str | None,
    instance: dict[str, str],
    parent: dict[str, Any] | None = None,
) -> Event:
    """`instance` and `parent` as DTFx serializes them: `{"InstanceId", "ExecutionId"}`, and for a
    sub-orchestration `{"Name", "Version", "TaskScheduleId", "OrchestrationInstance"}` (its parent)."""
    return event(
        HistoryEventType.EXECUTION_STARTED,
        at,
        Name=name,
        Input=input_json,
        Version="",
        OrchestrationInstance=instance,
        ParentInstance=parent,
    )


def task_scheduled(at: datetime, task_id: int, name: str, input_json: str | None) -> Event:
    return event(HistoryEventType.TASK_SCHEDULED, at, task_id, Name=name, Input=input_json)


def task_completed(at: datetime, task_id: int, result_json: str | None) -> Event:
    return event(HistoryEventType.TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result_json)


def task_failed(at: datetime, task_id: int, reason: str, details: str) -> Event:
    return event(HistoryEventType.TASK_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)


def timer_created(at: datetime, timer_id: int, fire_at: str) -> Event:
    return event(HistoryEventType.TIMER_CREATED, at, timer_id, FireAt=fire_at)


def timer_fired(at: datetime, timer_id: int, fire_at: str) -> Event:
    return event(HistoryEventType.TIMER_FIRED, at, TimerId=timer_id, FireAt=fire_at)


def sub_orchestration_created(
    at: datetime, task_id: int, name: str, instance_id: str, input_json: str | None
) -> Event:
    return event(
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        at,
        task_id,
        Name=name,
        InstanceId=instance_id,
        Input=input_json,
        Version="",
    )


def sub_orchestration_completed(at: datetime, task_id: int, result_json: str | None) -> Event:
    return event(
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, at, TaskScheduledId=task_id, Result=result_json
    )


def sub_orchestration_failed(at: datetime, task_id: int, reason: str, details: str | None) -> Event:
    return event(
        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        at,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
    )


def event_raised(at: datetime, name: str, input_json: str | None) -> Event:
    return event(HistoryEventType.EVENT_RAISED, at, Name=name, Input=input_json)


def execution_completed(at: datetime, status: str, result: Any) -> Event:
    return event(
        HistoryEventType.EXECUTION_COMPLETED, at, OrchestrationStatus=status, Result=json.dumps(result)
    )


def execution_terminated(at: datetime, reason: str) -> Event:
    return event(HistoryEventType.EXECUTION_TERMINATED, at, Input=reason)


def execution_ids(history: list[Event]) -> tuple[str, str | None]:
    """The execution id and the parent's instance id (None at the top) that ExecutionStarted records."""
    started = next(e for e in history if e["EventType"] == HistoryEventType.EXECUTION_STARTED)
    parent = started.get("ParentInstance")
    parent_id = parent["OrchestrationInstance"]["InstanceId"] if parent else None
    return started["OrchestrationInstance"]["ExecutionId"], parent_id


def context_json(instance_id: str, input_json: str | None, history: list[Event]) -> str:
    """The orchestration trigger's payload: what `DurableOrchestrationContext.from_json` parses, with
    `parentInstanceId` taken from ExecutionStarted as the extension takes it from the runtime state."""
    return json.dumps(
        {
            "history": history,
            "input": input_json,
            "instanceId": instance_id,
            "isReplaying": any(e["IsPlayed"] for e in history),
            "parentInstanceId": execution_ids(history)[1],
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
            "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL,
        }
    )


def status_history(history: list[Event], show_output: bool, show_input: bool) -> list[Event]:
    """`historyEvents` as the extension's status API shows them: type names, no replay bookkeeping,
    each TaskScheduled / SubOrchestrationInstanceCreated folded into the event that ended its task
    (FunctionName, ScheduledTime, Input)."""
    origins = {(e["EventType"], e["EventId"]): e for e in history if e["EventType"] in (_SCHEDULED, _CREATED)}
    folded = {(_FOLDED[e["EventType"]], e["TaskScheduledId"]) for e in history if e["EventType"] in _FOLDED}
    shown: list[Event] = []
    for original in history:
        kind = HistoryEventType(original["EventType"])
        if kind in (HistoryEventType.ORCHESTRATOR_STARTED, HistoryEventType.ORCHESTRATOR_COMPLETED):
            continue
        if (kind, original["EventId"]) in folded:
            continue
        item = {k: v for k, v in original.items() if k not in ("EventId", "IsPlayed", "Version")}
        item["EventType"] = _type_name(kind)
        if kind == HistoryEventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name")
            item.pop("OrchestrationInstance", None)
            item.pop("ParentInstance", None)
        elif kind in _FOLDED:
            origin = origins.get((_FOLDED[kind], item.pop("TaskScheduledId")))
            if origin is not None:
                item["ScheduledTime"] = origin["Timestamp"]
                item["FunctionName"] = origin["Name"]
                item["Input"] = origin["Input"]
            _show_result(item, show_output and kind in _SUCCESSES)
        elif kind == HistoryEventType.EXECUTION_COMPLETED:
            _show_result(item, show_output)
        elif kind == HistoryEventType.TIMER_FIRED:
            item.pop("TimerId")
        if not show_input:
            item.pop("Input", None)
        shown.append(item)
    return shown


def _show_result(item: Event, show: bool) -> None:
    result = item.pop("Result", None)
    if show and result is not None:
        item["Result"] = json.loads(result)


def _type_name(kind: HistoryEventType) -> str:
    """`TASK_SCHEDULED` -> `TaskScheduled`, the .NET enum names the extension prints."""
    return "".join(part.capitalize() for part in kind.name.split("_"))
