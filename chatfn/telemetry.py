"""chatfn's OpenTelemetry: a span and a log line per HTTP request, a span per Graph call, and the
metrics that the alerts and the dashboard read, under the names docs/operations.md fixes ("Telemetry
names"): a query that names anything else charts nothing, silently.

Where it goes is `CHATFN_TELEMETRY` (`chatfn.settings`), set up once per worker by `configure`:

- `off`: OpenTelemetry's no-op tracer and meter, whatever else the process has set up; a request pays
  for a few function calls, and its log line.
- `console`: the SDK, writing spans, metrics and log records as JSON lines on stdout (metrics every 5 s
  and at exit): what Application Insights would get, for the local host.
- `azure-monitor`: Application Insights. When the Functions Python worker exports telemetry itself
  (`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY`), it called `configure_azure_monitor()` before it
  imported the app, and the app only records into the global providers; otherwise the app calls it on
  a thread of its own, beside the worker's start rather than in the app's import (about half a second
  of a cold start otherwise).

No personal data, by construction: span names, attributes, metric attributes and log fields are made
only of route templates, Graph resource names, statuses, problem type URIs from chatfn's catalogue,
counts, and ids that chatfn or Graph generate; never of a URL's query or path values, a body, or a
header a caller sent. httpx's instrumentation, whose spans keep Graph's URLs with their `$filter`
addresses, stays off: chatfn's own set-up never switches it on, and after the worker's set-up the app
switches it off (the templates also set `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=httpx`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from chatfn import __version__, contract, problems
from chatfn.settings import Settings

if TYPE_CHECKING:
    from chatfn.chats.job import ChatJob, Ended, Next

ChatPath = Literal["direct", "async", "batch"]

# http.route: the function routes a request can reach, without the api/ prefix (docs/operations.md).
ROUTES = (
    contract.CHATS_ROUTE,
    contract.REQUEST_ROUTE,
    "chat-batches",
    "chat-batches/{batchId}",
    "health",
    "openapi.json",
    "swagger.json",
)
UNKNOWN_ROUTE = "unknown"
# The names a Graph route template keeps; any other segment of a path is a value, shown as {id}.
GRAPH_RESOURCES = frozenset(
    {"chats", "users", "operations", "members", "installedApps", "messages", "teamsApp", "$batch"}
)
# How a chat came to be known, by the job's stage that found it (chatfn.chats.job).
_OUTCOMES = {"send": "created", "operation": "created", "search": "adopted", "reuse": "reused"}
# OpenTelemetry's advice for HTTP durations, in seconds (semantic conventions, http.server.request.duration).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60)
# The console's metrics: at least this often, and once more at exit.
CONSOLE_EXPORT_MILLIS = 5000

log = logging.getLogger("chatfn.requests")


class HttpRequest(Protocol):
    """What telemetry reads of a request (an `azure.functions.HttpRequest`)."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def route_params(self) -> Mapping[str, str]: ...


class HttpAnswer(Protocol):
    """What telemetry reads of an answer (an `azure.functions.HttpResponse`)."""

    @property
    def status_code(self) -> int: ...

    @property
    def mimetype(self) -> str | None: ...

    def get_body(self) -> bytes: ...


