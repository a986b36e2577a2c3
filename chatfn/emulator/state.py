"""Everything the emulator remembers, in memory behind one lock so concurrent requests stay consistent."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chatfn.emulator.directory import Directory, TeamsApp, User, default_users
from chatfn.emulator.messages import Request, iso_micros, utc_now
from chatfn.emulator.throttle import Throttle

DEFAULT_ROLES = ("Chat.Create", "Chat.ReadBasic.All", "User.Read.All")
# Managed identity tokens last about 24 h and keep the roles they were issued with; a role change
# reaches an app only with a new token. https://learn.microsoft.com/en-us/entra/identity/
# managed-identities-azure-resources/managed-identity-best-practice-recommendations
DEFAULT_TOKEN_LIFETIME_SECONDS = 86399

_random = random.SystemRandom()


@dataclass
class Member:
    membership_id: str
    user: User
    roles: list[str]


@dataclass
class InstalledApp:
    installation_id: str
    teams_app: TeamsApp
    consented_permission_set: dict[str, Any] | None

    @property
    def teams_app_id(self) -> str:
        return self.teams_app.id


@dataclass
class Chat:
    id: str
    chat_type: str
    topic: str | None
    created: datetime
    last_updated: datetime
    members: list[Member]
    listed_from: float  # time.monotonic() from which lists show the chat (Graph's lists lag behind)
    installed_apps: list[InstalledApp] = field(default_factory=list)


OPERATION_STATUSES = ("invalid", "notStarted", "inProgress", "succeeded", "failed")


@dataclass(frozen=True)
class OperationsConfig:
    """How the next async operations progress through `statuses`: one step per read, or spread over
    `complete_after_seconds` when that is set; the last status is where an operation stays."""

    statuses: tuple[str, ...] = ("inProgress", "inProgress", "succeeded")
    complete_after_seconds: float | None = None
    retry_after: float | None = None


@dataclass
class Operation:
    id: str
    chat_id: str
    app: InstalledApp  # installed in the chat when the operation succeeds
    config: OperationsConfig
    created: datetime
    last_action: datetime
    started: float = field(default_factory=time.monotonic)
    status: str = "notStarted"
    reads: int = 0
    finished: bool = False  # reached its last status: later reads change nothing


@dataclass
class FaultRule:
    method: str | None = None
    path: str = ""
    status: int | None = None
    retry_after: float | str | None = None
    # Send `retry_after` seconds as an HTTP date of this form (faults.HTTP_DATE_FORMS), not as a number.
    retry_after_date: str | None = None
    count: int | None = None  # None: fires forever
    probability: float = 1.0
    delay: float = 0.0
    drop: bool = False
    after: bool = False  # carry the request out first, then fail it
    code: str | None = None
    message: str | None = None
    body: str | None = None  # raw text answered instead of an error JSON


@dataclass(frozen=True)
class IdentityConfig:
    """The managed identity as Azure holds it: its app roles, the user-assigned identities the app
    has (the system-assigned one is always there), and how long new tokens last."""

    roles: tuple[str, ...] = DEFAULT_ROLES
    client_ids: tuple[str, ...] = ()
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS


@dataclass(frozen=True)
class Token:
    """An issued token; like a real one it carries the roles held when it was issued."""

    resource: str
    expires_on: int  # epoch seconds
    roles: tuple[str, ...]
    client_id: str
    revoked: bool = False


class State:
    """The emulator's memory. Callers hold `lock` around any read-modify-write of the fields."""

    def __init__(self, identity_header: str) -> None:
        self.lock = threading.RLock()
        self.identity_header = identity_header
        self.tokens: dict[str, Token] = {}  # survives reset: a client's cached token stays valid
        self.reset()

    def reset(self) -> None:
        """Back to the defaults; issued tokens stay valid (revoked ones too become valid again), so a
        client that caches its token, as azure-identity does, works across tests."""
        with self.lock:
            self.tokens = {token: replace(issued, revoked=False) for token, issued in self.tokens.items()}
            self.directory = Directory(default_users())
            self.chats: dict[str, Chat] = {}
            self.operations: dict[str, Operation] = {}
            self.faults: list[FaultRule] = []
            self.identity = IdentityConfig()
            self.operations_config = OperationsConfig()
            self.throttle: Throttle | None = None
            self.list_delay_seconds = 0.0
            self.requests: list[dict[str, Any]] = []
            self.connections = 0
            self.token_requests = 0
            self.graph_requests = 0

    def count_connection(self) -> None:
        with self.lock:
            self.connections += 1

    def take_fault(self, request: Request) -> FaultRule | None:
        """The first rule that matches and wins its draw; its count goes down as it fires."""
        with self.lock:
            for rule in self.faults:
                if rule.count == 0 or not request.path.startswith(rule.path):
                    continue
                if rule.method is not None and rule.method.upper() != request.method:
                    continue
                if _random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                return rule
        return None

    def log_request(self, request: Request, batch_request_id: str | None = None) -> dict[str, Any]:
        """Append the request to the log at arrival (so the log is oldest first); status comes later.

        A request inside a `$batch` is logged as a Graph call of its own, after the batch, marked with
        its id in the batch (`batchRequestId`); only requests that came over the wire count in stats.
        """
        try:
            body = request.json_body() if request.body else None
        except ValueError:
            body = None
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "body": body,
            "status": None,
            "time": iso_micros(utc_now()),
        }
        if batch_request_id is not None:
            entry["batchRequestId"] = batch_request_id
        with self.lock:
            self.requests.append(entry)
            if batch_request_id is None and request.path == "/msi/token":
                self.token_requests += 1
            elif batch_request_id is None and (request.path == "/v1.0" or request.path.startswith("/v1.0/")):
                self.graph_requests += 1
        return entry

    def issue_token(self, token: str, issued: Token) -> None:
        with self.lock:
            self.tokens[token] = issued

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens = {token: replace(issued, revoked=True) for token, issued in self.tokens.items()}

    def token_of(self, request: Request) -> Token | None:
        """The issued token a request's `Authorization: Bearer` header carries, if any."""
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self.lock:
            return self.tokens.get(token.strip())

    def settle_request(self, entry: dict[str, Any], status: int | None) -> None:
        with self.lock:
            entry["status"] = status
