"""The rules of the wire, defined once: header names, media types, patterns and limits of the API
(docs/api.md). The app, the command-line client and the OpenAPI generator all read them from here.

Patterns are for whole strings: use them with `re.fullmatch` (a `$` would let a trailing newline in).
"""

from __future__ import annotations

import re

# --- headers ----------------------------------------------------------------------------------
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
PREFER_HEADER = "Prefer"
LOCATION_HEADER = "Location"
RETRY_AFTER_HEADER = "Retry-After"
CACHE_CONTROL_HEADER = "Cache-Control"
FUNCTION_KEY_HEADER = "x-functions-key"
# What App Service authentication adds once it has validated a caller's Entra ID token.
CLIENT_PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"

# --- media types -------------------------------------------------------------------------------
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"

# --- limits ------------------------------------------------------------------------------------
MAX_BODY_BYTES = 64 * 1024
# POST /api/chat-batches: the defaults of CHATFN_BATCH_MAX_ITEMS and CHATFN_BATCH_MAX_BYTES.
BATCH_MAX_ITEMS = 1000
BATCH_MAX_BYTES = 4 * 1024 * 1024
MIN_MEMBERS = 2
MAX_MEMBERS = 250
MAX_TOPIC = 250
MAX_EMAIL = 254
MAX_APPS = 1
# Power Automate gives up on a synchronous answer after 120 s: never hold a caller near that.
MAX_PREFER_WAIT = 60.0
# The app role a caller needs when callers sign in with Entra ID.
CREATE_ROLE = "Chats.Create"

# --- patterns (whole strings) ------------------------------------------------------------------
GUID_PATTERN = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
IDEMPOTENCY_KEY_PATTERN = r"[\x21-\x7e]{1,200}"  # 1 to 200 visible ASCII characters
REQUEST_ID_PATTERN = r"[0-9a-f]{32}"  # 128 random bits, as hex; batch ids too

GUID = re.compile(GUID_PATTERN)
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)

# --- routes ------------------------------------------------------------------------------------
API_PREFIX = "/api"
CHATS_ROUTE = "chats"
REQUEST_ROUTE = "chats/requests/{requestId}"
BATCHES_ROUTE = "chat-batches"
BATCH_ROUTE = "chat-batches/{batchId}"


def status_path(request_id: str) -> str:
    """The path of a request's status URL, under the public origin."""
    return f"{API_PREFIX}/{REQUEST_ROUTE.format(requestId=request_id)}"


def batch_path(batch_id: str) -> str:
    """The path of a batch's status URL, under the public origin."""
    return f"{API_PREFIX}/{BATCH_ROUTE.format(batchId=batch_id)}"
