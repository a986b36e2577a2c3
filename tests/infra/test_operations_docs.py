"""docs/operations.md covers what the templates deploy: every alert with its meaning, a query that
confirms it and what to do; the request lookup; every chart of the workbook; every threshold with
its azd variable and default; and its queries name only chatfn's telemetry, like the templates'."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import INFRA, ROOT, BicepDoc
from .kql import vocabulary_errors
from .monitoring_names import ATTRIBUTES, METRICS, PROBLEM_SLUGS, ROUTES
from .test_monitoring import LOG_ALERTS, THRESHOLD_PARAMETERS, WORKBOOK_JSON

DOC_PATH = ROOT / "docs" / "operations.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
KUSTO_BLOCK = re.compile(r"^```kusto\n(.*?)^```$", re.MULTILINE | re.DOTALL)

ALERT_SECTIONS = [*LOG_ALERTS, "availability"]


def section(heading: str) -> str:
    """The text under a heading (any level), up to the next heading of the same or a higher level."""
    lines = DOC.splitlines()
    fenced = False
    level = 0
    found: list[str] = []
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        marks = re.match(r"(#+) (.*)$", line) if not fenced else None
        if level and marks and len(marks.group(1)) <= level:
            break
        if level:
            found.append(line)
        elif marks and marks.group(2) == heading:
            level = len(marks.group(1))
    assert level, f"no section {heading!r}"
    return "\n".join(found)


def alert_section(name: str) -> str:
    headings = re.findall(rf"^### (.+ \(`{re.escape(name)}`\))$", DOC, re.MULTILINE)
    assert len(headings) == 1, f"no section for the alert {name}"
    return section(headings[0])


def test_the_doc_queries_name_only_chatfns_telemetry() -> None:
    queries = KUSTO_BLOCK.findall(DOC)
    assert len(queries) >= len(ALERT_SECTIONS) + 1
    for query in queries:
        assert vocabulary_errors(query, placeholders=True) == [], query


@pytest.mark.parametrize("name", ALERT_SECTIONS)
def test_each_alert_says_what_it_means_how_to_confirm_it_and_what_to_do(name: str) -> None:
    text = alert_section(name)
    for part in ("**Fires**", "**Means**", "**Confirm**", "**What to do**"):
        assert part in text, f"{name}: {part} is missing"
    assert KUSTO_BLOCK.search(text), f"{name}: no query to confirm it"


@pytest.mark.parametrize("name", sorted(LOG_ALERTS))
def test_each_alerts_confirming_queries_read_the_alerts_metrics(name: str) -> None:
    queries = KUSTO_BLOCK.findall(alert_section(name))
    for metric in LOG_ALERTS[name][0]:
        assert any(f'"{metric}"' in query for query in queries), f"{name}: no query of {metric}"


def test_a_request_is_found_by_its_request_id() -> None:
    text = section("Finding a request by its requestId")
    [query, *_] = KUSTO_BLOCK.findall(text)
    assert 'let requestId = "<requestId>";' in query
    assert "operation_Id" in query
    assert {"traces", "requests", "dependencies"} <= set(re.findall(r"\w+", query))


def test_every_chart_of_the_workbook_is_explained() -> None:
    workbook = json.loads(WORKBOOK_JSON.read_text(encoding="utf-8"))
    text = section("Dashboard")
    for item in workbook["items"]:
        if item["type"] == 3:
            title = item["content"]["title"]
            assert f"**{title}**" in text, f"chart {title!r} is not explained"


def test_the_thresholds_table_matches_the_templates(parsed: dict[str, BicepDoc]) -> None:
    params = parsed["main.bicep"]["parameters"]
    azd = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    rows = re.findall(r"^\| `(CHATFN_[A-Z_]+)` \| `(\w+)` \| `([^`]*)` \|", DOC, re.MULTILINE)
    documented = {param for _, param, _ in rows}
    assert documented == {*THRESHOLD_PARAMETERS, "alertEmailAddress", "alertsEnabled"}
    for variable, param, default in rows:
        expected = params[param]["default"]
        assert default == (str(expected).lower() if isinstance(expected, bool) else str(expected)), param
        assert azd[param]["value"] == f"${{{variable}={default}}}", param


def test_the_telemetry_names_are_listed() -> None:
    text = section("Telemetry names")
    for name in (*METRICS, *ATTRIBUTES, *ROUTES, *PROBLEM_SLUGS):
        assert f"`{name}`" in text, name


def test_the_telemetry_research_names_its_settings_and_sources() -> None:
    text = section("How telemetry gets to Application Insights")
    for term in (
        "azure-monitor-opentelemetry",
        "configure_azure_monitor()",
        '"telemetryMode": "OpenTelemetry"',
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
        "OTEL_",
        "Flex Consumption",
        "`customMetrics`",
        "`requests`",
        "`dependencies`",
        "`traces`",
    ):
        assert term in text, term
    assert "https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto" in text


def test_the_doc_is_linked_from_deploy_and_readme() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](operations.md)" in deploy
    assert "](docs/operations.md)" in readme


def test_links_within_the_doc_resolve() -> None:
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", DOC, re.MULTILINE)
    }
    for anchor in re.findall(r"\]\(#([\w-]+)\)", DOC):
        assert anchor in anchors, anchor
    for path in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", DOC):
        assert (DOC_PATH.parent / path).is_file(), path


def test_nothing_points_outside_the_repository() -> None:
    """Operators read this repository only: nothing here may lean on files kept beside it."""
    outside = ("../" + "shared", "CONTRACT" + ".md")
    paths = [DOC_PATH, *sorted((INFRA / "monitoring").rglob("*")), *sorted(INFRA.glob("modules/*.bicep"))]
    for path in paths:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for needle in outside:
                assert needle not in text, f"{path} mentions {needle}"
