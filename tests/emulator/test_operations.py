"""The 202 + teamsAsyncOperation flow that POST /chats takes when it installs an app."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.cases import seed_examples
from tests.emulator.conftest import ADELE, APP, GRAPH, JACOB, MEGAN, error_of, group, one_on_one

LOCATION = re.compile(r"/chats\('(?P<chat>19:[^']+)'\)/operations\('(?P<operation>[^']+)'\)")


def _with_app(body: dict[str, Any], app: str = APP, **extra: Any) -> dict[str, Any]:
    return body | {
        "installedApps": [{"teamsApp@odata.bind": f"{GRAPH}/appCatalogs/teamsApps/{app}", **extra}]
    }


def _start(graph: httpx.Client, body: dict[str, Any]) -> tuple[str, str, str]:
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 202, answer.text
    location = answer.headers["Location"]
    match = LOCATION.fullmatch(location)
    assert match is not None, location
    return location, match["chat"], match["operation"]


@pytest.mark.parametrize("number", [3, 4])
def test_reference_example_polls_to_success_and_installs_the_app(graph: httpx.Client, number: int) -> None:
    request = seed_examples()[number]["request"]
    location, chat_id, operation_id = _start(graph, request)
    reference = LOCATION.fullmatch(seed_examples()[number]["response"]["location"])
    assert reference is not None
    assert len(operation_id) == len(reference["operation"])

    statuses = []
    for attempt in (1, 2, 3):
        operation = graph.get(location).json()
        statuses.append(operation["status"])
        assert operation["attemptsCount"] == attempt
        assert operation["id"] == operation_id
        assert operation["targetResourceId"] == chat_id
        assert operation["targetResourceLocation"] == f"/chats('{chat_id}')"
    assert statuses == ["inProgress", "inProgress", "succeeded"]
    assert operation["error"] is None
    assert set(operation) == {
        "@odata.context",
        "id",
        "operationType",
        "createdDateTime",
        "status",
        "lastActionDateTime",
        "attemptsCount",
        "targetResourceId",
        "targetResourceLocation",
        "error",
    }

    app_id = request["installedApps"][0]["teamsApp@odata.bind"].rsplit("/", 1)[1]
    chat = graph.get(f"/chats/{chat_id}", params={"$expand": "installedApps"}).json()
    assert [app["teamsApp"]["id"] for app in chat["installedApps"]] == [app_id]
    permissions = request["installedApps"][0].get("consentedPermissionSet")
    assert chat["installedApps"][0]["consentedPermissionSet"] == permissions


def test_chat_exists_at_once_and_gets_its_app_on_success(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/operations", json={"polls": 1}).raise_for_status()
    location, chat_id, _ = _start(graph, _with_app(group(ADELE, MEGAN)))
    assert graph.get(f"/chats/{chat_id}").status_code == 200
    assert control.get("/chats").json()[0]["installedApps"] == []
    assert graph.get(location).json()["status"] == "inProgress"
    assert graph.get(location).json()["status"] == "succeeded"
    assert control.get("/chats").json()[0]["installedApps"] == [
        {"teamsAppId": APP, "consentedPermissionSet": None}
    ]


def test_operation_reads_by_path_segments_and_encoded_quotes(graph: httpx.Client) -> None:
    _, chat_id, operation_id = _start(graph, _with_app(one_on_one(ADELE, JACOB)))
    assert graph.get(f"/chats/{chat_id}/operations/{operation_id}").json()["status"] == "inProgress"
    encoded = f"/chats(%27{chat_id}%27)/operations(%27{operation_id}%27)"
    assert graph.get(encoded).json()["attemptsCount"] == 2


def test_failed_result_and_retry_after(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/operations", json={"polls": 1, "result": "failed", "retryAfter": 0.5}).raise_for_status()
    location, _, _ = _start(graph, _with_app(group(ADELE, MEGAN)))
    first = graph.get(location)
    assert first.headers["Retry-After"] == "0.5"
    final = graph.get(location)
    assert "Retry-After" not in final.headers
    assert final.json()["status"] == "failed"
    assert set(final.json()["error"]) == {"code", "message"}
    assert control.get("/chats").json()[0]["installedApps"] == []


def test_operation_keeps_the_config_it_started_with(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/operations", json={"polls": 0}).raise_for_status()
    location, _, _ = _start(graph, _with_app(group(ADELE, MEGAN)))
    control.post("/operations", json={"polls": 5}).raise_for_status()
    assert graph.get(location).json()["status"] == "succeeded"


def test_unknown_operation_is_404(graph: httpx.Client) -> None:
    _, chat_id, operation_id = _start(graph, _with_app(group(ADELE, MEGAN)))
    assert graph.get(f"/chats/{chat_id}/operations/nope").status_code == 404
    other = graph.post("/chats", json=group(ADELE, MEGAN)).json()["id"]
    answer = graph.get(f"/chats/{other}/operations/{operation_id}")
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "NotFound"


def test_unknown_app_is_404(graph: httpx.Client) -> None:
    answer = graph.post("/chats", json=_with_app(group(ADELE, MEGAN), "00000000-0000-0000-0000-000000000000"))
    assert answer.status_code == 404
    assert "00000000-0000-0000-0000-000000000000" in error_of(answer)["message"]


def test_app_ids_compare_case_insensitively(graph: httpx.Client) -> None:
    assert graph.post("/chats", json=_with_app(group(ADELE, MEGAN), APP.upper())).status_code == 202


def test_two_apps_are_refused(graph: httpx.Client) -> None:
    body = _with_app(group(ADELE, MEGAN))
    body["installedApps"] *= 2
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 400
    assert "one app" in error_of(answer)["message"]


@pytest.mark.parametrize(
    "permission_set",
    [
        {
            "resourceSpecificPermissions": [
                {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "app"}
            ]
        },
        {"resourceSpecificPermissions": [{"permissionType": "application"}]},
        {"resourceSpecificPermissions": "ChatMessage.Read.Chat"},
        {"permissions": []},
    ],
)
def test_permission_set_shape_is_checked(graph: httpx.Client, permission_set: dict[str, Any]) -> None:
    body = _with_app(group(ADELE, MEGAN), consentedPermissionSet=permission_set)
    assert graph.post("/chats", json=body).status_code == 400


def test_malformed_app_bind_is_refused(graph: httpx.Client) -> None:
    body = group(ADELE, MEGAN) | {"installedApps": [{"teamsApp@odata.bind": f"{GRAPH}/teamsApps/{APP}"}]}
    answer = graph.post("/chats", json=body)
    assert answer.status_code == 400
    assert "teamsApp@odata.bind" in error_of(answer)["message"]


@pytest.mark.parametrize(
    ("statuses", "installed"),
    [
        (["notStarted", "inProgress", "succeeded"], True),
        (["notStarted", "failed"], False),
        (["inProgress", "invalid"], False),
        (["succeeded"], True),
    ],
)
def test_statuses_progress_one_per_read_and_the_last_decides(
    graph: httpx.Client, control: httpx.Client, statuses: list[str], installed: bool
) -> None:
    """Any sequence of teamsAsyncOperationStatus values
    (https://learn.microsoft.com/en-us/graph/api/resources/teamsasyncoperation)."""
    control.post("/operations", json={"statuses": statuses}).raise_for_status()
    location, _, _ = _start(graph, _with_app(group(ADELE, MEGAN)))
    seen = [graph.get(location).json() for _ in range(len(statuses) + 1)]
    assert [operation["status"] for operation in seen] == [*statuses, statuses[-1]]
    assert seen[-1]["attemptsCount"] == len(statuses), "reads after the end change nothing"
    assert (seen[-1]["error"] is None) == (statuses[-1] == "succeeded")
    assert bool(control.get("/chats").json()[0]["installedApps"]) is installed


def test_statuses_progress_by_time(graph: httpx.Client, control: httpx.Client) -> None:
    body = {"statuses": ["notStarted", "inProgress", "succeeded"], "completeAfterSeconds": 1.2}
    control.post("/operations", json=body | {"retryAfter": 0.1}).raise_for_status()
    started = time.monotonic()
    location, _, _ = _start(graph, _with_app(group(ADELE, MEGAN)))
    first, again = graph.get(location), graph.get(location)
    assert time.monotonic() - started < 0.6, "the machine is too slow for this test's timing"
    assert [first.json()["status"], again.json()["status"]] == ["notStarted", "notStarted"]
    assert first.headers["Retry-After"] == "0.1"
    time.sleep(max(0.0, started + 0.75 - time.monotonic()))
    assert graph.get(location).json()["status"] == "inProgress"
    time.sleep(max(0.0, started + 1.3 - time.monotonic()))
    final = graph.get(location)
    assert final.json()["status"] == "succeeded"
    assert "Retry-After" not in final.headers
    assert control.get("/chats").json()[0]["installedApps"] != []


def test_legacy_polls_and_result_are_a_sequence_of_statuses(control: httpx.Client) -> None:
    assert control.post("/operations", json={"polls": 1, "result": "failed"}).json()["statuses"] == [
        "inProgress",
        "failed",
    ]
    assert control.post("/operations", json={"polls": 0}).json()["statuses"] == ["failed"]


@pytest.mark.parametrize(
    "body",
    [
        {"statuses": []},
        {"statuses": ["running"]},
        {"statuses": ["succeeded"], "polls": 1},
        {"completeAfterSeconds": -1},
        {"statuses": "succeeded"},
    ],
)
def test_invalid_operation_settings_are_400(control: httpx.Client, body: dict[str, Any]) -> None:
    assert control.post("/operations", json=body).status_code == 400