class GraphAnswer(Protocol):
    """What telemetry reads of Graph's answer (an `httpx.Response`)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class _Instruments:
    """The tracer and the metrics of docs/operations.md, from one pair of providers."""

    tracer: trace.Tracer
    requests: metrics.Counter
    request_duration: metrics.Histogram
    chats: metrics.Counter
    graph_calls: metrics.Counter
    graph_throttled: metrics.Counter
    budget_wait: metrics.Histogram

    @classmethod
    def of(cls, tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider) -> _Instruments:
        meter = meter_provider.get_meter("chatfn", __version__)
        return cls(
            tracer=tracer_provider.get_tracer("chatfn", __version__),
            requests=meter.create_counter("chatfn.requests", "{request}", "Answers, by route and status"),
            request_duration=meter.create_histogram(
                "chatfn.request.duration",
                "s",
                "How long answers took, by route",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
            ),
            chats=meter.create_counter("chatfn.chats", "{chat}", "Chats made, adopted or reused"),
            graph_calls=meter.create_counter("chatfn.graph.calls", "{call}", "Graph calls, by answer"),
            graph_throttled=meter.create_counter("chatfn.graph.throttled", "{call}", "Graph's 429s"),
            budget_wait=meter.create_histogram(
                "chatfn.graph.budget.wait",
                "s",
                "Seconds a Graph call waited for the worker's budget",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
            ),
        )


_active = _Instruments.of(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())


def configure(settings: Settings) -> None:
    """Once per worker (function_app.py): record into what `CHATFN_TELEMETRY` says."""
    if settings.telemetry == "console":
        use_providers(*_console_providers())
    elif settings.telemetry == "azure-monitor":
        if settings.worker_exports_telemetry:
            _without_httpx_spans()
        else:
            threading.Thread(target=_set_up_azure_monitor, name="chatfn-telemetry", daemon=True).start()
        # The global providers: the worker's, or proxies that pass on to Azure Monitor's once it is set up.
        use_providers(trace.get_tracer_provider(), metrics.get_meter_provider())
    else:
        use_providers(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())


# Set once chatfn's own Azure Monitor set-up has ended (a test, or a benchmark, waits for it).
azure_monitor_ready = threading.Event()


def _set_up_azure_monitor() -> None:
    """Azure Monitor without the worker: importing and setting up the distribution takes about half a
    second, so it runs beside the worker's start instead of in the app's import (the cold start). What
    the app records before it is ready (the first request's spans, at most) is not exported."""
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(instrumentation_options={"httpx": {"enabled": False}})
    except Exception:
        logging.getLogger(__name__).exception("Azure Monitor could not be set up; nothing is exported")
    finally:
        azure_monitor_ready.set()


def _without_httpx_spans() -> None:
    """The worker's set-up switches httpx's instrumentation on unless the deployment's
    `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS` names it, and its spans keep Graph's URLs, `$filter`
    addresses included: the app switches it off itself, whatever the deployment's settings say."""
    if "opentelemetry.instrumentation.httpx" not in sys.modules:  # nothing instrumented it
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def use_providers(tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider) -> None:
    """Record from now on into these providers (`configure`'s, or a test's in-memory ones)."""
    global _active
    _active = _Instruments.of(tracer_provider, meter_provider)


def _console_providers() -> tuple[trace.TracerProvider, metrics.MeterProvider]:
    """The SDK, writing JSON lines on stdout: each span as it ends, each log record as it is written
    (from the root logger, as the worker collects them in Azure), metrics as deltas every 5 s and at
    exit, as Azure Monitor's exporter sends them."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out, resource = sys.stdout, Resource.create({"service.name": "chatfn"})
    tracer_provider = TracerProvider(resource=resource)
    spans = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    delta: dict[type, AggregationTemporality] = {
        Counter: AggregationTemporality.DELTA,
        Histogram: AggregationTemporality.DELTA,
    }
    metric_lines = ConsoleMetricExporter(
        out=out, formatter=lambda data: data.to_json(indent=None) + "\n", preferred_temporality=delta
    )
    reader = PeriodicExportingMetricReader(metric_lines, export_interval_millis=CONSOLE_EXPORT_MILLIS)
    logger_provider = LoggerProvider(resource=resource)
    records = ConsoleLogRecordExporter(out=out, formatter=lambda record: record.to_json(indent=None) + "\n")
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))
    return tracer_provider, MeterProvider(metric_readers=[reader], resource=resource)


# --- one HTTP request ---------------------------------------------------------------------------------


@dataclass
class RequestTelemetry:
    """What one HTTP request's telemetry gathers while it runs: its id once known, its Graph calls, and
    its answer."""

    span: trace.Span
    request_id: str | None = None
    graph_calls: int = 0
    answer: HttpAnswer | None = None

    def answered(self, answer: HttpAnswer) -> None:
        self.answer = answer

    def identified(self, request_id: str) -> None:
        if self.request_id is None:
            self.request_id = request_id
            self.span.set_attribute("chatfn.request_id", request_id)


_request: ContextVar[RequestTelemetry | None] = ContextVar("chatfn_request_telemetry", default=None)


@contextmanager
def http_request(request: HttpRequest | None) -> Iterator[RequestTelemetry]:
    """Around an HTTP function (`chatfn.api.unexpected`): its span, and once it has answered
    (`RequestTelemetry.answered`), its metrics and its log line."""
    started = time.perf_counter()
    instruments = _active
    method = request.method if request is not None else ""
    route = route_of(request.url) if request is not None else UNKNOWN_ROUTE
    attributes = {"http.route": route, "http.request.method": method}
    with instruments.tracer.start_as_current_span(
        f"{method} {route}".strip(),
        kind=SpanKind.INTERNAL,  # the host records the invocation's own request: no second requests row
        attributes=attributes,
        record_exception=False,  # an exception's message may hold a request's data
        set_status_on_exception=False,
    ) as span:
        current = RequestTelemetry(span)
        for value in request.route_params.values() if request is not None else ():
            if contract.REQUEST_ID.fullmatch(value):  # a status URL's id; not whatever else it held
                current.identified(value)
        token = _request.set(current)
        try:
            yield current
        finally:
            _request.reset(token)
            _finish(current, instruments, route, method, time.perf_counter() - started)


def route_of(url: str) -> str:
    """The route template a URL reached (`chats/requests/{requestId}`), never its values."""
    segments = [segment.lower() for segment in urlsplit(url).path.strip("/").split("/")]
    if segments[:1] == [contract.API_PREFIX.strip("/")]:
        segments = segments[1:]
    for route in ROUTES:
        parts = route.split("/")
        if len(parts) == len(segments) and all(
            (part.startswith("{") and segment) or part.lower() == segment
            for part, segment in zip(parts, segments, strict=True)
        ):
            return route
    return UNKNOWN_ROUTE


def _finish(
    current: RequestTelemetry, instruments: _Instruments, route: str, method: str, seconds: float
) -> None:
    """The request's metrics and its one log line, inside its span so that the line carries its trace."""
    span, answer = current.span, current.answer
    fields: dict[str, str | int] = {"http.route": route, "http.request.method": method}
    if current.request_id is not None:
        fields["chatfn.request_id"] = current.request_id
    fields |= {"chatfn.duration_ms": round(seconds * 1000), "chatfn.graph_calls": current.graph_calls}
    if answer is None:  # it raised past the internal-error wrapper (cancelled): the host answers
        span.set_status(Status(StatusCode.ERROR, "no answer"))
        log.warning("%s %s ended without an answer", method, route, extra=fields)
        return
    status = answer.status_code
    problem_type, unknown_members = _problem_of(answer)
    counted: dict[str, str | int] = {"http.route": route, "http.response.status_code": status}
    if problem_type is not None:
        counted["problem.type"] = problem_type
    instruments.requests.add(1, counted)
    instruments.request_duration.record(seconds, {"http.route": route})
    span.set_attributes({**counted, "chatfn.graph_calls": current.graph_calls})
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    fields |= counted
    problem = f" {problem_type}" if problem_type else ""
    if unknown_members is not None:
        fields["chatfn.unknown_members"] = unknown_members
        problem += f" ({unknown_members} unknown members)"
    log.log(
        logging.WARNING if status >= 500 else logging.INFO,
        "%s %s answered %d%s in %d ms; Graph calls: %d%s",
        method,
        route,
        status,
        problem,
        fields["chatfn.duration_ms"],
        current.graph_calls,
        f"; request {current.request_id}" if current.request_id else "",
        extra=fields,
    )


def _problem_of(answer: HttpAnswer) -> tuple[str | None, int | None]:
    """A problem answer's type URI, if it is one of chatfn's, and for members not found how many they
    were (the addresses themselves stay in the answer)."""
    if answer.mimetype != contract.PROBLEM_JSON:
        return None, None
    try:
        body = json.loads(answer.get_body())
    except ValueError:
        return None, None
    uri = body.get("type") if isinstance(body, dict) else None
    problem_type = next((known for known in problems.CATALOGUE.values() if known.uri == uri), None)
    if problem_type is None:
        return None, None
    if problem_type is problems.MEMBER_NOT_FOUND:
        return problem_type.uri, len(body.get("errors") or ())
    return problem_type.uri, None


# --- the chat job ------------------------------------------------------------------------------------


_chat_path: ContextVar[ChatPath] = ContextVar("chatfn_chat_path", default="direct")


@contextmanager
def chat_path(path: ChatPath) -> Iterator[None]:
    """Chats found inside are counted as found on `path`: `async` in the orchestration's steps, `batch`
    in a batch's; elsewhere (the HTTP trigger) `direct`."""
    token = _chat_path.set(path)
    try:
        yield
    finally:
        _chat_path.reset(token)


def chat_step(job: ChatJob, result: Next | Ended) -> None:
    """After each step of a request's chat job (`chatfn.chats.job.take_step`): the request's id for its
    telemetry, and `chatfn.chats` once the step has found the chat to read."""
    current = _request.get()
    if current is not None:
        current.identified(job.requestId)
    if result.kind == "next" and result.job.stage == "read" and job.stage != "read":
        outcome = _OUTCOMES.get(job.stage)
        if outcome is not None:
            attributes = {"chat.type": job.spec.chatType, "outcome": outcome, "path": _chat_path.get()}
            _active.chats.add(1, attributes)


# --- Graph ------------------------------------------------------------------------------------------


@dataclass
class GraphCallTelemetry:
    """One HTTP exchange with Graph: its status and Graph's request id, once Graph has answered."""

    status: int | None = None
    request_id: str | None = None

    def answered(self, answer: GraphAnswer) -> None:
        self.status = answer.status_code
        request_id = answer.headers.get("request-id", "")
        self.request_id = request_id if contract.GUID.fullmatch(request_id) else None


@contextmanager
def graph_call(method: str, path: str, client_request_id: str) -> Iterator[GraphCallTelemetry]:
    """Around one HTTP exchange with Graph (`chatfn.graph.client`); `path` is relative to the version
    root. Its span is named `graph <METHOD> <route template>`, and holds no URL."""
    instruments, operation = _active, graph_operation(method, path)
    current = _request.get()
    if current is not None:
        current.graph_calls += 1
    attributes = {
        "graph.operation": operation,
        "graph.client_request_id": client_request_id,
        "peer.service": "Microsoft Graph",  # the dependency's target in Application Insights
    }
    call = GraphCallTelemetry()
    with instruments.tracer.start_as_current_span(
        f"graph {operation}",
        kind=SpanKind.CLIENT,  # no http.* method or URL: Application Insights keeps the name
        attributes=attributes,
        record_exception=False,  # httpx's messages may quote the URL, query and all
        set_status_on_exception=False,
    ) as span:
        try:
            yield call
        finally:
            counted: dict[str, str | int] = {"graph.operation": operation}
            if call.status is None:
                span.set_status(Status(StatusCode.ERROR, "no answer"))
            else:
                counted["http.response.status_code"] = call.status
                span.set_attributes(counted)
                if call.request_id is not None:
                    span.set_attribute("graph.request_id", call.request_id)
                if call.status >= 400:
                    span.set_status(Status(StatusCode.ERROR))
                if call.status == 429:
                    instruments.graph_throttled.add(1, {"graph.operation": operation})
            instruments.graph_calls.add(1, counted)


def graph_operation(method: str, path: str) -> str:
    """`GET /users/{id}/chats`: how a Graph call is named in its span, its metrics and its log lines."""
    return f"{method} {graph_route(path)}"


def graph_route(path: str) -> str:
    """`/users/alex@contoso.com/chats` -> `/users/{id}/chats`; OData keys (`chats('19:...')`) too. Only
    Graph's resource names are kept, so no value of a path (an address, a chat id) ever is."""
    parts: list[str] = []
    for segment in path.split("?", 1)[0].split("/"):
        if not segment:
            continue
        name, key, _ = segment.partition("(")
        parts.append(name if name in GRAPH_RESOURCES else "{id}")
        if key:
            parts.append("{id}")
    return "/" + "/".join(parts)


def budget_waited(seconds: float) -> None:
    """A Graph call waited this long for the worker's budget (`chatfn.graph.budget.Budget.acquire`);
    calls that did not wait are not waits."""
    if seconds > 0:
        _active.budget_wait.record(seconds, {"outcome": "waited"})


def budget_deferred(seconds: float) -> None:
    """A Graph call was not sent: the budget could serve it only in `seconds`, after its caller's
    deadline (`BudgetSpent`), so the request waits on a durable timer instead. A wait all the same: the
    budget-wait alert must see demand outrun the budget whichever path spends the wait."""
    _active.budget_wait.record(seconds, {"outcome": "deferred"})
