"""App settings (docs/api.md, Settings): defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import pytest

from chatfn.settings import DEFAULT_GRAPH_BASE_URL, Settings, SettingsError


def test_defaults_are_the_contracts() -> None:
    settings = Settings.from_env({})
    assert settings.graph_base_url == DEFAULT_GRAPH_BASE_URL == "https://graph.microsoft.com/v1.0"
    assert settings.azure_client_id is None
    assert settings.credential == "managed_identity"
    assert (
        settings.sync_wait_seconds,
        settings.poll_interval_seconds,
        settings.operation_deadline_seconds,
    ) == (
        20.0,
        5.0,
        600.0,
    )


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "GRAPH_BASE_URL": "http://127.0.0.1:8765/v1.0/",
            "AZURE_CLIENT_ID": "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11",
            "CHATFN_CREDENTIAL": "default",
            "CHATFN_SYNC_WAIT_SECONDS": "2.5",
            "CHATFN_POLL_INTERVAL_SECONDS": "0.1",
            "CHATFN_OPERATION_DEADLINE_SECONDS": "30",
        }
    )
    assert settings.graph_base_url == "http://127.0.0.1:8765/v1.0"
    assert settings.azure_client_id == "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"
    assert settings.credential == "default"
    assert (
        settings.sync_wait_seconds,
        settings.poll_interval_seconds,
        settings.operation_deadline_seconds,
    ) == (
        2.5,
        0.1,
        30.0,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHATFN_SYNC_WAIT_SECONDS", "twenty"),
        ("CHATFN_POLL_INTERVAL_SECONDS", "-1"),
        ("CHATFN_OPERATION_DEADLINE_SECONDS", "1e9"),
        ("CHATFN_CREDENTIAL", "client_secret"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
