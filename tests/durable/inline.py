"""The app's orchestrations run in this process, to their end, through the code that runs in Azure: the
endpoints start them on a stand-in for the durable client, then each is driven from its orchestrator, its
activities the app's own on the worker's `Services`, its sub-orchestrations driven the same way, its
durable timers moving the clock the activities read. No replay and no history (the real replay runs on
the local host, tests/devhost/test_replay.py): what a test gets is the activities' work in-process, its
telemetry included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df

from chatfn.durable.batch import (
    BATCH_ORCHESTRATOR,
    CHUNK_ORCHESTRATOR,
    LOOK_UP,
    look_up_addresses,
    run_chat_batch,
    run_chat_batch_chunk,
)
from chatfn.durable.chat_job import ORCHESTRATOR, TAKE_STEP, run_chat_job, take_chat_step
from chatfn.services import Services

Orchestrator = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]
ORCHESTRATORS: dict[str, Orchestrator] = {
    ORCHESTRATOR: run_chat_job,
    BATCH_ORCHESTRATOR: run_chat_batch,
    CHUNK_ORCHESTRATOR: run_chat_batch_chunk,
}
Activity = Callable[[dict[str, Any], Services], Awaitable[dict[str, Any]]]
ACTIVITIES: dict[str, Activity] = {TAKE_STEP: take_chat_step, LOOK_UP: look_up_addresses}


@dataclass
class Clock:
    """Time that passes only when something waits: a durable timer, or `services.sleep`."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Task:
    """What an orchestrator yields: an activity, a sub-orchestration, a timer, an event, or a group."""

    kind: str
    name: str = ""
    payload: Any = None
    result: Any = None


@dataclass
class Context:
    """The parts of DurableOrchestrationContext the orchestrators use."""

    input: Any
    clock: Clock
    custom_status: Any = None

    @property
    def current_utc_datetime(self) -> datetime:
        return self.clock()

    def get_input(self) -> Any:
        return self.input

    def set_custom_status(self, status: Any) -> None:
        self.custom_status = status

    def create_timer(self, fire_at: datetime) -> Task:
        return Task("timer", payload=fire_at)

    def call_activity_with_retry(self, name: str, _retry: Any, payload: Any) -> Task:
        return Task("activity", name, payload)

    def call_sub_orchestrator(self, name: str, payload: Any, instance_id: str) -> Task:
        return Task("orchestration", name, payload)

    def wait_for_external_event(self, name: str) -> Task:
        return Task("event", name)  # no event is ever raised here

    def task_all(self, tasks: list[Task]) -> Task:
        return Task("all", payload=tasks)

    def task_any(self, tasks: list[Task]) -> Task:
        return Task("any", payload=tasks)


@dataclass
class Status:
    """What `chatfn.durable.client.DurableOrchestrations.status` reads of an orchestration."""

    runtime_status: df.OrchestrationRuntimeStatus | None
    output: Any = None
    custom_status: Any = None


class InlineDurable:
    """The durable client as the endpoints use it: `start_new` records the orchestration, `get_status`
    says it is pending until `run_started` has run it to its end."""

    def __init__(self, services: Services, clock: Clock) -> None:
        self.services, self.clock = services, clock
        self.started: dict[str, tuple[str, Any]] = {}
        self.outputs: dict[str, Any] = {}

    def client(self) -> df.DurableOrchestrationClient:
        """This, where an endpoint takes the durableClient binding (it calls only what is here)."""
        return cast(df.DurableOrchestrationClient, self)

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None) -> str:
        assert instance_id is not None, "chatfn names every instance"
        self.started[instance_id] = (name, client_input)
        return instance_id

    async def get_status(self, instance_id: str) -> Status:
        if instance_id in self.outputs:
            return Status(df.OrchestrationRuntimeStatus.Completed, output=self.outputs[instance_id])
        if instance_id in self.started:
            return Status(df.OrchestrationRuntimeStatus.Pending)
        return Status(None)

    async def run_started(self) -> dict[str, Any]:
        """Every orchestration started and not yet run, to its end; their outputs by instance id."""
        for instance_id, (name, payload) in list(self.started.items()):
            if instance_id not in self.outputs:
                self.outputs[instance_id] = await self.run(name, payload)
        return self.outputs

    async def run(self, name: str, payload: Any) -> Any:
        """One orchestration, from its input to its output."""
        context = Context(payload, self.clock)
        generator = ORCHESTRATORS[name](cast(df.DurableOrchestrationContext, context))
        sent: Any = None
        try:
            while True:
                sent = await self._resolve(generator.send(sent))
        except StopIteration as done:
            return done.value

    async def _resolve(self, task: Task) -> Any:
        """What the orchestrator gets back for a task: the sub-orchestrations and activities run now."""
        if task.kind == "timer":
            self.clock.now = max(self.clock.now, task.payload)
            return None
        if task.kind == "activity":
            task.result = await ACTIVITIES[task.name](task.payload, self.services)
            return task.result
        if task.kind == "orchestration":
            task.result = await self.run(task.name, task.payload)
            return task.result
        if task.kind == "all":
            return [await self._resolve(inner) for inner in task.payload]
        if task.kind == "any":  # the first that can end; an event never does here
            first = next(inner for inner in task.payload if inner.kind != "event")
            await self._resolve(first)
            return first
        raise AssertionError(f"an orchestrator waits for {task.kind} alone, which never comes here")
