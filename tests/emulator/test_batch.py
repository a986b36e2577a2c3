"""POST /v1.0/$batch, as https://learn.microsoft.com/graph/json-batching describes it: each request
inside answered, authorized and throttled as if it had come alone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatfn.emulator import Emulator
from tests.emulator.conftest import ADELE, JACOB, MEGAN, client, error_of, get_token, group

JSON = {"Content-Type": "application/json"}
NOBODY = "00000000-0000-4000-8000-000000000000"


def _lookup(request_id: str, user: str = ADELE) -> dict[str, Any]:
    return {"id": request_id, "method": "GET", "url": f"/users/{user}"}


def _create(request_id: str, *keys: str) -> dict[str, Any]:
    return {"id": request_id, "method": "POST", "url": "/chats", "headers": JSON, "body": group(*keys)}


def _batch(graph: httpx.Client, *requests: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The answers by id, after checking the batch itself was answered 200."""
    answer = graph.post("/$batch", json={"requests": list(requests)})
    assert answer.status_code == 200, answer.text
    responses = answer.json()["responses"]
    assert sorted(response["id"] for response in responses) == sorted(request["id"] for request in requests)
    assert all(set(response) == {"id", "status", "headers", "body"} for response in responses)
    return {response["id"]: response for response in responses}


