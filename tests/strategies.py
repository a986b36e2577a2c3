"""Hypothesis strategies for `POST /api/chats` bodies (docs/api.md).

A chat is drawn first as what it asks for (`AskedChat`: members, topic, type, app), from users the
Graph emulator knows: its default directory and users a test adds through `POST /_emulator/users`.
`rendered` then writes that chat as a request body in any of the equivalent ways a caller may: the
`members` form or the flat `emails`/`guests` form, lists or `;`/`,`-separated strings, odd whitespace
and letter case, chatType spelt out or implied, defaults spelt out or left out. `invalid_requests`
breaks one rule of a rendered body and says which field the refusal must name.
"""

from __future__ import annotations

import copy
import re
import string
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.internal.charmap import CategoriesTuple

from chatfn.chats.request import AppPermission, ChatRequest, Member, TeamsApp
from chatfn.chats.text import escaped, is_default_ignorable, is_noncharacter
from chatfn.contract import MAX_MEMBERS, MAX_TOPIC
from chatfn.emulator.directory import HOME_TENANT, NUMBERED_MEMBERS, PARTNER_TENANT, TEAMS_APPS, default_users

Kind = Literal["member", "guest", "federated"]
ChatType = Literal["oneOnOne", "group"]

GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# Whitespace that is not a control character: padding a caller may leave around a valid address.
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and unicodedata.category(c) != "Cc")
# What the model refuses in any text: control and format characters, and letters that show nothing.
HIDDEN_CATEGORIES: CategoriesTuple = ("Cc", "Cf", "Cs")
BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"
# Default-ignorable, yet no format character: a grapheme joiner, Khmer inherent vowels, variation selectors.
INVISIBLE_LETTERS = BLANK_LETTERS + "\u034f\u17b4\u17b5\ufe0f\U000e0100"

# --- the directory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryUser:
    """A user the emulator knows. A request gives home-tenant users by email (chatfn looks the mail up)
    or by id; users of another tenant only by id."""

    id: str
    mail: str
    kind: Kind
    tenant: str = HOME_TENANT
    upn: str | None = None
    added: bool = False  # not in the default directory: the test adds it through /_emulator/users

    @property
    def role(self) -> str:
        return "guest" if self.kind == "guest" else "owner"

    def control_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "userPrincipalName": self.upn or self.mail,
            "mail": self.mail,
            "userType": "Guest" if self.kind == "guest" else "Member",
            "tenantId": self.tenant,
        }


def _default_directory() -> tuple[DirectoryUser, ...]:
    users = []
    # member01..member45 are there for bulk tests; drawn from, they would crowd out the rarer kinds.
    numbered = {user.id for user in NUMBERED_MEMBERS}
    for user in default_users():
        if user.id in numbered:
            continue
        assert user.mail is not None
        if user.tenant_id != HOME_TENANT:
            kind: Kind = "federated"
        else:
            kind = "guest" if user.is_guest else "member"
        users.append(DirectoryUser(user.id, user.mail, kind, user.tenant_id, user.user_principal_name))
    return tuple(users)


DEFAULT_DIRECTORY = _default_directory()
_TAKEN = {(address or "").lower() for u in default_users() for address in (u.mail, u.user_principal_name)}

# --- emails --------------------------------------------------------------------------------------

# What a local part may hold per chatfn's email rule, including what URLs and OData must escape.
_LOCAL = string.ascii_letters + string.digits + ".'_-+&#%!$*=?^`{|}~/" + "éøüñåçжλ中"
_local = st.text(alphabet=_LOCAL, min_size=1, max_size=16)
# O'Brien-like addresses: a `'` in every one of these, so OData escaping is exercised often.
_quoted_local = st.builds(lambda a, b: f"{a}'{b}", st.text(alphabet=_LOCAL, max_size=8), _local)
_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_tld = st.from_regex(r"[a-z]{2,6}", fullmatch=True)


