"""The orchestration that finishes what the HTTP trigger could not: follow Graph's operation (its 202),
look for a chat for as long as Graph's lists may lag, or wait for Graph's budget, on durable timers, so
nothing is billed while it waits.

`run_chat_job` reads like the story of one request: take the job's next steps (an activity, which takes
steps until one has to wait), and if the job has to wait, sleep on a timer until then; end with the
request's outcome (`chatfn.outcome`). It is deterministic: it decides only from what its
activities answered, and its time comes from `context.current_utc_datetime`. The steps themselves are
`chatfn.chats.job`'s, the same the trigger takes; here each send is fenced in storage first, as an
activity may run twice.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any, Literal

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from chatfn import telemetry
from chatfn.chats.job import STEP_RESULT, ChatJob, Ended, Next, Stage, take_step
from chatfn.failures import Failure
from chatfn.graph.budget import deadline_in
from chatfn.outcome import Failed
from chatfn.services import Services

ORCHESTRATOR = "run_chat_job"
TAKE_STEP = "take_chat_step"

# How long a step waits for Graph's budget before it waits on a durable timer instead (nothing billed).
STEP_BUDGET_WAIT = 5.0
# Retries of a step that raised (storage under the send's fence failed, say), on durable timers.
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

StageName = Literal[
    "resolving members",
    "looking for an existing chat",
    "looking for the chat",
    "creating chat",
    "waiting for Teams",
    "reading chat",
]
_STAGE_NAMES: dict[Stage, StageName] = {
    "resolve": "resolving members",
    "reuse": "looking for an existing chat",
    "search": "looking for the chat",
    "send": "creating chat",
    "operation": "waiting for Teams",
    "read": "reading chat",
}


class Progress(BaseModel):
    """The orchestration's custom status: what a 202 reports, and when Graph is next asked."""

    model_config = ConfigDict(frozen=True)

    stage: StageName
    polls: int
    nextStepAt: datetime | None = None


def progress_of(next_step: Next) -> Progress:
    return Progress(
        stage=_STAGE_NAMES[next_step.job.stage], polls=next_step.job.polls, nextStepAt=next_step.at
    )


# --- the orchestrator ----------------------------------------------------------------------------


def run_chat_job(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Take the job's steps, waiting between them as each says, and return how the request ended."""
    next_step = Next.model_validate(context.get_input())
    while True:
        context.set_custom_status(progress_of(next_step).model_dump(mode="json"))
        if next_step.at is not None and next_step.at > context.current_utc_datetime:
            yield context.create_timer(next_step.at)
        try:
            answer = yield context.call_activity_with_retry(
                TAKE_STEP, STEP_RETRY, next_step.job.model_dump(mode="json")
            )
        except Exception:  # the SDK raises a bare Exception once the retries are spent
            return _broken(next_step.job)
        result = STEP_RESULT.validate_python(answer)
        if isinstance(result, Ended):
            return result.outcome.model_dump(mode="json")
        next_step = result


def _broken(job: ChatJob) -> dict[str, Any]:
    """A step kept failing in a way chatfn does not expect: the request stops, and its chat may exist."""
    failure = Failure(
        kind="abandoned",
        step="create",
        createdNothing=False,
        message=f"a step failed unexpectedly at {job.stage}",
    )
    return Failed(failure=failure).model_dump(mode="json")


# --- the activity ----------------------------------------------------------------------------------


async def take_chat_step(job: dict[str, Any], services: Services) -> dict[str, Any]:
    """The job's steps, as the activity runs them: one after another while each is due at once (a send
    and the read of its chat, say), until the job ends or must wait; its answer plain JSON. A run that
    dies half way is run again from the job it was given: its sends are fenced."""
    current = ChatJob.model_validate(job)
    while True:
        with deadline_in(STEP_BUDGET_WAIT), telemetry.chat_path("batch" if current.batchId else "async"):
            result = await take_step(current, services)
        if isinstance(result, Ended) or result.at is not None:
            answer: dict[str, Any] = STEP_RESULT.dump_python(result, mode="json")
            return answer
        current = result.job
