"""The async Microsoft Graph client: the calls chatfn makes, with tokens, retries and typed errors.

One `GraphClient` (one credential, one `httpx.AsyncClient`) serves a whole worker (`chatfn.services`).
Every call carries a `client-request-id`; 429, 503, 504 and dropped connections are retried as
`RetryPolicy` says; any other error answer raises the matching `GraphError` at once. A call that is not
safe to replay (`POST /chats` of a group chat) is retried only when Graph surely did not act on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

from chatfn import __version__, telemetry
from chatfn.errors import (
    GraphConnectionError,
    GraphError,
    GraphForbidden,
    GraphThrottled,
    GraphTransientError,
    GraphUnauthorized,
    graph_error_class,
)
from chatfn.graph.budget import DOCUMENTED_LIMITS, Budget, kind_of, seconds_left
from chatfn.graph.identity import identity_error
from chatfn.graph.models import (
    AcceptedOperation,
    AsyncOperation,
    Chat,
    ChatMemberInfo,
    ChatPage,
    CreatedChat,
    DirectoryUser,
    InstalledApps,
    MemberPage,
)
from chatfn.graph.retry import RetryPolicy, parse_retry_after
from chatfn.graph.verdict import SendVerdict, verdict_of

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Graph's list limits for a user's chats: `$top` at most 50; `$expand=members` returns at most 25
# members per chat (a known issue), so larger chats need their members read on their own.
MAX_PAGE = 50
MAX_EXPANDED_MEMBERS = 25
USER_AGENT = f"chatfn/{__version__}"
# Graph's `in` takes at most 15 values per `$filter` clause by default
# (https://learn.microsoft.com/graph/filter-query-parameter).
MAX_ADDRESSES_PER_LOOKUP = 15
USER_SELECT = "id,mail,userPrincipalName,userType"
# Claims asked with a token make azure-identity skip its cache (azure-identity 1.27,
# `_internal/managed_identity_client.py`, `get_cached_token`); the managed identity endpoint ignores
# them, so any non-empty claims will do.
_FRESH_TOKEN_CLAIMS = '{"access_token":{"nbf":{"essential":true,"value":"0"}}}'  # noqa: S105 - no secret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Call:
    """One logical call to Graph, the same on every attempt (the client-request-id included)."""

    method: str
    url: str
    path: str  # relative to the version root: `/users/{id}/chats` as called, ids and all
    json: Mapping[str, Any] | None
    params: Mapping[str, str] | None
    client_request_id: str
    before_send: Callable[[], Awaitable[None]] | None = None

    @property
    def operation(self) -> str:
        """What logs name the call by (`GET /users/{id}/chats`): a path holds object ids and chat ids."""
        return telemetry.graph_operation(self.method, self.path)


class GraphClient:
    """Microsoft Graph for chat creation. Create one per worker and share it; it is safe across tasks."""

    def __init__(
        self,
        *,
        base_url: str,
        credential: AsyncTokenCredential,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        client_id: str | None = None,
    ) -> None:
        """`budget` is the worker's (a client of its own gets the documented limits); `client_id` is the
        `AZURE_CLIENT_ID` the credential was made with: named when it fails."""
        self.base_url = base_url.rstrip("/")
        self._root_path = httpx.URL(self.base_url).path
        self._credential = credential
        self._client_id = client_id
        self._http = http
        self._retry = retry or RetryPolicy()
        self.budget = budget or Budget(DOCUMENTED_LIMITS, sleep=sleep)
        self._sleep = sleep
        # The credential caches its token but does not coalesce concurrent misses: without this, a
        # burst of first calls (a cold worker) would each ask the identity endpoint for a token.
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP client and the credential: for an owner that outlives neither (a worker never
        closes its client; a test or a benchmark does)."""
        await self._http.aclose()
        await self._credential.close()

    async def create_chat(
        self,
        body: Mapping[str, Any],
        *,
        replay_safe: bool = False,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> CreatedChat | AcceptedOperation:
        """`POST /chats`: the chat (201), or the operation to poll when Graph installs an app (202).

        `replay_safe` is true for a one-on-one chat (Graph returns the existing one); for a group chat,
        a failure whose outcome is unknown is raised, not retried: a second POST could make a second chat.
        `before_send` runs right before each attempt goes out, after its wait for the budget, and may
        raise to withdraw it (a lease that ran out, a batch cancelled meanwhile).
        """
        response = await self._send(
            "POST", f"{self.base_url}/chats", json=body, replay_safe=replay_safe, before_send=before_send
        )
        if response.status_code == 202:
            location = response.headers.get("Location")
            if not location:
                raise GraphError("Graph answered 202 without a Location", status=202)
            return AcceptedOperation(location=self._absolute(location))
        return CreatedChat.model_validate(response.json())

    async def get_operation(self, location: str) -> AsyncOperation:
        """Read a `teamsAsyncOperation` at the (absolute) URL that `create_chat` returned."""
        response = await self._send("GET", self._absolute(location))
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return AsyncOperation.model_validate({**response.json(), "retryAfter": retry_after})

    async def get_chat(self, chat_id: str) -> Chat:
        """`GET /chats/{id}?$expand=members`: the chat's link and who is in it."""
        url = f"{self.base_url}/chats/{quote(chat_id, safe='')}"
        response = await self._send("GET", url, params={"$expand": "members"})
        return Chat.model_validate(response.json())

    async def group_chats_of(self, user_id: str, with_member: str | None = None) -> AsyncIterator[Chat]:
        """`GET /users/{id}/chats`: the user's group chats (with `with_member` in them, when given),
        members expanded, page after page. Members past the 25 Graph expands are not in `members`."""
        clauses = ["chatType eq 'group'"]
        if with_member is not None:
            clauses.append(
                "members/any(o: o/microsoft.graph.aadUserConversationMember/userId eq "
                f"{odata_string(with_member)})"
            )
        url: str | None = f"{self.base_url}/users/{quote(user_id, safe='')}/chats"
        params: dict[str, str] | None = {
            "$filter": " and ".join(clauses),
            "$expand": "members",
            "$top": str(MAX_PAGE),
        }
        while url is not None:
            page = ChatPage.model_validate((await self._send("GET", url, params=params)).json())
            for chat in page.value:
                yield chat
            url, params = (self._absolute(page.nextLink), None) if page.nextLink else (None, None)

    async def members_of(self, chat_id: str) -> list[ChatMemberInfo]:
        """`GET /chats/{id}/members`: every member, for chats larger than an expansion shows."""
        members: list[ChatMemberInfo] = []
        url: str | None = f"{self.base_url}/chats/{quote(chat_id, safe='')}/members"
        while url is not None:
            page = MemberPage.model_validate((await self._send("GET", url)).json())
            members.extend(page.value)
            url = self._absolute(page.nextLink) if page.nextLink else None
        return members

    async def chat_has_app(self, chat_id: str, app_id: str) -> bool:
        """Whether the Teams app (its catalog id) is installed in the chat: `GET /chats/{id}/installedApps`
        filtered on `teamsApp/id`. Needs `TeamsAppInstallation.ReadForChat.All` (or a wider role)."""
        response = await self._send(
            "GET",
            f"{self.base_url}/chats/{quote(chat_id, safe='')}/installedApps",
            params={"$filter": f"teamsApp/id eq {odata_string(app_id)}"},
        )
        return bool(InstalledApps.model_validate(response.json()).value)

    async def find_users(self, addresses: Sequence[str]) -> list[DirectoryUser]:
        """The users whose `mail` or `userPrincipalName` is one of these addresses (at most 15, Graph's
        limit per `in`); Graph compares them case-insensitively. Needs `User.Read.All`."""
        if not 0 < len(addresses) <= MAX_ADDRESSES_PER_LOOKUP:
            raise ValueError(f"find_users takes 1 to {MAX_ADDRESSES_PER_LOOKUP} addresses")
        listed = ",".join(odata_string(address) for address in addresses)
        response = await self._send(
            "GET",
            f"{self.base_url}/users",
            params={
                "$filter": f"mail in ({listed}) or userPrincipalName in ({listed})",
                "$select": USER_SELECT,
            },
        )
        return [DirectoryUser.model_validate(user) for user in response.json().get("value", [])]

    def _absolute(self, location: str) -> str:
        """Graph's Location is relative to the version root; never send our token anywhere else."""
        url = f"{self.base_url}{location}" if location.startswith("/") else location
        if not url.startswith(f"{self.base_url}/"):
            raise GraphError(f"refusing to follow a Location outside {self.base_url}", status=None)
        return url

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        replay_safe: bool = True,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> httpx.Response:
        """One logical call: retried on what Graph calls transient, raised as a `GraphError` otherwise.
        A call that is not `replay_safe` is retried only when Graph surely did not act on it."""
        path = httpx.URL(url).path.removeprefix(self._root_path)
        call = _Call(method, url, path, json, params, str(uuid.uuid4()), before_send)
        waited = 0.0
        attempt = 0
        fresh_token = False
        while True:
            attempt += 1
            answer = await self._attempt(call, attempt, fresh_token)
            if isinstance(answer, httpx.Response):
                return answer
            if _token_refused(answer) and not fresh_token:
                # The cached token was revoked, or was issued before an administrator granted the
                # permission Graph now asks for (a token carries the roles held when it was issued,
                # docs/graph.md): one fresh token, one retry.
                fresh_token = True
                log.warning("graph %s: token refused, retrying with a fresh one", call.operation)
                continue
            delay = self._retry_delay(answer, attempt, waited, replay_safe)
            left = seconds_left()
            if delay is None or (left is not None and delay > left):
                raise answer  # a retry would hold the caller past its wait: the caller decides
            log.warning(
                "graph %s: %s, retrying in %.2fs (attempt %d)",
                call.operation,
                answer.status or "no answer",
                delay,
                attempt,
            )
            if not (isinstance(answer, GraphThrottled) and answer.retry_after is not None):
                await self._sleep(delay)  # a Retry-After paused the budget: the next attempt waits there
            waited += delay

    async def _attempt(self, call: _Call, attempt: int, fresh_token: bool) -> httpx.Response | GraphError:
        """One HTTP exchange, within the worker's budget: Graph's success answer, or the error it stands
        for (never raised here; `BudgetSpent` is, before anything is sent)."""
        kind = kind_of(call.method, call.path)
        telemetry.budget_waited(await self.budget.acquire(kind))
        if call.before_send is not None:
            await call.before_send()
        sent_at = self.budget.clock()
        headers = {
            "Authorization": f"Bearer {await self._token(_FRESH_TOKEN_CLAIMS if fresh_token else None)}",
            "client-request-id": call.client_request_id,
            "User-Agent": USER_AGENT,
        }
        started = time.perf_counter()
        with telemetry.graph_call(call.method, call.path, call.client_request_id) as graph_call:
            try:
                response = await self._http.request(
                    call.method, call.url, json=call.json, params=call.params, headers=headers
                )
            except httpx.TransportError as exc:
                return GraphConnectionError(
                    f"no answer from Graph: {type(exc).__name__}",
                    sent=not isinstance(exc, _NEVER_SENT),
                    attempts=attempt,
                )
            graph_call.answered(response)
        _log_call(call, response, attempt, started)
        if response.status_code < 400:
            self.budget.succeeded(kind)
            return response
        error = _error_from(response, attempt)
        if isinstance(error, GraphThrottled):
            self.budget.throttled(kind, error.retry_after, sent_at)
        return error

    def _retry_delay(self, error: GraphError, attempt: int, waited: float, replay_safe: bool) -> float | None:
        """Seconds to wait before trying again, or None when the error is to be raised."""
        if not isinstance(error, GraphTransientError):
            return None
        if not replay_safe and verdict_of(error) is not SendVerdict.NOT_CREATED:
            return None
        return self._retry.next_delay(attempt, waited, error.retry_after)

    async def _token(self, claims: str | None = None) -> str:
        """The cached token, or with `claims` a new one from the identity endpoint."""
        try:
            async with self._token_lock:
                token = await self._credential.get_token(GRAPH_SCOPE, claims=claims)
        except ClientAuthenticationError as exc:
            raise identity_error(exc, self._client_id) from None
        return token.token


# Transport failures before the request could leave: nothing reached Graph.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def odata_string(value: str) -> str:
    """An OData string literal for a `$filter`: quoted, with `'` doubled."""
    escaped = value.replace("'", "''")
    return f"'{escaped}'"


def _token_refused(error: GraphError) -> bool:
    """A 401 for the token, or a 403 for a role the token may predate."""
    if isinstance(error, GraphUnauthorized):
        return error.code == "InvalidAuthenticationToken"
    return isinstance(error, GraphForbidden)


def _error_from(response: httpx.Response, attempt: int) -> GraphError:
    """Graph's error JSON (`error.code`, `error.message`, `innerError.request-id`) as a typed error."""
    code, message = "", response.reason_phrase
    inner: dict[str, Any] = {}
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        code = str(error.get("code") or "")
        message = str(error.get("message") or message)
        inner = error.get("innerError") or error.get("innererror") or {}
    request_id = response.headers.get("request-id") or (inner.get("request-id") if inner else None)
    return graph_error_class(response.status_code)(
        message,
        status=response.status_code,
        code=code,
        request_id=request_id,
        attempts=attempt,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _log_call(call: _Call, response: httpx.Response, attempt: int, started: float) -> None:
    log.info(
        "graph %s -> %d in %.0f ms (attempt %d, request-id %s, client-request-id %s)",
        call.operation,
        response.status_code,
        (time.perf_counter() - started) * 1000,
        attempt,
        response.headers.get("request-id", "-"),
        call.client_request_id,
    )
