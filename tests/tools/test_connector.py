"""The committed connector passes the certification rules that can be checked offline, each rule
catches what it is for, and both actions send bodies the app accepts."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatfn.api import swagger
from chatfn.chats.batch import parse_batch_request
from chatfn.chats.request import ChatRequest
from chatfn.chats.spec import parse_chat_request
from chatfn.contract import BATCH_MAX_ITEMS
from chatfn.tools import connector
from chatfn.tools.pngicon import bubble_icon
from tests.tools.connector_rules import Violation, designer_outputs, violations

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = ROOT / "connector"

Package = dict[str, Any]


def committed() -> Package:
    return {
        "swagger": json.loads((CONNECTOR / "apiDefinition.swagger.json").read_text()),
        "properties": json.loads((CONNECTOR / "apiProperties.json").read_text()),
        "certification": json.loads((CONNECTOR / "certification" / "apiProperties.json").read_text()),
        "icon": (CONNECTOR / "icon.png").read_bytes(),
        "readme": (CONNECTOR / "readme.md").read_text(),
    }


def check(package: Package) -> list[Violation]:
    return violations(**package)


def test_the_committed_connector_passes_the_offline_certification_checks() -> None:
    assert check(committed()) == []


def test_the_committed_files_are_what_the_code_generates(tmp_path: Path) -> None:
    connector.main(["--write", str(tmp_path)])
    for name in (
        "apiDefinition.swagger.json",
        "apiProperties.json",
        "certification/apiProperties.json",
        "readme.md",
    ):
        stale = (CONNECTOR / name).read_text() != (tmp_path / name).read_text()
        assert not stale, f"connector/{name} is stale: run `make connector`"
    assert (CONNECTOR / "icon.png").read_bytes() == (tmp_path / "icon.png").read_bytes()


def _swagger(edit: Callable[[dict[str, Any]], object]) -> Callable[[Package], None]:
    def edit_swagger(package: Package) -> None:
        edit(package["swagger"])

    return edit_swagger


def _create(swagger: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = swagger["paths"]["/chats"]["post"]
    return operation


BREAKS: dict[str, tuple[Callable[[Package], None], str]] = {
    "long description": (
        _swagger(lambda s: s["info"].update(description="Opens Teams chats. " * 30)),
        "description-length",
    ),
    "short description": (_swagger(lambda s: s["info"].update(description="Chats.")), "description-length"),
    "product name": (
        _swagger(lambda s: s["info"].update(description=s["info"]["description"] + " For Power Automate.")),
        "product-name",
    ),
    "backticks": (_swagger(lambda s: _create(s).update(description="Send `emails` here.")), "raw-markup"),
    "title with API": (_swagger(lambda s: s["info"].update(title="chatfn API")), "title"),
    "no contact": (_swagger(lambda s: s["info"].pop("contact")), "contact"),
    "no contact email": (_swagger(lambda s: s["info"]["contact"].pop("email")), "contact-email"),
    "no metadata": (_swagger(lambda s: s.pop("x-ms-connector-metadata")), "connector-metadata"),
    "unknown category": (
        _swagger(lambda s: s["x-ms-connector-metadata"][2].update(propertyValue="Chats")),
        "connector-metadata",
    ),
    "summary with a period": (_swagger(lambda s: _create(s).update(summary="Create a chat.")), "summary"),
    "description as summary": (
        _swagger(lambda s: _create(s).update(description=_create(s)["summary"])),
        "description",
    ),
    "parameter without summary": (
        _swagger(lambda s: _create(s)["parameters"][1].pop("x-ms-summary")),
        "x-ms-summary",
    ),
    "property without summary": (
        _swagger(lambda s: s["definitions"]["Member"]["properties"]["email"].pop("x-ms-summary")),
        "x-ms-summary",
    ),
    "header without summary": (
        _swagger(lambda s: _create(s)["responses"]["202"]["headers"]["Location"].pop("x-ms-summary")),
        "x-ms-summary",
    ),
    "nothing required": (
        _swagger(lambda s: s["definitions"][swagger.EMAILS_FORM].pop("required")),
        "required-input",
    ),
    "free text Prefer": (_swagger(lambda s: _create(s)["parameters"][2].pop("enum")), "free-text-header"),
    "raw enum values": (
        _swagger(
            lambda s: s["definitions"]["ChatWithMembers"]["properties"]["chatType"].pop("x-ms-enum-values")
        ),
        "enum-names",
    ),
    "date without format": (
        _swagger(lambda s: s["definitions"]["ChatResult"]["properties"]["createdDateTime"].pop("format")),
        "format",
    ),
    "path without encoding": (
        _swagger(
            lambda s: s["paths"]["/chats/requests/{requestId}"]["get"]["parameters"][0].pop(
                "x-ms-url-encoding"
            )
        ),
        "url-encoding",
    ),
    "stackOwner in the import copy": (
        lambda p: p["properties"]["properties"].update(stackOwner="Fabrikam"),
        "stack-owner-in-import",
    ),
    "project name as publisher": (
        lambda p: p["certification"]["properties"].update(publisher="chatfn"),
        "organisation-name",
    ),
    "white brand colour": (
        lambda p: p["properties"]["properties"].update(iconBrandColor="#FFFFFF"),
        "brand-colour",
    ),
    "set without the host": (
        lambda p: p["properties"]["properties"]["connectionParameterSets"]["values"][1]["parameters"].pop(
            connector.HOST_PARAMETER
        ),
        "host-parameter",
    ),
    "white icon": (lambda p: p.update(icon=bubble_icon("#ffffff")), "icon-background"),
    "small icon": (lambda p: p.update(icon=bubble_icon(connector.BRAND_COLOUR, size=100)), "icon-size"),
    "readme without credentials": (
        lambda p: p.update(readme=p["readme"].replace("## Obtaining Credentials", "## Keys")),
        "readme-section",
    ),
}


@pytest.mark.parametrize("name", BREAKS)
def test_each_rule_catches_its_violation(name: str) -> None:
    package = copy.deepcopy(committed())
    breaking, rule = BREAKS[name]
    breaking(package)
    assert rule in {violation.rule for violation in check(package)}


def test_the_two_actions_together_offer_every_field_of_the_request() -> None:
    offered = {field for fields in swagger.FORMS.values() for field in fields}
    assert offered == set(ChatRequest.model_fields)
    definitions = swagger.swagger_document()["definitions"]
    for form, fields in swagger.FORMS.items():
        assert list(definitions[form]["properties"]) == list(fields)


@pytest.mark.parametrize(
    ("form", "body"),
    [
        (swagger.EMAILS_FORM, {"emails": "alex@contoso.com;jacob@contoso.com", "reuseExisting": True}),
        (
            swagger.MEMBERS_FORM,
            {
                "members": [
                    {"email": "alex@contoso.com"},
                    {
                        "userId": "8b081ef6-4792-4def-b2c9-c363a1bf41d5",
                        "tenantId": "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1",
                    },
                ],
                "chatType": "group",
                "topic": "Incident 4711",
            },
        ),
    ],
)
def test_each_action_sends_a_body_the_app_accepts(form: str, body: dict[str, Any]) -> None:
    definition = swagger.swagger_document()["definitions"][form]
    assert set(definition["required"]) <= set(body) <= set(definition["properties"])
    parse_chat_request(body)


def test_the_members_action_is_routed_to_the_chats_endpoint() -> None:
    document = swagger.swagger_document()
    assert document["paths"][swagger.MEMBERS_PATH]["post"]["operationId"] == swagger.CREATE_WITH_MEMBERS
    policies = connector.connector_properties()["properties"]["policyTemplateInstances"]
    [route] = [p for p in policies if p["templateId"] == "routerequesttoendpoint"]
    assert route["parameters"]["x-ms-apimTemplate-operationName"] == [swagger.CREATE_WITH_MEMBERS]
    assert document["basePath"] + route["parameters"]["x-ms-apimTemplateParameter.newPath"] == "/api/chats"


def test_a_connection_signs_in_with_a_function_key_or_entra_id() -> None:
    properties = connector.connector_properties("11111111-2222-3333-4444-555555555555")["properties"]
    sets = {
        s["uiDefinition"]["displayName"]: s["parameters"]
        for s in properties["connectionParameterSets"]["values"]
    }
    assert set(sets) == {"API key", "Microsoft Entra ID"}
    assert sets["API key"][connector.KEY_PARAMETER]["type"] == "securestring"
    oauth = sets["Microsoft Entra ID"]["token"]["oAuthSettings"]
    assert (oauth["identityProvider"], oauth["clientId"]) == ("aad", "11111111-2222-3333-4444-555555555555")
    assert oauth["customParameters"]["resourceUri"]["value"] == "@connectionParameters('resourceUri')"
    [key_policy] = [p for p in properties["policyTemplateInstances"] if p["templateId"] == "setheader"]
    assert key_policy["parameters"]["x-ms-apimTemplateParameter.name"] == "x-functions-key"
    keyed = key_policy["parameters"]["x-ms-apimTemplate-operationName"]
    assert set(keyed) == {
        swagger.CREATE_BY_EMAILS,
        swagger.CREATE_WITH_MEMBERS,
        swagger.CREATE_BATCH,
        swagger.CANCEL_BATCH,
    }, "every operation that needs the key, and not the anonymous status URLs"


def test_the_status_operation_is_internal_and_anonymous() -> None:
    get = swagger.swagger_document()["paths"]["/chats/requests/{requestId}"]["get"]
    assert get["x-ms-visibility"] == "internal"
    assert "security" not in get or get["security"] == []


def test_the_import_steps_name_every_file_of_the_connector() -> None:
    steps = (ROOT / "docs" / "power-automate.md").read_text()
    for path in sorted(CONNECTOR.rglob("*.*")):
        assert str(path.relative_to(CONNECTOR)) in steps, (
            f"docs/power-automate.md does not mention {path.name}"
        )
    for operation in (
        swagger.CREATE_BY_EMAILS,
        swagger.CREATE_WITH_MEMBERS,
        swagger.CREATE_BATCH,
        swagger.GET_BATCH,
        swagger.CANCEL_BATCH,
    ):
        assert operation in steps


@pytest.mark.parametrize(
    ("responses", "shown"),
    [
        ({"201": {"description": "a"}}, "a"),
        ({"default": {"description": "a"}}, "a"),
        ({"202": {"description": "a"}}, "a"),
        ({"201": {"description": "a"}, "200": {"description": "b"}}, "b"),
        ({"202": {"description": "a"}, "201": {"description": "b"}, "400": {"description": "c"}}, "b"),
        ({"202": {"description": "a"}, "default": {"description": "b"}}, "b"),
        ({"202": {"description": "a"}, "400": {"description": "b"}}, None),
    ],
)
def test_the_designer_takes_outputs_from_200_then_201_then_default(
    responses: dict[str, Any], shown: str | None
) -> None:
    assert designer_outputs(responses).get("description") == shown


@pytest.mark.parametrize(
    "operation", [swagger.CREATE_BY_EMAILS, swagger.CREATE_WITH_MEMBERS, swagger.GET_REQUEST]
)
def test_the_designer_shows_the_chat_as_every_actions_outputs(operation: str) -> None:
    """A maker finds Chat ID and Chat link in dynamic content, whichever 2xx the action ends with."""
    document = committed()["swagger"]
    [found] = [
        op
        for methods in document["paths"].values()
        for op in methods.values()
        if op["operationId"] == operation
    ]
    responses = found["responses"]
    assert designer_outputs(responses).get("schema") == {"$ref": "#/definitions/ChatResult"}
    for status in ("200", "201"):
        if status in responses:
            assert responses[status]["schema"] == {"$ref": "#/definitions/ChatResult"}, status


@pytest.mark.parametrize("status", ["400", "422"])
def test_a_flow_can_read_the_fields_of_a_refusal(status: str) -> None:
    document = committed()["swagger"]
    for operation in (_create(document), document["paths"][swagger.MEMBERS_PATH]["post"]):
        assert operation["responses"][status]["schema"] == {"$ref": "#/definitions/ProblemDetails"}
    problem = document["definitions"]["ProblemDetails"]["properties"]
    assert problem["errors"]["items"] == {"$ref": "#/definitions/FieldErrorDetail"}


SAMPLE_PUBLISHER = ROOT / "tests" / "data" / "publisher.json"
CLIENT = "11111111-2222-3333-4444-555555555555"
TENANT = "4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1"


def _oauth(properties: dict[str, Any]) -> dict[str, Any]:
    entra_set = properties["properties"]["connectionParameterSets"]["values"][1]
    settings: dict[str, Any] = entra_set["parameters"]["token"]["oAuthSettings"]
    return settings


def _written_oauth(directory: Path) -> list[dict[str, Any]]:
    return [
        _oauth(json.loads((directory / name).read_text()))
        for name in ("apiProperties.json", "certification/apiProperties.json")
    ]


def test_a_connection_signs_in_through_the_client_apps_tenant(tmp_path: Path) -> None:
    """The client app docs/power-automate.md registers is single-tenant, which Entra refuses at /common
    (AADSTS50194): both property files send sign-in to its tenant, given as a GUID in any case."""
    connector.main(["--write", str(tmp_path), "--client-id", CLIENT, "--tenant-id", TENANT.upper()])
    for oauth in _written_oauth(tmp_path):
        assert oauth["clientId"] == CLIENT
        assert oauth["customParameters"]["tenantId"] == {"value": TENANT}
        assert oauth["customParameters"]["loginUri"] == {"value": "https://login.microsoftonline.com"}


def test_a_client_id_without_its_tenant_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not `common` by default: that would write files whose every sign-in fails."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as refused:
        connector.main(["--write", str(out), "--client-id", CLIENT])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert "--tenant-id" in error
    assert "TENANT_ID" in error
    assert "AADSTS50194" in error
    assert "az account show --query tenantId -o tsv" in error
    assert not out.exists()


@pytest.mark.parametrize(
    "tenant",
    [
        "contoso.onmicrosoft.com",
        "organizations",
        "Common",
        "4dc1fe35-8ac6-4f0d-904a",
        "4dc1fe358ac64f0d904a7ebcd364bea1",
        "{4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1}",
        " 4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1",
        "",
    ],
)
def test_a_tenant_id_that_is_not_a_guid_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tenant: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as refused:
        connector.main(["--write", str(out), "--client-id", CLIENT, "--tenant-id", tenant])
    assert refused.value.code == 2
    assert "is not a tenant id" in capsys.readouterr().err
    assert not out.exists()


def test_common_is_written_only_when_asked_for(tmp_path: Path) -> None:
    """For a client app registered as multi-tenant, the one case where /common signs anyone in."""
    connector.main(["--write", str(tmp_path), "--client-id", CLIENT, "--tenant-id", "common"])
    for oauth in _written_oauth(tmp_path):
        assert oauth["customParameters"]["tenantId"] == {"value": "common"}
    committed_oauth = [_oauth(committed()["properties"]), _oauth(committed()["certification"])]
    for oauth in committed_oauth:
        assert oauth["customParameters"]["tenantId"] == {"value": connector.PLACEHOLDER_TENANT_ID}


def test_a_tenant_left_as_the_placeholder_is_named_apart_from_the_client_app(tmp_path: Path) -> None:
    """Both placeholders are the same GUID: each is reported by the key that holds it."""
    connector.write_connector(tmp_path, client_id=CLIENT)
    left = connector.placeholders_left(tmp_path)
    assert "apiProperties.json: tenant id" in left
    assert not any(entry.endswith(": client app id") for entry in left)
    connector.write_connector(tmp_path, tenant_id=TENANT)
    left = connector.placeholders_left(tmp_path)
    assert "apiProperties.json: client app id" in left
    assert not any(entry.endswith(": tenant id") for entry in left)


def test_make_connector_passes_the_tenant_on() -> None:
    """`make connector CLIENT_ID=… TENANT_ID=…`, as docs/power-automate.md runs it (-n: printed only)."""
    made = subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "-n", "connector", f"CLIENT_ID={CLIENT}", f"TENANT_ID={TENANT}"],  # noqa: S607 - make on PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    command = " ".join(made.stdout.replace("\\\n", " ").split())
    assert f"-m chatfn.tools.connector --write connector --client-id {CLIENT} --tenant-id {TENANT}" in command


def test_a_publisher_who_fills_in_the_file_leaves_no_placeholder(tmp_path: Path) -> None:
    """connector/readme.md's fields, from a sample publisher file, reach every place they belong."""
    client_id = "11111111-2222-3333-4444-555555555555"
    connector.main(
        [
            *("--write", str(tmp_path), "--publisher", str(SAMPLE_PUBLISHER)),
            *("--client-id", client_id, "--tenant-id", TENANT),
        ]
    )
    assert connector.placeholders_left(tmp_path) == []
    sample = json.loads(SAMPLE_PUBLISHER.read_text())
    written = {
        "swagger": json.loads((tmp_path / "apiDefinition.swagger.json").read_text()),
        "properties": json.loads((tmp_path / "apiProperties.json").read_text()),
        "certification": json.loads((tmp_path / "certification" / "apiProperties.json").read_text()),
        "icon": (tmp_path / "icon.png").read_bytes(),
        "readme": (tmp_path / "readme.md").read_text(),
    }
    assert check(written) == []
    assert written["swagger"]["info"]["contact"] == {
        "name": sample["name"],
        "url": sample["website"],
        "email": sample["email"],
    }
    metadata = {m["propertyName"]: m["propertyValue"] for m in written["swagger"]["x-ms-connector-metadata"]}
    assert (metadata["Website"], metadata["Privacy policy"]) == (sample["website"], sample["privacyPolicy"])
    assert written["certification"]["properties"]["stackOwner"] == sample["name"]
    assert f"## Publisher: {sample['name']}\n" in written["readme"]