def test_each_request_is_answered_as_if_sent_alone(graph: httpx.Client, control: httpx.Client) -> None:
    answers = _batch(
        graph,
        {"id": "find", "method": "GET", "url": "/users?$filter=mail eq 'adele@contoso.com'&$select=id,mail"},
        _create("make", ADELE, MEGAN),
        _lookup("missing", NOBODY),
        {"id": "bare", "method": "get", "url": f"users/{MEGAN}"},
    )
    assert answers["find"]["status"] == 200
    assert answers["find"]["body"]["value"] == [{"id": ADELE, "mail": "adele@contoso.com"}]
    assert answers["find"]["headers"]["x-ms-resource-unit"] == "1"
    assert answers["make"]["status"] == 201
    assert [chat["id"] for chat in control.get("/chats").json()] == [answers["make"]["body"]["id"]]
    assert answers["missing"]["status"] == 404
    assert answers["missing"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert answers["bare"]["status"] == 200, "a url without its leading slash, a method in lower case"
    assert all(answer["headers"]["Content-Type"] == "application/json" for answer in answers.values())


def test_requests_inside_are_logged_as_graph_calls_after_the_batch(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    control.post("/reset").raise_for_status()
    _batch(graph, _lookup("1"), {"id": "2", "method": "GET", "url": "/users?$filter=mail eq 'x@contoso.com'"})
    log = [entry for entry in control.get("/requests").json() if entry["path"] != "/msi/token"]
    assert [(entry["path"], entry["status"], entry.get("batchRequestId")) for entry in log] == [
        ("/v1.0/$batch", 200, None),
        (f"/v1.0/users/{ADELE}", 200, "1"),
        ("/v1.0/users", 200, "2"),
    ]
    assert log[2]["query"] == {"$filter": "mail eq 'x@contoso.com'"}
    assert set(log[0]) == {"method", "path", "query", "body", "status", "time"}
    assert control.get("/stats").json()["graphRequests"] == 1, "one round trip"


def test_a_batch_takes_one_token_per_request_inside(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/throttle", json={"rps": 0.1, "burst": 3}).raise_for_status()
    answers = _batch(graph, _lookup("1"), _lookup("2"), _lookup("3"))
    assert [answers[key]["status"] for key in "123"] == [200] * 3
    assert graph.get(f"/users/{ADELE}").status_code == 429, (
        "the batch itself took nothing, its three requests all"
    )


def test_requests_inside_draw_on_their_own_buckets_and_are_throttled_alone(
    graph: httpx.Client, control: httpx.Client
) -> None:
    buckets = {"chats.write": {"rps": 0.1, "burst": 2}, "directory": {"rps": 0.1, "burst": 3}}
    control.post("/throttle", json={"buckets": buckets}).raise_for_status()
    writes = [_create(f"w{n}", ADELE, MEGAN) for n in range(4)]
    lookups = [_lookup(f"l{n}") for n in range(5)]
    reads = [{"id": f"r{n}", "method": "GET", "url": f"/users/{JACOB}/chats"} for n in range(3)]
    answers = _batch(graph, *writes, *lookups, *reads)

    statuses = {key: answer["status"] for key, answer in answers.items()}
    assert [statuses[f"w{n}"] for n in range(4)] == [201, 201, 429, 429]
    assert [statuses[f"l{n}"] for n in range(5)] == [200, 200, 200, 429, 429]
    assert [statuses[f"r{n}"] for n in range(3)] == [200] * 3, "chats.read is unlimited"
    for key in ("w2", "w3", "l3", "l4"):
        assert answers[key]["body"]["error"]["code"] == "TooManyRequests"
        assert float(answers[key]["headers"]["Retry-After"]) > 0
    assert len(control.get("/chats").json()) == 2, "throttled requests inside are not carried out"
    logged = [entry["status"] for entry in control.get("/requests").json() if "batchRequestId" in entry]
    assert logged.count(429) == 4


def test_more_than_20_requests_are_refused_whole(graph: httpx.Client, control: httpx.Client) -> None:
    answer = graph.post("/$batch", json={"requests": [_lookup(str(n)) for n in range(21)]})
    assert answer.status_code == 400
    assert "exceeds the limit" in error_of(answer)["message"]
    assert [entry["path"] for entry in control.get("/requests").json()][-1] == "/v1.0/$batch", "none ran"
    assert len(_batch(graph, *[_lookup(str(n)) for n in range(20)])) == 20


@pytest.mark.parametrize(
    "body",
    [
        {"requests": []},
        {"request": [_lookup("1")]},
        {"requests": [_lookup("1")], "extra": True},
        {"requests": [_lookup("a"), _lookup("A")]},
        {"requests": [{"method": "GET", "url": "/users"}]},
        {"requests": [{"id": "1", "method": "FETCH", "url": "/users"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]},
        {"requests": [{"id": "1", "method": "POST", "url": "/chats", "headers": JSON}]},
        {"requests": [{"id": "1", "method": "POST", "url": "/chats", "body": group(ADELE, MEGAN)}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/users", "headers": {"ConsistencyLevel": 1}}]},
        {"requests": [{**_lookup("1"), "dependsOn": ["2"]}]},
        {"requests": [{**_lookup("1"), "dependsOn": ["2"]}, {**_lookup("2"), "dependsOn": ["1"]}]},
        {"requests": [{**_lookup("1"), "dependson": []}]},
        {"requests": [_lookup("1"), {**_create("2", ADELE, MEGAN), "body": "not base64!"}]},
    ],
)
def test_a_malformed_batch_is_400_and_runs_nothing(
    graph: httpx.Client, control: httpx.Client, body: dict[str, Any]
) -> None:
    answer = graph.post("/$batch", json=body)
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "BadRequest"
    assert not [entry for entry in control.get("/requests").json() if "batchRequestId" in entry]


def test_a_write_without_content_type_is_refused_in_graphs_words(graph: httpx.Client) -> None:
    body = {"requests": [{"id": "7", "method": "POST", "url": "/chats", "body": group(ADELE, MEGAN)}]}
    message = error_of(graph.post("/$batch", json=body))["message"]
    assert message == "Write request id : 7 does not contain Content-Type header or body."


def test_depends_on_orders_requests_and_a_failure_fails_its_dependents(
    graph: httpx.Client, control: httpx.Client
) -> None:
    answers = _batch(
        graph,
        {**_create("late", ADELE, MEGAN), "dependsOn": ["Early"]},
        _lookup("early"),
        {**_create("after-missing", ADELE, JACOB), "dependsOn": ["missing"]},
        _lookup("missing", NOBODY),
        {**_lookup("chained"), "dependsOn": ["after-missing"]},
    )
    assert answers["late"]["status"] == 201
    assert answers["missing"]["status"] == 404
    for key in ("after-missing", "chained"):
        assert answers[key]["status"] == 424
        assert answers[key]["body"]["error"]["code"] == "FailedDependency"
    ran = [entry["batchRequestId"] for entry in control.get("/requests").json() if "batchRequestId" in entry]
    assert ran == ["early", "missing", "late"], "dependencies first; a request not run is not logged"
    assert len(control.get("/chats").json()) == 1


def test_requests_inside_carry_the_outer_token_and_its_roles(
    emulator: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    control.post("/identity", json={"roles": ["Chat.Create"]}).raise_for_status()
    with client(emulator.graph_url, headers={"Authorization": f"Bearer {get_token(emulator)}"}) as limited:
        answer = limited.post(
            "/$batch",
            json={
                "requests": [
                    _lookup("1"),
                    {**_create("2", ADELE, MEGAN), "headers": {**JSON, "Authorization": "x"}},
                ]
            },
        )
    answers = {response["id"]: response for response in answer.json()["responses"]}
    assert answers["1"]["status"] == 403, "no User.Read.All on the outer token"
    assert answers["2"]["status"] == 201, "the outer token, whatever the request inside says"


def test_a_batch_needs_a_valid_token_and_post(emulator: Emulator, graph: httpx.Client) -> None:
    with client(emulator.graph_url) as anonymous:
        answer = anonymous.post("/$batch", json={"requests": [_lookup("1")]})
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "InvalidAuthenticationToken"
    assert graph.get("/$batch").status_code == 405


def test_faults_match_the_outer_request_only(graph: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"path": "/v1.0/users", "status": 503}).raise_for_status()
    assert _batch(graph, _lookup("1"))["1"]["status"] == 200, "a rule on /v1.0/users spares requests inside"
    control.post("/faults", json={"path": "/v1.0/$batch", "status": 503, "count": 1}).raise_for_status()
    assert graph.post("/$batch", json={"requests": [_lookup("1")]}).status_code == 503


def test_a_batch_inside_a_batch_is_not_served(graph: httpx.Client) -> None:
    nested = {
        "id": "1",
        "method": "POST",
        "url": "/$batch",
        "headers": JSON,
        "body": {"requests": [_lookup("a")]},
    }
    assert _batch(graph, nested)["1"]["status"] == 404


def test_a_next_link_inside_points_at_the_emulator_as_one_sent_alone(
    emulator: Emulator, graph: httpx.Client
) -> None:
    for _ in range(2):
        graph.post("/chats", json=group(ADELE, MEGAN)).raise_for_status()
    page = _batch(graph, {"id": "1", "method": "GET", "url": f"/users/{ADELE}/chats?$top=1"})["1"]["body"]
    assert page["@odata.nextLink"].startswith(f"{emulator.graph_url}/users/{ADELE}/chats?")
    assert len(graph.get(page["@odata.nextLink"]).json()["value"]) == 1
