"""Everything the emulator remembers, in memory behind one lock so concurrent requests stay consistent."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chatfn.emulator.directory import Directory, User, default_users
from chatfn.emulator.messages import Request, iso_micros, utc_now

DEFAULT_ROLES = ("Chat.Create", "Chat.ReadBasic.All", "User.Read.All")

_random = random.SystemRandom()


@dataclass
class Member:
    membership_id: str
    user: User
    roles: list[str]


@dataclass
class InstalledApp:
    installation_id: str
    teams_app_id: str
    consented_permission_set: dict[str, Any] | None


@dataclass
class Chat:
    id: str
    chat_type: str
    topic: str | None
    created: datetime
    last_updated: datetime
    members: list[Member]
    installed_apps: list[InstalledApp] = field(default_factory=list)


@dataclass(frozen=True)
class OperationsConfig:
    """How the next async operations behave: `polls` reads answer inProgress, then `result`."""

    polls: int = 2
    result: str = "succeeded"
    retry_after: float | None = None


@dataclass
class Operation:
    id: str
    chat_id: str
    app: InstalledApp  # installed in the chat when the operation succeeds
    config: OperationsConfig
    created: datetime
    last_action: datetime
    status: str = "notStarted"
    reads: int = 0


@dataclass
class FaultRule:
    method: str | None = None
    path: str = ""
    status: int | None = None
    retry_after: float | str | None = None
    count: int | None = None  # None: fires forever
    probability: float = 1.0
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Token:
    resource: str
    expires_on: int  # epoch seconds


class State:
    """The emulator's memory. Callers hold `lock` around any read-modify-write of the fields."""

    def __init__(self, identity_header: str) -> None:
        self.lock = threading.RLock()
        self.identity_header = identity_header
        self.tokens: dict[str, Token] = {}  # survives reset: a client's cached token stays valid
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.directory = Directory(default_users())
            self.chats: dict[str, Chat] = {}
            self.operations: dict[str, Operation] = {}
            self.faults: list[FaultRule] = []
            self.roles: list[str] = list(DEFAULT_ROLES)
            self.operations_config = OperationsConfig()
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

    def log_request(self, request: Request) -> dict[str, Any]:
        """Append the request to the log at arrival (so the log is oldest first); status comes later."""
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
        with self.lock:
            self.requests.append(entry)
            if request.path == "/msi/token":
                self.token_requests += 1
            elif request.path == "/v1.0" or request.path.startswith("/v1.0/"):
                self.graph_requests += 1
        return entry

    def issue_token(self, token: str, resource: str, expires_on: int) -> None:
        with self.lock:
            self.tokens[token] = Token(resource, expires_on)

    def settle_request(self, entry: dict[str, Any], status: int | None) -> None:
        with self.lock:
            entry["status"] = status
