"""A batch's body: every item checked as POST /api/chats checks one, every broken rule named with its
item, before anything starts."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from chatfn.chats.batch import BatchRequest, batch_fingerprint, parse_batch_request
from chatfn.chats.spec import parse_chat_request
from chatfn.errors import InvalidRequest

CHAT = {"topic": "Incident 4711", "emails": "alex@contoso.com;jacob@contoso.com"}


def _fields(payload: Any, max_items: int = 1000) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parse_batch_request(payload, max_items)
    return {error.field: error.message for error in caught.value.errors}


def test_each_item_is_normalised_as_alone_in_order() -> None:
    items = [CHAT, {"members": [{"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"}, {"email": "a@b.co"}]}]
    specs = parse_batch_request({"chats": items}, max_items=10)
    assert specs == tuple(parse_chat_request(item) for item in items)


def test_a_broken_item_is_named_by_its_index_and_field() -> None:
    broken = {"members": [{"email": "alex@contoso.com"}, {"email": "jacob@contoso.com", "gust": True}]}
    fields = _fields({"chats": [CHAT, CHAT, broken, CHAT | {"topic": 5}, {"emails": "alex@contoso.com"}]})
    assert "chats[2].members[1].gust" in fields
    assert "guest" in fields["chats[2].members[1].gust"], "the item's own message, with its suggestion"
    assert "chats[3].topic" in fields
    assert "chats[4].emails" in fields, "every broken rule of every item at once"
    assert not any(field.startswith(("chats[0]", "chats[1]")) for field in fields)


def test_an_item_that_is_not_an_object_is_named_whole() -> None:
    assert set(_fields({"chats": [CHAT, "alex@contoso.com"]})) == {"chats[1]"}


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"chats": []}, "chats", "at least one"),
        ({"chats": [CHAT] * 4}, "chats", "at most 3 chats, got 4"),
        ({}, "chats", "must be a list"),
        ({"chats": CHAT}, "chats", "must be a list"),
        ([CHAT], "body", "JSON object"),
        ({"chats": [CHAT], "chat": []}, "chat", "unknown field"),
    ],
    ids=["empty", "too many", "missing", "not a list", "not an object", "unknown field"],
)
def test_the_batch_itself_must_be_a_list_of_one_to_the_most_chats(
    payload: Any, field: str, words: str
) -> None:
    fields = _fields(payload, max_items=3)
    assert words in fields[field]


def test_a_batch_of_exactly_the_most_chats_is_accepted() -> None:
    assert len(parse_batch_request({"chats": [CHAT] * 3}, max_items=3)) == 3


@pytest.mark.parametrize(("chats", "valid"), [([], False), ([CHAT], True), ([CHAT, CHAT], True)])
def test_the_api_description_of_a_batch_counts_its_chats_as_the_parser_does(
    chats: list[dict[str, Any]], valid: bool
) -> None:
    """A client that checks a batch against the OpenAPI document's BatchRequest (a connector, a
    generated client) must not send what chatfn refuses, nor hold back what it accepts."""
    described = jsonschema_rs.validator_for(BatchRequest.model_json_schema()).is_valid({"chats": chats})
    assert described is valid
    if valid:
        assert len(parse_batch_request({"chats": chats}, max_items=1000)) == len(chats)
    else:
        assert "chats" in _fields({"chats": chats})


def test_an_unknown_field_is_named_without_its_hidden_characters() -> None:
    assert "chats\\u202e" in _fields({"chats": [CHAT], "chats\u202e": 1})


def test_the_fingerprint_is_the_items_in_order() -> None:
    one, two = parse_chat_request(CHAT), parse_chat_request(CHAT | {"topic": "Other"})
    assert batch_fingerprint([one, two]) == batch_fingerprint([parse_chat_request(CHAT), two])
    assert batch_fingerprint([one, two]) != batch_fingerprint([two, one])
    assert batch_fingerprint([one]) != batch_fingerprint([one, one])