def emails() -> st.SearchStrategy[str]:
    return st.builds(
        lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
        st.one_of(_local, _quoted_local),
        st.lists(_label, min_size=1, max_size=2),
        _tld,
    )


def guids() -> st.SearchStrategy[str]:
    return st.uuids().map(str)


@st.composite
def added_users(draw: st.DrawFn) -> tuple[DirectoryUser, ...]:
    """Up to four users for the test to add to the emulator, with mails no one else has."""
    count = draw(st.integers(0, 4))
    mails = draw(
        st.lists(
            emails().filter(lambda mail: mail.lower() not in _TAKEN),
            min_size=count,
            max_size=count,
            unique_by=str.lower,
        )
    )
    ids = draw(st.lists(guids(), min_size=count, max_size=count, unique=True))  # no id in the defaults
    users = []
    for mail, user_id in zip(mails, ids, strict=True):
        kind: Kind = draw(st.sampled_from(["member", "guest", "federated"]))
        if kind == "guest":
            users.append(
                DirectoryUser(
                    user_id, mail, kind, upn=f"guest-{user_id}#EXT#@contoso.onmicrosoft.com", added=True
                )
            )
        elif kind == "federated":
            tenant = draw(st.one_of(st.just(PARTNER_TENANT), guids().filter(lambda t: t != HOME_TENANT)))
            users.append(DirectoryUser(user_id, mail, kind, tenant, added=True))
        else:
            users.append(DirectoryUser(user_id, mail, kind, added=True))
    return tuple(users)


# --- what a chat asks for ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """One member as the request names it: by email or by userId, guest or not, of which tenant."""

    key: str
    by: Literal["email", "userId"]
    guest: bool = False
    tenant: str | None = None
    user: DirectoryUser | None = None  # the directory user it names, when it names one

    def identity(self) -> tuple[str, str, bool, str]:
        return (self.by, self.key.lower(), self.guest, (self.tenant or "").lower())


@dataclass(frozen=True)
class App:
    id: str
    permissions: tuple[tuple[str, str], ...] = ()  # (value, type)


@dataclass(frozen=True)
class AskedChat:
    members: tuple[Ref, ...]
    topic: str | None
    chat_type: ChatType
    app: App | None

    @property
    def implied_type(self) -> ChatType:
        return "oneOnOne" if len(self.members) == 2 and self.topic is None else "group"

    @property
    def flat(self) -> bool:
        """Expressible in the emails/guests form: every member an email of the home tenant."""
        return all(ref.by == "email" and ref.tenant is None for ref in self.members)

    def identity(self) -> tuple[Any, ...]:
        """Equal for the same chat asked for; what the fingerprint must follow."""
        members = frozenset(ref.identity() for ref in self.members)
        app = None if self.app is None else (self.app.id.lower(), self.app.permissions)
        return (members, self.topic, self.chat_type, app)


def refer(user: DirectoryUser, by: Literal["email", "userId"]) -> Ref:
    key = user.mail if by == "email" else user.id
    return Ref(key, by, user.kind == "guest", user.tenant if user.kind == "federated" else None, user)


# Quotes of every kind, backslash and a tab: what a JSON or OData encoder might mishandle.
_QUOTES = "'\"\\`\u00b4\u2018\u2019\u201c\u201d\u00ab\u00bb aZ0"


def topics() -> st.SearchStrategy[str]:
    """Up to 250 characters of any Unicode (no lone surrogates), quotes and backslashes often."""
    # Zl and Zp are U+2028 and U+2029 alone, which break a topic's one line; noncharacters are no text.
    visible = st.characters(exclude_categories=(*HIDDEN_CATEGORIES, "Zl", "Zp")).filter(
        lambda c: not is_noncharacter(c)
    )
    return st.one_of(
        st.text(alphabet=visible, min_size=1, max_size=40),
        st.text(alphabet=st.sampled_from(_QUOTES), min_size=1, max_size=60),
        st.text(alphabet=visible, min_size=MAX_TOPIC - 10, max_size=MAX_TOPIC),
    ).filter(
        lambda topic: any(
            not c.isspace() and c not in BLANK_LETTERS and not is_default_ignorable(c) for c in topic
        )
    )


