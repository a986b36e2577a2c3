"""Telemetry under the names docs/operations.md fixes, and none of a request's personal data in it.

Requests with members by email go through the app's own code (the HTTP functions' wrapper, the
endpoints, the driver, the chat job, the Graph client) against the emulator and Azurite, with the SDK's
in-memory exporters in place of Azure Monitor's and the root logger collected, as the Python worker
collects it. Everything exported is then searched for addresses, the topic, the key and the token. Chats
made after Graph's 202 and by a batch go on through the app's orchestrators and activities, run in this
process (tests/durable/inline.py), so each is counted on the path it took."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import httpx
import pytest
from azure.data.tables.aio import TableClient
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.cold_import import LOCAL_AZURE_MONITOR, WORKER_EXPORTS, WORKER_SET_UP
from chatfn import contract, telemetry
from chatfn.api import batches, endpoints
from chatfn.api.unexpected import internal_error_as_problem
from chatfn.emulator import Emulator
from chatfn.errors import BudgetSpent
from chatfn.graph.budget import deadline_in
from chatfn.graph.client import GRAPH_SCOPE
from chatfn.graph.directory import Directory
from chatfn.requests.store import IdempotencyStore
from chatfn.services import Services
from chatfn.settings import Settings
from tests.api.test_unexpected import CLIENT_BINDING
from tests.apphost import start_app_host
from tests.durable.inline import Clock, InlineDurable
from tests.graphs import graph_for
from tests.infra.monitoring_names import METRICS
from tests.test_logs import CHAT_ID, leaks

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "Sam's incident 4711"
OTHER_TOPIC = "Sam's incident 4712"
KEY = f"order-{uuid.uuid4()}"
MEMBERS = {"emails": "sam@contoso.com;member01@contoso.com", "guests": "ana@fabrikam.com", "topic": TOPIC}
UNKNOWN = {"emails": "nobody@nowhere.example;ghost@nowhere.example"}
# The members' sign-in names, which Graph's lookups answer with: no more to be recorded than the mails.
UPNS = ["sam.k@contoso.onmicrosoft.com", "m01.k@contoso.onmicrosoft.com", "ana_fabrikam.com#EXT#"]
# Fast enough for a test: a send that failed after acting is looked for at once.
SETTINGS = Settings(send_lifetime_seconds=1, list_lag_seconds=1)
# Graph throttles the first lookup briefly: the worker's budget waits out its Retry-After.
THROTTLED_LOOKUP = {"method": "GET", "path": "/v1.0/users", "status": 429, "retryAfter": 0.2, "count": 1}
# Graph makes the chat, then answers 504: chatfn finds the chat and adopts it.
FAILS_AFTER_ACTING = {"method": "POST", "path": "/v1.0/chats", "status": 504, "after": True, "count": 1}
# A group chat with a Teams app: Graph answers 202, and installs the app on its third look at the operation.
WITH_APP = {
    "emails": "sam@contoso.com;member01@contoso.com;member02@contoso.com",
    "topic": OTHER_TOPIC,
    "apps": [{"teamsAppId": "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"}],
}


@dataclass
class Exported:
    """What the SDK's in-memory exporters got."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def everything(self) -> str:
        """Every span (name, attributes, events, status), metric point and log record, as JSON."""
        spans = [span.to_json(indent=None) for span in self.spans.get_finished_spans()]
        records = [record.to_json(indent=None) for record in self.logs.get_finished_logs()]
        data = self.metrics.get_metrics_data()
        return "\n".join([*spans, *records, data.to_json(indent=None) if data else ""])

    def points(self, name: str) -> list[dict[str, Any]]:
        """The data points of a metric: attributes and their value (a counter's sum, a histogram's count;
        a histogram's sum too)."""
        data = self.metrics.get_metrics_data()
        assert data is not None
        found = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None) or getattr(point, "count", None)
                            found.append({**(point.attributes or {}), "value": value})
                            if hasattr(point, "sum"):
                                found[-1]["sum"] = point.sum
        return found

    def span_names(self) -> set[str]:
        return {span.name for span in self.spans.get_finished_spans()}

    def request_lines(self) -> list[dict[str, Any]]:
        """The one log line per request: its text and its fields."""
        return [
            {"text": str(record.log_record.body), **dict(record.log_record.attributes or {})}
            for record in self.logs.get_finished_logs()
            if record.instrumentation_scope is not None
            and record.instrumentation_scope.name == "chatfn.requests"
        ]


