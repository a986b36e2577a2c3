"""Injected faults: they stand for the network and Graph's front door, so they fire before auth."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, MEGAN, client, error_of, group, one_on_one


def _faults(control: httpx.Client, rules: Any) -> None:
    control.post("/faults", json=rules).raise_for_status()


@pytest.mark.parametrize(("retry_after", "header"), [(2.128, "2.128"), ("0.2", "0.2"), (3, "3")])
def test_429_carries_retry_after_as_given(
    graph: httpx.Client, control: httpx.Client, retry_after: Any, header: str
) -> None:
    _faults(control, {"method": "POST", "path": "/v1.0/chats", "status": 429, "retryAfter": retry_after})
    answer = graph.post("/chats", json=one_on_one(ADELE, MEGAN))
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == header
    assert error_of(answer)["code"] == "TooManyRequests"


# RFC 9110 section 5.6.7's three forms of HTTP-date, and RFC 5322's "-0000" (no zone known).
_DATE_FORMS = {
    "IMF-fixdate": r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT",
    "rfc850": r"[A-Z][a-z]{5,8}, \d\d-[A-Z][a-z]{2}-\d\d \d\d:\d\d:\d\d GMT",
    "asctime": r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}",
    "-0000": r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d -0000",
}


@pytest.mark.parametrize(("form", "pattern"), _DATE_FORMS.items())
def test_retry_after_can_be_an_http_date_of_any_form(
    graph: httpx.Client, control: httpx.Client, form: str, pattern: str
) -> None:
    _faults(control, {"path": "/v1.0/users", "status": 503, "retryAfter": 30, "retryAfterDate": form})
    answer = graph.get(f"/users/{ADELE}")
    header = answer.headers["Retry-After"]
    assert re.fullmatch(pattern, header), header
    when = parsedate_to_datetime(header)  # the standard library's reading, not chatfn's
    seconds = (when.replace(tzinfo=when.tzinfo or UTC) - datetime.now(UTC)).total_seconds()
    assert 28 < seconds <= 31


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "ServiceUnavailable"), (504, "GatewayTimeout"), (500, "InternalServerError"), (502, "BadGateway")],
)
def test_fault_answers_with_graphs_error_for_its_status(
    graph: httpx.Client, control: httpx.Client, status: int, code: str
) -> None:
    _faults(control, {"path": "/v1.0/users", "status": status})
    answer = graph.get(f"/users/{ADELE}")
    assert answer.status_code == status
    assert error_of(answer)["code"] == code
    assert "Retry-After" not in answer.headers


def test_count_runs_out(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0/chats", "status": 503, "count": 2})
    statuses = [graph.post("/chats", json=group(ADELE, MEGAN)).status_code for _ in range(4)]
    assert statuses == [503, 503, 201, 201]


def test_fault_fires_before_auth(emulator: Emulator, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0/", "status": 429, "retryAfter": 1})
    with client(emulator.graph_url) as http:
        assert http.post("/chats", json={}).status_code == 429


def test_method_and_path_must_match(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(
        control,
        [{"method": "get", "path": "/v1.0/chats", "status": 503}, {"path": "/v1.0/teams", "status": 500}],
    )
    chat_id = graph.post("/chats", json=group(ADELE, MEGAN)).json()["id"]
    assert graph.get(f"/chats/{chat_id}").status_code == 503
    assert graph.get(f"/users/{ADELE}").status_code == 200


def test_first_matching_rule_wins_and_delete_clears(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0/chats", "status": 504, "count": 1})
    _faults(control, {"path": "/v1.0", "status": 503})
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 504
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 503
    assert control.delete("/faults").json() == []
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 201


def test_probability_zero_never_fires(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0", "status": 503, "probability": 0})
    assert {graph.get(f"/users/{ADELE}").status_code for _ in range(30)} == {200}


def test_probability_half_fires_sometimes(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0", "status": 503, "probability": 0.5})
    statuses = [graph.get(f"/users/{ADELE}").status_code for _ in range(80)]
    assert 10 < statuses.count(503) < 70


def test_pure_delay_answers_normally_later(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0/users", "delay": 0.3, "count": 1})
    started = time.perf_counter()
    assert graph.get(f"/users/{ADELE}").status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    assert graph.get(f"/users/{ADELE}").status_code == 200
    assert time.perf_counter() - started < 0.3


def test_delay_with_status(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"path": "/v1.0/users", "delay": 0.2, "status": 503})
    started = time.perf_counter()
    assert graph.get(f"/users/{ADELE}").status_code == 503
    assert time.perf_counter() - started >= 0.2


def test_drop_closes_the_connection_without_an_answer(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"method": "POST", "path": "/v1.0/chats", "drop": True, "count": 1})
    with pytest.raises(httpx.TransportError):
        graph.post("/chats", json=group(ADELE, MEGAN))
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 201
    assert [entry["status"] for entry in control.get("/requests").json()][-2:] == [None, 201]


def test_token_endpoint_can_fail_too(emulator: Emulator, control: httpx.Client) -> None:
    _faults(control, {"path": "/msi/token", "status": 503, "retryAfter": "1"})
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint,
            params={"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert "access_token" not in answer.json()


def test_control_api_is_never_faulted(control: httpx.Client) -> None:
    _faults(control, {"status": 503})
    assert control.get("/stats").status_code == 200


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "/v1.0"},
        {"path": "/v1.0", "status": 200},
        {"path": "/v1.0", "status": 503, "drop": True},
        {"path": "/v1.0", "status": 503, "count": 0},
        {"path": "/v1.0", "status": 503, "probability": 1.5},
        {"path": "/v1.0", "delay": -1},
        {"path": "/v1.0", "status": 503, "retryAfer": 1},
        {"path": "/v1.0", "status": 503, "retryAfter": 1, "retryAfterDate": "iso8601"},
        {"path": "/v1.0", "status": 503, "retryAfter": "soon", "retryAfterDate": "asctime"},
        {"path": "/v1.0", "status": 503, "retryAfterDate": "asctime"},
        [],
    ],
)
def test_invalid_rule_is_400(control: httpx.Client, rule: Any) -> None:
    answer = control.post("/faults", json=rule)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_an_after_fault_makes_the_chat_then_answers_504(graph: httpx.Client, control: httpx.Client) -> None:
    """Graph can carry a request out and still answer 504, so a blind retry makes a second group chat
    (https://learn.microsoft.com/en-us/graph/errors: 504 GatewayTimeout)."""
    _faults(control, {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 1})
    answer = graph.post("/chats", json=group(ADELE, MEGAN))
    assert answer.status_code == 504
    assert error_of(answer)["code"] == "GatewayTimeout"
    assert len(control.get("/chats").json()) == 1, "the chat was made before the 504"
    assert [entry["status"] for entry in control.get("/requests").json()[1:]] == [504]


def test_an_after_drop_makes_the_chat_then_cuts_the_connection(
    graph: httpx.Client, control: httpx.Client
) -> None:
    _faults(control, {"method": "POST", "path": "/v1.0/chats", "drop": True, "after": True, "count": 1})
    with pytest.raises(httpx.TransportError):
        graph.post("/chats", json=group(ADELE, MEGAN))
    assert len(control.get("/chats").json()) == 1
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 201
    assert len(control.get("/chats").json()) == 2, "a blind retry makes a second group chat"


def test_a_fault_before_the_request_makes_nothing(graph: httpx.Client, control: httpx.Client) -> None:
    _faults(control, {"method": "POST", "path": "/v1.0/chats", "status": 504, "count": 1})
    assert graph.post("/chats", json=group(ADELE, MEGAN)).status_code == 504
    assert control.get("/chats").json() == []


def test_code_and_message_shape_the_graph_error(graph: httpx.Client, control: httpx.Client) -> None:
    rule = {"path": "/v1.0/users", "status": 503, "code": "UnknownError", "message": "Backend unavailable."}
    _faults(control, rule)
    error = error_of(graph.get(f"/users/{ADELE}"))
    assert (error["code"], error["message"]) == ("UnknownError", "Backend unavailable.")


def test_a_raw_body_is_answered_as_is(graph: httpx.Client, control: httpx.Client) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    _faults(control, {"path": "/v1.0/chats", "status": 502, "body": page, "retryAfter": 1})
    answer = graph.post("/chats", json=group(ADELE, MEGAN))
    assert answer.status_code == 502
    assert answer.text == page
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["Retry-After"] == "1"


def test_faults_on_the_identity_endpoint_answer_in_its_own_shape(
    emulator: Emulator, control: httpx.Client
) -> None:
    """App Service's identity endpoint answers errors as {"statusCode", "message"}, not Graph's shape."""
    _faults(control, {"path": "/msi/token", "status": 500, "message": "Identity endpoint busy.", "count": 1})
    with client() as http:
        answer = http.get(
            emulator.identity_endpoint,
            params={"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": emulator.identity_header},
        )
    assert answer.status_code == 500
    assert answer.json() == {"statusCode": 500, "message": "Identity endpoint busy."}


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "/v1.0/chats", "delay": 0.1, "after": True},
        {"path": "/v1.0/chats", "drop": True, "code": "X"},
        {"path": "/v1.0/chats", "status": 502, "body": "<html/>", "message": "both"},
        {"path": "/v1.0/chats", "status": 502, "after": "yes"},
        {"path": "/v1.0/chats", "status": 502, "body": 5},
    ],
)
def test_inconsistent_answer_fields_are_400(control: httpx.Client, rule: dict[str, Any]) -> None:
    assert control.post("/faults", json=rule).status_code == 400