_permission_values = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,30}", fullmatch=True)


def apps() -> st.SearchStrategy[App]:
    """An app of the emulator's catalog, with up to three permissions."""
    permissions = st.tuples(_permission_values, st.sampled_from(["application", "delegated"]))
    return st.builds(App, st.sampled_from(TEAMS_APPS), st.lists(permissions, max_size=3).map(tuple))


@st.composite
def asked_chats(draw: st.DrawFn, pool: tuple[DirectoryUser, ...], max_members: int = 8) -> AskedChat:
    """A valid chat of 2 to `max_members` distinct users of `pool`; often one the flat form can ask for."""
    flat = draw(st.booleans())
    if flat:
        pool = tuple(user for user in pool if user.kind != "federated")
    chosen = draw(
        st.lists(st.sampled_from(pool), min_size=2, max_size=min(max_members, len(pool)), unique=True)
    )
    members = []
    for user in chosen:
        by_id_possible = not flat and GUID.fullmatch(user.id) is not None  # example 6's guest id is not one
        if user.kind == "federated":
            by: Literal["email", "userId"] = "userId"  # another tenant's addresses cannot be looked up
        else:
            by = draw(st.sampled_from(["email", "userId"])) if by_id_possible else "email"
        members.append(refer(user, by))
    topic = draw(st.none() | topics())
    two_without_topic = len(members) == 2 and topic is None
    chat_type: ChatType = draw(st.sampled_from(["oneOnOne", "group"])) if two_without_topic else "group"
    app = draw(st.none() | apps())
    return AskedChat(tuple(members), topic, chat_type, app)


# --- writing a chat as a request body ------------------------------------------------------------


def _flip(char: str) -> str:
    """The other case of a letter whose case round-trips (not sharp s, dotted I, long s, final sigma...)."""
    other = char.swapcase()
    if len(other) == 1 and other.swapcase() == char and other.lower() == char.lower():
        return other
    return char


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    mode = draw(st.sampled_from(["same", "upper", "mixed"]))
    if mode == "same":
        return text
    if mode == "upper":
        return "".join(_flip(c) if c.islower() else c for c in text)
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(_flip(c) if flip else c for c, flip in zip(text, flips, strict=True))


_padding = st.text(alphabet=WHITESPACE, max_size=3)


@st.composite
def padded(draw: st.DrawFn, text: str) -> str:
    return draw(_padding) + text + draw(_padding)


@st.composite
def address_list(draw: st.DrawFn, addresses: list[str]) -> list[str] | str:
    """A list, or one string separated by `;` or `,` with whitespace, empty entries and a trailing one."""
    if draw(st.booleans()):
        return addresses
    separator = st.builds(lambda a, s, b: a + s + b, _padding, st.sampled_from(";,"), _padding)
    text = draw(separator) if bool(addresses) and draw(st.booleans()) else ""
    for i, address in enumerate(addresses):
        if i:
            text += draw(separator) + (draw(separator) if draw(st.booleans()) else "")
        text += address
    if bool(addresses) and draw(st.booleans()):
        text += draw(separator)
    return text


@st.composite
def member_json(draw: st.DrawFn, ref: Ref) -> dict[str, Any]:
    member: dict[str, Any] = {}
    if ref.by == "email":
        member["email"] = draw(padded(draw(recased(ref.key))))
    else:
        member["userId"] = draw(recased(ref.key))
    if ref.guest:
        member["guest"] = True
    elif draw(st.booleans()):
        member["guest"] = False
    if ref.tenant is not None:
        member["tenantId"] = draw(recased(ref.tenant))
    return member