@pytest.fixture
def exported() -> Iterator[Exported]:
    """The app records into in-memory exporters; the root logger's records at INFO and above (the
    host's default level) become log records, as the Python worker's set-up makes them in Azure."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    records = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK leaves __init__ unannotated
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    handler.addFilter(lambda record: not record.name.startswith("chatfn.emulator"))  # Graph's stand-in
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    telemetry.use_providers(tracer_provider, MeterProvider(metric_readers=[reader]))
    try:
        yield Exported(spans, reader, records)
    finally:
        telemetry.use_providers(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Scenario:
    exported: Exported
    answers: list[func.HttpResponse]
    token: str


def _request(method: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> func.HttpRequest:
    route_params = {}
    if path.startswith("/api/chats/requests/"):
        route_params = {"requestId": path.rsplit("/", 1)[1]}
    elif path.startswith("/api/chat-batches/"):
        route_params = {"batchId": path.rsplit("/", 1)[1]}
    return func.HttpRequest(
        method,
        f"http://127.0.0.1{path}",
        headers={"Content-Type": "application/json", **headers},
        body=json.dumps(body).encode() if body is not None else b"",
        route_params=route_params,
    )


@pytest.fixture
async def scenario(
    exported: Exported,
    emulator: Emulator,
    control: httpx.Client,
    azurite: str,
    managed_identity_env: Emulator,
) -> Scenario:
    """A chat made (its first lookup throttled), the same chat reused, members not found, a chat adopted
    after Graph failed having made it, and a status URL that holds an address: each through the same
    wrapper and endpoints as function_app.py binds."""
    table = TableClient.from_connection_string(azurite, table_name=f"t{uuid.uuid4().hex[:20]}")
    store = IdempotencyStore(table, timedelta(hours=1))
    client = df.DurableOrchestrationClient(CLIENT_BINDING)  # the direct path never starts an orchestration
    post_chats = internal_error_as_problem(endpoints.post_chats)
    get_chat_request = internal_error_as_problem(endpoints.get_chat_request)
    answers: list[func.HttpResponse] = []
    async with graph_for(emulator) as graph:
        services = Services(SETTINGS, graph=graph, store=store)
        control.post("/faults", json=THROTTLED_LOOKUP).raise_for_status()
        answers.append(
            await post_chats(
                _request("POST", "/api/chats", MEMBERS, **{"Idempotency-Key": KEY}), client, services
            )
        )
        answers.append(
            await post_chats(
                _request("POST", "/api/chats", {**MEMBERS, "reuseExisting": True}), client, services
            )
        )
        answers.append(await post_chats(_request("POST", "/api/chats", UNKNOWN), client, services))
        control.post("/faults", json=FAILS_AFTER_ACTING).raise_for_status()
        adopted = {"emails": "sam@contoso.com;member01@contoso.com", "topic": OTHER_TOPIC}
        answers.append(await post_chats(_request("POST", "/api/chats", adopted), client, services))
        answers.append(
            await get_chat_request(_request("GET", "/api/chats/requests/sam@contoso.com"), client, services)
        )
        token = (await graph._credential.get_token(GRAPH_SCOPE)).token
    await store.aclose()
    assert [answer.status_code for answer in answers] == [201, 200, 422, 201, 404]
    return Scenario(exported, answers, token)


async def test_nothing_exported_holds_an_address_the_topic_the_key_or_the_token(scenario: Scenario) -> None:
    everything = scenario.exported.everything()
    assert "graph POST /chats" in everything, "the scan has something to scan"
    assert leaks(everything, [TOPIC, OTHER_TOPIC, KEY, scenario.token, *UPNS]) == []


async def test_nothing_exported_holds_a_members_object_id_or_a_chat_id(scenario: Scenario) -> None:
    """Graph's ids of people and chats are pseudonymous personal data: Graph's paths are recorded as
    route templates (`/users/{id}/chats`), never as the paths called."""
    made = [json.loads(answer.get_body()) for answer in scenario.answers if answer.status_code < 300]
    user_ids = {member["userId"] for answer in made for member in answer["members"]}
    chat_ids = {answer["chatId"] for answer in made}
    assert (len(user_ids), len(chat_ids)) == (3, 2), "the scan knows what to look for"
    everything = scenario.exported.everything()
    assert "graph GET /users/{id}/chats" in everything, "the scan has Graph's paths to scan"
    assert [found for found in (*user_ids, *chat_ids) if found in everything] == []
    assert CHAT_ID.findall(everything) == []


async def test_each_answer_is_counted_by_route_status_and_problem_type(scenario: Scenario) -> None:
    counted = {
        (p["http.route"], p["http.response.status_code"], p.get("problem.type"), p["value"])
        for p in scenario.exported.points("chatfn.requests")
    }
    assert counted == {
        ("chats", 201, None, 2),
        ("chats", 200, None, 1),
        ("chats", 422, "urn:chatfn:problem:member-not-found", 1),
        ("chats/requests/{requestId}", 404, "urn:chatfn:problem:unknown-request", 1),
    }
    durations = {(p["http.route"], p["value"]) for p in scenario.exported.points("chatfn.request.duration")}
    assert durations == {("chats", 4), ("chats/requests/{requestId}", 1)}


async def test_chats_are_counted_as_created_reused_and_adopted(scenario: Scenario) -> None:
    chats = {
        (p["chat.type"], p["outcome"], p["path"], p["value"])
        for p in scenario.exported.points("chatfn.chats")
    }
    assert chats == {
        ("group", "created", "direct", 1),
        ("group", "reused", "direct", 1),
        ("group", "adopted", "direct", 1),
    }


def _chats_counted(exported: Exported) -> set[tuple[str, str, str, int]]:
    """chatfn.chats' points: (chat.type, outcome, path, count); none before the first chat."""
    if exported.metrics.get_metrics_data() is None:
        return set()
    return {(p["chat.type"], p["outcome"], p["path"], p["value"]) for p in exported.points("chatfn.chats")}


