"""The app's HTTP answers, rendered here and nowhere else: results, 202s that point at the status URL,
and RFC 9457 problems. Every answer says `Cache-Control: no-store`."""

from __future__ import annotations

import json
import math
from typing import Any

import azure.functions as func

from chatfn import contract
from chatfn.outcome import Failed, Outcome
from chatfn.problems import Problem, problem_for
from chatfn.schemas import RunningRequest

_NO_STORE = {contract.CACHE_CONTROL_HEADER: "no-store"}


def problem_response(problem: Problem) -> func.HttpResponse:
    headers = dict(_NO_STORE)
    if problem.retry_after is not None:
        headers[contract.RETRY_AFTER_HEADER] = str(max(1, math.ceil(problem.retry_after)))
    return func.HttpResponse(
        json.dumps(problem.body()),
        status_code=problem.status,
        headers=headers,
        mimetype=contract.PROBLEM_JSON,
    )


def outcome_response(outcome: Outcome, success_status: int) -> func.HttpResponse:
    """How a request ended, as its answer: the result (200 when an existing chat was reused), or the
    problem."""
    if isinstance(outcome, Failed):
        return problem_response(problem_for(outcome.failure))
    status = 200 if outcome.result.reused else success_status
    return json_response(outcome.result.model_dump(mode="json"), status)


def running_response(
    origin: str, request_id: str, *, stage: str, retry_after: int, polls: int = 0
) -> func.HttpResponse:
    """202: follow `Location` (the status URL under the app's public `origin`) after `Retry-After`."""
    status_url = f"{origin}{contract.status_path(request_id)}"
    body = RunningRequest(
        requestId=request_id, status="running", statusUrl=status_url, stage=stage, polls=polls
    )
    headers = {contract.LOCATION_HEADER: status_url, contract.RETRY_AFTER_HEADER: str(retry_after)}
    return json_response(body.model_dump(mode="json"), 202, headers=headers)


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers={**_NO_STORE, **(headers or {})}, mimetype=contract.JSON
    )
