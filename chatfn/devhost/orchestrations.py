"""Orchestrations driven by history replay of the real orchestrator handle, one asyncio task each.

Each episode: call the handle with the history so far, check its actions against those recorded,
append the new TaskScheduled/TimerCreated/SubOrchestrationInstanceCreated and OrchestratorCompleted,
start the activities, timers and child instances, then sleep until one of them (or an external
event) delivers the next completion, which opens the next episode with OrchestratorStarted(now).
One completion per episode keeps the task numbering identical to the SDK's (see `replay.Schedule`).

A sub-orchestration is an instance like any other (listed, purged, terminated on its own) that
reports its end to its parent as SubOrchestrationInstanceCompleted / SubOrchestrationInstanceFailed,
as DTFx's TaskOrchestrationDispatcher does: a failed or terminated child fails the parent's task.
Terminating a parent leaves its children running, as the extension does.

An episode (one call of the handle) is a function invocation under functionTimeout: one that overruns
is aborted and tried again from the same history later, as the extension aborts it (a
SessionAbortedException puts the message back on its queue) and the Azure Storage provider makes the
message visible again after 2^(dequeue count) seconds, 600 at most (TaskHubQueue.AbandonMessageAsync).

`queue_latency` delays every durable message (each start, a child's included, each activity
scheduled and done, each timer fired, each event raised, each child's end) by that many seconds,
as the Azure Storage provider's queues do.

`activity_reruns` is the share of activity runs that are run a second time, the first run's completion
lost: a worker that dies after an activity did its work but before its completion was recorded leaves
the work item to be taken again by another worker. Durable Functions runs activities at least once
("The Durable Task Framework guarantees that each called activity function will be executed at least
once during an orchestration's execution", learn.microsoft.com/azure/azure-functions/durable/
durable-functions-types-features-overview), so an activity's side effects must survive a second run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import uuid
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from chatfn.devhost import history as h
from chatfn.devhost.activities import run_activity
from chatfn.devhost.functions import FunctionIndex
from chatfn.devhost.instances import Instance, ParentLink, RuntimeStatus
from chatfn.devhost.replay import (
    NonDeterminismError,
    OrchestratorHandle,
    ReplayResult,
    Schedule,
    UnsupportedActionError,
    run_handle,
)
from chatfn.devhost.timeouts import FunctionTimeout, FunctionTimeoutError

log = logging.getLogger("chatfn.devhost")

MAX_INSTANCE_ID_LENGTH = 100  # the extension's limit
MAX_REDELIVERY_SECONDS = 600  # the Azure Storage provider's longest backoff for an abandoned message
RERUN_SEED = 20  # which activity runs are run again is the same from one run of the host to the next
_INVALID_ID = re.compile(r"[/\\?#\x00-\x1f\x7f]")


class InstanceConflictError(Exception):
    """An instance with that id is still pending or running (only finished ones may be replaced)."""


class UnknownOrchestratorError(ValueError):
    """No orchestrator function has that name."""


class Orchestrations:
    """The instance store and the replay loops; everything runs on the host's event loop."""

    def __init__(
        self,
        functions: FunctionIndex,
        executor: Executor,
        queue_latency: float,
        timeout: FunctionTimeout,
        activity_reruns: float = 0.0,
    ) -> None:
        self._functions = functions
        self._executor = executor
        self._queue_latency = queue_latency
        self._timeout = timeout
        self._activity_reruns = activity_reruns
        self._rerun_draw = random.Random(RERUN_SEED)  # noqa: S311 - a fault's draw, not a secret
        self.instances: dict[str, Instance] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def start(
        self, name: str, instance_id: str, input_json: str | None, parent: ParentLink | None = None
    ) -> Instance:
        if name not in self._functions.orchestrators:
            raise UnknownOrchestratorError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
        if len(instance_id) > MAX_INSTANCE_ID_LENGTH or not instance_id or _INVALID_ID.search(instance_id):
            raise ValueError(f"Instance ID '{instance_id}' is not valid.")
        existing = self.instances.get(instance_id)
        if existing is not None and not existing.is_terminal:
            raise InstanceConflictError(
                f"An Orchestration instance with the ID {instance_id} already exists."
            )
        now = h.utcnow()
        instance = Instance(instance_id, name, input_json, created=now, last_updated=now, parent=parent)
        self.instances[instance_id] = instance
        instance.runner = self._spawn(self._run(instance))
        return instance

    def raise_event(self, instance: Instance, name: str, input_json: str | None) -> None:
        """An event goes to whichever execution is current when it arrives, as DTFx sends it."""

        async def arrive() -> None:
            await self._through_queue()
            instance.inbox.put_nowait(h.event_raised(h.utcnow(), name, input_json))

        self._spawn(arrive())

    def terminate(self, instance: Instance, reason: str) -> None:
        """End this instance only: its children run on (the extension does not propagate termination)."""
        if instance.runner is not None:
            instance.runner.cancel()
        instance.history.append(h.execution_terminated(h.utcnow(), reason))
        self._finish(instance, RuntimeStatus.TERMINATED, reason)

    async def stop(self) -> None:
        """Cancel every loop, activity and timer (host shutdown)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _run(self, instance: Instance) -> None:
        timers: dict[int, asyncio.Task[None]] = {}
        try:
            await self._through_queue()  # the start message; the instance stays Pending meanwhile
            await self._drive(instance, timers)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the local host failed while running %s", instance.instance_id)
            self._finish(
                instance, RuntimeStatus.FAILED, "The local host failed while running this orchestration."
            )
        finally:
            for timer in timers.values():  # a finished, failed or terminated instance waits for nothing
                timer.cancel()

    async def _drive(self, instance: Instance, timers: dict[int, asyncio.Task[None]]) -> None:
        handle = self._functions.orchestrators[instance.name].handle
        schedule, at = self._new_execution(instance)
        instance.status = RuntimeStatus.RUNNING
        decisions: list[h.Event] = []
        while True:
            context = h.context_json(instance.instance_id, instance.input, instance.history)
            result = await self._episode(instance, handle, context)
            try:
                decisions += schedule.after_replay(result.actions, at)
            except (NonDeterminismError, UnsupportedActionError) as exc:
                self._fail_loudly(instance, exc)
                return
            instance.custom_status = result.custom_status
            instance.history += [*decisions, h.orchestrator_completed(at)]
            instance.last_updated = h.utcnow()
            if result.error is not None or result.done:
                if self._continue_as_new(instance, result, timers):
                    schedule, at = self._new_execution(instance)
                    decisions = []
                    continue
                self._complete(instance, result)
                return
            for decision in decisions:
                self._begin(instance, decision, timers)
            for timer_id in schedule.cancelled_timers():
                if timer_id in timers:
                    timers.pop(timer_id).cancel()
            delivered = await instance.inbox.get()
            for event in instance.history:
                event["IsPlayed"] = True
            at = h.utcnow()
            instance.history += [h.orchestrator_started(at), delivered]
            decisions = schedule.after_event(delivered, at)

    async def _episode(self, instance: Instance, handle: OrchestratorHandle, context: str) -> ReplayResult:
        """One call of the handle; one that overruns functionTimeout is abandoned (its thread runs on)
        and the episode tried again after the storage queue's backoff."""
        loop = asyncio.get_running_loop()
        dequeue_count = 0
        while True:
            dequeue_count += 1
            try:
                return await self._timeout.run(
                    instance.name, loop.run_in_executor(self._executor, run_handle, handle, context)
                )
            except FunctionTimeoutError as exc:
                delay = min(2**dequeue_count, MAX_REDELIVERY_SECONDS)
                log.warning(
                    "orchestration %s: the episode was aborted (%s) and is retried in %d s",
                    instance.instance_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    def _new_execution(self, instance: Instance) -> tuple[Schedule, datetime]:
        """A fresh history and numbering under a new execution id (at the start, and at continue-as-new)."""
        at = h.utcnow()
        instance.execution_id = uuid.uuid4().hex  # DTFx: Guid.NewGuid().ToString("N")
        names = {"InstanceId": instance.instance_id, "ExecutionId": instance.execution_id}
        parent = instance.parent.history_form() if instance.parent else None
        instance.history = [
            h.orchestrator_started(at),
            h.execution_started(at, instance.name, instance.input, names, parent),
        ]
        return Schedule(instance.execution_id), at

    def _begin(self, instance: Instance, decision: h.Event, timers: dict[int, asyncio.Task[None]]) -> None:
        """Start what a decision asks for; its completion lands in the inbox of the execution that asked."""
        task_id = decision["EventId"]
        inbox = instance.inbox
        if decision["EventType"] == HistoryEventType.TIMER_CREATED:
            timers[task_id] = self._spawn(self._timer(inbox, task_id, decision["FireAt"]))
            return
        if decision["EventType"] == HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
            link = ParentLink(instance.instance_id, instance.name, instance.execution_id, task_id, inbox)
            self._start_child(decision, link)
            return
        name = decision["Name"]
        activity = self._functions.activities.get(name)

        async def activity_run() -> None:
            await self._through_queue()
            completion = await run_activity(
                activity, name, task_id, decision["Input"], self._executor, self._timeout
            )
            if self._activity_reruns and self._rerun_draw.random() < self._activity_reruns:
                log.info(
                    "activity %s (task %d) run again: its worker died before its completion", name, task_id
                )
                completion = await run_activity(
                    activity, name, task_id, decision["Input"], self._executor, self._timeout
                )
            await self._deliver(inbox, completion)

        self._spawn(activity_run())

    def _start_child(self, decision: h.Event, parent: ParentLink) -> None:
        """A child that cannot start (unknown orchestrator, invalid id, an instance of that id still
        running) fails the parent's task with the reason, as an unknown activity does."""
        try:
            self.start(decision["Name"], decision["InstanceId"], decision["Input"], parent)
        except (InstanceConflictError, ValueError) as exc:
            failure = h.sub_orchestration_failed(h.utcnow(), parent.task_id, str(exc), None)
            self._spawn(self._deliver(parent.inbox, failure))

    async def _timer(self, inbox: asyncio.Queue[h.Event], timer_id: int, fire_at: str) -> None:
        await asyncio.sleep(max(0.0, (h.parse_stamp(fire_at) - h.utcnow()).total_seconds()))
        await self._deliver(inbox, h.timer_fired(h.utcnow(), timer_id, fire_at))

    async def _deliver(self, inbox: asyncio.Queue[h.Event], event: h.Event) -> None:
        """A completion reaches the orchestration through its queue."""
        await self._through_queue()
        inbox.put_nowait(event)

    async def _through_queue(self) -> None:
        if self._queue_latency > 0:
            await asyncio.sleep(self._queue_latency)

    def _continue_as_new(
        self, instance: Instance, result: ReplayResult, timers: dict[int, asyncio.Task[None]]
    ) -> bool:
        last = result.actions[-1] if result.actions else None
        if result.error is not None or last is None or last["actionType"] != ActionType.CONTINUE_AS_NEW:
            return False
        for timer in timers.values():
            timer.cancel()
        timers.clear()
        instance.input = last["input"]
        instance.inbox = asyncio.Queue()  # what the old execution still expected is dropped
        return True

    def _complete(self, instance: Instance, result: ReplayResult) -> None:
        at = h.utcnow()
        if result.error is not None:
            message = f"Orchestrator function '{instance.name}' failed: {result.error}"
            log.warning("orchestration %s failed: %s", instance.instance_id, result.error)
            instance.history.append(h.execution_completed(at, RuntimeStatus.FAILED.value, message))
            self._finish(instance, RuntimeStatus.FAILED, message, details=result.error)
        else:
            instance.history.append(h.execution_completed(at, RuntimeStatus.COMPLETED.value, result.output))
            self._finish(instance, RuntimeStatus.COMPLETED, result.output)

    def _fail_loudly(self, instance: Instance, exc: Exception) -> None:
        if isinstance(exc, NonDeterminismError):
            message = f"Non-deterministic orchestrator: {exc}"
        else:
            message = f"Orchestrator function '{instance.name}' failed: {exc}"
        log.error("orchestration %s (%s): %s", instance.instance_id, instance.name, message)
        instance.history.append(h.execution_completed(h.utcnow(), RuntimeStatus.FAILED.value, message))
        self._finish(instance, RuntimeStatus.FAILED, message)

    def _finish(
        self, instance: Instance, status: RuntimeStatus, output: Any, details: str | None = None
    ) -> None:
        """Record the end; a sub-orchestration also tells its parent: its output when it completed,
        else the failure message (or termination reason) as Reason and `details` as Details."""
        instance.status = status
        instance.output = output
        instance.last_updated = h.utcnow()
        parent = instance.parent
        if parent is None:
            return
        if status == RuntimeStatus.COMPLETED:
            report = h.sub_orchestration_completed(h.utcnow(), parent.task_id, json.dumps(output))
        else:
            report = h.sub_orchestration_failed(h.utcnow(), parent.task_id, str(output), details)
        self._spawn(self._deliver(parent.inbox, report))

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Keep a reference to every background task, so none is collected mid-flight."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task