@asynccontextmanager
async def _worker(emulator: Emulator, azurite: str) -> AsyncIterator[InlineDurable]:
    """A worker's services on the emulator and Azurite, and the orchestrations its endpoints start, run
    in this process by the app's own orchestrators and activities; time moves on their durable timers."""
    table = TableClient.from_connection_string(azurite, table_name=f"t{uuid.uuid4().hex[:20]}")
    store = IdempotencyStore(table, timedelta(hours=1))
    clock = Clock()
    try:
        async with graph_for(emulator) as graph:
            services = Services(SETTINGS, graph=graph, store=store, clock=clock, sleep=clock.sleep)
            yield InlineDurable(services, clock)
    finally:
        await store.aclose()


@pytest.mark.usefixtures("managed_identity_env")
async def test_a_chat_the_orchestration_finishes_after_graphs_202_counts_on_the_async_path(
    exported: Exported, emulator: Emulator, azurite: str
) -> None:
    """A chat with an app: Graph answers 202, the trigger answers 202 and hands the job on (nothing
    counted yet), and the orchestration's activity follows Graph's operation to its end and reads the
    chat: counted once, `path=async`."""
    post_chats = internal_error_as_problem(endpoints.post_chats)
    get_chat_request = internal_error_as_problem(endpoints.get_chat_request)
    async with _worker(emulator, azurite) as durable:
        accepted = await post_chats(
            _request("POST", "/api/chats", WITH_APP, Prefer="respond-async"),
            durable.client(),
            durable.services,
        )
        assert accepted.status_code == 202, accepted.get_body()
        assert _chats_counted(exported) == set(), "Graph accepted the chat; it is not made yet"
        await durable.run_started()
        request_id = json.loads(accepted.get_body())["requestId"]
        done = await get_chat_request(
            _request("GET", f"/api/chats/requests/{request_id}"), durable.client(), durable.services
        )
    assert done.status_code == 200, done.get_body()
    assert json.loads(done.get_body())["chatType"] == "group"
    assert _chats_counted(exported) == {("group", "created", "async", 1)}


