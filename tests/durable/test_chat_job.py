"""The orchestration with a mocked context: the story step by step, as its activities answer. The real
replay runs in tests/devhost/test_replay.py, and end to end in test_function_app.py."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from chatfn.chats.job import ChatJob, Ended, Next
from chatfn.chats.spec import parse_chat_request
from chatfn.durable.chat_job import TAKE_STEP, run_chat_job
from chatfn.failures import Failure
from chatfn.outcome import Failed, Succeeded, chat_result
from tests.test_outcome import CHAT

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SPEC = parse_chat_request({"topic": "T", "emails": "alex@contoso.com;jacob@contoso.com"})
JOB = ChatJob(requestId="r1", spec=SPEC, attemptStarted=START, stage="operation", fenced=True)


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

    first: Next
    current_utc_datetime: datetime = START
    statuses: list[Any] = field(default_factory=list)

    def get_input(self) -> Any:
        return self.first.model_dump(mode="json")

    def set_custom_status(self, status: Any) -> None:
        self.statuses.append(status)

    def create_timer(self, fire_at: datetime) -> Timer:
        return Timer(fire_at)

    def call_activity_with_retry(self, name: str, _retry: Any, payload: Any) -> Activity:
        return Activity(name, payload)


def _drive(context: FakeContext, answers: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """Run the orchestrator, answering each activity from `answers` in turn; its output and tasks."""
    generator: Generator[Any, Any, dict[str, Any]] = run_chat_job(context)  # type: ignore[arg-type]
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
            answer = answers.pop(0)
            resume = (
                partial(generator.throw, answer)
                if isinstance(answer, Exception)
                else partial(generator.send, answer)
            )
    except StopIteration as done:
        return done.value, tasks


def _next(job: ChatJob, at: datetime | None = None) -> dict[str, Any]:
    return Next(job=job, at=at).model_dump(mode="json")


def test_each_step_is_an_activity_and_each_wait_a_durable_timer() -> None:
    first_poll = START + timedelta(seconds=5)
    context = FakeContext(Next(job=JOB, at=first_poll))
    polled = JOB.model_copy(update={"polls": 1})
    read = JOB.model_copy(update={"stage": "read", "chatId": CHAT.id, "polls": 2})
    ended = Ended(outcome=Succeeded(result=chat_result("r1", CHAT))).model_dump(mode="json")
    output, tasks = _drive(context, [_next(polled, first_poll + timedelta(seconds=10)), _next(read), ended])
    assert output == ended["outcome"]
    assert [type(task).__name__ for task in tasks] == ["Timer", "Activity", "Timer", "Activity", "Activity"]
    assert [task.fire_at for task in tasks if isinstance(task, Timer)] == [
        first_poll,
        first_poll + timedelta(seconds=10),
    ]
    assert all(task.name == TAKE_STEP for task in tasks if isinstance(task, Activity))
    assert tasks[1].payload == JOB.model_dump(mode="json"), "the job as the trigger handed it on"
    assert [(s["stage"], s["polls"]) for s in context.statuses] == [
        ("waiting for Teams", 0),
        ("waiting for Teams", 1),
        ("reading chat", 2),
    ]
    assert context.statuses[0]["nextStepAt"] == first_poll.isoformat().replace("+00:00", "Z")


def test_a_step_due_now_needs_no_timer() -> None:
    context = FakeContext(Next(job=JOB, at=START))
    failure = Failure(kind="operation_failed", step="poll", createdNothing=False, message="no")
    ended = Ended(outcome=Failed(failure=failure)).model_dump(mode="json")
    output, tasks = _drive(context, [ended])
    assert output["failure"]["kind"] == "operation_failed"
    assert [type(task).__name__ for task in tasks] == ["Activity"]


def test_a_step_whose_durable_retries_are_spent_stops_the_request_as_abandoned() -> None:
    spent = Exception("Activity function 'take_chat_step' failed: StorageError \n ...")
    output, _ = _drive(FakeContext(Next(job=JOB)), [spent])
    failure = output["failure"]
    assert (failure["kind"], failure["createdNothing"]) == ("abandoned", False)
