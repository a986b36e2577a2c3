"""App settings (docs/api.md, Settings): defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from chatfn.settings import DEFAULT_GRAPH_BASE_URL, Settings, SettingsError, get_settings

ROOT = Path(__file__).resolve().parents[1]
_API_DOC = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SETTINGS_SECTION = _API_DOC[_API_DOC.index("\n## Settings\n") : _API_DOC.index("\n## Exactly one chat\n")]


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


def test_the_new_settings_default_as_documented() -> None:
    settings = Settings.from_env({})
    assert settings.public_origin is None
    assert settings.caller_auth == "key"
    assert settings.idempotency_table == "chatfnrequests"
    assert (settings.idempotency_ttl_hours, settings.history_retention_days) == (24.0, 7.0)
    assert (settings.storage_connection_string, settings.table_service_uri) == (None, None)


def test_every_default_is_the_fields_own() -> None:
    """Defaults are written once, on the dataclass: from_env of an empty environment equals them."""
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("value", ["0", "86400", "0.0"])
def test_seconds_accept_both_ends(value: str) -> None:
    assert Settings.from_env({"CHATFN_SYNC_WAIT_SECONDS": value}).sync_wait_seconds == float(value)


@pytest.mark.parametrize("value", ["-0.001", "86400.001", "nan", "inf"])
def test_seconds_refuse_past_either_end(value: str) -> None:
    with pytest.raises(SettingsError, match="CHATFN_SYNC_WAIT_SECONDS"):
        Settings.from_env({"CHATFN_SYNC_WAIT_SECONDS": value})


def test_the_public_origin_comes_from_the_setting_or_the_platform() -> None:
    assert Settings.from_env({"WEBSITE_HOSTNAME": "app.azurewebsites.net"}).public_origin == (
        "https://app.azurewebsites.net"
    )
    both = {"WEBSITE_HOSTNAME": "app.azurewebsites.net", "CHATFN_PUBLIC_ORIGIN": "https://chats.contoso.com/"}
    assert Settings.from_env(both).public_origin == "https://chats.contoso.com"


@pytest.mark.parametrize(
    "origin",
    [
        "chats.contoso.com",
        "ftp://chats.contoso.com",
        "https://user:pw@chats.contoso.com",
        "https://chats.contoso.com/api",
        "https://chats.contoso.com?x=1",
        "https://",
    ],
)
def test_a_public_origin_is_an_origin_and_nothing_more(origin: str) -> None:
    with pytest.raises(SettingsError, match="CHATFN_PUBLIC_ORIGIN"):
        Settings.from_env({"CHATFN_PUBLIC_ORIGIN": origin})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHATFN_CALLER_AUTH", "both"),
        ("CHATFN_IDEMPOTENCY_TABLE", "chat-requests"),
        ("CHATFN_IDEMPOTENCY_TABLE", "1table"),
        ("CHATFN_IDEMPOTENCY_TTL_HOURS", "0"),
        ("CHATFN_HISTORY_RETENTION_DAYS", "366"),
    ],
)
def test_a_bad_new_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_storage_connection_is_read_as_the_functions_host_names_it() -> None:
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net",
            "AzureWebJobsStorage__clientId": "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11",
            "CHATFN_CALLER_AUTH": "entra",
        }
    )
    assert settings.table_service_uri == "https://acct.table.core.windows.net"
    assert settings.storage_client_id == "0b5f6c3e-2f37-4b36-9d4c-6c7d0a0e9f11"
    assert settings.caller_auth == "entra"


@pytest.mark.parametrize(
    ("name", "field", "low", "high", "below", "above"),
    [
        # docs/api.md, Settings: a key is remembered from one minute to 30 days; history is kept from one
        # hour to a year; the seconds take 0 to 86400, but a send's lifetime and the lists' lag at most
        # an hour; the budgets take 0.5 calls a second up to their own ceilings.
        ("CHATFN_IDEMPOTENCY_TTL_HOURS", "idempotency_ttl_hours", 1 / 60, 720.0, "0.0166", "720.001"),
        ("CHATFN_HISTORY_RETENTION_DAYS", "history_retention_days", 1 / 24, 365.0, "0.0416", "365.001"),
        (
            "CHATFN_OPERATION_DEADLINE_SECONDS",
            "operation_deadline_seconds",
            0.0,
            86400.0,
            "-0.001",
            "86400.001",
        ),
        ("CHATFN_DIRECTORY_CACHE_SECONDS", "directory_cache_seconds", 0.0, 86400.0, "-0.001", "86400.001"),
        ("CHATFN_SEND_LIFETIME_SECONDS", "send_lifetime_seconds", 0.0, 3600.0, "-0.001", "3600.001"),
        ("CHATFN_LIST_LAG_SECONDS", "list_lag_seconds", 0.0, 3600.0, "-0.001", "3600.001"),
        ("CHATFN_GRAPH_WRITE_RPS", "graph_write_rps", 0.5, 300.0, "0.499", "300.001"),
        ("CHATFN_GRAPH_READ_RPS", "graph_read_rps", 0.5, 1500.0, "0.499", "1500.001"),
        ("CHATFN_GRAPH_DIRECTORY_RPS", "graph_directory_rps", 0.5, 10000.0, "0.499", "10000.001"),
        # The batch's limits are whole numbers: 1 to 10000 items, 1024 bytes to 64 MiB.
        ("CHATFN_BATCH_MAX_ITEMS", "batch_max_items", 1, 10000, "0", "10001"),
        ("CHATFN_BATCH_MAX_BYTES", "batch_max_bytes", 1024, 64 * 1024 * 1024, "1023", "67108865"),
    ],
)
def test_each_range_holds_its_ends_and_nothing_past_them(
    name: str, field: str, low: float, high: float, below: str, above: str
) -> None:
    for end in (low, high):
        assert getattr(Settings.from_env({name: repr(end)}), field) == end
    for past in (below, above):
        with pytest.raises(SettingsError, match=f"{name} must be between"):
            Settings.from_env({name: past})


@pytest.mark.parametrize("name", ["CHATFN_BATCH_MAX_ITEMS", "CHATFN_BATCH_MAX_BYTES"])
def test_a_count_is_a_whole_number(name: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} must be a whole number"):
        Settings.from_env({name: "2048.5"})
    assert getattr(Settings.from_env({name: "2048.0"}), name.removeprefix("CHATFN_").lower()) == 2048


def test_a_blank_number_is_the_default() -> None:
    assert Settings.from_env({"CHATFN_SYNC_WAIT_SECONDS": "  "}).sync_wait_seconds == 20.0


def test_the_storage_connection_string_is_read() -> None:
    connection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;TableEndpoint=http://127.0.0.1:1"
    assert Settings.from_env({"AzureWebJobsStorage": connection}).storage_connection_string == connection
    assert Settings.from_env({"AzureWebJobsStorage": ""}).storage_connection_string is None


def test_a_worker_reads_its_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("CHATFN_SYNC_WAIT_SECONDS", "3")
        first = get_settings()
        monkeypatch.setenv("CHATFN_SYNC_WAIT_SECONDS", "4")
        assert get_settings() is first
        assert first.sync_wait_seconds == 3.0
    finally:
        get_settings.cache_clear()


def _names_settings_py_reads() -> set[str]:
    """String constants of chatfn/settings.py that name environment variables."""
    tree = ast.parse((ROOT / "chatfn" / "settings.py").read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|AzureWebJobsStorage(__\w+)?", node.value)
    }


def test_docs_api_names_every_setting_chatfn_reads() -> None:
    """An identity-based storage setting may be named by its suffix (`__clientId`) beside the full one."""
    names = _names_settings_py_reads()
    assert {"CHATFN_SEND_LIFETIME_SECONDS", "AzureWebJobsStorage__clientId"} <= names
    unnamed = {
        name
        for name in names
        if f"`{name}`" not in SETTINGS_SECTION and f"`__{name.partition('__')[2]}`" not in SETTINGS_SECTION
    }
    assert not unnamed, f"read by chatfn/settings.py but missing from docs/api.md's settings: {unnamed}"


def test_each_number_docs_api_gives_as_a_default_is_the_settings_own() -> None:
    rows = re.findall(r"^\| `(CHATFN_\w+)` \| `([0-9.]+)` \|", SETTINGS_SECTION, re.MULTILINE)
    assert len(rows) >= 10
    defaults = Settings()
    for name, documented in rows:
        probe = _probe(name)
        [field] = [
            f.name
            for f in dataclasses.fields(Settings)
            if getattr(probe, f.name) != getattr(defaults, f.name)
        ]
        assert getattr(defaults, field) == float(documented), name


def _probe(name: str) -> Settings:
    """Settings with `name` set to a value within its range that is no setting's default: 0.75 for the
    seconds and rates, a whole number for the counts."""
    try:
        return Settings.from_env({name: "0.75"})
    except SettingsError:
        return Settings.from_env({name: "2048"})


CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
)


def test_telemetry_goes_to_application_insights_wherever_it_is_connected() -> None:
    assert Settings.from_env({}).telemetry == "off"
    assert (
        Settings.from_env({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING}).telemetry
        == "azure-monitor"
    )
    connected_but_console = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING,
        "CHATFN_TELEMETRY": "console",
    }
    assert Settings.from_env(connected_but_console).telemetry == "console"
    assert Settings.from_env({"CHATFN_TELEMETRY": "console"}).telemetry == "console"


@pytest.mark.parametrize("value", ["azure-monitor", "otlp"])
def test_telemetry_that_cannot_be_sent_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CHATFN_TELEMETRY"):
        Settings.from_env({"CHATFN_TELEMETRY": value})


@pytest.mark.parametrize(
    ("value", "exports"), [("true", True), (" True", True), ("1", True), ("false", False), ("", False)]
)
def test_the_workers_telemetry_switch_is_read_as_the_worker_reads_it(value: str, exports: bool) -> None:
    settings = Settings.from_env({"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": value})
    assert settings.worker_exports_telemetry is exports
