"""The HTTP edge's pure parts: RFC 7240's Prefer, and outcomes rendered as answers. The routes
themselves run over HTTP in test_function_app.py."""

from __future__ import annotations

import json

import pytest

from chatfn.endpoints import outcome_response, wait_seconds
from chatfn.problems import Failure
from chatfn.results import Failed, Succeeded, chat_result
from tests.test_results import CHAT


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, 20.0),
        ("", 20.0),
        ("respond-async", 0.0),
        ("RESPOND-ASYNC", 0.0),
        ("respond-async, wait=5", 5.0),
        ("wait=2;foo", 2.0),
        ('wait="3"', 3.0),
        ("wait=0", 0.0),
        ("wait=600", 60.0),
        ("wait=1e1", 20.0),
        ("wait=-1", 20.0),
        ("wait=2.5", 20.0),
        ("wait=", 20.0),
        # Quotes count only in pairs around the value.
        ('wait=15"', 20.0),
        ('wait="15', 20.0),
        ("handling=lenient", 20.0),
    ],
)
def test_prefer_as_rfc_7240_says(prefer: str | None, wait: float) -> None:
    assert wait_seconds(prefer, default=20.0) == wait


def test_a_wait_is_never_negative() -> None:
    assert wait_seconds(None, default=-1.0) == 0.0


def test_a_reused_chat_is_200_and_a_new_one_the_success_status() -> None:
    assert outcome_response(Succeeded(result=chat_result("r", CHAT)), success_status=201).status_code == 201
    reused = outcome_response(Succeeded(result=chat_result("r", CHAT, reused=True)), success_status=201)
    assert reused.status_code == 200
    assert json.loads(reused.get_body())["reused"] is True


def test_a_failure_is_rendered_as_its_problem_only_here() -> None:
    failure = Failure(kind="graph", step="create", createdNothing=True, status=429, retryAfter=2.2)
    answer = outcome_response(Failed(failure=failure), success_status=201)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "3"
    assert answer.mimetype == "application/problem+json"


def test_a_failure_whose_chat_may_exist_never_says_retry_after() -> None:
    failure = Failure(kind="graph", step="create", createdNothing=False, status=503)
    answer = outcome_response(Failed(failure=failure), success_status=201)
    assert answer.status_code == 502
    assert "Retry-After" not in answer.headers
    assert json.loads(answer.get_body())["type"] == "urn:chatfn:problem:outcome-unknown"