@pytest.mark.usefixtures("managed_identity_env")
async def test_chats_a_batch_makes_count_on_the_batch_path(
    exported: Exported, emulator: Emulator, azurite: str
) -> None:
    """Each item of a batch is made by the batch's chunk, item by item through the same job: counted once
    per chat, `path=batch`."""
    post_batches = internal_error_as_problem(batches.post_batches)
    get_batch = internal_error_as_problem(batches.get_batch)
    chats = [
        {"emails": "sam@contoso.com;member01@contoso.com", "topic": TOPIC},
        {"emails": "sam@contoso.com;member02@contoso.com"},
    ]
    async with _worker(emulator, azurite) as durable:
        accepted = await post_batches(
            _request("POST", "/api/chat-batches", {"chats": chats}), durable.client(), durable.services
        )
        assert accepted.status_code == 202, accepted.get_body()
        await durable.run_started()
        batch_id = json.loads(accepted.get_body())["batchId"]
        done = await get_batch(
            _request("GET", f"/api/chat-batches/{batch_id}"), durable.client(), durable.services
        )
    assert done.status_code == 200, done.get_body()
    assert [item["status"] for item in json.loads(done.get_body())["results"]] == [201, 201]
    assert _chats_counted(exported) == {("group", "created", "batch", 1), ("oneOnOne", "created", "batch", 1)}


async def test_graph_calls_throttling_and_budget_waits_are_measured(scenario: Scenario) -> None:
    calls = {
        (p["graph.operation"], p["http.response.status_code"])
        for p in scenario.exported.points("chatfn.graph.calls")
    }
    assert {("GET /users", 429), ("GET /users", 200), ("POST /chats", 201), ("POST /chats", 504)} <= calls
    assert {("GET /chats/{id}", 200), ("GET /users/{id}/chats", 200)} <= calls
    assert scenario.exported.points("chatfn.graph.throttled") == [
        {"graph.operation": "GET /users", "value": 1}
    ]
    [waits] = scenario.exported.points("chatfn.graph.budget.wait")
    assert (waits["outcome"], waits["value"]) == ("waited", 1), (
        "the call after the 429 waited out its Retry-After"
    )


async def test_a_call_the_budget_defers_to_a_durable_timer_is_measured_as_the_wait_it_needed(
    exported: Exported, emulator: Emulator, managed_identity_env: Emulator
) -> None:
    """A call that the budget could serve only after its caller's deadline is not sent (`BudgetSpent`),
    and its request waits on a durable timer: the budget-wait alert must count that wait too, for a
    call of the request's own and for its share of a directory lookup. The lookup itself goes on for
    the cache, and waits in the worker."""
    pause = 0.3
    async with graph_for(emulator) as graph:
        for kind in ("chats.write", "directory"):
            graph.budget.throttled(kind, retry_after=pause, sent_at=graph.budget.clock())
        directory = Directory(graph, cache_seconds=60)
        with deadline_in(0.1):
            with pytest.raises(BudgetSpent):
                await graph.create_chat({})
            with pytest.raises(BudgetSpent):
                await directory.users_by_address(["sam@contoso.com"])
        await directory.users_by_address(["sam@contoso.com"])  # joins the lookup under way
    waits = {p["outcome"]: p for p in exported.points("chatfn.graph.budget.wait")}
    assert set(waits) == {"deferred", "waited"}
    assert waits["deferred"]["value"] == 2
    assert waits["deferred"]["sum"] == pytest.approx(2 * pause + 1 / 21 + 1 / 245, abs=0.05)
    assert waits["waited"]["value"] == 1
    assert waits["waited"]["sum"] == pytest.approx(pause, abs=0.1)


async def test_every_graph_call_is_a_named_child_span_with_graphs_request_id(scenario: Scenario) -> None:
    spans = scenario.exported.spans.get_finished_spans()
    requests = {
        span.context.span_id: span
        for span in spans
        if span.name in ("POST chats", "GET chats/requests/{requestId}")
    }
    graph_calls = [span for span in spans if span.name.startswith("graph ")]
    assert len(requests) == 5
    assert {
        "graph GET /users",
        "graph POST /chats",
        "graph GET /chats/{id}",
        "graph GET /users/{id}/chats",
    } <= {span.name for span in graph_calls}
    for span in graph_calls:
        assert span.parent is not None, span.name
        assert span.parent.span_id in requests, span.name
        attributes = dict(span.attributes or {})
        assert contract.GUID.fullmatch(str(attributes["graph.request_id"])), span.name
        assert contract.GUID.fullmatch(str(attributes["graph.client_request_id"])), span.name
        assert not any(name.startswith(("http.url", "url.", "http.target")) for name in attributes), span.name


