"""Failures -> RFC 9457 answers: the catalogue of problem types (each written once, and docs/api.md's
table held to it), the status each kind of failure maps to, and what the body holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatfn import problems
from chatfn.errors import FieldError
from chatfn.failures import Failure
from chatfn.problems import CATALOGUE, ProblemType, invalid_request, problem_for

DOCS = Path(__file__).resolve().parents[1] / "docs"
API_DOC = DOCS / "api.md"


def problem_table() -> str:
    """docs/api.md's table of problem types, as the catalogue writes it."""
    rows = [
        f"| `{kind.slug}` | {kind.status} | {kind.title} | {kind.meaning} | {kind.action} |"
        for kind in CATALOGUE.values()
    ]
    return "\n".join(
        ["| type | status | title | what it means | what to do |", "| --- | --- | --- | --- | --- |", *rows]
    )


def test_docs_api_md_lists_every_problem_type_as_the_catalogue_writes_it() -> None:
    doc = API_DOC.read_text(encoding="utf-8")
    start = doc.index("| type | status | title | what it means | what to do |")
    end = doc.find("\n\n", start)
    assert doc[start:end] == problem_table(), (
        f"docs/api.md's problem table is stale; it should read:\n{problem_table()}"
    )


def test_the_flow_builders_table_names_every_problem_type_with_its_status() -> None:
    """docs/power-automate.md says what to do in a flow, in its own words, for every type of the catalogue."""
    doc = (DOCS / "power-automate.md").read_text(encoding="utf-8")
    named: dict[str, set[int]] = {}
    for statuses, types in re.findall(r"^\| (\d{3}(?: / \d{3})*) \| ([^|]*) \|", doc, re.MULTILINE):
        for slug in re.findall(r"`([a-z-]+)`", types):
            named.setdefault(slug, set()).update(int(status) for status in statuses.split(" / "))
    assert set(named) == set(CATALOGUE), "docs/power-automate.md names other problem types than the catalogue"
    for slug, statuses in named.items():
        assert CATALOGUE[slug].status in statuses, f"docs/power-automate.md gives {slug} another status"


def test_every_problem_type_of_the_module_is_in_the_catalogue_once() -> None:
    declared = [value for value in vars(problems).values() if isinstance(value, ProblemType)]
    assert sorted(declared, key=lambda kind: kind.slug) == sorted(
        CATALOGUE.values(), key=lambda kind: kind.slug
    )
    for slug, kind in CATALOGUE.items():
        assert slug == kind.slug
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", slug), slug
        assert 400 <= kind.status < 600, slug
        assert kind.uri == f"urn:chatfn:problem:{slug}"


def test_a_problem_says_what_its_type_means_unless_it_knows_more() -> None:
    plain = problems.KEY_REUSED.problem()
    assert plain.detail == f"{problems.KEY_REUSED.meaning} {problems.KEY_REUSED.action}"
    assert (plain.status, plain.slug, plain.title) == (
        409,
        "idempotency-key-reused",
        problems.KEY_REUSED.title,
    )
    specific = problems.KEY_REUSED.problem("This key is taken.")
    assert specific.body() == {
        "type": "urn:chatfn:problem:idempotency-key-reused",
        "title": "The idempotency key was used for another request",
        "status": 409,
        "detail": "This key is taken.",
    }


def test_a_type_says_when_to_come_back_unless_the_case_knows_better() -> None:
    assert problems.STORAGE_UNAVAILABLE.problem().retry_after == 5.0
    assert problems.STORAGE_UNAVAILABLE.problem(retry_after=9.0).retry_after == 9.0
    assert problems.OUTCOME_UNKNOWN.problem().retry_after is None


def test_members_not_found_lists_every_member_and_survives_durable_history() -> None:
    missing = (
        FieldError("emails[0]", "a@x.com matches no user"),
        FieldError("members[3].guest", "not a guest"),
    )
    failure = Failure(kind="member_not_found", step="resolve", members=missing, createdNothing=True)
    carried = Failure.model_validate(json.loads(failure.model_dump_json()))
    assert problem_for(carried).body()["errors"] == [
        {"field": "emails[0]", "message": "a@x.com matches no user"},
        {"field": "members[3].guest", "message": "not a guest"},
    ]


def test_identity_problem_names_the_setting() -> None:
    assert (
        "AZURE_CLIENT_ID" in problem_for(Failure(kind="identity", step="resolve", createdNothing=True)).detail
    )


