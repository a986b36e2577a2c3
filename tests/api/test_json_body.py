"""A body as JSON, or why not: repeated keys, undecodable bytes and deep nesting are refused alike."""

from __future__ import annotations

import pytest

from chatfn.api.json_body import parse_json_body
from chatfn.errors import FieldError, InvalidRequest


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_body(b'{"topic": "a", "emails": "a@b.com;c@d.com", "topic": "b"}')
    assert caught.value.errors == [FieldError("body", "the key 'topic' appears twice in one object")]
    with pytest.raises(InvalidRequest):
        parse_json_body(b'{"members": [{"email": "a@b.com", "guest": true, "guest": false}]}')


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "is not valid JSON"),
        (b"\xff\xfe\x00", "is not valid JSON"),
        (b"[" * 60000, "nested too deeply"),
        (b"[" * 40 + b"]" * 40, "nested deeper than 32 levels"),
    ],
)
def test_a_body_that_is_not_usable_json_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_body(raw)
    assert message in caught.value.errors[0].message


def test_a_body_of_plain_objects_is_read_as_sent() -> None:
    assert parse_json_body(b'{"topic": "a", "members": [{"email": "a@b.com"}]}') == {
        "topic": "a",
        "members": [{"email": "a@b.com"}],
    }


def test_a_body_nested_exactly_32_deep_is_accepted() -> None:
    assert parse_json_body(b"[" * 32 + b"]" * 32) is not None
    with pytest.raises(InvalidRequest, match="nested deeper than 32 levels"):
        parse_json_body(b"[" * 33 + b"]" * 33)
