"""The App Service managed identity endpoint that azure-identity's ManagedIdentityCredential calls.

Protocol (api-version 2019-08-01): GET with header X-IDENTITY-HEADER and query `resource` (and
`client_id` for a user-assigned identity); the answer's `expires_on` is epoch seconds as a string, and
App Service sends neither `expires_in` nor `refresh_in` (MSAL derives them: msal/managed_identity.py,
`_obtain_token_on_app_service`, then refreshes after half the lifetime).
https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference
Tokens are opaque random strings; Graph checks them against what is remembered here.
"""

from __future__ import annotations

import hmac
import secrets
import time

from chatfn.emulator.messages import Request, Response, json_response
from chatfn.emulator.state import State, Token

PATH = "/msi/token"
API_VERSION = "2019-08-01"
# What App Service answers for a client_id the app has no identity for (seen in
# https://github.com/Azure-Samples/azure-search-openai-demo/issues/2148).
UNKNOWN_CLIENT_ID = (
    "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."
)
# The client id the emulated system-assigned identity reports when no client_id is asked for.
SYSTEM_ASSIGNED_CLIENT_ID = "3b6f4c1e-9d2a-4e7b-8c5f-1a2b3c4d5e6f"


def refusal(status: int, message: str) -> Response:
    """App Service's error shape: the credential reports statusCode and message."""
    return json_response(status, {"statusCode": status, "message": message})


def handle(state: State, request: Request) -> Response:
    if request.method != "GET":
        return refusal(405, f"The method {request.method} is not allowed; use GET.")
    secret = request.header("X-IDENTITY-HEADER")
    if not secret:
        return refusal(400, "The X-IDENTITY-HEADER header is required.")
    if not hmac.compare_digest(secret.encode(), state.identity_header.encode()):
        return refusal(401, "The X-IDENTITY-HEADER header is not valid.")
    if request.query.get("api-version") != API_VERSION:
        return refusal(400, f"The api-version query parameter must be {API_VERSION}.")
    resource = request.query.get("resource", "")
    if not resource:
        return refusal(400, "The resource query parameter is required.")

    client_id = request.query.get("client_id") or SYSTEM_ASSIGNED_CLIENT_ID
    config = state.identity
    if client_id != SYSTEM_ASSIGNED_CLIENT_ID and client_id.lower() not in (
        known.lower() for known in config.client_ids
    ):
        return refusal(400, UNKNOWN_CLIENT_ID)

    token = secrets.token_urlsafe(32)
    expires_on = int(time.time()) + config.token_lifetime_seconds
    state.issue_token(token, Token(resource, expires_on, config.roles, client_id))
    return json_response(
        200,
        {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        },
    )
