"""Replaying the real orchestrator handle, numbering its tasks as the SDK does, and catching
non-determinism: every replay must yield the actions already recorded, in order, before new ones.

`check_replay` runs the same check over a recorded history, so an orchestrator can be tested
against histories captured from the local host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from chatfn.devhost import history as h

Action = dict[str, Any]
OrchestratorHandle = Callable[[str], str]

_ERROR_MARKER = "\n\n$OutOfProcData$:"
_ACTIVITIES = frozenset({ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY})
_SUB_ORCHESTRATIONS = frozenset(
    {ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
)
_WITH_RETRY = frozenset({ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY})
# Actions that take a sequence number when the SDK first sees them (an external event is keyed by its
# name instead; ContinueAsNew takes one although nothing is scheduled for it).
_NUMBERED = _ACTIVITIES | _SUB_ORCHESTRATIONS | {ActionType.CREATE_TIMER, ActionType.CONTINUE_AS_NEW}
_SUPPORTED = _NUMBERED | {ActionType.WAIT_FOR_EXTERNAL_EVENT}
_COMPOUND = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})
# What ends a task the SDK matches by `TaskScheduledId` (an activity's or a sub-orchestration's).
_SUCCEEDED = frozenset(
    {HistoryEventType.TASK_COMPLETED, HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED}
)
_FAILED = frozenset({HistoryEventType.TASK_FAILED, HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED})


class NonDeterminismError(Exception):
    """The orchestrator's replay does not match what it did before."""


class UnsupportedActionError(Exception):
    """The orchestrator asked for something this host does not run (entities, durable HTTP)."""


@dataclass(frozen=True)
class ReplayResult:
    """What one call of the handle said: its actions so far, and whether it finished or failed."""

    actions: list[Action]  # leaf actions, compound actions flattened in order
    done: bool
    output: Any
    custom_status: Any
    error: str | None  # the orchestrator's exception text, without the SDK's state marker


def run_handle(handle: OrchestratorHandle, context: str) -> ReplayResult:
    """Call the registered handle; an orchestrator exception arrives as the SDK formats it."""
    try:
        state = json.loads(handle(context))
        error = None
    except Exception as exc:  # the SDK raises a bare Exception carrying the state after a marker
        message, _, state_json = str(exc).partition(_ERROR_MARKER)
        state = json.loads(state_json) if state_json else {}
        error = message or type(exc).__name__
    actions = [leaf for group in state.get("actions", []) for leaf in flatten(group)]
    return ReplayResult(
        actions=actions,
        done=bool(state.get("isDone")),
        output=state.get("output"),
        custom_status=state.get("customStatus"),
        error=error,
    )


def flatten(actions: list[Action]) -> list[Action]:
    """Leaf actions depth first: the order in which the SDK numbers the tasks they stand for."""
    leaves: list[Action] = []
    for action in actions:
        kind = action["actionType"]
        if kind in _COMPOUND:
            leaves.extend(flatten(action["compoundActions"]))
        elif kind in _SUPPORTED:
            leaves.append(action)
        else:
            raise UnsupportedActionError(f"{ActionType(kind).name} is not supported by the local host")
    return leaves


def describe(action: Action) -> str:
    kind = ActionType(action["actionType"]).name
    target = action.get("functionName") or action.get("fireAt") or action.get("externalEventName") or ""
    text = f"{kind} {target}".strip()
    return f"{text} with input {action['input']}" if "input" in action else text


@dataclass
class _Retry:
    """An activity or sub-orchestration `..._with_retry`: its action and the attempts made so far."""

    action: Action
    attempts: int = 1

    @property
    def max_attempts(self) -> int:
        return int(self.action["retryOptions"]["maxNumberOfAttempts"])

    def delay(self) -> timedelta:
        """The durable retry policy: first interval times backoff^(attempt-1), capped if asked.

        A retry timeout cannot be honoured: the SDK has no way to express it and waits for a timer
        after every failure."""
        options = self.action["retryOptions"]
        first = options["firstRetryIntervalInMilliseconds"]
        milliseconds = first * options.get("backoffCoefficient", 1.0) ** (self.attempts - 1)
        cap = options.get("maxRetryIntervalInMilliseconds")
        return timedelta(milliseconds=min(milliseconds, cap) if cap else milliseconds)


