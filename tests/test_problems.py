"""Failures -> RFC 9457 answers: the status each kind of failure maps to, and what the body holds."""

from __future__ import annotations

import json

import pytest

from chatfn.errors import FieldError
from chatfn.problems import Failure, Problem, invalid_request, problem_for


def test_members_not_found_lists_every_member_and_survives_durable_history() -> None:
    missing = (
        FieldError("emails[0]", "a@x.com matches no user"),
        FieldError("members[3].guest", "not a guest"),
    )
    failure = Failure(kind="member_not_found", step="resolve", members=missing)
    carried = Failure.model_validate(json.loads(failure.model_dump_json()))
    assert problem_for(carried).body()["errors"] == [
        {"field": "emails[0]", "message": "a@x.com matches no user"},
        {"field": "members[3].guest", "message": "not a guest"},
    ]


def test_identity_problem_names_the_setting() -> None:
    assert "AZURE_CLIENT_ID" in problem_for(Failure(kind="identity", step="resolve")).detail


@pytest.mark.parametrize(
    ("failure", "status", "slug"),
    [
        (
            Failure(kind="member_not_found", step="resolve", members=(FieldError("guests[0]", "no user"),)),
            422,
            "member-not-found",
        ),
        (Failure(kind="graph", step="create", status=404, code="NotFound"), 422, "members-refused"),
        (Failure(kind="graph", step="create", status=400, code="BadRequest"), 422, "members-refused"),
        (Failure(kind="graph", step="create", status=403, code="Forbidden"), 502, "graph-refused-identity"),
        (Failure(kind="graph", step="create", status=401), 502, "graph-refused-identity"),
        (Failure(kind="graph", step="create", status=412), 502, "graph-refused-identity"),
        (Failure(kind="graph", step="poll", status=403), 502, "graph-refused-identity"),
        (Failure(kind="graph", step="read", status=404), 502, "graph-failed"),
        (Failure(kind="graph", step="create", status=429, retryAfter=7), 503, "graph-throttled"),
        (Failure(kind="graph", step="create", status=503), 503, "graph-throttled"),
        (Failure(kind="graph", step="create", status=504), 502, "graph-failed"),
        (Failure(kind="graph", step="create", status=500), 502, "graph-failed"),
        (Failure(kind="graph", step="create"), 502, "graph-failed"),
        (Failure(kind="identity", step="create"), 502, "identity-failed"),
        (Failure(kind="operation_failed", step="poll", code="AppInstallFailed"), 502, "operation-failed"),
        (Failure(kind="deadline", step="poll"), 504, "operation-timeout"),
    ],
)
def test_each_failure_has_its_status(failure: Failure, status: int, slug: str) -> None:
    problem = problem_for(failure)
    assert (problem.status, problem.slug) == (status, slug)
    body = problem.body()
    assert body["status"] == status
    assert body["type"] == f"urn:chatfn:problem:{slug}"
    assert body["title"]
    assert body["detail"]


def test_graph_failures_carry_graphs_ids() -> None:
    failure = Failure(
        kind="graph", step="create", status=404, code="NotFound", message="no user", requestId="r-1"
    )
    assert problem_for(failure).body()["graphError"] == {
        "code": "NotFound",
        "message": "no user",
        "requestId": "r-1",
    }


def test_throttling_tells_when_to_come_back() -> None:
    assert problem_for(Failure(kind="graph", step="create", status=429, retryAfter=7.5)).retry_after == 7.5
    assert problem_for(Failure(kind="graph", step="create", status=503)).retry_after == 30.0


def test_invalid_request_lists_its_errors() -> None:
    body = invalid_request([FieldError("members[1].gust", "unknown field")]).body()
    assert body["status"] == 400
    assert body["errors"] == [{"field": "members[1].gust", "message": "unknown field"}]


def test_a_problem_survives_the_trip_through_durable_output() -> None:
    problem = problem_for(Failure(kind="graph", step="create", status=429, retryAfter=3, message="slow down"))
    assert Problem.from_dict(json.loads(json.dumps(problem.to_dict()))) == problem


@pytest.mark.parametrize(
    ("failure", "created_nothing"),
    [
        (Failure(kind="member_not_found", step="resolve"), True),
        (Failure(kind="graph", step="resolve", status=503), True),
        (Failure(kind="identity", step="create"), True),
        (Failure(kind="graph", step="create", status=404), True),
        (Failure(kind="graph", step="create", status=429), True),
        (Failure(kind="graph", step="create", status=503), False),
        (Failure(kind="graph", step="create", status=504), False),
        (Failure(kind="graph", step="create"), False),  # no answer: Graph may have acted
        (Failure(kind="identity", step="poll"), False),
        (Failure(kind="graph", step="poll", status=403), False),
        (Failure(kind="deadline", step="poll"), False),
        (Failure(kind="operation_failed", step="poll"), False),
        (Failure(kind="graph", step="read", status=404), False),
    ],
)
def test_only_a_failure_before_graph_acted_may_start_over(failure: Failure, created_nothing: bool) -> None:
    assert failure.created_nothing is created_nothing
