"""How a request ended, as stored: the result built from Graph's chat, and the round trip through
JSON that the idempotency record and durable history put it through."""

from __future__ import annotations

from chatfn.failures import Failure
from chatfn.graph.models import Chat
from chatfn.outcome import OUTCOME, Failed, Succeeded, chat_result

CHAT = Chat.model_validate(
    {
        "id": "19:abc@thread.v2",
        "chatType": "group",
        "topic": "T",
        "webUrl": "https://teams.microsoft.com/l/chat/19%3Aabc%40thread.v2/0",
        "createdDateTime": "2026-11-22T10:00:00Z",
        "members": [
            {"userId": "u1", "email": "a@contoso.com", "roles": ["owner"]},
            {"userId": "u2", "email": None, "roles": ["guest"]},
            {"userId": "u3", "email": None, "roles": []},
        ],
    }
)


def test_chat_result_has_the_contracts_fields() -> None:
    assert chat_result("r1", CHAT, reused=True).model_dump(mode="json") == {
        "requestId": "r1",
        "status": "succeeded",
        "reused": True,
        "chatId": "19:abc@thread.v2",
        "chatType": "group",
        "topic": "T",
        "webUrl": "https://teams.microsoft.com/l/chat/19%3Aabc%40thread.v2/0",
        "createdDateTime": "2026-11-22T10:00:00Z",
        "members": [
            {"email": "a@contoso.com", "userId": "u1", "role": "owner"},
            {"email": None, "userId": "u2", "role": "guest"},
            {"email": None, "userId": "u3", "role": "owner"},
        ],
    }


def test_outcomes_survive_json_as_their_own_kind() -> None:
    succeeded = Succeeded(result=chat_result("r1", CHAT))
    failed = Failed(failure=Failure(kind="deadline", step="poll", createdNothing=False, message="m"))
    for outcome in (succeeded, failed):
        assert OUTCOME.validate_json(OUTCOME.dump_json(outcome)) == outcome
        assert OUTCOME.validate_python(outcome.model_dump(mode="json")) == outcome


def test_a_result_is_new_unless_said_to_be_reused() -> None:
    assert chat_result("r1", CHAT).reused is False