@dataclass
class Schedule:
    """Sequence numbers as the SDK hands them out, and the actions recorded so far.

    The SDK numbers tasks in the order it meets them while processing history: a retry's timer and
    its next attempt are numbered when the TaskFailed / SubOrchestrationInstanceFailed / TimerFired is
    processed, before anything the orchestrator yields afterwards. The host delivers one completion
    per episode, so `after_event` then `after_replay` reproduces that order exactly.

    `execution_id` names the execution the tasks belong to: a sub-orchestration started without an
    instance id gets `<execution id>:<sequence number>`, as DTFx's CreateSubOrchestrationInstanceCore
    names it (again for each attempt of a retry, which takes a new number).
    """

    execution_id: str
    actions: list[Action] = field(default_factory=list)
    task_ids: list[int | None] = field(default_factory=list)  # per recorded action
    next_id: int = 0
    _retry_tasks: dict[int, _Retry] = field(default_factory=dict)
    _retry_timers: dict[int, _Retry] = field(default_factory=dict)

    def after_event(self, event: h.Event, at: datetime) -> list[h.Event]:
        """Decisions a delivered event leads to by itself: a retry's timer, or its next attempt."""
        kind = event["EventType"]
        if kind in _SUCCEEDED:
            self._retry_tasks.pop(event["TaskScheduledId"], None)
        elif kind in _FAILED and event["TaskScheduledId"] in self._retry_tasks:
            retry = self._retry_tasks.pop(event["TaskScheduledId"])
            timer_id = self._take_id()
            self._retry_timers[timer_id] = retry
            return [h.timer_created(at, timer_id, h.stamp(at + retry.delay()))]
        elif kind == HistoryEventType.TIMER_FIRED and event["TimerId"] in self._retry_timers:
            retry = self._retry_timers.pop(event["TimerId"])
            if retry.attempts < retry.max_attempts:
                retry.attempts += 1
                task_id = self._take_id()
                self._retry_tasks[task_id] = retry
                return [self._decision(retry.action, task_id, at)]
        return []

    def after_replay(self, actions: list[Action], at: datetime) -> list[h.Event]:
        """Check the replay against the recorded actions; number and schedule the new ones."""
        for position, recorded in enumerate(self.actions):
            if position >= len(actions):
                raise NonDeterminismError(
                    f"action {position} ({describe(recorded)}) was scheduled before, "
                    f"but this replay yielded only {len(actions)} action(s)"
                )
            if _identity(actions[position]) != _identity(recorded):
                raise NonDeterminismError(
                    f"action {position} was {describe(recorded)} when first scheduled, "
                    f"but this replay yielded {describe(actions[position])}"
                )
        decisions: list[h.Event] = []
        for action in actions[len(self.actions) :]:
            self.actions.append(action)
            kind = action["actionType"]
            task_id = self._take_id() if kind in _NUMBERED else None
            self.task_ids.append(task_id)
            if task_id is None or kind == ActionType.CONTINUE_AS_NEW:
                continue
            decisions.append(self._decision(action, task_id, at))
            if kind in _WITH_RETRY:
                self._retry_tasks[task_id] = _Retry(action)
        return decisions

    def cancelled_timers(self) -> list[int]:
        """Timers the orchestrator has cancelled (a timer's action turns `isCanceled` after the fact)."""
        return [
            task_id
            for action, task_id in zip(self.actions, self.task_ids, strict=True)
            if task_id is not None and action.get("isCanceled")
        ]

    def _decision(self, action: Action, task_id: int, at: datetime) -> h.Event:
        """The event that records a numbered action: TimerCreated, TaskScheduled or
        SubOrchestrationInstanceCreated (with the child's instance id, derived when none was given)."""
        kind = action["actionType"]
        if kind == ActionType.CREATE_TIMER:
            return h.timer_created(at, task_id, action["fireAt"])
        if kind in _ACTIVITIES:
            return h.task_scheduled(at, task_id, action["functionName"], action["input"])
        requested = action.get("instanceId") or ""
        instance_id = requested if requested.strip() else f"{self.execution_id}:{task_id}"
        return h.sub_orchestration_created(at, task_id, action["functionName"], instance_id, action["input"])

    def _take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def _identity(action: Action) -> Action:
    """What must not change between replays (a timer may be cancelled later, nothing else)."""
    return {key: value for key, value in action.items() if key != "isCanceled"}


def _decision_identity(event: h.Event) -> tuple[Any, ...]:
    return (
        event["EventType"],
        event["EventId"],
        event.get("Name"),
        event.get("Input"),
        event.get("FireAt"),
        event.get("InstanceId"),
    )


def check_replay(
    handle: OrchestratorHandle,
    history: list[h.Event],
    input_json: str | None,
    instance_id: str = "replay-check",
) -> None:
    """Replay every prefix of a recorded history (cut at each OrchestratorStarted) and check that each
    replay yields exactly the tasks and timers the history recorded for that episode.

    Raises NonDeterminismError naming the first difference.
    """
    starts = [i for i, e in enumerate(history) if e["EventType"] == HistoryEventType.ORCHESTRATOR_STARTED]
    if not starts or starts[0] != 0:
        raise NonDeterminismError("a history starts with OrchestratorStarted")
    schedule = Schedule(h.execution_ids(history)[0])
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(history)
        episode = history[start:end]
        delivered = [e for e in episode[1:] if e["EventType"] not in h.DECISIONS | h.ENDINGS]
        recorded = [e for e in episode if e["EventType"] in h.DECISIONS]
        at = h.parse_stamp(episode[0]["Timestamp"])
        expected = [d for e in delivered for d in schedule.after_event(e, at)]
        result = run_handle(
            handle, h.context_json(instance_id, input_json, [*history[:start], episode[0], *delivered])
        )
        try:
            expected += schedule.after_replay(result.actions, at)
        except NonDeterminismError as exc:
            raise NonDeterminismError(f"episode {number}: {exc}") from None
        if [_decision_identity(e) for e in expected] != [_decision_identity(e) for e in recorded]:
            raise NonDeterminismError(
                f"episode {number}: the history recorded {_summary(recorded)}, "
                f"the replay scheduled {_summary(expected)}"
            )
        if (result.done or result.error) and number + 1 < len(starts):
            raise NonDeterminismError(f"episode {number}: the orchestrator finished, but the history goes on")


def _summary(events: list[h.Event]) -> str:
    if not events:
        return "nothing"
    return ", ".join(
        f"{HistoryEventType(e['EventType']).name}#{e['EventId']} {e.get('Name') or e.get('FireAt')}"
        for e in events
    )
