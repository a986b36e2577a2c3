"""The app settings of CONTRACT §2, read from the environment once per worker and typed."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

CredentialKind = Literal["managed_identity", "default"]


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        credential = env.get("CHATFN_CREDENTIAL", "managed_identity")
        if credential not in ("managed_identity", "default"):
            raise SettingsError("CHATFN_CREDENTIAL must be 'managed_identity' or 'default'")
        return cls(
            graph_base_url=env.get("GRAPH_BASE_URL", DEFAULT_GRAPH_BASE_URL).rstrip("/"),
            azure_client_id=env.get("AZURE_CLIENT_ID") or None,
            credential=credential,  # type: ignore[arg-type]  # checked just above
            sync_wait_seconds=_seconds(env, "CHATFN_SYNC_WAIT_SECONDS", 20.0),
            poll_interval_seconds=_seconds(env, "CHATFN_POLL_INTERVAL_SECONDS", 5.0),
            operation_deadline_seconds=_seconds(env, "CHATFN_OPERATION_DEADLINE_SECONDS", 600.0),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value < 86_400:
        raise SettingsError(f"{name} must be between 0 and 86400 seconds")
    return value


@functools.cache
def get_settings() -> Settings:
    """The worker's settings: the environment is read on first use, then never again."""
    return Settings.from_env()
