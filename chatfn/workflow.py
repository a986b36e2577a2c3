"""The story of one request: resolve the members, create the chat, wait for Teams, read the chat.

`create_chat` is the orchestrator. It is deterministic: its time comes from
`context.current_utc_datetime`, its settings from its input, and all I/O happens in the four
activities below it. While Graph's operation runs, it sleeps on durable timers, so nothing is billed.

Activities answer `{"ok": true, "value": ...}`, or `{"ok": false, "failure": ...}` when retrying cannot
help (Graph refused the request). A transient failure (throttling, Graph unavailable, no answer)
raises `TransientFailure`, which the orchestrator retries with bounded durable retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from chatfn.answers import ChatResult, ChatResultMember
from chatfn.errors import GraphError, GraphTransientError, IdentityError, MembersNotFound
from chatfn.graph import AcceptedOperation, Chat
from chatfn.members import resolve_members
from chatfn.models import ChatSpec
from chatfn.problems import Failure, Step, problem_for
from chatfn.runtime import graph_client
from chatfn.translate import ResolvedMember, chat_body

log = logging.getLogger(__name__)

ORCHESTRATOR = "create_chat"
RESOLVE_MEMBERS = "resolve_members"
SEND_CHAT = "send_chat"
READ_OPERATION = "read_operation"
READ_CHAT = "read_chat"

# Retries of transient failures, on durable timers, after the Graph client's own quick retries.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
# Microsoft's guidance for Teams operations: check about every 30 seconds.
MAX_POLL_INTERVAL = 30.0


class WorkflowInput(BaseModel):
    """The orchestration's input: the request and the settings, fixed when it starts."""

    model_config = ConfigDict(frozen=True)

    requestId: str
    fingerprint: str
    spec: ChatSpec
    pollIntervalSeconds: float
    operationDeadlineSeconds: float


class StepFailed(Exception):
    """A step failed for good; carries the failure the orchestrator answers with."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


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
        return Failure(kind="graph", step=step, message="an activity failed unexpectedly")


# --- the orchestrator ---------------------------------------------------------------------------


def create_chat(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    request = WorkflowInput.model_validate(context.get_input())
    try:
        context.set_custom_status({"stage": "resolving members", "polls": 0})
        members = yield from _step(context, RESOLVE_MEMBERS, "resolve", request.spec.model_dump(mode="json"))

        context.set_custom_status({"stage": "creating chat", "polls": 0})
        body = chat_body(request.spec, [ResolvedMember(**member) for member in members])
        created = yield from _step(context, SEND_CHAT, "create", body)

        chat_id = created.get("chatId") or (yield from _wait_for_teams(context, request, created["location"]))

        context.set_custom_status({"stage": "reading chat", "polls": 0})
        chat = yield from _step(context, READ_CHAT, "read", chat_id)
    except StepFailed as failed:
        return {
            "status": "failed",
            "problem": problem_for(failed.failure).to_dict(),
            "createdNothing": failed.failure.created_nothing,
        }
    return {"status": "succeeded", "result": chat_result(request.requestId, Chat.model_validate(chat))}


def _wait_for_teams(
    context: df.DurableOrchestrationContext, request: WorkflowInput, location: str
) -> Generator[Any, Any, str]:
    """Poll Graph's teamsAsyncOperation on durable timers until it ends or its deadline passes."""
    deadline = context.current_utc_datetime + timedelta(seconds=request.operationDeadlineSeconds)
    interval = request.pollIntervalSeconds
    wait: float = interval
    polls = 0
    while True:
        now = context.current_utc_datetime
        if now >= deadline:
            raise StepFailed(
                Failure(kind="deadline", step="poll", message=f"still running after {polls} checks")
            )
        context.set_custom_status({"stage": "waiting for Teams", "polls": polls})
        yield context.create_timer(min(now + timedelta(seconds=wait), deadline))
        operation = yield from _step(context, READ_OPERATION, "poll", location)
        polls += 1
        if operation["status"] == "succeeded":
            return str(operation["targetResourceId"])
        if operation["status"] == "failed":
            error = operation.get("error") or {}
            raise StepFailed(
                Failure(
                    kind="operation_failed",
                    step="poll",
                    code=error.get("code"),
                    message=error.get("message") or "the operation failed",
                )
            )
        interval = min(interval * 2, max(MAX_POLL_INTERVAL, request.pollIntervalSeconds))
        wait = operation.get("retryAfter") or interval


