"""The App Service managed identity endpoint that azure-identity's ManagedIdentityCredential calls.

Protocol (api-version 2019-08-01): GET with header X-IDENTITY-HEADER and query `resource` (and
`client_id` for a user-assigned identity); the answer's `expires_on` is epoch seconds as a string.
Tokens are opaque random strings; Graph checks them against what is remembered here.
"""

from __future__ import annotations

import hmac
import secrets
import time

from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.state import State

API_VERSION = "2019-08-01"
TOKEN_LIFETIME_SECONDS = 3600
# The client id the emulated system-assigned identity reports when no client_id is asked for.
SYSTEM_ASSIGNED_CLIENT_ID = "3b6f4c1e-9d2a-4e7b-8c5f-1a2b3c4d5e6f"


def _refusal(status: int, message: str) -> Response:
    """App Service's error shape: the credential reports statusCode and message."""
    return json_response(status, {"statusCode": status, "message": message})


def handle(state: State, request: Request) -> Response:
    if request.method != "GET":
        return _refusal(405, f"The method {request.method} is not allowed; use GET.")
    secret = request.header("X-IDENTITY-HEADER")
    if not secret:
        return _refusal(400, "The X-IDENTITY-HEADER header is required.")
    if not hmac.compare_digest(secret.encode(), state.identity_header.encode()):
        return _refusal(401, "The X-IDENTITY-HEADER header is not valid.")
    if request.query.get("api-version") != API_VERSION:
        return _refusal(400, f"The api-version query parameter must be {API_VERSION}.")
    resource = request.query.get("resource", "")
    if not resource:
        return _refusal(400, "The resource query parameter is required.")

    token = secrets.token_urlsafe(32)
    expires_on = int(time.time()) + TOKEN_LIFETIME_SECONDS
    state.issue_token(token, resource, expires_on)
    return json_response(
        200,
        {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": request.query.get("client_id") or SYSTEM_ASSIGNED_CLIENT_ID,
        },
    )
