"""The workflow's parts that need no host: failures crossing durable history, and the result's shape.
The orchestrator itself is driven through the real replay in test_function_app.py and
tests/devhost/test_replay.py."""

from __future__ import annotations

import pytest

from chatfn.graph import Chat
from chatfn.problems import Failure
from chatfn.workflow import TransientFailure, chat_result


def test_a_transient_failure_survives_the_sdks_error_text() -> None:
    """The SDK raises `Exception(f"{Reason} \\n {Details}")` once durable retries are spent."""
    failure = Failure(
        kind="graph", step="create", status=429, code="TooManyRequests", message="x} {y", retryAfter=2
    )
    reason = f"Activity function 'send_chat' failed: {TransientFailure(failure)}"
    text = f"{reason} \n Traceback (most recent call last): ..."
    assert TransientFailure.failure_in(text, "create") == failure


@pytest.mark.parametrize("text", ["", "boom", "chatfn-failure:{not json", 'chatfn-failure:{"kind": "nope"}'])
def test_an_unexpected_error_becomes_a_generic_graph_failure(text: str) -> None:
    failure = TransientFailure.failure_in(text, "read")
    assert (failure.kind, failure.step, failure.status) == ("graph", "read", None)


def test_chat_result_has_the_contracts_fields() -> None:
    chat = Chat.model_validate(
        {
            "id": "19:abc@thread.v2",
            "chatType": "group",
            "topic": "T",
            "webUrl": "https://teams.microsoft.com/l/chat/19%3Aabc%40thread.v2/0",
            "createdDateTime": "2026-11-22T10:00:00Z",
            "members": [
                {"userId": "u1", "email": "a@contoso.com", "roles": ["owner"]},
                {"userId": "u2", "email": None, "roles": ["guest"]},
            ],
        }
    )
    assert chat_result("r1", chat) == {
        "requestId": "r1",
        "status": "succeeded",
        "chatId": "19:abc@thread.v2",
        "chatType": "group",
        "topic": "T",
        "webUrl": "https://teams.microsoft.com/l/chat/19%3Aabc%40thread.v2/0",
        "createdDateTime": "2026-11-22T10:00:00Z",
        "members": [
            {"email": "a@contoso.com", "userId": "u1", "role": "owner"},
            {"email": None, "userId": "u2", "role": "guest"},
        ],
    }
