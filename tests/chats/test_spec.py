"""The request normalised (`chatfn.chats.spec`, with the models, text rules and field errors it is made
of): both forms of docs/api.md normalise alike, and every broken rule names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatfn.chats.spec import ChatSpec, parse_chat_request
from chatfn.contract import MAX_EMAIL
from chatfn.errors import InvalidRequest
from chatfn.problems import MAX_LISTED_ERRORS, invalid_request
from tests.cases import EQUIVALENT_REQUESTS, INVALID_REQUESTS

GUID_A = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
GUID_B = "5ec2fe35-8ac6-4f0d-904a-7ebcd364bea2"


def _errors(body: Any) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(body)
    return {error.field: error.message for error in caught.value.errors}


@pytest.mark.parametrize(
    ("name", "body", "field", "words"), INVALID_REQUESTS, ids=[c[0] for c in INVALID_REQUESTS]
)
def test_invalid_request_names_its_field(name: str, body: Any, field: str, words: str) -> None:
    errors = _errors(body)
    assert field in errors, errors
    assert words.lower() in errors[field].lower(), errors


def test_there_are_at_least_forty_invalid_cases() -> None:
    assert len(INVALID_REQUESTS) >= 40
    assert len({name for name, *_ in INVALID_REQUESTS}) == len(INVALID_REQUESTS)


def test_every_broken_rule_is_reported_at_once() -> None:
    errors = _errors(
        {"chatType": "oneOnOne", "topic": "x", "emails": "a@contoso.com;b@contoso.com;c@contoso.com"}
    )
    assert set(errors) == {"topic", "chatType"}


def test_separated_string_and_list_are_the_same_request() -> None:
    from_string = parse_chat_request(
        {"emails": " alex@contoso.com ;jacob@contoso.com,", "guests": "ana@fabrikam.com"}
    )
    from_lists = parse_chat_request(
        {"emails": ["alex@contoso.com", "jacob@contoso.com"], "guests": ["ana@fabrikam.com"]}
    )
    assert from_string == from_lists
    assert [(m.email, m.guest, m.field) for m in from_string.members] == [
        ("alex@contoso.com", False, "emails[0]"),
        ("jacob@contoso.com", False, "emails[1]"),
        ("ana@fabrikam.com", True, "guests[0]"),
    ]


@pytest.mark.parametrize(
    ("body", "chat_type"),
    [
        ({"emails": "a@contoso.com;b@contoso.com"}, "oneOnOne"),
        ({"emails": "a@contoso.com;b@contoso.com", "topic": "Incident"}, "group"),
        ({"emails": "a@contoso.com;b@contoso.com;c@contoso.com"}, "group"),
        ({"emails": "a@contoso.com;b@contoso.com", "chatType": "group"}, "group"),
        ({"emails": "a@contoso.com", "guests": "g@fabrikam.com"}, "oneOnOne"),
    ],
)
def test_chat_type_defaults_to_one_on_one_for_two_members_without_topic(
    body: dict[str, Any], chat_type: str
) -> None:
    assert parse_chat_request(body).chatType == chat_type


def test_250_members_are_allowed() -> None:
    spec = parse_chat_request({"emails": [f"user{i}@contoso.com" for i in range(250)]})
    assert len(spec.members) == 250


def test_a_federated_member_keeps_its_tenant() -> None:
    spec = parse_chat_request(EQUIVALENT_REQUESTS[7])
    assert spec.members[1].tenantId == "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
    assert not spec.members[1].guest


def test_fingerprint_ignores_form_order_and_case() -> None:
    flat = parse_chat_request({"emails": "Alex@Contoso.com;jacob@contoso.com", "topic": "T"})
    members = parse_chat_request(
        {"topic": "T", "members": [{"email": "jacob@contoso.com"}, {"email": "alex@contoso.com"}]}
    )
    assert flat.fingerprint() == members.fingerprint()


def test_fingerprint_ignores_app_id_case_and_permission_order() -> None:
    app = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
    permissions = [
        {"value": "ChatMessage.Read.Chat"},
        {"value": "ChatSettings.Read.Chat", "type": "delegated"},
    ]
    one = {
        "emails": "alex@contoso.com;jacob@contoso.com",
        "apps": [{"teamsAppId": app, "permissions": permissions}],
    }
    other = one | {"apps": [{"teamsAppId": app.upper(), "permissions": permissions[::-1]}]}
    assert parse_chat_request(one).fingerprint() == parse_chat_request(other).fingerprint()
    fewer = one | {"apps": [{"teamsAppId": app, "permissions": permissions[:1]}]}
    assert parse_chat_request(one).fingerprint() != parse_chat_request(fewer).fingerprint()


@pytest.mark.parametrize(
    "other",
    [
        {"emails": "alex@contoso.com;jacob@contoso.com", "topic": "T", "reuseExisting": True},
        {"emails": "alex@contoso.com;jacob@contoso.com", "topic": "U"},
        {"emails": "alex@contoso.com;jacob@contoso.com"},
        {"emails": "alex@contoso.com", "guests": "jacob@contoso.com", "topic": "T"},
        {"emails": "alex@contoso.com;jacob@contoso.com;lynne@contoso.com", "topic": "T"},
        {
            "emails": "alex@contoso.com;jacob@contoso.com",
            "topic": "T",
            "apps": [{"teamsAppId": "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"}],
        },
    ],
)
def test_fingerprint_differs_when_the_chat_differs(other: dict[str, Any]) -> None:
    base = parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "T"})
    assert base.fingerprint() != parse_chat_request(other).fingerprint()


def test_spec_round_trips_through_json() -> None:
    """The orchestrator carries the spec as JSON: it must come back equal."""
    spec = parse_chat_request(EQUIVALENT_REQUESTS[4])
    assert ChatSpec.model_validate_json(spec.model_dump_json()) == spec


# --- invisible characters, tenants by email, the raw body ---------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"emails": ["alex\x00@contoso.com", "jacob@contoso.com"]}, "emails[0]"),
        ({"emails": "alex@contoso.com;jacob@contoso.com\x1f"}, "emails[1]"),
        (
            {"members": [{"email": "al\u202eex@contoso.com"}, {"email": "jacob@contoso.com"}]},
            "members[0].email",
        ),
        ({"emails": ["alex@contoso.com\u200b", "jacob@contoso.com"]}, "emails[0]"),
        ({"emails": ["alex@contoso.com", "ja\x85cob@contoso.com"]}, "emails[1]"),  # C1
        ({"emails": ["alex@contoso.com", "ja\x7fcob@contoso.com"]}, "emails[1]"),  # DEL
        ({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "Incident\u202e 4711"}, "topic"),
        ({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "Incident\x00"}, "topic"),
        ({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "\u200b\u200b"}, "topic"),
        ({"emails": "alex@contoso.com;jacob@contoso.com", "topic": "\u3164\u2800"}, "topic"),
        (
            {"members": [{"userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5\u200b"}, {"email": "a@b.com"}]},
            "members[0].userId",
        ),
    ],
)
def test_invisible_characters_are_refused_naming_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(payload)
    assert field in [error.field for error in caught.value.errors]
    shown = json.dumps(invalid_request(caught.value.errors).body(), ensure_ascii=False)
    for hidden in ("\x00", "\x1f", "\u202e", "\u200b", "\x85", "\x7f", "\u3164"):
        assert hidden not in shown, "never echoed raw"


def test_a_bidi_override_is_named_by_its_escape() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request({"emails": ["al\u202eex@contoso.com", "jacob@contoso.com"]})
    assert "\\u202e" in caught.value.errors[0].message


def test_email_with_tenant_id_asks_for_the_user_id() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request(
            {
                "members": [
                    {"email": "alex@contoso.com"},
                    {"email": "bo@partner.com", "tenantId": "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"},
                ]
            }
        )
    [error] = caught.value.errors
    assert error.field == "members[1].email"
    assert "userId" in error.message


def test_the_errors_of_a_400_are_capped_with_a_count() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request({"emails": ["not an address"] * 200})
    body = invalid_request(caught.value.errors).body()
    assert len(body["errors"]) == MAX_LISTED_ERRORS
    assert body["errors"][-1]["message"].startswith(
        f"{len(caught.value.errors) - MAX_LISTED_ERRORS + 1} more"
    )


def test_a_padded_address_in_the_list_form_is_trimmed() -> None:
    spec = parse_chat_request({"emails": [" alex@contoso.com  ", "jacob@contoso.com"]})
    assert [m.email for m in spec.members] == ["alex@contoso.com", "jacob@contoso.com"]


def test_an_email_is_at_most_254_characters() -> None:
    longest = "a" * 242 + "@contoso.com"
    assert len(longest) == MAX_EMAIL == 254
    assert parse_chat_request({"emails": [longest, "jacob@contoso.com"]}).members[0].email == longest
    assert "emails[0]" in _errors({"emails": ["a" + longest, "jacob@contoso.com"]})


def test_a_spec_comes_back_from_plain_json_data() -> None:
    """Durable history hands the orchestrator dicts and lists, not the tuples the spec was made with."""
    spec = parse_chat_request(EQUIVALENT_REQUESTS[4])
    assert ChatSpec.model_validate(json.loads(spec.model_dump_json())) == spec


def test_at_most_five_hidden_characters_are_named() -> None:
    topic = "T" + "".join(chr(c) for c in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06))
    message = _errors({"emails": "alex@contoso.com;jacob@contoso.com", "topic": topic})["topic"]
    assert "\\u0005" in message
    assert "\\u0006" not in message


def test_line_breaks_and_unicode_spaces_around_addresses_are_layout() -> None:
    spec = parse_chat_request({"emails": "alex@contoso.com\r\n;\u3000;\u3000jacob@contoso.com\u00a0"})
    assert [m.email for m in spec.members] == ["alex@contoso.com", "jacob@contoso.com"]


def test_an_app_takes_up_to_fifty_permissions() -> None:
    def body(count: int) -> dict[str, Any]:
        permissions = [{"value": f"Permission{i}"} for i in range(count)]
        app = {"teamsAppId": "8e55a7b1-6766-4f0a-8610-ecacfe3d569a", "permissions": permissions}
        return {"emails": "alex@contoso.com;jacob@contoso.com", "apps": [app]}

    spec = parse_chat_request(body(50))
    assert spec.app is not None
    assert len(spec.app.permissions) == 50
    assert "apps[0].permissions" in _errors(body(51))


def test_a_spec_made_without_reuse_does_not_reuse() -> None:
    spec = parse_chat_request({"emails": "alex@contoso.com;jacob@contoso.com"})
    assert ChatSpec(chatType="group", topic="T", members=spec.members).reuseExisting is False


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"emails": "alex@contoso.com;jacob@contoso.com"}, {"emails": "alex@contoso.com;lynne@contoso.com"}),
        (
            {"members": [{"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"}, {"email": "a@contoso.com"}]},
            {"members": [{"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"}, {"email": "a@contoso.com"}]},
        ),
        (
            {
                "members": [
                    {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f", "tenantId": GUID_A},
                    {"email": "a@contoso.com"},
                ]
            },
            {
                "members": [
                    {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f", "tenantId": GUID_B},
                    {"email": "a@contoso.com"},
                ]
            },
        ),
    ],
    ids=["email", "userId", "tenantId"],
)
def test_fingerprint_differs_for_another_member_of_the_same_count(
    one: dict[str, Any], other: dict[str, Any]
) -> None:
    assert parse_chat_request(one).fingerprint() != parse_chat_request(other).fingerprint()


def test_an_explicit_one_on_one_of_two_members_is_valid() -> None:
    body = {"chatType": "oneOnOne", "emails": "alex@contoso.com;jacob@contoso.com"}
    assert parse_chat_request(body).chatType == "oneOnOne"


def test_pydantics_other_messages_are_lower_cased_whole() -> None:
    errors = _errors({"emails": "alex@contoso.com;jacob@contoso.com", "topic": ""})
    assert errors["topic"] == "string should have at least 1 character"