def _step(
    context: df.DurableOrchestrationContext, activity: str, step: Step, payload: Any
) -> Generator[Any, Any, Any]:
    """Run one activity with durable retries; its value, or `StepFailed` with why it failed."""
    try:
        answer = yield context.call_activity_with_retry(activity, ACTIVITY_RETRY, payload)
    except Exception as exc:  # the SDK raises a bare Exception once the retries are spent
        raise StepFailed(TransientFailure.failure_in(str(exc), step)) from None
    if not answer["ok"]:
        raise StepFailed(Failure.model_validate(answer["failure"]))
    return answer["value"]


def chat_result(request_id: str, chat: Chat) -> dict[str, Any]:
    """The result of docs/api.md, as plain JSON data: it travels through durable history."""
    return ChatResult(
        requestId=request_id,
        status="succeeded",
        chatId=chat.id,
        chatType=chat.chatType,
        topic=chat.topic,
        webUrl=chat.webUrl,
        createdDateTime=chat.createdDateTime,
        members=[
            ChatResultMember(email=m.email, userId=m.userId, role=m.roles[0] if m.roles else "owner")
            for m in chat.members
        ],
    ).model_dump(mode="json")


# --- the activities -----------------------------------------------------------------------------


async def resolve_members_activity(spec: dict[str, Any]) -> dict[str, Any]:
    async def run() -> Any:
        members = await resolve_members(ChatSpec.model_validate(spec), graph_client())
        return [{"key": m.key, "guest": m.guest, "tenant_id": m.tenant_id} for m in members]

    return await _activity("resolve", run())


async def send_chat_activity(body: dict[str, Any]) -> dict[str, Any]:
    async def run() -> Any:
        created = await graph_client().create_chat(body)
        if isinstance(created, AcceptedOperation):
            return {"location": created.location}
        return {"chatId": created.id}

    return await _activity("create", run())


async def read_operation_activity(location: str) -> dict[str, Any]:
    async def run() -> Any:
        return (await graph_client().get_operation(location)).model_dump(mode="json")

    return await _activity("poll", run())


async def read_chat_activity(chat_id: str) -> dict[str, Any]:
    async def run() -> Any:
        return (await graph_client().get_chat(chat_id)).model_dump(mode="json")

    return await _activity("read", run())


async def _activity(step: Step, work: Awaitable[Any]) -> dict[str, Any]:
    """Run an activity's work: its value, a permanent failure as data, or `TransientFailure` raised."""
    try:
        return {"ok": True, "value": await work}
    except MembersNotFound as exc:
        failure = Failure(kind="member_not_found", step=step, members=tuple(exc.errors))
    except IdentityError as exc:
        log.error("step %s: %s", step, exc)
        failure = Failure(kind="identity", step=step, message=str(exc))
    except GraphError as exc:
        failure = Failure(
            kind="graph",
            step=step,
            status=exc.status,
            code=exc.code or None,
            message=exc.message,
            requestId=exc.request_id,
            retryAfter=exc.retry_after,
        )
        log.warning(
            "step %s: Graph %s %s after %d attempt(s), request-id %s",
            step,
            exc.status or "no answer",
            exc.code,
            exc.attempts,
            exc.request_id,
        )
        if isinstance(exc, GraphTransientError):
            raise TransientFailure(failure) from None
    return {"ok": False, "failure": json.loads(failure.model_dump_json())}
