"""The monitoring the templates deploy: an action group, a standard availability test of
/api/health with its metric alert, the log search alerts over chatfn's telemetry, and the
operations workbook; each checked on pycep-parser's reading of infra/*.bicep, and every KQL query
(alerts and workbook) held to the telemetry names the app emits (monitoring_names.py).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from . import kql
from .conftest import INFRA, BicepDoc
from .monitoring_names import (
    AVAILABILITY_LOCATION_MARGIN,
    AVAILABILITY_LOCATIONS,
    METRICS,
    MINIMUM_AVAILABILITY_LOCATIONS,
    PROBLEM_TYPE_PREFIX,
)

ALERTS = "modules/alerts.bicep"
WORKBOOK = "modules/workbook.bicep"
WORKBOOK_JSON = INFRA / "monitoring" / "workbook.json"

# The log search alerts the issue asks for, by rule name: what each must select and measure.
# (metric names, required literal, measure column, sustained: more than one window must fail)
LOG_ALERTS: dict[str, tuple[tuple[str, ...], str | None, str, bool]] = {
    "server-errors": (("chatfn.requests",), "http.response.status_code", "serverErrorPercent", False),
    "graph-permission": (
        ("chatfn.requests", "chatfn.graph.calls"),
        PROBLEM_TYPE_PREFIX + "graph-refused-identity",
        "refusals",
        False,
    ),
    "graph-throttled": (("chatfn.graph.throttled",), None, "throttled", True),
    "graph-budget-wait": (("chatfn.graph.budget.wait",), None, "waitedSeconds", True),
    "storage-unavailable": (
        ("chatfn.requests",),
        PROBLEM_TYPE_PREFIX + "storage-unavailable",
        "refusals",
        False,
    ),
}

# main.bicep parameter -> alerts.bicep parameter, each a threshold an operator can set.
THRESHOLD_PARAMETERS = {
    "alertServerErrorPercent": "serverErrorPercentThreshold",
    "alertServerErrorMinimumAnswers": "serverErrorMinimumAnswers",
    "alertGraphPermissionRefusals": "graphPermissionRefusalsThreshold",
    "alertGraphThrottled": "graphThrottledThreshold",
    "alertGraphBudgetWaitSeconds": "graphBudgetWaitSecondsThreshold",
    "alertStorageUnavailable": "storageUnavailableThreshold",
    "alertAvailabilityFailedLocations": "availabilityFailedLocationsThreshold",
}
OTHER_ALERT_PARAMETERS = {"alertEmailAddress": "alertEmailAddress", "alertsEnabled": "alertsEnabled"}

# The dashboard's charts the issue asks for, by item name, and what each must query.
REQUIRED_CHARTS: dict[str, set[str]] = {
    "chats-by-outcome": {"chatfn.chats", "outcome"},
    "request-latency": {"percentile(duration, 50)", "percentile(duration, 95)"},
    "graph-calls-and-throttling": {"chatfn.graph.calls", "chatfn.graph.throttled"},
    "problems-by-type": {"chatfn.requests", "problem.type"},
    "batch-answers": {"chatfn.requests", "http.route", '"chat-batches"'},
    "batch-chats": {"chatfn.chats", '"batch"'},
}
VISUALIZATIONS = {"table", "timechart", "barchart", "linechart", "areachart", "piechart", "tiles"}


# --- helpers over pycep-parser's JSON -------------------------------------------------------------


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body, with or without a loop or a condition."""
    config: dict[str, Any] = resource["config"]
    return config["config"] if ("loop_type" in config or "condition" in config) else config


def resources(doc: BicepDoc, type_: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in doc.get("resources", {}).items()
        if resource["type"] == type_ and not resource["existing"]
    }