@st.composite
def app_json(draw: st.DrawFn, app: App) -> dict[str, Any]:
    body: dict[str, Any] = {"teamsAppId": draw(recased(app.id))}
    if bool(app.permissions) or draw(st.booleans()):
        body["permissions"] = [
            {"value": value}
            if kind == "application" and draw(st.booleans())
            else {"value": value, "type": kind}
            for value, kind in app.permissions
        ]
    return body


@st.composite
def rendered(draw: st.DrawFn, chat: AskedChat) -> dict[str, Any]:
    """One of the many request bodies that ask for `chat`."""
    body: dict[str, Any] = {}
    if chat.topic is not None:
        body["topic"] = chat.topic
    if chat.chat_type != chat.implied_type or draw(st.booleans()):
        body["chatType"] = chat.chat_type
    order = draw(st.permutations(chat.members))
    if chat.flat and draw(st.booleans()):
        for name, guest in (("emails", False), ("guests", True)):
            addresses = [draw(padded(draw(recased(ref.key)))) for ref in order if ref.guest == guest]
            if bool(addresses) or draw(st.booleans()):
                body[name] = draw(address_list(addresses))
    else:
        body["members"] = [draw(member_json(ref)) for ref in order]
    if chat.app is not None:
        body["apps"] = [draw(app_json(chat.app))]
    return dict(draw(st.permutations(list(body.items()))))


@dataclass(frozen=True)
class ValidCase:
    """A valid request, the users the emulator must hold for it, and the chat it asks for."""

    payload: dict[str, Any]
    chat: AskedChat
    added: tuple[DirectoryUser, ...]

    def expected_members(self) -> list[tuple[str, str, str]]:
        """(object id, role, tenant) of each member, as the emulator records them."""
        members = []
        for ref in self.chat.members:
            assert ref.user is not None
            members.append((ref.user.id, ref.user.role, ref.user.tenant))
        return sorted(members)

    def expected_apps(self) -> list[dict[str, Any]]:
        """The chat's installed apps, as the emulator records them once the operation succeeded."""
        app = self.chat.app
        if app is None:
            return []
        permissions = [{"permissionValue": value, "permissionType": kind} for value, kind in app.permissions]
        consented = {"resourceSpecificPermissions": permissions} if permissions else None
        return [{"teamsAppId": app.id, "consentedPermissionSet": consented}]


@st.composite
def valid_cases(draw: st.DrawFn) -> ValidCase:
    added = draw(added_users())
    chat = draw(asked_chats(DEFAULT_DIRECTORY + added))
    return ValidCase(draw(rendered(chat)), chat, added)


# --- a different chat --------------------------------------------------------------------------


