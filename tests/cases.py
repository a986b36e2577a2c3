"""Requests shared by several test modules: the reference examples as chatfn requests, and bad ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Graph's reference requests and answers for POST /chats (docs/graph.md): golden data.
SEED_EXAMPLES = Path(__file__).parent / "data" / "seed-examples.json"

# Example 6's guest id on the reference page is not a GUID; the emulator's directory holds this one.
EXAMPLE_6_GUEST_ID = "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a"
EXAMPLE_6_GUEST_MAIL = "ana@fabrikam.com"


def seed_examples() -> dict[int, dict[str, Any]]:
    examples = json.loads(SEED_EXAMPLES.read_text())
    return {example["example"]: example for example in examples}


def reference_body(number: int) -> dict[str, Any]:
    """The reference request body, with example 6's slip mended (see docs/graph.md)."""
    body: dict[str, Any] = seed_examples()[number]["request"]
    if number == 6:
        text = json.dumps(body).replace("8ba98gf6-7fc2-4eb2-c7f2-aef9f21fd98g", EXAMPLE_6_GUEST_ID)
        body = json.loads(text)
    return body


# The simplified chatfn request equivalent to each reference example.
EQUIVALENT_REQUESTS: dict[int, dict[str, Any]] = {
    1: {
        "members": [
            {"userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5"},
            {"userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"},
        ]
    },
    2: {
        "topic": "Group chat title",
        "members": [
            {"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"},
            {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"},
            {"userId": "3626a173-f2bc-4883-bcf7-01514c3bfb82"},
        ],
    },
    3: {
        "chatType": "oneOnOne",
        "members": [
            {"userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5"},
            {"userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d"},
        ],
        "apps": [{"teamsAppId": "05F59CEC-A742-4A50-A62E-202A57E478A4"}],
    },
    4: {
        "members": [
            {"userId": "4b822dfc-2864-44e6-aa1e-7e0e8552168f"},
            {"userId": "6d1e1501-7a3d-45b7-b71b-68d372e5ce14"},
        ],
        "apps": [
            {
                "teamsAppId": "8e55a7b1-6766-4f0a-8610-ecacfe3d569a",
                "permissions": [
                    {"value": "ChatMessage.Read.Chat", "type": "application"},
                    {"value": "OnlineMeeting.ReadBasic.Chat"},
                ],
            }
        ],
    },
    5: {"emails": "jacob@contoso.com;alex@contoso.com"},
    6: {
        "topic": "Group chat title",
        "members": [
            {"userId": "8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca"},
            {"userId": "82fe7758-5bb3-4f0d-a43f-e555fd399c6f"},
            {"email": EXAMPLE_6_GUEST_MAIL, "guest": True},
        ],
    },
    7: {
        "members": [
            {"userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5"},
            {
                "userId": "82af01c5-f7cc-4a2e-a728-3a5df21afd9d",
                "tenantId": "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1",
            },
        ]
    },
}

_A = {"email": "alex@contoso.com"}
_B = {"email": "jacob@contoso.com"}
_GUID = "8b081ef6-4792-4def-b2c9-c363a1bf41d5"
_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"
_APP = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
_TWO = "alex@contoso.com;jacob@contoso.com"

# (name, body, field, words the message must contain). Each is a 400 that must reach no Graph call.
INVALID_REQUESTS: list[tuple[str, Any, str, str]] = [
    ("not an object", ["alex@contoso.com"], "body", "JSON object"),
    ("a string body", "alex@contoso.com", "body", "JSON object"),
    ("no members at all", {"topic": "x"}, "members", "members"),
    ("empty object", {}, "members", "members"),
    ("both forms", {"members": [_A, _B], "emails": "x@contoso.com;y@contoso.com"}, "members", "not both"),
    ("both forms, guests", {"members": [_A, _B], "guests": ["g@fabrikam.com"]}, "members", "not both"),
    ("unknown top-level field", {"members": [_A, _B], "topics": "x"}, "topics", "did you mean 'topic'"),
    (
        "misspelt guest",
        {"members": [_A, {"email": "g@f.com", "gust": True}]},
        "members[1].gust",
        "did you mean 'guest'",
    ),
    ("unknown member field", {"members": [_A, {"mail": "g@f.com"}]}, "members[1].mail", "unknown field"),
    (
        "unknown app field",
        {"members": [_A, _B], "apps": [{"teamsAppId": _APP, "scope": "x"}]},
        "apps[0].scope",
        "unknown field",
    ),
    (
        "unknown permission field",
        {"members": [_A, _B], "apps": [{"teamsAppId": _APP, "permissions": [{"value": "A.B", "kind": "x"}]}]},
        "apps[0].permissions[0].kind",
        "unknown field",
    ),
    ("one member", {"members": [_A]}, "members", "at least 2"),
    ("no member", {"members": []}, "members", "at least 2"),
    ("one email", {"emails": "alex@contoso.com"}, "emails", "at least 2"),
    ("one email and separators", {"emails": ";alex@contoso.com;,"}, "emails", "at least 2"),
    ("251 members", {"emails": [f"user{i}@contoso.com" for i in range(251)]}, "emails", "at most 250"),
    (
        "member with neither",
        {"members": [_A, {"guest": True}]},
        "members[1]",
        "exactly one of email or userId",
    ),
    (
        "member with both",
        {"members": [_A, {"email": "b@contoso.com", "userId": _GUID}]},
        "members[1]",
        "exactly one of email or userId",
    ),
    (
        "guest of another tenant",
        {"members": [_A, {"email": "b@p.com", "guest": True, "tenantId": _TENANT}]},
        "members[1].guest",
        "owner",
    ),
    (
        "userId not a GUID",
        {"members": [_A, {"userId": "8ba98gf6-7fc2-4eb2-c7f2-aef9f21fd98g"}]},
        "members[1].userId",
        "GUID",
    ),
    (
        "tenantId not a GUID",
        {"members": [_A, {"email": "b@p.com", "tenantId": "partner.com"}]},
        "members[1].tenantId",
        "GUID",
    ),
    ("email without domain", {"members": [_A, {"email": "jacob"}]}, "members[1].email", "email address"),
    ("email without dot", {"members": [_A, {"email": "jacob@contoso"}]}, "members[1].email", "email address"),
    (
        "email with space",
        {"emails": ["alex@contoso.com", "ja cob@contoso.com"]},
        "emails[1]",
        "email address",
    ),
    (
        "two addresses in one entry",
        {"emails": ["alex@contoso.com", "a@x.com b@x.com"]},
        "emails[1]",
        "email address",
    ),
    ("email not a string", {"members": [_A, {"email": 42}]}, "members[1].email", "string"),
    (
        "guest not a boolean",
        {"members": [_A, {"email": "g@f.com", "guest": "yes"}]},
        "members[1].guest",
        "true or false",
    ),
    ("emails a number", {"emails": 5}, "emails", "list of email addresses"),
    ("guests an object", {"emails": "alex@contoso.com", "guests": {"a": 1}}, "guests", "list of email"),
    (
        "bad guest email",
        {"emails": "alex@contoso.com", "guests": "ana(at)fabrikam.com"},
        "guests[0]",
        "email address",
    ),
    (
        "duplicate emails, other case",
        {"emails": "alex@contoso.com;ALEX@contoso.com"},
        "emails[1]",
        "same member as emails[0]",
    ),
    (
        "duplicate across emails and guests",
        {"emails": "alex@contoso.com;jacob@contoso.com", "guests": "Alex@Contoso.com"},
        "guests[0]",
        "same member",
    ),
    (
        "duplicate userIds",
        {"members": [{"userId": _GUID}, {"userId": _GUID.upper()}]},
        "members[1]",
        "same member",
    ),
    ("members not a list", {"members": {"email": "alex@contoso.com"}}, "members", "list"),
    ("member not an object", {"members": [_A, "jacob@contoso.com"]}, "members[1]", "JSON object"),
    ("topic empty", {"emails": "alex@contoso.com;jacob@contoso.com", "topic": ""}, "topic", "at least 1"),
    ("topic blank", {"emails": "alex@contoso.com;jacob@contoso.com", "topic": "   "}, "topic", "blank"),
    (
        "topic too long",
        {"emails": "alex@contoso.com;jacob@contoso.com", "topic": "x" * 251},
        "topic",
        "at most 250",
    ),
    ("topic a number", {"emails": "alex@contoso.com;jacob@contoso.com", "topic": 7}, "topic", "string"),
    # Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt) renders as nothing: a topic of
    # only such characters is as blank as an empty one, whatever their category.
    ("topic of grapheme joiners", {"emails": _TWO, "topic": "\u034f\u034f"}, "topic", "invisible"),
    ("topic of Khmer inherent vowels", {"emails": _TWO, "topic": "\u17b4 \u17b5"}, "topic", "invisible"),
    ("topic of variation selectors", {"emails": _TWO, "topic": "\ufe0f\U000e0100"}, "topic", "invisible"),
    ("topic of Hangul fillers", {"emails": _TWO, "topic": "\u115f\u1160\uffa0"}, "topic", "invisible"),
    ("topic of a blank Braille pattern", {"emails": _TWO, "topic": "\u2800 \u2800"}, "topic", "invisible"),
    ("topic with a line separator", {"emails": _TWO, "topic": "Incident\u20284711"}, "topic", "one line"),
    ("topic with a paragraph separator", {"emails": _TWO, "topic": "Incident\u2029"}, "topic", "one line"),
    ("topic with a noncharacter", {"emails": _TWO, "topic": "Incident \ufdd0"}, "topic", "noncharacter"),
    ("topic ending a plane", {"emails": _TWO, "topic": "Incident \U0010ffff"}, "topic", "noncharacter"),
    (
        "email with a noncharacter",
        {"emails": ["alex\ufffe@contoso.com", "jacob@contoso.com"]},
        "emails[0]",
        "noncharacter",
    ),
    # A field the caller made up is named by its key, escaped as messages escape text.
    ("unknown field with a bidi override", {"emails": _TWO, "to\u202epic": "x"}, "to\\u202epic", "unknown"),
    (
        "unknown field with a terminal escape",
        {"members": [_A, {"email": "g@f.com", "\x1b[2Jguest": True}]},
        "members[1].\\u001b[2Jguest",
        "unknown field",
    ),
    ("oneOnOne with topic", {"chatType": "oneOnOne", "topic": "x", "members": [_A, _B]}, "topic", "no topic"),
    (
        "oneOnOne with three",
        {"chatType": "oneOnOne", "emails": "a@contoso.com;b@contoso.com;c@contoso.com"},
        "chatType",
        "exactly 2",
    ),
    ("unknown chatType", {"chatType": "meeting", "members": [_A, _B]}, "chatType", "oneOnOne"),
    (
        "two apps",
        {"members": [_A, _B], "apps": [{"teamsAppId": _APP}, {"teamsAppId": _APP}]},
        "apps",
        "at most 1",
    ),
    ("app without id", {"members": [_A, _B], "apps": [{}]}, "apps[0].teamsAppId", "required"),
    (
        "app id not a GUID",
        {"members": [_A, _B], "apps": [{"teamsAppId": "my-app"}]},
        "apps[0].teamsAppId",
        "GUID",
    ),
    (
        "permission type unknown",
        {
            "members": [_A, _B],
            "apps": [{"teamsAppId": _APP, "permissions": [{"value": "A.B", "type": "user"}]}],
        },
        "apps[0].permissions[0].type",
        "application",
    ),
    (
        "permission value with space",
        {"members": [_A, _B], "apps": [{"teamsAppId": _APP, "permissions": [{"value": "Chat Read"}]}]},
        "apps[0].permissions[0].value",
        "pattern",
    ),
    ("apps not a list", {"members": [_A, _B], "apps": {"teamsAppId": _APP}}, "apps", "list"),
]
