"""The emulated tenant's directory: users known by (tenant, object id), and the Teams app catalog.

The default data is fixed so that the seven reference examples of docs/graph.md succeed and tests
elsewhere can name these users and apps.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

HOME_TENANT = "5f2c7a4e-1b3d-4c8e-9a6f-0d1e2f3a4b5c"
PARTNER_TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"


@dataclass(frozen=True)
class TeamsApp:
    """An app of the tenant's Teams catalog: what Graph shows of it (`teamsApp`) and of its published
    version (`teamsAppDefinition`)."""

    id: str  # the catalog's id, which teamsApp@odata.bind names
    external_id: str  # the id in the app's manifest
    display_name: str
    distribution_method: str  # "store", "organization" or "sideloaded"
    version: str


# The reference examples' two apps; names, manifest ids and versions are the emulator's own.
CATALOG = (
    TeamsApp(
        "05F59CEC-A742-4A50-A62E-202A57E478A4",
        "6c3a1b7e-2f1d-4c55-9a0e-8d4f2b1c7e90",
        "Contoso Tasks",
        "organization",
        "1.4.0",
    ),
    TeamsApp(
        "8e55a7b1-6766-4f0a-8610-ecacfe3d569a",
        "b2e8f0d4-5a6c-4e1b-8f3d-0c9a7e6d5b4a",
        "Incident Desk",
        "store",
        "2.0.1",
    ),
)
TEAMS_APPS = tuple(app.id for app in CATALOG)


def display_name_for(upn: str, mail: str | None) -> str:
    """A readable name from the mail's (or UPN's) local part, for users added without one."""
    local = (mail or upn).split("@", 1)[0].split("#", 1)[0]
    return " ".join(word.capitalize() for word in re.split(r"[._\-]+", local) if word) or upn


@dataclass(frozen=True)
class User:
    id: str
    user_principal_name: str
    mail: str | None
    user_type: str  # "Member" or "Guest"
    tenant_id: str
    display_name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id.lower(), self.id.lower())

    def address(self, prop: str) -> str | None:
        """The user's `mail` or `userPrincipalName`, by its Graph property name."""
        return self.mail if prop == "mail" else self.user_principal_name

    @property
    def is_guest(self) -> bool:
        return self.user_type == "Guest"

    def control_json(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "mail": self.mail,
            "userType": self.user_type,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
        }


def _user(user_id: str, upn: str, mail: str | None, user_type: str, tenant: str = HOME_TENANT) -> User:
    return User(user_id, upn, mail, user_type, tenant, display_name_for(upn, mail))


def _generated_id(upn: str) -> str:
    """A fixed object id per UPN, so tests and runs agree on it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chatfn-emulator:{upn}"))


# Home-tenant members whose mail is not their sign-in name, as in real tenants (renamed domains,
# `onmicrosoft.com` UPNs): `users('sam@contoso.com')` is a 404 for them, only a lookup by mail works.
SAM = _user(
    "5a3f9c2e-8d41-4b7a-9e06-2c1d7f8b4a90",
    "sam.k@contoso.onmicrosoft.com",
    "sam@contoso.com",
    "Member",
)
NUMBERED_MEMBERS = tuple(
    _user(
        _generated_id(f"m{n:02d}.k@contoso.onmicrosoft.com"),
        f"m{n:02d}.k@contoso.onmicrosoft.com",
        f"member{n:02d}@contoso.com",
        "Member",
    )
    for n in range(1, 46)
)


def default_users() -> list[User]:
    return [
        _user("8b081ef6-4792-4def-b2c9-c363a1bf41d5", "adele@contoso.com", "adele@contoso.com", "Member"),
        _user("82af01c5-f7cc-4a2e-a728-3a5df21afd9d", "megan@contoso.com", "megan@contoso.com", "Member"),
        _user("8c0a1a67-50ce-4114-bb6c-da9c5dbcf6ca", "jacob@contoso.com", "jacob@contoso.com", "Member"),
        _user("82fe7758-5bb3-4f0d-a43f-e555fd399c6f", "alex@contoso.com", "alex@contoso.com", "Member"),
        _user("3626a173-f2bc-4883-bcf7-01514c3bfb82", "lynne@contoso.com", "lynne@contoso.com", "Member"),
        _user("4b822dfc-2864-44e6-aa1e-7e0e8552168f", "diego@contoso.com", "diego@contoso.com", "Member"),
        _user("6d1e1501-7a3d-45b7-b71b-68d372e5ce14", "isaiah@contoso.com", "isaiah@contoso.com", "Member"),
        # The reference page's example 6 guest id is not a GUID; kept as written so its body is accepted.
        _user(
            "8ba98gf6-7fc2-4eb2-c7f2-aef9f21fd98g",
            "guest_example.com#EXT#@contoso.onmicrosoft.com",
            "guest@example.com",
            "Guest",
        ),
        _user(
            "8ba98af6-7fc2-4eb2-c7f2-aef9f21fd98a",
            "ana_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "ana@fabrikam.com",
            "Guest",
        ),
        # Same object id as megan, in another tenant: users are known by tenant and id together.
        _user(
            "82af01c5-f7cc-4a2e-a728-3a5df21afd9d",
            "bo@partner.com",
            "bo@partner.com",
            "Member",
            PARTNER_TENANT,
        ),
        SAM,
        *NUMBERED_MEMBERS,
    ]


class Directory:
    """Users by (tenant, id); lookups by id or UPN, case-insensitive as Entra compares them."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users: dict[tuple[str, str], User] = {}
        for user in users:
            self.put(user)

    def put(self, user: User) -> None:
        """Add or replace a user; a UPN already held by another user of the tenant is refused."""
        clash = self.find(user.tenant_id, user.user_principal_name)
        if clash is not None and clash.key != user.key:
            raise ValueError(
                f"userPrincipalName '{user.user_principal_name}' already belongs to user '{clash.id}'"
            )
        self._users[user.key] = user

    def all(self) -> list[User]:
        return list(self._users.values())

    def find(self, tenant_id: str, key: str) -> User | None:
        """The user of the tenant whose object id or UPN is `key`."""
        tenant, wanted = tenant_id.lower(), key.lower()
        by_id = self._users.get((tenant, wanted))
        if by_id is not None:
            return by_id
        for user in self._users.values():
            if user.tenant_id.lower() == tenant and user.user_principal_name.lower() == wanted:
                return user
        return None

    def matching(self, tenant_id: str, prop: str, values: Iterable[str]) -> list[User]:
        """Users of the tenant whose `mail` or `userPrincipalName` (prop) is one of the values,
        compared case-insensitively as Entra compares addresses; in the directory's order."""
        tenant, wanted = tenant_id.lower(), {value.lower() for value in values}
        return [
            user
            for user in self._users.values()
            if user.tenant_id.lower() == tenant and (user.address(prop) or "").lower() in wanted
        ]


def catalog_app(app_id: str) -> TeamsApp | None:
    """The catalog's app of that id, compared case-insensitively, or None when there is none."""
    return next((app for app in CATALOG if app.id.lower() == app_id.lower()), None)
