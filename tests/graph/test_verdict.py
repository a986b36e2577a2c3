"""One rule for "did Graph create the chat?": every failure of POST /chats on one side or the other."""

from __future__ import annotations

import pytest

from chatfn.errors import (
    ChatfnError,
    FieldError,
    GraphConnectionError,
    GraphError,
    IdentityError,
    MembersNotFound,
    graph_error_class,
)
from chatfn.graph.verdict import SendVerdict, verdict_of


def _graph(status: int) -> GraphError:
    return graph_error_class(status)("m", status=status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 429, 499])
def test_a_refusal_created_nothing(status: int) -> None:
    assert verdict_of(_graph(status)) is SendVerdict.NOT_CREATED


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 599])
def test_a_timeout_or_a_server_error_may_have_created_it(status: int) -> None:
    """Graph can act and then answer 504 (docs/graph.md, Real directories and real failures)."""
    assert verdict_of(_graph(status)) is SendVerdict.UNKNOWN


def test_no_answer_depends_on_whether_the_request_left() -> None:
    assert verdict_of(GraphConnectionError("refused", sent=False)) is SendVerdict.NOT_CREATED
    assert verdict_of(GraphConnectionError("dropped", sent=True)) is SendVerdict.UNKNOWN


def test_an_answer_graph_should_not_give_is_unknown() -> None:
    assert verdict_of(GraphError("202 without a Location", status=None)) is SendVerdict.UNKNOWN


@pytest.mark.parametrize(
    "error",
    [
        IdentityError("no token"),
        MembersNotFound([FieldError("emails[0]", "a@x.com matches no user")]),
        ChatfnError("before"),
    ],
)
def test_what_fails_before_the_post_created_nothing(error: ChatfnError) -> None:
    assert verdict_of(error) is SendVerdict.NOT_CREATED