@st.composite
def changed(draw: st.DrawFn, chat: AskedChat) -> AskedChat:
    """A valid chat that differs from `chat` in one thing a caller asked for."""
    taken = {ref.key.lower() for ref in chat.members}
    fresh = emails().filter(lambda mail: mail.lower() not in taken)
    changes = ["topic", "add", "replace", "app"]
    if len(chat.members) > 2:
        changes.append("remove")
    if any(ref.tenant is None for ref in chat.members):
        changes.append("guest")
    if any(not ref.guest and ref.by == "userId" for ref in chat.members):
        changes.append("tenant")  # another tenant's user is given by id only
    if chat.implied_type == "oneOnOne" or chat.chat_type == "oneOnOne":
        changes.append("chatType")
    change = draw(st.sampled_from(changes))
    members = list(chat.members)
    topic, chat_type, app = chat.topic, chat.chat_type, chat.app
    if change == "topic":
        other_topics = topics().filter(lambda t: t != chat.topic)
        topic = draw(st.none() | other_topics) if topic is not None else draw(other_topics)
    elif change == "add":
        members.insert(draw(st.integers(0, len(members))), Ref(draw(fresh), "email"))
    elif change == "replace":
        members[draw(st.integers(0, len(members) - 1))] = Ref(draw(fresh), "email")
    elif change == "remove":
        del members[draw(st.integers(0, len(members) - 1))]
    elif change == "guest":
        i = draw(st.sampled_from([i for i, ref in enumerate(members) if ref.tenant is None]))
        members[i] = replace(members[i], guest=not members[i].guest, user=None)
    elif change == "tenant":
        i = draw(
            st.sampled_from([i for i, ref in enumerate(members) if not ref.guest and ref.by == "userId"])
        )
        old = (members[i].tenant or "").lower()
        members[i] = replace(members[i], tenant=draw(guids().filter(lambda t: t != old)), user=None)
    elif change == "chatType":
        chat_type = "group" if chat_type == "oneOnOne" else "oneOnOne"
    elif app is None:
        app = draw(apps())
    else:
        app = draw(
            st.sampled_from(
                [
                    None,
                    replace(app, id=next(a for a in TEAMS_APPS if a.lower() != app.id.lower())),
                    replace(app, permissions=(*app.permissions, ("Extra.Permission", "application"))),
                    replace(app, permissions=tuple((v, "delegated") for v, _ in app.permissions))
                    if any(kind == "application" for _, kind in app.permissions)
                    else replace(app, permissions=app.permissions[1:])
                    if app.permissions
                    else None,
                ]
            )
        )
    other = AskedChat(tuple(members), topic, chat_type, app)
    if other.chat_type == "oneOnOne" and other.implied_type != "oneOnOne":
        other = replace(other, chat_type="group")  # still a valid chat, and still another one
    assert other.identity() != chat.identity(), change
    return other


# --- invalid requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidCase:
    """A request that breaks a rule; `field` is the field the refusal must name (None: any)."""

    payload: Any
    mutation: str
    field: str | None


_KNOWN = {
    "root": set(ChatRequest.model_fields),
    "member": set(Member.model_fields),
    "app": set(TeamsApp.model_fields),
    "permission": set(AppPermission.model_fields),
}

_SEPARATORS = re.compile(r"[;,]")


def split_addresses(value: str) -> list[str]:
    """How a `;`/`,`-separated string becomes entries: `emails[1]` is the second non-empty one."""
    return [part.strip() for part in _SEPARATORS.split(value) if part.strip()]


def _entries(payload: dict[str, Any]) -> dict[str, list[str]]:
    """The flat form's entries per field, as lists (strings split)."""
    entries = {}
    for name in ("emails", "guests"):
        value = payload.get(name)
        if value is not None:
            entries[name] = split_addresses(value) if isinstance(value, str) else list(value)
    return entries


def _bad_emails() -> st.SearchStrategy[str]:
    """Never an email address, never blank, never holding a separator (so a string keeps its entries)."""
    return st.one_of(
        st.sampled_from(
            [
                "jacob",
                "jacob@contoso",
                "a@@contoso.com",
                "@contoso.com",
                "alex@",
                "alex@contoso.",
                "al ex@contoso.com",
                "alex@con<toso.com",
                "a(b)@c.com",
                '"a"@c.com',
                "a@b@c.com",
                "x" * 250 + "@contoso.com",
            ]
        ),
        st.builds(lambda local, label: f"{local}@{label}", _local, _label),  # no dot in the domain
        _local.filter(lambda text: "@" not in text),
    )


