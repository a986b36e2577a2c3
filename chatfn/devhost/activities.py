"""Running an activity as the extension and the worker do: JSON text in, JSON text out, and a failure
(an overrun of functionTimeout included) reported as the TaskFailed the SDK turns back into an exception."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from chatfn.devhost import history as h
from chatfn.devhost.functions import ActivityFunction
from chatfn.devhost.invoke import call
from chatfn.devhost.timeouts import FunctionTimeout, FunctionTimeoutError

log = logging.getLogger("chatfn.devhost")


async def run_activity(
    activity: ActivityFunction | None,
    name: str,
    task_id: int,
    input_json: str | None,
    executor: Executor,
    limit: FunctionTimeout,
) -> h.Event:
    """TaskCompleted with the result's JSON, or TaskFailed with the exception's message (never a
    traceback: the orchestrator may pass the text on), as the extension's TaskActivityShim words it:
    `Activity function '<name>' failed: <message>`, a timeout's message being FunctionTimeoutException's.
    Unknown names fail as in the extension."""
    if activity is None:
        reason = f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
        return h.task_failed(h.utcnow(), task_id, reason, "")
    try:
        value = ActivityTriggerConverter.decode(
            meta.Datum(input_json or "null", "json"), trigger_metadata=None
        )
        result = await limit.run(name, call(activity.fn, {activity.param: value}, executor))
        encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
    except FunctionTimeoutError as exc:
        log.error("activity %s (task %d) failed: %s", name, task_id, exc)
        return _failed(name, task_id, exc)
    except Exception as exc:
        log.exception("activity %s (task %d) failed", name, task_id)
        return _failed(name, task_id, exc)
    return h.task_completed(h.utcnow(), task_id, encoded)


def _failed(name: str, task_id: int, exc: Exception) -> h.Event:
    reason = f"Activity function '{name}' failed: {exc}"
    return h.task_failed(h.utcnow(), task_id, reason, f"{type(exc).__name__}: {exc}")
