"""The orchestration for Graph's 202, with a mocked context (the story step by step), and the failures
that cross durable history. The real replay runs in tests/devhost/test_replay.py and end to end in
test_function_app.py."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from chatfn.durable.operation import (
    READ_CHAT,
    READ_OPERATION,
    OperationJob,
    TransientFailure,
    follow_operation,
)
from chatfn.failures import Failure

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JOB = OperationJob(
    requestId="r1",
    location="https://graph.example/v1.0/chats('19:c@unq.gbl.spaces')/operations('op')",
    pollIntervalSeconds=5,
    operationDeadlineSeconds=60,
)
CHAT = {"id": "19:c@unq.gbl.spaces", "chatType": "oneOnOne", "members": [], "webUrl": "https://t/c"}


@dataclass
class Timer:
    fire_at: datetime


@dataclass
class Activity:
    name: str
    payload: Any


@dataclass
class FakeContext:
    """The parts of DurableOrchestrationContext the orchestrator uses; time moves as timers fire."""

    job: OperationJob
    current_utc_datetime: datetime = START
    statuses: list[Any] = field(default_factory=list)

    def get_input(self) -> Any:
        return self.job.model_dump(mode="json")

    def set_custom_status(self, status: Any) -> None:
        self.statuses.append(status)

    def create_timer(self, fire_at: datetime) -> Timer:
        return Timer(fire_at)

    def call_activity_with_retry(self, name: str, _retry: Any, payload: Any) -> Activity:
        return Activity(name, payload)


def _drive(context: FakeContext, answers: dict[str, list[Any]]) -> tuple[dict[str, Any], list[Any]]:
    """Run the orchestrator, answering each activity from `answers` in turn; its output and tasks."""
    generator: Generator[Any, Any, dict[str, Any]] = follow_operation(context)  # type: ignore[arg-type]
    tasks: list[Any] = []
    resume: Callable[[], Any] = partial(generator.send, None)
    try:
        while True:
            task = resume()
            tasks.append(task)
            if isinstance(task, Timer):
                context.current_utc_datetime = task.fire_at
                resume = partial(generator.send, None)
                continue
            answer = answers[task.name].pop(0)
            resume = (
                partial(generator.throw, answer)
                if isinstance(answer, Exception)
                else partial(generator.send, answer)
            )
    except StopIteration as done:
        return done.value, tasks


def _operation(status: str, retry_after: float | None = None, error: Any = None) -> dict[str, Any]:
    value = {"id": "op", "status": status, "targetResourceId": CHAT["id"], "retryAfter": retry_after}
    return {"value": value | ({"error": error} if error else {}), "failure": None}


def test_it_polls_on_timers_until_teams_is_done_then_reads_the_chat() -> None:
    context = FakeContext(JOB)
    output, tasks = _drive(
        context,
        {
            READ_OPERATION: [
                _operation("notStarted"),
                _operation("inProgress", 2.5),
                _operation("succeeded"),
            ],
            READ_CHAT: [{"value": CHAT, "failure": None}],
        },
    )
    assert output["kind"] == "succeeded"
    assert output["result"]["chatId"] == CHAT["id"]
    assert output["result"]["requestId"] == "r1"
    timers = [task.fire_at - START for task in tasks if isinstance(task, Timer)]
    # The poll interval first, then it doubles, but Graph's Retry-After wins when it is sent.
    assert timers == [timedelta(seconds=5), timedelta(seconds=15), timedelta(seconds=17.5)]
    assert [task.name for task in tasks if isinstance(task, Activity)] == [READ_OPERATION] * 3 + [READ_CHAT]
    assert context.statuses[0]["nextPollAt"] == (START + timedelta(seconds=5)).isoformat().replace(
        "+00:00", "Z"
    )


@pytest.mark.parametrize("status", ["failed", "invalid", "someStatusGraphAddsLater"])
def test_a_status_other_than_pending_ends_the_wait_at_once(status: str) -> None:
    error = {"code": "AppInstallationFailed", "message": "no"} if status == "failed" else None
    output, tasks = _drive(
        FakeContext(JOB), {READ_OPERATION: [_operation(status, error=error)], READ_CHAT: []}
    )
    assert output["kind"] == "failed"
    assert output["failure"]["kind"] == "operation_failed"
    assert output["failure"]["createdNothing"] is False
    assert sum(isinstance(task, Activity) for task in tasks) == 1, "no polling to the deadline"


def test_the_deadline_ends_an_operation_that_never_finishes() -> None:
    output, tasks = _drive(
        FakeContext(JOB), {READ_OPERATION: [_operation("inProgress")] * 100, READ_CHAT: []}
    )
    assert output["failure"]["kind"] == "deadline"
    fired = [task.fire_at for task in tasks if isinstance(task, Timer)]
    assert max(fired) == START + timedelta(seconds=60), "the last timer is the deadline itself"


def test_a_step_whose_durable_retries_are_spent_fails_with_its_failure() -> None:
    failure = Failure(kind="graph", step="poll", createdNothing=False, status=503, code="ServiceUnavailable")
    spent = Exception(f"Activity function 'read_operation' failed: {TransientFailure(failure)} \n ...")
    output, _ = _drive(FakeContext(JOB), {READ_OPERATION: [spent], READ_CHAT: []})
    assert output["failure"] == failure.model_dump(mode="json")


def test_a_transient_failure_survives_the_sdks_error_text() -> None:
    """The SDK raises `Exception(f"{Reason} \\n {Details}")` once durable retries are spent."""
    failure = Failure(
        kind="graph",
        step="poll",
        createdNothing=False,
        status=429,
        code="TooManyRequests",
        message="x} {y",
        retryAfter=2,
    )
    reason = f"Activity function 'read_operation' failed: {TransientFailure(failure)}"
    text = f"{reason} \n Traceback (most recent call last): ..."
    assert TransientFailure.failure_in(text, "poll") == failure


@pytest.mark.parametrize("text", ["", "boom", "chatfn-failure:{not json", 'chatfn-failure:{"kind": "nope"}'])
def test_an_unexpected_error_becomes_a_generic_graph_failure(text: str) -> None:
    failure = TransientFailure.failure_in(text, "read")
    assert (failure.kind, failure.step, failure.status, failure.createdNothing) == (
        "graph",
        "read",
        None,
        False,
    )
