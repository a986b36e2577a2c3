"""Orchestration instances in memory, and their status in the shape the extension's HTTP API answers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chatfn.devhost import history as h


class RuntimeStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    TERMINATED = "Terminated"


TERMINAL = frozenset({RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED})


@dataclass(frozen=True)
class ParentLink:
    """Where a sub-orchestration reports how it ended: the task of its parent's execution that waits
    for it (a completion for an execution that has since continued as new is dropped with its inbox)."""

    instance_id: str
    name: str
    execution_id: str
    task_id: int
    inbox: asyncio.Queue[h.Event]

    def history_form(self) -> dict[str, Any]:
        """ExecutionStarted's `ParentInstance`, as DTFx serializes it."""
        return {
            "Name": self.name,
            "Version": "",
            "TaskScheduleId": self.task_id,
            "OrchestrationInstance": {"InstanceId": self.instance_id, "ExecutionId": self.execution_id},
        }


@dataclass
class Instance:
    instance_id: str
    name: str
    input: str | None  # the JSON text the client sent (the SDK encodes its input once more)
    created: datetime
    last_updated: datetime
    status: RuntimeStatus = RuntimeStatus.PENDING
    output: Any = None
    custom_status: Any = None
    parent: ParentLink | None = None  # set for a sub-orchestration
    execution_id: str = ""  # new for every execution (each continue-as-new starts one)
    history: list[h.Event] = field(default_factory=list)
    inbox: asyncio.Queue[h.Event] = field(default_factory=asyncio.Queue)  # the current execution's
    runner: asyncio.Task[None] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def payload(
        self, show_history: bool = False, show_history_output: bool = False, show_input: bool = True
    ) -> dict[str, Any]:
        """The extension's StatusResponsePayload (times as `ToString("s") + "Z"`); like it, no parent id."""
        body: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.status.value,
            "input": self.input if show_input else None,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": _seconds(self.created),
            "lastUpdatedTime": _seconds(self.last_updated),
        }
        if show_history:
            body["historyEvents"] = h.status_history(self.history, show_history_output, show_input)
        return body


def _seconds(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