async def test_one_line_per_request_and_a_422_counts_its_unknown_members(scenario: Scenario) -> None:
    lines = scenario.exported.request_lines()
    assert [(line["http.route"], line["http.response.status_code"]) for line in lines] == [
        ("chats", 201),
        ("chats", 200),
        ("chats", 422),
        ("chats", 201),
        ("chats/requests/{requestId}", 404),
    ]
    ids = [json.loads(answer.get_body()).get("requestId") for answer in scenario.answers]
    assert [line.get("chatfn.request_id") for line in lines][:2] == ids[:2]
    not_found = lines[2]
    assert not_found["problem.type"] == "urn:chatfn:problem:member-not-found"
    assert not_found["chatfn.unknown_members"] == 2
    assert "member-not-found (2 unknown members)" in not_found["text"]
    assert all(line["chatfn.graph_calls"] >= 1 for line in lines[:4])
    assert "chatfn.request_id" not in lines[4], "an address in a status URL is no request id"


def test_routes_are_templates_whatever_the_url_holds() -> None:
    assert telemetry.route_of("https://app.azurewebsites.net/api/chats?code=secret") == "chats"
    assert telemetry.route_of("http://127.0.0.1/api/chats/requests/sam@contoso.com") == contract.REQUEST_ROUTE
    assert telemetry.route_of("http://127.0.0.1/api/Chat-Batches/12ab/") == "chat-batches/{batchId}"
    assert telemetry.route_of("http://127.0.0.1/api/chats/sam@contoso.com") == telemetry.UNKNOWN_ROUTE
    assert telemetry.route_of("http://127.0.0.1/api/chats/requests/") == telemetry.UNKNOWN_ROUTE


def test_graph_routes_keep_only_graphs_resource_names() -> None:
    assert telemetry.graph_route("/users") == "/users"
    assert telemetry.graph_route("/users/sam@contoso.com") == "/users/{id}"
    assert telemetry.graph_route("/users/82fe7758-5bb3-4f0d-a43f-e555fd399c6f/chats") == "/users/{id}/chats"
    assert (
        telemetry.graph_route("/chats('19:a@thread.v2')/operations('x-1')") == "/chats/{id}/operations/{id}"
    )
    assert telemetry.graph_route("/chats/19:a@thread.v2/installedApps") == "/chats/{id}/installedApps"


# --- how it is set up -----------------------------------------------------------------------------------


def _run(script: str, env: dict[str, str], tmp_path: Path) -> Any:
    """A fresh interpreter (global providers are set once per process); the script prints JSON last."""
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


PROVIDERS_SET_UP_FIRST = """
import json, sys
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)  # what the worker's configure_azure_monitor() does first
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from chatfn import telemetry
from chatfn.settings import Settings
telemetry.configure(Settings.from_env())
with telemetry.graph_call("GET", "/users", "c-1"):
    pass
print(json.dumps({"spans": [s.name for s in spans.get_finished_spans()],
                  "distro_imported": "azure.monitor.opentelemetry" in sys.modules}))
"""


def test_with_the_workers_set_up_the_app_records_into_it_and_sets_up_nothing(tmp_path: Path) -> None:
    env = {**LOCAL_AZURE_MONITOR, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}
    assert _run(PROVIDERS_SET_UP_FIRST, env, tmp_path) == {
        "spans": ["graph GET /users"],
        "distro_imported": False,
    }


def test_off_records_nothing_even_into_a_process_that_set_providers_up(tmp_path: Path) -> None:
    env = {**LOCAL_AZURE_MONITOR, "CHATFN_TELEMETRY": "off"}
    assert _run(PROVIDERS_SET_UP_FIRST, env, tmp_path) == {"spans": [], "distro_imported": False}


HTTPX_INSTRUMENTED = """
import json
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
print(json.dumps(HTTPXClientInstrumentor().is_instrumented_by_opentelemetry))
"""


