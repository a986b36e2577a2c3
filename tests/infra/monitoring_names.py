"""What the monitoring templates, the workbook and docs/operations.md may name, and the Azure facts
they are held to, each with its source.

The telemetry names are chatfn's own, fixed for the app, the alerts and the dashboard alike
(docs/operations.md, Telemetry names): a query that names anything else charts or alerts on
nothing, silently, so every KQL query is held to this vocabulary.
"""

from __future__ import annotations

import re

# --- chatfn's telemetry (docs/operations.md, Telemetry names) -------------------------------------

# Metric name -> the attributes it carries.
METRICS: dict[str, frozenset[str]] = {
    "chatfn.requests": frozenset({"http.route", "http.response.status_code", "problem.type"}),
    "chatfn.request.duration": frozenset({"http.route"}),
    "chatfn.chats": frozenset({"chat.type", "outcome", "path"}),
    "chatfn.graph.calls": frozenset({"graph.operation", "http.response.status_code"}),
    "chatfn.graph.throttled": frozenset({"graph.operation"}),
    "chatfn.graph.budget.wait": frozenset({"outcome"}),
}
ATTRIBUTES = frozenset().union(*METRICS.values())

# The values of the attributes with a closed set of them.
OUTCOMES = frozenset({"created", "adopted", "reused"})
BUDGET_OUTCOMES = frozenset({"waited", "deferred"})  # chatfn.graph.budget.wait's outcome
PATHS = frozenset({"direct", "async", "batch"})

# http.route: the function routes, without the api/ prefix.
ROUTES = frozenset(
    {"chats", "chats/requests/{requestId}", "chat-batches", "chat-batches/{batchId}", "health"}
)

# problem.type carries the problem's type URI, as the answer's `type` does.
PROBLEM_TYPE_PREFIX = "urn:chatfn:problem:"
PROBLEM_SLUGS = frozenset(
    {
        "invalid-request",
        "member-not-found",
        "members-refused",
        "graph-throttled",
        "graph-refused-identity",
        "graph-failed",
        "outcome-unknown",
        "identity-failed",
        "operation-failed",
        "operation-timeout",
        "storage-unavailable",
        "idempotency-key-reused",
        "unknown-request",
        "caller-refused",
        "body-too-large",
        "unsupported-media-type",
        "internal-error",
    }
)
PROBLEM_TYPES = frozenset(PROBLEM_TYPE_PREFIX + slug for slug in PROBLEM_SLUGS)

# Spans: one per Graph call, named `graph <METHOD> <route template>` (a dependency in Application
# Insights); queries may select them by that prefix.
GRAPH_SPAN_PREFIX = "graph "

# URL paths of the routes without parameters, as the requests table's url holds them.
API_PATHS = frozenset({"/api/"} | {f"/api/{route}" for route in ROUTES if "{" not in route})

# Every string literal a KQL query of the templates, the workbook or the docs may hold.
VOCABULARY = (
    frozenset(METRICS)
    | ATTRIBUTES
    | OUTCOMES
    | BUDGET_OUTCOMES
    | PATHS
    | ROUTES
    | PROBLEM_TYPES
    | {GRAPH_SPAN_PREFIX}
    | API_PATHS
)
# A placeholder the reader replaces, in the docs only: "<requestId>".
PLACEHOLDER = re.compile(r"<[A-Za-z]+>")

# Application Insights tables (the classic names, which queries scoped to the component use):
# https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource#table-structure
TABLES = frozenset(
    {"customMetrics", "requests", "dependencies", "traces", "exceptions", "availabilityResults"}
)

# --- Azure facts ------------------------------------------------------------------------------------

# Availability test locations ("population names") Microsoft lists for the public cloud:
# https://learn.microsoft.com/azure/azure-monitor/app/availability#location-population-tags
AVAILABILITY_LOCATIONS = frozenset(
    {
        "emea-au-syd-edge",  # Australia East
        "latam-br-gru-edge",  # Brazil South
        "us-fl-mia-edge",  # Central US
        "apac-hk-hkn-azr",  # East Asia
        "us-va-ash-azr",  # East US
        "emea-ch-zrh-edge",  # France South
        "emea-fr-pra-edge",  # France Central
        "apac-jp-kaw-edge",  # Japan East
        "emea-gb-db3-azr",  # North Europe
        "us-il-ch1-azr",  # North Central US
        "us-tx-sn1-azr",  # South Central US
        "apac-sg-sin-azr",  # Southeast Asia
        "emea-se-sto-edge",  # UK West
        "emea-nl-ams-azr",  # West Europe
        "us-ca-sjc-azr",  # West US
        "emea-ru-msa-edge",  # UK South
    }
)
# "Our minimum number of recommended test locations is five", and the alert location threshold
# "= number of test locations - 2" (same page, Availability alerts).
MINIMUM_AVAILABILITY_LOCATIONS = 5
AVAILABILITY_LOCATION_MARGIN = 2
