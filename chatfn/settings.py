"""The app settings of docs/api.md ("Settings"), read from the environment once per worker and typed.

Each default is written once, as the field's default; `from_env` falls back to it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from chatfn.contract import BATCH_MAX_BYTES, BATCH_MAX_ITEMS

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
MAX_SECONDS = 86_400.0

CredentialKind = Literal["managed_identity", "default"]
CallerAuth = Literal["key", "entra"]
# Where the app's OpenTelemetry goes (chatfn.telemetry): Application Insights, stdout, or nowhere.
TelemetryMode = Literal["azure-monitor", "console", "off"]
TELEMETRY_MODES: tuple[TelemetryMode, ...] = ("azure-monitor", "console", "off")

# Azure Tables: 3 to 63 letters and digits, starting with a letter.
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")


class SettingsError(ValueError):
    """An app setting has a value chatfn cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    azure_client_id: str | None = None
    credential: CredentialKind = "managed_identity"
    sync_wait_seconds: float = 20.0
    poll_interval_seconds: float = 5.0
    operation_deadline_seconds: float = 600.0
    # Exactly once rests on these two (docs/api.md, "Exactly one chat"): how long a POST /chats that got
    # no answer may still be carried out by Graph, and how late a new chat may appear in Graph's lists.
    send_lifetime_seconds: float = 120.0
    list_lag_seconds: float = 30.0
    # The worker's Graph budget, in calls a second (docs/graph.md, "One budget"): Microsoft documents 30
    # for Teams writes and reads, and 3,500 resource units per 10 s for a small tenant's directory.
    graph_write_rps: float = 30.0
    graph_read_rps: float = 30.0
    graph_directory_rps: float = 350.0
    # How long a request waits its turn while Graph throttles before it ends with 503 graph-throttled.
    throttle_patience_seconds: float = 3600.0
    # How long an address's object id is remembered (a miss: never more than a few seconds).
    directory_cache_seconds: float = 300.0
    # POST /api/chat-batches: the most items one batch holds, and its largest body.
    batch_max_items: int = BATCH_MAX_ITEMS
    batch_max_bytes: int = BATCH_MAX_BYTES
    # The origin callers reach the app at: Location, statusUrl and the API descriptions use it.
    public_origin: str | None = None
    caller_auth: CallerAuth = "key"
    idempotency_table: str = "chatfnrequests"
    idempotency_ttl_hours: float = 24.0
    history_retention_days: float = 7.0
    # The storage account, as the Functions host names it: a connection string, or identity-based.
    storage_connection_string: str | None = None
    table_service_uri: str | None = None
    storage_client_id: str | None = None
    telemetry: TelemetryMode = "off"
    # The Python worker set up the Azure Monitor distribution itself, before importing the app.
    worker_exports_telemetry: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        public_origin = _origin(env, "CHATFN_PUBLIC_ORIGIN") or _website_origin(env)
        return cls(
            graph_base_url=env.get("GRAPH_BASE_URL", defaults.graph_base_url).rstrip("/"),
            azure_client_id=env.get("AZURE_CLIENT_ID") or None,
            credential=_choice(
                env, "CHATFN_CREDENTIAL", defaults.credential, ("managed_identity", "default")
            ),
            sync_wait_seconds=_number(env, "CHATFN_SYNC_WAIT_SECONDS", defaults.sync_wait_seconds),
            poll_interval_seconds=_number(
                env, "CHATFN_POLL_INTERVAL_SECONDS", defaults.poll_interval_seconds
            ),
            operation_deadline_seconds=_number(
                env, "CHATFN_OPERATION_DEADLINE_SECONDS", defaults.operation_deadline_seconds
            ),
            send_lifetime_seconds=_number(
                env, "CHATFN_SEND_LIFETIME_SECONDS", defaults.send_lifetime_seconds, high=3600
            ),
            list_lag_seconds=_number(env, "CHATFN_LIST_LAG_SECONDS", defaults.list_lag_seconds, high=3600),
            graph_write_rps=_number(
                env, "CHATFN_GRAPH_WRITE_RPS", defaults.graph_write_rps, low=0.5, high=300
            ),
            graph_read_rps=_number(env, "CHATFN_GRAPH_READ_RPS", defaults.graph_read_rps, low=0.5, high=1500),
            graph_directory_rps=_number(
                env, "CHATFN_GRAPH_DIRECTORY_RPS", defaults.graph_directory_rps, low=0.5, high=10_000
            ),
            throttle_patience_seconds=_number(
                env, "CHATFN_THROTTLE_PATIENCE_SECONDS", defaults.throttle_patience_seconds
            ),
            directory_cache_seconds=_number(
                env, "CHATFN_DIRECTORY_CACHE_SECONDS", defaults.directory_cache_seconds, high=86_400
            ),
            batch_max_items=_whole(env, "CHATFN_BATCH_MAX_ITEMS", defaults.batch_max_items, 1, 10_000),
            batch_max_bytes=_whole(
                env, "CHATFN_BATCH_MAX_BYTES", defaults.batch_max_bytes, 1024, 64 * 1024 * 1024
            ),
            public_origin=public_origin,
            caller_auth=_choice(env, "CHATFN_CALLER_AUTH", defaults.caller_auth, ("key", "entra")),
            idempotency_table=_table_name(env, "CHATFN_IDEMPOTENCY_TABLE", defaults.idempotency_table),
            idempotency_ttl_hours=_number(
                env, "CHATFN_IDEMPOTENCY_TTL_HOURS", defaults.idempotency_ttl_hours, low=1 / 60, high=24 * 30
            ),
            history_retention_days=_number(
                env, "CHATFN_HISTORY_RETENTION_DAYS", defaults.history_retention_days, low=1 / 24, high=365
            ),
            storage_connection_string=env.get("AzureWebJobsStorage") or None,
            table_service_uri=env.get("AzureWebJobsStorage__tableServiceUri") or None,
            storage_client_id=env.get("AzureWebJobsStorage__clientId") or None,
            telemetry=_telemetry_mode(env),
            worker_exports_telemetry=_true_like(env.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")),
        )


def _choice(env: Mapping[str, str], name: str, default: Any, allowed: tuple[str, ...]) -> Any:
    value = env.get(name) or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, not {value!r}")
    return value


def _number(
    env: Mapping[str, str], name: str, default: float, *, low: float = 0.0, high: float = MAX_SECONDS
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:  # NaN fails both comparisons, so it is refused too
        raise SettingsError(f"{name} must be between {low:g} and {high:g}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high`, both included."""
    value = _number(env, name, float(default), low=low, high=high)
    if not value.is_integer():
        raise SettingsError(f"{name} must be a whole number")
    return int(value)


def _table_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if not _TABLE_NAME.fullmatch(value):
        raise SettingsError(f"{name} must be 3 to 63 letters and digits, starting with a letter")
    return value


def _origin(env: Mapping[str, str], name: str) -> str | None:
    """An origin (`https://host[:port]`), with nothing after it: no path, query, user or password."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SettingsError(f"{name} must be an origin such as https://chats.contoso.com, not {raw!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _telemetry_mode(env: Mapping[str, str]) -> TelemetryMode:
    """`CHATFN_TELEMETRY`, by default Azure Monitor wherever Application Insights is connected; Azure
    Monitor without a connection string would have nowhere to send."""
    connected = bool(env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"))
    default = "azure-monitor" if connected else "off"
    mode: TelemetryMode = _choice(env, "CHATFN_TELEMETRY", default, TELEMETRY_MODES)
    if mode == "azure-monitor" and not connected:
        raise SettingsError("CHATFN_TELEMETRY=azure-monitor needs APPLICATIONINSIGHTS_CONNECTION_STRING")
    return mode


def _true_like(value: str | None) -> bool:
    """True as the Functions Python worker reads its switches (`is_true_like`)."""
    return (value or "").strip().lower() in {"1", "true", "t", "yes", "y"}


def _website_origin(env: Mapping[str, str]) -> str | None:
    """In Azure, the platform's own host name (`WEBSITE_HOSTNAME`), over HTTPS."""
    host = (env.get("WEBSITE_HOSTNAME") or "").strip()
    return f"https://{host}" if host else None


@functools.cache
def get_settings() -> Settings:
    """The worker's settings: the environment is read on first use, then never again."""
    return Settings.from_env()