@pytest.mark.parametrize(("disabled", "instrumented"), [("httpx", False), ("", True)])
def test_the_workers_set_up_leaves_httpx_alone_only_when_the_app_setting_says_so(
    disabled: str, instrumented: bool, tmp_path: Path
) -> None:
    """Why infra/modules/function-app.bicep sets OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=httpx."""
    env = {**LOCAL_AZURE_MONITOR, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled}
    assert _run(WORKER_SET_UP + HTTPX_INSTRUMENTED, env, tmp_path) is instrumented


APP_AFTER_THE_WORKERS_SET_UP = """
import json
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
assert HTTPXClientInstrumentor().is_instrumented_by_opentelemetry, "the worker switched it on"
from chatfn import telemetry
from chatfn.settings import Settings
telemetry.configure(Settings.from_env())
print(json.dumps(HTTPXClientInstrumentor().is_instrumented_by_opentelemetry))
"""


def test_after_the_workers_set_up_the_app_switches_httpx_off_whatever_the_settings(tmp_path: Path) -> None:
    """A deployment without the templates' OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=httpx must not export
    Graph's URLs (their `$filter` addresses) either."""
    env = {**LOCAL_AZURE_MONITOR, **WORKER_EXPORTS, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ""}
    assert _run(WORKER_SET_UP + APP_AFTER_THE_WORKERS_SET_UP, env, tmp_path) is False


OWN_SET_UP = """
import json
from opentelemetry import trace
from chatfn import telemetry
from chatfn.settings import Settings
telemetry.configure(Settings.from_env())
with telemetry.graph_call("GET", "/users", "c-1"):
    before = trace.get_current_span().is_recording()
assert telemetry.azure_monitor_ready.wait(60)
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
with telemetry.graph_call("GET", "/users", "c-2"):
    after = trace.get_current_span().is_recording()
print(json.dumps({"provider": type(trace.get_tracer_provider()).__module__,
                  "recorded": [before, after],
                  "httpx": HTTPXClientInstrumentor().is_instrumented_by_opentelemetry,
                  "requests": RequestsInstrumentor().is_instrumented_by_opentelemetry}))
"""


def test_without_the_workers_set_up_the_app_sets_up_azure_monitor_beside_its_start_without_httpx(
    tmp_path: Path,
) -> None:
    """Set up on a thread of its own, not in the app's import: a span made at once is not recorded, one
    made once it is ready goes to Azure Monitor through the instruments the app already holds. The
    distribution's instrumentations are switched on (requests'), httpx's is not."""
    every_trace = {**LOCAL_AZURE_MONITOR, "OTEL_TRACES_SAMPLER": "always_on"}  # not its 5 a second
    assert _run(OWN_SET_UP, every_trace, tmp_path) == {
        "provider": "opentelemetry.sdk.trace",
        "recorded": [False, True],
        "httpx": False,
        "requests": True,
    }


@pytest.mark.apphost
def test_the_local_host_prints_the_contracts_telemetry_and_none_of_the_requests_data(azurite: str) -> None:
    """`CHATFN_TELEMETRY=console`: every metric of the contract, the request and Graph spans, as JSON
    lines on stdout (metrics at the latest when the host stops), and no address, topic or key in
    anything the host printed."""
    host = start_app_host(settings={"CHATFN_TELEMETRY": "console"}, storage=azurite)
    try:
        with httpx.Client(base_url=host.api, timeout=60) as api:
            httpx.post(f"{host.emulator_url}/_emulator/faults", json=THROTTLED_LOOKUP).raise_for_status()
            created = api.post("/chats", json=MEMBERS, headers={"Idempotency-Key": KEY})
            assert created.status_code == 201
            assert api.post("/chats", json=UNKNOWN).status_code == 422
            api.get(f"/chats/requests/{created.json()['requestId']}")
    finally:
        host.stop()
    printed = host.printed()
    lines = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    spans = {line["name"] for line in lines if "context" in line and "kind" in line}
    metric_names = {
        metric["name"]
        for line in lines
        for resource in line.get("resource_metrics", ())
        for scope in resource["scope_metrics"]
        for metric in scope["metrics"]
    }
    assert set(METRICS) <= metric_names
    assert {"POST chats", "GET chats/requests/{requestId}", "graph GET /users", "graph POST /chats"} <= spans
    assert leaks(printed, [TOPIC, KEY, *UPNS]) == []
