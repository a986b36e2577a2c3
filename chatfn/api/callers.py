"""Who is calling: the scope idempotency keys live in, and whether the caller may create chats.

With function keys (`CHATFN_CALLER_AUTH=key`) callers cannot be told apart: they share one scope. With
Microsoft Entra ID (`entra`), App Service authentication has validated the caller's token and passes
its claims in `X-MS-CLIENT-PRINCIPAL` (base64 JSON). Those headers are trusted only in that mode: in key
mode anyone could send them, so they are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from chatfn.contract import CLIENT_PRINCIPAL_HEADER, CREATE_ROLE
from chatfn.problems import CALLER_REFUSED, SIGN_IN_REQUIRED, ProblemType
from chatfn.settings import CallerAuth

KEY_CALLERS_SCOPE = "function-key"
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")


class _Claim(BaseModel):
    typ: str
    val: str


class _ClientPrincipal(BaseModel):
    """What App Service authentication puts in X-MS-CLIENT-PRINCIPAL."""

    claims: list[_Claim] = []
    role_typ: str = "roles"


@dataclass(frozen=True)
class Caller:
    scope: str  # one caller's idempotency keys never meet another's


class CallerRefused(Exception):
    """The caller may not create chats: no principal (`sign-in-required`, 401) or no app role
    (`caller-refused`, 403)."""

    def __init__(self, problem_type: ProblemType, detail: str) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail

    @property
    def status(self) -> int:
        return self.problem_type.status


def caller_of(headers: Mapping[str, str], caller_auth: CallerAuth) -> Caller:
    """The caller of a request; `CallerRefused` when Entra ID mode finds no principal or no role."""
    if caller_auth == "key":
        return Caller(KEY_CALLERS_SCOPE)
    principal = _principal(headers.get(CLIENT_PRINCIPAL_HEADER))
    if principal is None:
        raise CallerRefused(
            SIGN_IN_REQUIRED, "Sign in with Microsoft Entra ID: send a bearer token for this API."
        )
    object_id = next((c.val for c in principal.claims if c.typ in _OBJECT_ID_CLAIMS), None)
    if object_id is None:
        raise CallerRefused(SIGN_IN_REQUIRED, "The token names no caller (no object id claim).")
    roles = {c.val for c in principal.claims if c.typ in (principal.role_typ, "roles")}
    if CREATE_ROLE not in roles:
        raise CallerRefused(
            CALLER_REFUSED, f"The caller needs the app role {CREATE_ROLE}; an administrator assigns it."
        )
    return Caller(f"entra:{object_id.lower()}")


def _principal(header: str | None) -> _ClientPrincipal | None:
    if not header:
        return None
    try:
        return _ClientPrincipal.model_validate(json.loads(base64.b64decode(header, validate=True)))
    except (binascii.Error, ValueError, ValidationError):
        return None
