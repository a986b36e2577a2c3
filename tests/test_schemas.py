"""The answer models: what the code sends is what the documents describe, field for field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chatfn.failures import Failure
from chatfn.problems import problem_for
from chatfn.schemas import Health, ProblemDetails, RunningRequest


def test_an_answer_cannot_carry_a_field_the_documents_do_not_name() -> None:
    with pytest.raises(ValidationError):
        Health.model_validate({"status": "ok", "version": "0.1.0", "debug": True})


def test_a_running_request_says_running() -> None:
    with pytest.raises(ValidationError):
        RunningRequest.model_validate(
            {"requestId": "r", "status": "succeeded", "statusUrl": "http://x/api", "stage": "s", "polls": 0}
        )


def test_a_problem_leaves_out_what_does_not_apply() -> None:
    body = problem_for(
        Failure(kind="identity", step="create", createdNothing=True, message="no token")
    ).body()
    assert set(body) == {"type", "title", "status", "detail"}
    ProblemDetails.model_validate(body)


def test_graphs_missing_ids_stay_null_rather_than_vanish() -> None:
    body = problem_for(
        Failure(kind="graph", step="create", createdNothing=True, status=500, message="boom")
    ).body()
    assert body["graphError"] == {"code": None, "message": "boom", "requestId": None}
