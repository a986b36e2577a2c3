"""The orchestration for Graph's 202: wait for Teams to finish setting the chat up, then read the chat.

The HTTP trigger has already created the chat (`chatfn.chats.opening`); Graph answered 202 because an
app is being installed. `follow_operation` polls the `teamsAsyncOperation` on durable timers, so nothing
is billed while it waits, and ends with the request's outcome (`chatfn.requests.outcome`). It is
deterministic: its settings travel in its input, its time comes from `context.current_utc_datetime`, and
its I/O happens in the two activities below it.

Activities answer a `StepAnswer` (the value, or the failure when retrying cannot help). A transient
failure (throttling, Graph unavailable, no answer) raises `TransientFailure`, which the orchestrator
retries with bounded durable retries. Neither activity changes anything in Graph, so a retry is safe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Generator
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from chatfn.errors import ChatfnError, GraphTransientError
from chatfn.failures import Failure, Step, StepFailed, failure_from
from chatfn.graph.models import AsyncOperation, Chat
from chatfn.requests.outcome import Failed, Succeeded, chat_result
from chatfn.services import Services

log = logging.getLogger(__name__)

ORCHESTRATOR = "follow_operation"
READ_OPERATION = "read_operation"
READ_CHAT = "read_chat"

# Retries of transient failures, on durable timers, after the Graph client's own quick retries.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
# Microsoft's guidance for Teams operations: check about every 30 seconds.
MAX_POLL_INTERVAL = 30.0
# The statuses a teamsAsyncOperation can have that mean "not yet"; any other ends the wait.
_PENDING = ("notStarted", "inProgress")

T = TypeVar("T")


class OperationJob(BaseModel):
    """The orchestration's input: what to follow, and the settings fixed when it started."""

    model_config = ConfigDict(frozen=True)

    requestId: str
    location: str
    pollIntervalSeconds: float
    operationDeadlineSeconds: float


class Progress(BaseModel):
    """The orchestration's custom status: what a 202 reports, and when Graph is next asked."""

    model_config = ConfigDict(frozen=True)

    stage: Literal["waiting for Teams", "reading chat"]
    polls: int
    nextPollAt: datetime | None = None


class StepAnswer(BaseModel, Generic[T]):
    """An activity's answer: its value, or the failure that retrying cannot mend."""

    value: T | None = None
    failure: Failure | None = None


class TransientFailure(Exception):
    """Raised by an activity so that the orchestrator's durable retries try it again.

    Durable history keeps only an exception's message, so the failure travels in it as marked JSON.
    """

    MARK = "chatfn-failure:"

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{self.MARK}{failure.model_dump_json()}")

    @classmethod
    def failure_in(cls, text: str, step: Step) -> Failure:
        """The failure inside a durable task error's text (or a generic one, if it holds none)."""
        start = text.find(cls.MARK)
        if start >= 0:
            try:
                data, _ = json.JSONDecoder().raw_decode(text, start + len(cls.MARK))
                return Failure.model_validate(data)
            except ValueError:
                pass
        return Failure(
            kind="graph", step=step, createdNothing=False, message="an activity failed unexpectedly"
        )


# --- the orchestrator ---------------------------------------------------------------------------


def follow_operation(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Wait for Teams, read the chat, and return the request's outcome."""
    job = OperationJob.model_validate(context.get_input())
    try:
        chat_id = yield from _wait_for_teams(context, job)
        context.set_custom_status(Progress(stage="reading chat", polls=0).model_dump(mode="json"))
        answer = yield from _run_activity(context, READ_CHAT, "read", chat_id)
        chat = Chat.model_validate(answer)
    except StepFailed as failed:
        return Failed(failure=failed.failure).model_dump(mode="json")
    return Succeeded(result=chat_result(job.requestId, chat)).model_dump(mode="json")


def _wait_for_teams(context: df.DurableOrchestrationContext, job: OperationJob) -> Generator[Any, Any, str]:
    """Poll Graph's teamsAsyncOperation on durable timers until it ends or its deadline passes."""
    deadline = context.current_utc_datetime + timedelta(seconds=job.operationDeadlineSeconds)
    interval = job.pollIntervalSeconds
    wait = interval
    polls = 0
    while True:
        now = context.current_utc_datetime
        if now >= deadline:
            raise StepFailed(
                Failure(
                    kind="deadline",
                    step="poll",
                    createdNothing=False,
                    message=f"still running after {polls} checks",
                )
            )
        next_poll = min(now + timedelta(seconds=wait), deadline)
        progress = Progress(stage="waiting for Teams", polls=polls, nextPollAt=next_poll)
        context.set_custom_status(progress.model_dump(mode="json"))
        yield context.create_timer(next_poll)
        operation = AsyncOperation.model_validate(
            (yield from _run_activity(context, READ_OPERATION, "poll", job.location))
        )
        polls += 1
        if operation.status == "succeeded":
            return str(operation.targetResourceId)
        if operation.status not in _PENDING:  # failed, invalid, or a status Graph adds later
            error = operation.error
            raise StepFailed(
                Failure(
                    kind="operation_failed",
                    step="poll",
                    createdNothing=False,
                    code=error.code if error else None,
                    message=(error.message if error else None) or f"the operation ended {operation.status}",
                )
            )
        interval = min(interval * 2, max(MAX_POLL_INTERVAL, job.pollIntervalSeconds))
        wait = operation.retryAfter if operation.retryAfter is not None else interval


def _run_activity(
    context: df.DurableOrchestrationContext, activity: str, step: Step, payload: Any
) -> Generator[Any, Any, Any]:
    """Run one activity with durable retries; its value, or `StepFailed` with why it failed."""
    try:
        answer = yield context.call_activity_with_retry(activity, ACTIVITY_RETRY, payload)
    except Exception as exc:  # the SDK raises a bare Exception once the retries are spent
        raise StepFailed(TransientFailure.failure_in(str(exc), step)) from None
    parsed = StepAnswer[Any].model_validate(answer)
    if parsed.failure is not None:
        raise StepFailed(parsed.failure)
    return parsed.value


# --- the activities -----------------------------------------------------------------------------


async def read_operation_activity(location: str, services: Services) -> dict[str, Any]:
    return await _activity("poll", services.graph.get_operation(location))


async def read_chat_activity(chat_id: str, services: Services) -> dict[str, Any]:
    return await _activity("read", services.graph.get_chat(chat_id))


async def _activity(step: Step, work: Awaitable[BaseModel]) -> dict[str, Any]:
    """Run an activity's work: its value, a permanent failure as data, or `TransientFailure` raised."""
    try:
        value = await work
    except ChatfnError as exc:
        failure = failure_from(exc, step, created_nothing=False)
        log.warning("step %s: %s", step, exc)
        if isinstance(exc, GraphTransientError):
            raise TransientFailure(failure) from None
        return StepAnswer[Any](failure=failure).model_dump(mode="json")
    return StepAnswer[Any](value=value.model_dump(mode="json")).model_dump(mode="json")