def test_the_committed_files_hold_the_placeholders_a_publisher_replaces() -> None:
    left = connector.placeholders_left(CONNECTOR)
    for what in (
        "publisher name",
        "contact email",
        "website",
        "privacy policy",
        "client app id",
        "tenant id",
    ):
        assert any(entry.endswith(f": {what}") for entry in left), what
    assert "readme.md: publisher name" in left


def test_writing_for_a_publisher_fails_while_a_placeholder_is_left(tmp_path: Path) -> None:
    half_done = tmp_path / "publisher.json"
    half_done.write_text(
        json.dumps({**json.loads(SAMPLE_PUBLISHER.read_text()), "email": "publisher@chatfn.example"})
    )
    with pytest.raises(SystemExit, match="contact email"):
        connector.main(
            [
                *("--write", str(tmp_path / "out"), "--publisher", str(half_done)),
                *("--client-id", "x", "--tenant-id", TENANT),
            ]
        )


def _operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    found: dict[str, Any]
    [found] = [
        op
        for methods in document["paths"].values()
        for op in methods.values()
        if op["operationId"] == operation_id
    ]
    return found


@pytest.mark.parametrize("operation", [swagger.CREATE_BATCH, swagger.GET_BATCH, swagger.CANCEL_BATCH])
def test_the_designer_shows_a_batchs_results_as_typed_outputs(operation: str) -> None:
    """Whichever bulk action a maker uses, dynamic content offers Results, and in an Apply to each over
    them each chat's Outcome, Chat ID, Chat link and Problem, typed."""
    document = committed()["swagger"]
    responses = _operation(document, operation)["responses"]
    assert designer_outputs(responses).get("schema") == {"$ref": "#/definitions/BatchStatus"}
    assert "schema" not in responses["202"], "the 202 is followed to the end, never the outputs"
    results = document["definitions"]["BatchStatus"]["properties"]["results"]
    assert (results["type"], results["items"]) == ("array", {"$ref": "#/definitions/BatchItemResult"})
    item = document["definitions"]["BatchItemResult"]["properties"]
    typed = {name: field.get("type", field.get("$ref")) for name, field in item.items()}
    assert typed == {
        "index": "integer",
        "status": "integer",
        "outcome": "string",
        "chatId": "string",
        "webUrl": "string",
        "reused": "boolean",
        "problem": "#/definitions/ProblemDetails",
    }
    assert [value["displayName"] for value in item["outcome"]["x-ms-enum-values"]] == [
        "Created",
        "Reused",
        "Failed",
        "Cancelled",
    ]