def _bad_guids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "8ba98gf6-7fc2-4eb2-c7f2-aef9f21fd98g",
                "8b081ef64792-4def-b2c9-c363a1bf41d5",
                "8b081ef6-4792-4def-b2c9-c363a1bf41d",
                "{8b081ef6-4792-4def-b2c9-c363a1bf41d5}",
                "8b081ef647924defb2c9c363a1bf41d5",
                "8b081ef6-4792-4def-b2c9-c363a1bf41d5\n",
                " 8b081ef6-4792-4def-b2c9-c363a1bf41d5",
                "partner.com",
                "",
            ]
        ),
        st.text(max_size=40).filter(lambda text: GUID.fullmatch(text) is None),
    )


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _wrong(kind: str) -> st.SearchStrategy[Any]:
    """A JSON value of the wrong type for a field of this kind."""
    small = st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(), inner, max_size=2),
        max_leaves=3,
    )
    not_null = small.filter(lambda value: value is not None)
    return {
        "str": not_null.filter(lambda value: not isinstance(value, str)),
        "bool": small.filter(lambda value: not isinstance(value, bool)),
        "list": not_null.filter(lambda value: not isinstance(value, list)),
        "addresses": not_null.filter(lambda value: not isinstance(value, list | str)),
        "object": small.filter(lambda value: not isinstance(value, dict)),
        "list-item-str": small.filter(lambda value: not isinstance(value, str)),
        "required-str": small.filter(lambda value: not isinstance(value, str)),
        "required-list": small.filter(lambda value: not isinstance(value, list)),
    }[kind]


def _type_targets(payload: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    """(path as keys, field as the refusal names it, kind of value) for every field a type can break."""
    targets: list[tuple[tuple[Any, ...], str, str]] = [
        (("topic",), "topic", "str"),
        (("chatType",), "chatType", "str"),
        (("apps",), "apps", "list"),
    ]
    if "members" in payload:
        targets.append((("members",), "members", "list"))
        for i in range(len(payload["members"])):
            at = f"members[{i}]"
            targets.append((("members", i), at, "object"))
            targets.append((("members", i, "guest"), f"{at}.guest", "bool"))
            for name in ("email", "userId", "tenantId"):
                targets.append((("members", i, name), f"{at}.{name}", "str"))
    for name in ("emails", "guests"):
        targets.append(((name,), name, "addresses"))
        if isinstance(payload.get(name), list):
            for i in range(len(payload[name])):
                targets.append(((name, i), f"{name}[{i}]", "list-item-str"))
    for i, app in enumerate(payload.get("apps") or []):
        targets.append((("apps", i), f"apps[{i}]", "object"))
        targets.append((("apps", i, "teamsAppId"), f"apps[{i}].teamsAppId", "required-str"))
        targets.append((("apps", i, "permissions"), f"apps[{i}].permissions", "required-list"))
        for j in range(len(app.get("permissions", []))):
            at = f"apps[{i}].permissions[{j}]"
            targets.append((("apps", i, "permissions", j), at, "object"))
            targets.append((("apps", i, "permissions", j, "value"), f"{at}.value", "required-str"))
            targets.append((("apps", i, "permissions", j, "type"), f"{at}.type", "required-str"))
    return targets


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        payload = payload[key]
    payload[path[-1]] = value


def _dict_nodes(payload: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, str]]:
    """(path as keys, field prefix, level) of every object in a body."""
    nodes: list[tuple[tuple[Any, ...], str, str]] = [((), "", "root")]
    for i, _member in enumerate(payload.get("members") or []):
        nodes.append((("members", i), f"members[{i}]", "member"))
    for i, app in enumerate(payload.get("apps") or []):
        nodes.append((("apps", i), f"apps[{i}]", "app"))
        for j in range(len(app.get("permissions", []))):
            nodes.append((("apps", i, "permissions", j), f"apps[{i}].permissions[{j}]", "permission"))
    return nodes


