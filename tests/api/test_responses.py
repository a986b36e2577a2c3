"""Outcomes rendered as HTTP answers, here and nowhere else."""

from __future__ import annotations

import json

from chatfn.api.responses import outcome_response, running_response
from chatfn.failures import Failure
from chatfn.outcome import Failed, Succeeded, chat_result
from tests.test_outcome import CHAT


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


def test_a_running_request_points_at_its_status_url_under_the_public_origin() -> None:
    answer = running_response("https://chats.contoso.com", "ab" * 16, stage="starting", retry_after=4)
    assert answer.status_code == 202
    status_url = f"https://chats.contoso.com/api/chats/requests/{'ab' * 16}"
    assert answer.headers["Location"] == status_url
    assert answer.headers["Retry-After"] == "4"
    assert answer.headers["Cache-Control"] == "no-store"
    assert json.loads(answer.get_body())["statusUrl"] == status_url