def test_the_bulk_action_is_shown_first_and_get_and_cancel_under_more() -> None:
    document = committed()["swagger"]
    visibility = {
        operation: _operation(document, operation)["x-ms-visibility"]
        for operation in (swagger.CREATE_BATCH, swagger.GET_BATCH, swagger.CANCEL_BATCH)
    }
    assert visibility == {
        swagger.CREATE_BATCH: "important",
        swagger.GET_BATCH: "advanced",
        swagger.CANCEL_BATCH: "advanced",
    }
    cancel = document["paths"]["/chat-batches/{batchId}"]["delete"]
    assert _operation(document, swagger.CANCEL_BATCH) is cancel


def test_the_bulk_action_sends_a_body_the_app_accepts() -> None:
    """Its items are "Create a chat" bodies, as a Select over a table's rows makes them."""
    definitions = swagger.swagger_document()["definitions"]
    batch = definitions[swagger.BATCH_FORM]
    assert batch["required"] == ["chats"]
    chats = batch["properties"]["chats"]
    assert chats["items"] == {"$ref": f"#/definitions/{swagger.EMAILS_FORM}"}
    body: dict[str, list[dict[str, Any]]] = {
        "chats": [
            {"emails": "alex@contoso.com;jacob@contoso.com", "topic": "Order 1"},
            {"emails": "alex@contoso.com;lynne@contoso.com", "topic": "Order 2", "reuseExisting": True},
        ]
    }
    for item in body["chats"]:
        assert set(item) <= set(definitions[swagger.EMAILS_FORM]["properties"])
    assert len(parse_batch_request(body, BATCH_MAX_ITEMS)) == 2
    assert str(BATCH_MAX_ITEMS) in chats["description"]