def _get(payload: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        payload = payload[key]
    return payload


def _field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _later(order: list[str], first: str, second: str) -> str:
    return first if order.index(first) > order.index(second) else second


MEMBERS_FORM_MUTATIONS = ("bad guid", "guest with tenant")
MUTATIONS = (
    "unknown field",
    "bad email",
    "too few",
    "too many",
    "duplicate",
    "both forms",
    "oneOnOne with topic",
    "oneOnOne with three",
    "bad topic",
    "two apps",
    "wrong type",
    *MEMBERS_FORM_MUTATIONS,
)


@st.composite
def invalid_requests(draw: st.DrawFn, mutation: str) -> InvalidCase:
    """A valid request broken by `mutation` (one of MUTATIONS), with the field the refusal must name."""
    bases = valid_cases()
    if mutation in MEMBERS_FORM_MUTATIONS:
        bases = bases.filter(lambda case: "members" in case.payload)
    payload = copy.deepcopy(draw(bases).payload)
    members_form = "members" in payload
    field: str | None

    if mutation == "unknown field":
        path, prefix, level = draw(st.sampled_from(_dict_nodes(payload)))
        name = draw(st.text(max_size=12).filter(lambda n: n not in _KNOWN[level]))
        _get(payload, path)[name] = draw(json_values)
        field = _field(prefix, escaped(name))  # the caller's key, shown escaped

    elif mutation == "bad email":
        bad = draw(_bad_emails())
        if members_form:
            with_email = [i for i, m in enumerate(payload["members"]) if "email" in m]
            if not with_email:  # every member is named by id: name one by a bad email instead
                with_email = [0]
                payload["members"][0] = {"email": "x"}
            i = draw(st.sampled_from(with_email))
            payload["members"][i]["email"] = bad
            field = f"members[{i}].email"
        else:
            entries = _entries(payload)
            name = draw(st.sampled_from(sorted(name for name, values in entries.items() if values)))
            i = draw(st.integers(0, len(entries[name]) - 1))
            entries[name][i] = bad
            payload[name] = draw(address_list(entries[name]))
            field = f"{name}[{i}]"

    elif mutation == "bad guid":
        targets = [
            (("members", i, "userId"), f"members[{i}].userId")
            for i, m in enumerate(payload["members"])
            if "userId" in m
        ]
        targets += [
            (("members", i, "tenantId"), f"members[{i}].tenantId") for i, m in enumerate(payload["members"])
        ]
        if payload.get("apps"):
            targets.append((("apps", 0, "teamsAppId"), "apps[0].teamsAppId"))
        path, field = draw(st.sampled_from(targets))
        _set(payload, path, draw(_bad_guids()))

    elif mutation == "guest with tenant":
        i = draw(st.integers(0, len(payload["members"]) - 1))
        payload["members"][i].update(guest=True, tenantId=draw(guids()))
        field = f"members[{i}].guest"

    elif mutation == "too few":
        count = draw(st.integers(0, 1))
        if members_form:
            payload["members"] = payload["members"][:count]
            field = "members"
        else:
            kept = [a for values in _entries(payload).values() for a in values][:count]
            payload.pop("emails", None)
            payload.pop("guests", None)
            field = draw(st.sampled_from(["emails", "guests"]))
            payload[field] = draw(address_list(kept))

    elif mutation == "too many":
        count = draw(st.integers(MAX_MEMBERS + 1, MAX_MEMBERS + 5))
        addresses = [f"user{i}@contoso.com" for i in range(count)]
        if members_form:
            payload["members"] = [{"email": a} for a in addresses]
            field = "members"
        else:
            payload.pop("guests", None)
            payload["emails"] = draw(st.sampled_from([addresses, ";".join(addresses), " , ".join(addresses)]))
            field = "emails"

    elif mutation == "duplicate":
        if members_form:
            members = payload["members"]
            i = draw(st.integers(0, len(members) - 1))
            twin = dict(members[i])
            for name in ("email", "userId"):
                if name in twin:
                    twin[name] = draw(recased(twin[name].strip()))
            j = draw(st.integers(0, len(members)))
            members.insert(j, twin)
            original = i + 1 if j <= i else i
            field = f"members[{max(original, j)}]"
        else:
            entries = _entries(payload)
            name, k = draw(
                st.sampled_from([(n, m) for n, values in entries.items() for m in range(len(values))])
            )
            address_twin = draw(recased(entries[name][k]))
            target = draw(st.sampled_from(["emails", "guests"]))
            values = entries.setdefault(target, [])
            j = draw(st.integers(0, len(values)))
            values.insert(j, address_twin)
            if target == name and j <= k:
                k += 1
            for n in sorted({name, target}):
                payload[n] = draw(address_list(entries[n]))
            order = [f"{n}[{m}]" for n in ("emails", "guests") for m in range(len(entries.get(n, [])))]
            field = _later(order, f"{name}[{k}]", f"{target}[{j}]")

    elif mutation == "both forms":
        if members_form:
            payload[draw(st.sampled_from(["emails", "guests"]))] = "alex@contoso.com;jacob@contoso.com"
        else:
            payload["members"] = [{"email": "alex@contoso.com"}, {"email": "jacob@contoso.com"}]
        field = "members"

    elif mutation == "oneOnOne with topic":
        payload["chatType"] = "oneOnOne"
        payload["topic"] = draw(topics())
        field = "topic"

    elif mutation == "oneOnOne with three":
        payload["chatType"] = "oneOnOne"
        payload.pop("topic", None)
        count = len(payload["members"]) if members_form else sum(map(len, _entries(payload).values()))
        if count == 2:
            if members_form:
                payload["members"].append({"email": "third@example.org"})
            else:
                entries = _entries(payload)
                entries.setdefault("emails", []).append("third@example.org")
                payload["emails"] = draw(address_list(entries["emails"]))
        field = "chatType"

    elif mutation == "bad topic":
        payload["topic"] = draw(
            st.one_of(
                st.text(alphabet=WHITESPACE, max_size=5),
                st.text(alphabet=WHITESPACE + INVISIBLE_LETTERS, min_size=1, max_size=5),
                st.text(min_size=MAX_TOPIC + 1, max_size=MAX_TOPIC + 30),
            )
        )
        field = "topic"

    elif mutation == "two apps":
        payload["apps"] = [draw(app_json(draw(apps()))) for _ in range(draw(st.integers(2, 3)))]
        field = "apps"

    else:
        assert mutation == "wrong type", mutation
        path, field, kind = draw(st.sampled_from(_type_targets(payload)))
        _set(payload, path, draw(_wrong(kind)))

    return InvalidCase(payload, mutation, field)


# --- arbitrary bodies ------------------------------------------------------------------------------

_member_like = st.dictionaries(
    st.sampled_from(sorted(_KNOWN["member"])) | st.text(max_size=6), _scalars, max_size=4
)
_app_like = st.fixed_dictionaries(
    {},
    optional={
        "teamsAppId": st.sampled_from(TEAMS_APPS) | _scalars,
        "permissions": st.lists(
            st.dictionaries(
                st.sampled_from(["value", "type", "kind"]), _scalars | st.just("A.B"), max_size=3
            ),
            max_size=2,
        )
        | json_values,
    },
)
_address_like = st.one_of(
    st.text(alphabet="ab@.com;, \t'", max_size=30),
    st.lists(st.text(alphabet="ab@.com'", max_size=12) | _scalars, max_size=4),
    json_values,
)


def request_like_bodies() -> st.SearchStrategy[Any]:
    """Any JSON at all, and objects near a real request (its field names, wrong contents)."""
    near = st.fixed_dictionaries(
        {},
        optional={
            "topic": _scalars,
            "chatType": st.sampled_from(["oneOnOne", "group", "meeting"]) | _scalars,
            "members": st.lists(_member_like | _scalars, max_size=4) | _scalars,
            "emails": _address_like,
            "guests": _address_like,
            "apps": st.lists(_app_like | _scalars, max_size=2) | _scalars,
            "topics": _scalars,
            "": _scalars,
            ".": _scalars,
        },
    )
    return st.one_of(json_values, near)
