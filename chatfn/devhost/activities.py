"""Running an activity as the extension and the worker do: JSON text in, JSON text out, and a failure
reported as the TaskFailed the SDK turns back into an exception."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from chatfn.devhost import history as h
from chatfn.devhost.functions import ActivityFunction
from chatfn.devhost.invoke import call

log = logging.getLogger("chatfn.devhost")


async def run_activity(
    activity: ActivityFunction | None, name: str, task_id: int, input_json: str | None, executor: Executor
) -> h.Event:
    """TaskCompleted with the result's JSON, or TaskFailed with the exception's message (never a
    traceback: the orchestrator may pass the text on). Unknown names fail as in the extension."""
    if activity is None:
        reason = f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
        return h.task_failed(h.utcnow(), task_id, reason, "")
    try:
        value = ActivityTriggerConverter.decode(
            meta.Datum(input_json or "null", "json"), trigger_metadata=None
        )
        result = await call(activity.fn, {activity.param: value}, executor)
        encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
    except Exception as exc:
        log.exception("activity %s (task %d) failed", name, task_id)
        return h.task_failed(
            h.utcnow(), task_id, f"Activity function '{name}' failed: {exc}", f"{type(exc).__name__}: {exc}"
        )
    return h.task_completed(h.utcnow(), task_id, encoded)