def one(doc: BicepDoc, type_: str) -> tuple[str, dict[str, Any]]:
    found = resources(doc, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def accessor(node: object) -> tuple[str, ...]:
    """`a.b.c` as ('a', 'b', 'c') from pycep's nested property accessors."""
    if isinstance(node, str):
        return (node,)
    assert isinstance(node, dict), node
    assert "operator" in node, node
    operator = node["operator"]
    assert operator["type"] == "property_accessor", operator
    operands = operator["operands"]
    return accessor(operands["operand_1"]) + accessor(operands["operand_2"])


def load_text_path(node: dict[str, Any]) -> Path:
    function = node["function"]
    assert function["type"] == "load_text_content", function
    return (INFRA / "modules" / str(function["parameters"]["file_path"])).resolve()


@pytest.fixture(scope="module")
def alerts(parsed: dict[str, BicepDoc]) -> BicepDoc:
    return parsed[ALERTS]


@pytest.fixture(scope="module")
def log_alerts(alerts: BicepDoc) -> dict[str, dict[str, Any]]:
    rules = alerts["variables"]["logAlerts"]["value"]
    named = {rule["name"]: rule for rule in rules}
    assert len(named) == len(rules), "two log alerts share a name"
    return named


def alert_query(rule: dict[str, Any], parameters: dict[str, Any]) -> str:
    """The query a rule deploys, as Bicep builds it: a file, or a file behind `let` bindings."""
    query = rule["query"]
    if "function" in query and query["function"]["type"] == "format":
        arguments = query["function"]["parameters"]
        template = str(arguments["format_string"]).replace("\\n", "\n")
        values = []
        for index in range(1, len(arguments)):
            argument = arguments[f"arg_{index}"]
            if isinstance(argument, str):
                values.append(str(parameters[argument]["default"]))  # a parameter, at its default
            else:
                values.append(load_text_path(argument).read_text(encoding="utf-8"))
        return template.format(*values)
    return load_text_path(query).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def alert_queries(alerts: BicepDoc, log_alerts: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: alert_query(rule, alerts["parameters"]) for name, rule in log_alerts.items()}


@pytest.fixture(scope="module")
def workbook() -> dict[str, Any]:
    content: dict[str, Any] = json.loads(WORKBOOK_JSON.read_text(encoding="utf-8"))
    return content


def workbook_queries(workbook: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in workbook["items"] if item["type"] == 3}


# --- wiring in main.bicep -----------------------------------------------------------------------------


def test_main_deploys_the_alerts_and_the_workbook_into_the_group(parsed: dict[str, BicepDoc]) -> None:
    modules = parsed["main.bicep"]["modules"]
    paths = {name: module["detail"]["path"] for name, module in modules.items()}
    assert paths["alerts"] == ALERTS
    assert paths["workbook"] == WORKBOOK
    for name in ("alerts", "workbook"):
        params = body(modules[name])["params"]
        scope = body(modules[name])["scope"]["function"]
        assert (scope["type"], scope["parameters"]["resource_group_name"]) == ("resource_group", "groupName")
        assert accessor(params["applicationInsightsName"]) == (
            "monitoring",
            "outputs",
            "applicationInsightsName",
        )
        assert params["location"] == "location"


def test_the_availability_test_requests_the_apps_health_url(parsed: dict[str, BicepDoc]) -> None:
    params = body(parsed["main.bicep"]["modules"]["alerts"])["params"]
    assert params["healthUrl"] == "${functionApp.outputs.apiBaseUrl}/health"
    api_base = parsed["modules/function-app.bicep"]["outputs"]["apiBaseUrl"]["value"]
    assert api_base.endswith("/api"), "healthUrl appends /health to the API's base URL"


def test_every_threshold_is_a_main_parameter_with_an_azd_variable(parsed: dict[str, BicepDoc]) -> None:
    main = parsed["main.bicep"]["parameters"]
    module_params = parsed[ALERTS]["parameters"]
    passed = body(parsed["main.bicep"]["modules"]["alerts"])["params"]
    azd = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    for main_name, module_name in {**THRESHOLD_PARAMETERS, **OTHER_ALERT_PARAMETERS}.items():
        assert passed[module_name] == main_name, f"main.bicep does not pass {main_name}"
        assert main[main_name]["default"] == module_params[module_name]["default"], main_name
        assert re.fullmatch(r"\$\{CHATFN_[A-Z_]+=[^}]*\}", azd[main_name]["value"]), main_name
    for name in THRESHOLD_PARAMETERS:
        assert main[name]["type"] == "int", name
    assert main["alertEmailAddress"]["default"] == "", "the e-mail address is optional"
    assert main["alertsEnabled"]["default"] is True


# --- the action group ---------------------------------------------------------------------------------


def test_the_action_group_mails_only_when_an_address_is_given(alerts: BicepDoc) -> None:
    _, group = one(alerts, "Microsoft.Insights/actionGroups")
    properties = body(group)["properties"]
    assert len(properties["groupShortName"]) <= 12  # actionGroups_API.json: maxLength 12
    assert properties["enabled"] is True
    receivers = properties["emailReceivers"]["operator"]
    assert receivers["type"] == "conditional"
    condition = receivers["operands"]["condition"]["function"]
    assert condition["type"] == "empty"
    assert condition["parameters"]["item_to_test"] == "alertEmailAddress"
    assert receivers["operands"]["true_value"] == []
    [receiver] = receivers["operands"]["false_value"]
    assert receiver["emailAddress"] == "alertEmailAddress"
    assert receiver["useCommonAlertSchema"] is True


def test_every_alert_goes_to_the_action_group(alerts: BicepDoc) -> None:
    group_name, _ = one(alerts, "Microsoft.Insights/actionGroups")
    _, metric_alert = one(alerts, "Microsoft.Insights/metricAlerts")
    [action] = body(metric_alert)["properties"]["actions"]
    assert accessor(action["actionGroupId"]) == (group_name, "id")
    _, rules = one(alerts, "Microsoft.Insights/scheduledQueryRules")
    [group_id] = body(rules)["properties"]["actions"]["actionGroups"]
    assert accessor(group_id) == (group_name, "id")


# --- the availability test and its alert -------------------------------------------------------------


def test_a_standard_availability_test_linked_to_application_insights(alerts: BicepDoc) -> None:
    _, test = one(alerts, "Microsoft.Insights/webtests")
    config = body(test)
    properties = config["properties"]
    assert properties["Kind"] == "standard"
    assert properties["SyntheticMonitorId"] == config["name"], "the monitor id is the test's name"
    assert properties["Enabled"] is True
    assert properties["RetryEnabled"] is True
    assert properties["Request"]["RequestUrl"] == "healthUrl"
    assert properties["Request"]["HttpVerb"] == "GET"
    assert properties["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert properties["ValidationRules"]["SSLCheck"] is True
    # The hidden-link tag is what ties a web test to its component in the portal.
    tags = config["tags"]["function"]
    assert tags["type"] == "union"
    assert tags["parameters"]["arg_2"] == {"'hidden-link:${applicationInsights.id}'": "Resource"}
    component = alerts["resources"]["applicationInsights"]
    assert component["type"] == "Microsoft.Insights/components"
    assert component["existing"] is True


def test_the_availability_test_runs_from_at_least_five_documented_locations(alerts: BicepDoc) -> None:
    _, test = one(alerts, "Microsoft.Insights/webtests")
    locations = body(test)["properties"]["Locations"]
    assert locations["loop_type"]["detail"]["array_name"] == "availabilityTestLocations"
    item = locations["loop_type"]["detail"]["item_name"]
    assert locations["config"] == {"Id": item}
    parameter = alerts["parameters"]["availabilityTestLocations"]
    defaults = parameter["default"]
    assert len(defaults) >= MINIMUM_AVAILABILITY_LOCATIONS
    assert len(set(defaults)) == len(defaults)
    assert set(defaults) <= AVAILABILITY_LOCATIONS, set(defaults) - AVAILABILITY_LOCATIONS
    decorators = {d["type"]: d["argument"] for d in parameter["decorators"]}
    assert decorators["min_length"] == MINIMUM_AVAILABILITY_LOCATIONS


def test_the_availability_alert_fires_on_failed_locations(alerts: BicepDoc) -> None:
    test_name, _ = one(alerts, "Microsoft.Insights/webtests")
    _, metric_alert = one(alerts, "Microsoft.Insights/metricAlerts")
    properties = body(metric_alert)["properties"]
    criteria = properties["criteria"]
    assert criteria["'odata.type'"] == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    assert accessor(criteria["webTestId"]) == (test_name, "id")
    assert accessor(criteria["componentId"]) == ("applicationInsights", "id")
    assert criteria["failedLocationCount"] == "availabilityFailedLocationsThreshold"
    assert {accessor(scope) for scope in properties["scopes"]} == {
        (test_name, "id"),
        ("applicationInsights", "id"),
    }
    assert properties["enabled"] == "alertsEnabled"
    # Microsoft's advice: alert location threshold = number of test locations - 2.
    threshold = alerts["parameters"]["availabilityFailedLocationsThreshold"]["default"]
    locations = alerts["parameters"]["availabilityTestLocations"]["default"]
    assert threshold == len(locations) - AVAILABILITY_LOCATION_MARGIN


# --- the log search alerts ----------------------------------------------------------------------------


def test_the_log_alerts_are_the_issues(log_alerts: dict[str, dict[str, Any]]) -> None:
    assert set(log_alerts) == set(LOG_ALERTS)


def test_each_log_alert_rule_is_built_from_its_entry(alerts: BicepDoc) -> None:
    _, rules = one(alerts, "Microsoft.Insights/scheduledQueryRules")
    assert rules["config"]["loop_type"]["detail"] == {"item_name": "rule", "array_name": "logAlerts"}
    config = body(rules)
    assert config["kind"] == "LogAlert"
    properties = config["properties"]
    assert [accessor(scope) for scope in properties["scopes"]] == [("applicationInsights", "id")]
    assert properties["enabled"] == "alertsEnabled"
    assert properties["skipQueryValidation"] is True, "first deployments fail validation (see alerts.bicep)"
    for key in ("displayName", "description", "severity", "evaluationFrequency", "windowSize"):
        assert accessor(properties[key]) == ("rule", key), key
    [condition] = properties["criteria"]["allOf"]
    assert accessor(condition["query"]) == ("rule", "query")
    assert accessor(condition["metricMeasureColumn"]) == ("rule", "measure")
    assert accessor(condition["timeAggregation"]) == ("rule", "aggregation")
    assert accessor(condition["threshold"]) == ("rule", "threshold")
    assert condition["operator"] == "GreaterThan"
    periods = condition["failingPeriods"]
    assert accessor(periods["numberOfEvaluationPeriods"]) == ("rule", "evaluationPeriods")
    assert accessor(periods["minFailingPeriodsToAlert"]) == ("rule", "evaluationPeriods")


@pytest.mark.parametrize("name", sorted(LOG_ALERTS))
def test_each_log_alert_measures_what_it_names(
    name: str, alerts: BicepDoc, log_alerts: dict[str, dict[str, Any]], alert_queries: dict[str, str]
) -> None:
    metric_names, required, measure, sustained = LOG_ALERTS[name]
    rule = log_alerts[name]
    query = alert_queries[name]
    for metric in metric_names:
        assert f'name == "{metric}"' in query
    if required is not None:
        assert f'"{required}"' in query
    assert rule["measure"] == measure
    assert re.search(rf"\bproject timestamp, {measure}\b", query), "the rule needs the time and the measure"
    assert rule["aggregation"] in {"Total", "Maximum"}
    threshold = rule["threshold"]
    assert threshold in alerts["parameters"], f"{name}: the threshold is not a parameter"
    assert alerts["parameters"][threshold]["type"] == "int"
    assert re.fullmatch(r"PT\d+M", rule["windowSize"])
    assert re.fullmatch(r"PT\d+M", rule["evaluationFrequency"])
    assert rule["severity"] in range(5)
    if sustained:
        assert rule["evaluationPeriods"] >= 3, f"{name}: one bad window is not sustained"
    else:
        assert rule["evaluationPeriods"] == 1


def test_the_server_error_share_leaves_health_checks_out_and_needs_volume(
    alert_queries: dict[str, str],
) -> None:
    query = alert_queries["server-errors"]
    assert 'tostring(customDimensions["http.route"]) != "health"' in query
    assert "status >= 500" in query
    assert re.search(r"^let minimumAnswers = \d+;$", query, re.MULTILINE)
    assert "| where answers >= minimumAnswers" in query


def test_the_graph_permission_alert_counts_graphs_403s_as_well_as_refused_requests(
    alert_queries: dict[str, str],
) -> None:
    """Graph's 403 in the orchestration ends a batch's items (the batch answers 200, each item's problem
    inside) and asynchronous requests (answered only when their caller reads the status URL): while
    only batches run, no answer is counted graph-refused-identity, and only the 403s themselves show
    that the permission is gone."""
    query = alert_queries["graph-permission"]
    refused = PROBLEM_TYPE_PREFIX + "graph-refused-identity"

    def graph_call(status: str | None) -> dict[str, str]:
        answered = {"http.response.status_code": status} if status is not None else {}
        return {"graph.operation": "POST /chats", **answered}

    assert kql.keeps(query, "chatfn.graph.calls", graph_call("403"))
    assert kql.keeps(
        query,
        "chatfn.requests",
        {"http.route": "chats", "http.response.status_code": "502", "problem.type": refused},
    )
    for status in ("201", "401", "404", "429", "503", None):
        assert not kql.keeps(query, "chatfn.graph.calls", graph_call(status)), status
    caller_refused = PROBLEM_TYPE_PREFIX + "caller-refused"
    assert not kql.keeps(
        query,
        "chatfn.requests",
        {"http.route": "chats", "http.response.status_code": "403", "problem.type": caller_refused},
    ), "a caller refused by chatfn is not Graph refusing chatfn"
    assert not kql.keeps(query, "chatfn.graph.throttled", {"graph.operation": "POST /chats"})


@pytest.mark.parametrize("name", sorted(LOG_ALERTS))
def test_alert_queries_name_only_chatfns_telemetry(name: str, alert_queries: dict[str, str]) -> None:
    assert kql.vocabulary_errors(alert_queries[name]) == []


def test_counters_are_summed_from_value_sum(alert_queries: dict[str, str], workbook: dict[str, Any]) -> None:
    """Workspace-based Application Insights removed customMetrics' `value` column: valueSum holds the
    sum (https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource#appmetrics)."""
    queries = [(f"alert {name}", query) for name, query in alert_queries.items()]
    queries += [(f"chart {name}", query) for name, query in workbook_queries(workbook).items()]
    for name, query in queries:
        assert not re.search(r"\bvalue\b(?!Sum|Count|Min|Max)", kql.STRING.sub('""', query)), name


# --- the workbook -------------------------------------------------------------------------------------


def test_the_workbook_is_bound_to_application_insights(parsed: dict[str, BicepDoc]) -> None:
    doc = parsed[WORKBOOK]
    _, resource = one(doc, "Microsoft.Insights/workbooks")
    config = body(resource)
    assert config["kind"] == "shared"
    name = config["name"]["function"]
    assert name["type"] == "guid", "a workbook's name is a GUID"
    properties = config["properties"]
    assert accessor(properties["sourceId"]) == ("applicationInsights", "id")
    assert properties["category"] == "workbook"
    assert properties["version"] == "Notebook/1.0"
    assert properties["serializedData"]["function"] == {
        "type": "string",
        "parameters": {"value_to_convert": "content"},
    }
    content = doc["variables"]["content"]["value"]["function"]
    assert content["type"] == "union"
    loaded = content["parameters"]["arg_1"]["function"]
    assert loaded["type"] == "load_json_content"
    assert (INFRA / "modules" / loaded["parameters"]["file_path"]).resolve() == WORKBOOK_JSON
    [fallback] = content["parameters"]["arg_2"]["fallbackResourceIds"]
    assert accessor(fallback) == ("applicationInsights", "id")


def test_the_workbook_json_is_a_notebook(workbook: dict[str, Any]) -> None:
    assert workbook["version"] == "Notebook/1.0"
    assert "fallbackResourceIds" not in workbook, "set by workbook.bicep, per deployment"
    names = [item["name"] for item in workbook["items"]]
    assert len(names) == len(set(names)), "item names must be unique"
    assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in names)
    parameters = [
        parameter
        for item in workbook["items"]
        if item["type"] == 9
        for parameter in item["content"]["parameters"]
    ]
    assert [p["name"] for p in parameters] == ["TimeRange"]
    [time_range] = parameters
    assert time_range["type"] == 4  # a time range picker
    uuid.UUID(time_range["id"])
    for item in workbook["items"]:
        assert item["type"] in {1, 3, 9}, item["name"]
        if item["type"] != 3:
            continue
        content = item["content"]
        assert content["version"] == "KqlItem/1.0", item["name"]
        assert content["queryType"] == 0, item["name"]  # Logs (Analytics)
        assert content["resourceType"] == "microsoft.insights/components", item["name"]
        assert content["visualization"] in VISUALIZATIONS, item["name"]
        assert content["timeContextFromParameter"] == "TimeRange", item["name"]
        assert content["title"], item["name"]


def test_the_workbook_has_the_issues_charts(workbook: dict[str, Any]) -> None:
    queries = workbook_queries(workbook)
    for name, required in REQUIRED_CHARTS.items():
        assert name in queries, f"chart {name} is missing"
        missing = {text for text in required if text not in queries[name]}
        assert not missing, f"{name} does not query {missing}"


def test_workbook_queries_name_only_chatfns_telemetry(workbook: dict[str, Any]) -> None:
    for name, query in workbook_queries(workbook).items():
        assert kql.vocabulary_errors(query) == [], name
        # {Name} is a workbook parameter: an undefined one leaves the chart waiting forever.
        assert "{" not in kql.STRING.sub('""', query), name


def test_every_metric_is_charted(workbook: dict[str, Any]) -> None:
    charted = {text for query in workbook_queries(workbook).values() for text in kql.literals(query)}
    assert set(METRICS) <= charted, set(METRICS) - charted