@pytest.mark.parametrize(
    ("failure", "status", "slug"),
    [
        (
            Failure(
                kind="member_not_found",
                step="resolve",
                members=(FieldError("guests[0]", "no user"),),
                createdNothing=True,
            ),
            422,
            "member-not-found",
        ),
        (
            Failure(kind="graph", step="create", status=404, code="NotFound", createdNothing=True),
            422,
            "members-refused",
        ),
        (
            Failure(kind="graph", step="create", status=400, code="BadRequest", createdNothing=True),
            422,
            "members-refused",
        ),
        (
            Failure(kind="graph", step="create", status=403, code="Forbidden", createdNothing=True),
            502,
            "graph-refused-identity",
        ),
        (
            Failure(kind="graph", step="create", status=401, createdNothing=True),
            502,
            "graph-refused-identity",
        ),
        (
            Failure(kind="graph", step="create", status=412, createdNothing=True),
            502,
            "graph-refused-identity",
        ),
        (Failure(kind="graph", step="poll", status=403, createdNothing=False), 502, "graph-refused-identity"),
        (Failure(kind="graph", step="read", status=404, createdNothing=False), 502, "graph-failed"),
        (
            Failure(kind="graph", step="create", status=429, retryAfter=7, createdNothing=True),
            503,
            "graph-throttled",
        ),
        (Failure(kind="graph", step="create", status=503, createdNothing=True), 503, "graph-throttled"),
        (Failure(kind="graph", step="create", status=504, createdNothing=True), 502, "graph-failed"),
        (Failure(kind="graph", step="create", status=500, createdNothing=True), 502, "graph-failed"),
        (Failure(kind="graph", step="create", createdNothing=True), 502, "graph-failed"),
        (Failure(kind="identity", step="create", createdNothing=True), 502, "identity-failed"),
        (
            Failure(kind="operation_failed", step="poll", code="AppInstallFailed", createdNothing=False),
            502,
            "operation-failed",
        ),
        (Failure(kind="deadline", step="poll", createdNothing=False), 504, "operation-timeout"),
        (Failure(kind="cancelled", step="create", createdNothing=True), 409, "cancelled"),
        (Failure(kind="storage", step="create", createdNothing=True), 503, "storage-unavailable"),
        (Failure(kind="abandoned", step="create", createdNothing=False), 502, "outcome-unknown"),
    ],
)
def test_each_failure_has_its_status(failure: Failure, status: int, slug: str) -> None:
    problem = problem_for(failure)
    assert (problem.status, problem.slug) == (status, slug)
    body = problem.body()
    assert body["status"] == status
    assert body["type"] == f"urn:chatfn:problem:{slug}"
    assert body["title"] == CATALOGUE[slug].title, "a type's title never varies (RFC 9457, 3.1.3)"
    assert body["detail"]


def test_graph_failures_carry_graphs_ids() -> None:
    failure = Failure(
        kind="graph",
        step="create",
        status=404,
        code="NotFound",
        message="no user",
        requestId="r-1",
        createdNothing=True,
    )
    assert problem_for(failure).body()["graphError"] == {
        "code": "NotFound",
        "message": "no user",
        "requestId": "r-1",
    }


def test_throttling_tells_when_to_come_back() -> None:
    assert (
        problem_for(
            Failure(kind="graph", step="create", status=429, retryAfter=7.5, createdNothing=True)
        ).retry_after
        == 7.5
    )
    assert (
        problem_for(Failure(kind="graph", step="create", status=503, createdNothing=True)).retry_after == 30.0
    )


def test_invalid_request_lists_its_errors() -> None:
    body = invalid_request([FieldError("members[1].gust", "unknown field")]).body()
    assert body["status"] == 400
    assert body["errors"] == [{"field": "members[1].gust", "message": "unknown field"}]


def test_a_failure_whose_chat_may_exist_is_never_a_retry_invitation() -> None:
    unknown = problem_for(Failure(kind="graph", step="create", status=503, createdNothing=False))
    known = problem_for(Failure(kind="graph", step="create", status=503, createdNothing=True))
    assert (unknown.status, unknown.slug, unknown.retry_after) == (502, "outcome-unknown", None)
    assert (known.status, known.slug, known.retry_after) == (503, "graph-throttled", 30.0)


def test_a_problem_holds_only_the_members_that_apply() -> None:
    body = problem_for(Failure(kind="identity", step="resolve", createdNothing=True)).body()
    assert set(body) == {"type", "title", "status", "detail"}


@pytest.mark.parametrize(("count", "listed", "last"), [(50, 50, "error 49"), (51, 50, "2 more errors")])
def test_a_400_lists_fifty_errors_at_most(count: int, listed: int, last: str) -> None:
    errors = [FieldError(f"emails[{i}]", f"error {i}") for i in range(count)]
    body = invalid_request(errors).body()
    assert len(body["errors"]) == listed
    assert body["errors"][-1]["message"].startswith(last)
    assert body["errors"][48] == {"field": "emails[48]", "message": "error 48"}


def test_the_types_of_a_status_come_in_catalogue_order() -> None:
    """What the API descriptions say for a status: each of its types, in the catalogue's order."""
    assert [kind.slug for kind in problems.of_status(503)] == ["graph-throttled", "storage-unavailable"]
    assert problems.of_status(418) == []


def test_the_body_limits_are_said_as_the_contract_sets_them() -> None:
    assert "64 KiB for a chat" in problems.BODY_TOO_LARGE.meaning
    assert "CHATFN_BATCH_MAX_BYTES (4 MiB) for a batch" in problems.BODY_TOO_LARGE.meaning
