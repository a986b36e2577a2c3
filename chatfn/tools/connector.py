"""The Power Platform custom connector files (`connector/`): the API's Swagger 2.0 document
(`chatfn.api.swagger`), the connection's properties (a function key or Microsoft Entra ID sign-in, the
app's host name), its policies, its icon and its readme's publisher. Never deployed.

    python -m chatfn.tools.connector --write connector [--client-id GUID --tenant-id GUID] [--publisher FILE]

The repository's files hold placeholders for the publisher, the client app and its tenant; with
`--publisher` (a JSON file: name, email, website, privacyPolicy) the files are the publisher's, and
writing fails while any placeholder is left. `--client-id` needs `--tenant-id`: the client app that
docs/power-automate.md registers is single-tenant, and Entra ID refuses to sign such an app in
through /common (AADSTS50194), so the connector signs in through the app's own tenant.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatfn.api import openapi
from chatfn.api.swagger import (
    CANCEL_BATCH,
    CREATE_BATCH,
    CREATE_BY_EMAILS,
    CREATE_WITH_MEMBERS,
    PLACEHOLDER_PUBLISHER,
    Publisher,
    swagger_document,
)
from chatfn.contract import API_PREFIX, FUNCTION_KEY_HEADER
from chatfn.tools.pngicon import bubble_icon

# The Entra ID app registration the connection signs users in with, set at import (docs/power-automate.md).
PLACEHOLDER_CLIENT_ID = "00000000-0000-0000-0000-000000000000"
# The tenant whose sign-in page (login.microsoftonline.com/<tenant>) the connection uses: the client app's.
# The files in the repository name none; `common` only on request, for a client app registered as
# multi-tenant (a single-tenant one is refused there with AADSTS50194).
PLACEHOLDER_TENANT_ID = "00000000-0000-0000-0000-000000000000"
MULTI_TENANT = "common"
GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# The hand-written readme, whose `## Publisher:` heading is written with the publisher's name.
README = Path(__file__).resolve().parents[2] / "connector" / "readme.md"
PUBLISHER_HEADING = re.compile(r"^## Publisher: .*$", re.MULTILINE)
BRAND_COLOUR = "#5b5fc7"
HOST_PARAMETER = "hostName"
KEY_PARAMETER = "api_key"
RESOURCE_PARAMETER = "resourceUri"
# What a connection's resourceUri is: the deployment's output (infra/main.bicep), by default of the form
# api://<tenant id>/chatfn-<suffix>.
IDENTIFIER_URI_OUTPUT = "CHATFN_API_IDENTIFIER_URI"
EXAMPLE_IDENTIFIER_URI = "api://4dc1fe35-8ac6-4f0d-904a-7ebcd364bea1/chatfn-abc123"
# One redirect URL per connector, as certified connectors use (microsoft/PowerPlatformConnectors, e.g.
# certified-connectors/OrbusInfinity/apiProperties.json): the generic .../redirect is no longer accepted.
REDIRECT_MODE = "GlobalPerConnector"


# --- apiProperties.json -----------------------------------------------------------------------------


def connector_properties(
    client_id: str = PLACEHOLDER_CLIENT_ID,
    publisher: Publisher = PLACEHOLDER_PUBLISHER,
    tenant_id: str = PLACEHOLDER_TENANT_ID,
) -> dict[str, Any]:
    """`apiProperties.json` as `pac connector create` and `paconn` take it: no `stackOwner`."""
    key_set = {HOST_PARAMETER: _host_parameter(), KEY_PARAMETER: _key_parameter()}
    entra_set = {
        HOST_PARAMETER: _host_parameter(),
        RESOURCE_PARAMETER: _resource_parameter(),
        "token": _entra_parameter(client_id, tenant_id),
    }
    return {
        "properties": {
            "connectionParameters": key_set,
            "connectionParameterSets": {
                "uiDefinition": {
                    "displayName": "Authentication type",
                    "description": "How the connection signs in to the chatfn function app.",
                },
                "values": [
                    {
                        "name": "apiKey",
                        "uiDefinition": {
                            "displayName": "API key",
                            "description": "A function key of the function app.",
                        },
                        "parameters": key_set,
                    },
                    {
                        "name": "entraId",
                        "uiDefinition": {
                            "displayName": "Microsoft Entra ID",
                            "description": "Sign in with an account that holds the Chats.Create role.",
                        },
                        "parameters": entra_set,
                    },
                ],
            },
            "iconBrandColor": BRAND_COLOUR,
            "capabilities": ["actions"],
            "policyTemplateInstances": _policies(),
            "publisher": publisher.name,
        }
    }


def certification_properties(
    client_id: str = PLACEHOLDER_CLIENT_ID,
    publisher: Publisher = PLACEHOLDER_PUBLISHER,
    tenant_id: str = PLACEHOLDER_TENANT_ID,
) -> dict[str, Any]:
    """The copy submitted for certification, which also names the service's owner (`stackOwner`)."""
    document = connector_properties(client_id, publisher, tenant_id)
    document["properties"]["stackOwner"] = publisher.name
    return document


def _host_parameter() -> dict[str, Any]:
    return {
        "type": "string",
        "uiDefinition": {
            "displayName": "Function app host name",
            "description": "The host name of your chatfn function app, for example "
            "func-chatfn-abc123.azurewebsites.net, without https:// or /api.",
            "tooltip": "The host name of the function app",
            "constraints": {"tabIndex": 2, "required": "true"},
        },
    }


def _key_parameter() -> dict[str, Any]:
    return {
        "type": "securestring",
        "uiDefinition": {
            "displayName": "Function key",
            "description": "A function key of the function app (App keys in the Azure portal).",
            "tooltip": f"Sent as the {FUNCTION_KEY_HEADER} header",
            "constraints": {"tabIndex": 3, "clearText": False, "required": "true"},
        },
    }


def _resource_parameter() -> dict[str, Any]:
    return {
        "type": "string",
        "uiDefinition": {
            "displayName": "Application ID URI",
            "description": "The Application ID URI of the function app's API registration, the "
            f"deployment's {IDENTIFIER_URI_OUTPUT} output, for example {EXAMPLE_IDENTIFIER_URI}.",
            "tooltip": "The api:// URI that tokens are asked for",
            "constraints": {"tabIndex": 3, "required": "true"},
        },
    }


def _entra_parameter(client_id: str, tenant_id: str) -> dict[str, Any]:
    resource = f"@connectionParameters('{RESOURCE_PARAMETER}')"
    return {
        "type": "oauthSetting",
        "oAuthSettings": {
            "identityProvider": "aad",
            "clientId": client_id,
            "scopes": [],
            # Power Platform makes a redirect URL for each connector (shown on its Security page once
            # saved) and ignores any given here: docs/power-automate.md has the admin register that one.
            "redirectMode": REDIRECT_MODE,
            "properties": {"IsFirstParty": "False", "AzureActiveDirectoryResourceId": resource},
            "customParameters": {
                "loginUri": {"value": "https://login.microsoftonline.com"},
                # Sign-in goes to {loginUri}/{tenantId}: the client app's tenant (AADSTS50194 at /common).
                "tenantId": {"value": tenant_id},
                "resourceUri": {"value": resource},
                "enableOnbehalfOfLogin": {"value": "false"},
            },
        },
        "uiDefinition": {
            "displayName": "Sign in with Microsoft Entra ID",
            "description": "Sign in with Microsoft Entra ID",
            "tooltip": "Sign in with Microsoft Entra ID",
            "constraints": {"required": "true"},
        },
    }


def _policies() -> list[dict[str, Any]]:
    return [
        {
            "templateId": "dynamichosturl",
            "title": "Send requests to the connection's function app",
            "parameters": {
                "x-ms-apimTemplateParameter.urlTemplate": (
                    f"https://@connectionParameters('{HOST_PARAMETER}'){API_PREFIX}"
                )
            },
        },
        {
            "templateId": "setheader",
            "title": "Send the function key",
            "parameters": {
                "x-ms-apimTemplateParameter.name": FUNCTION_KEY_HEADER,
                "x-ms-apimTemplateParameter.value": f"@connectionParameters('{KEY_PARAMETER}','')",
                "x-ms-apimTemplateParameter.existsAction": "override",
                "x-ms-apimTemplate-policySection": "Request",
                # The status URLs (GetChatRequest, GetChatBatch) are anonymous: the key never goes there.
                "x-ms-apimTemplate-operationName": [
                    CREATE_BY_EMAILS,
                    CREATE_WITH_MEMBERS,
                    CREATE_BATCH,
                    CANCEL_BATCH,
                ],
            },
        },
        {
            "templateId": "routerequesttoendpoint",
            "title": "Send Create a chat with members to the chats endpoint",
            "parameters": {
                "x-ms-apimTemplateParameter.newPath": "/chats",
                "x-ms-apimTemplateParameter.httpMethod": "POST",
                "x-ms-apimTemplate-operationName": [CREATE_WITH_MEMBERS],
            },
        },
    ]


# --- the files --------------------------------------------------------------------------------------


def write_connector(
    directory: Path,
    client_id: str = PLACEHOLDER_CLIENT_ID,
    publisher: Publisher = PLACEHOLDER_PUBLISHER,
    tenant_id: str = PLACEHOLDER_TENANT_ID,
) -> list[Path]:
    """Write the connector's files into `directory`, the certification copy of the properties into
    `directory/certification`, and the readme with the publisher's name in its heading."""
    certification = directory / "certification"
    certification.mkdir(parents=True, exist_ok=True)
    documents = {
        directory / "apiDefinition.swagger.json": swagger_document(publisher=publisher),
        directory / "apiProperties.json": connector_properties(client_id, publisher, tenant_id),
        certification / "apiProperties.json": certification_properties(client_id, publisher, tenant_id),
    }
    for path, document in documents.items():
        path.write_text(openapi.dumps(document))
    icon = directory / "icon.png"
    icon.write_bytes(bubble_icon(BRAND_COLOUR))
    readme = directory / "readme.md"
    readme.write_text(PUBLISHER_HEADING.sub(f"## Publisher: {publisher.name}", README.read_text()))
    return [*documents, icon, readme]


def publisher_from(path: Path) -> Publisher:
    """A publisher file: {"name", "email", "website", "privacyPolicy"} and optionally "categories"."""
    fields = json.loads(path.read_text(encoding="utf-8"))
    categories = fields.get("categories", list(PLACEHOLDER_PUBLISHER.categories))
    return Publisher(
        name=fields["name"],
        email=fields["email"],
        website=fields["website"],
        privacy_policy=fields["privacyPolicy"],
        categories=tuple(categories),
    )


def placeholders_left(directory: Path) -> list[str]:
    """Each placeholder of the repository's files still in a connector's files, as `file: what it is`."""
    placeholders = (
        ("publisher name", re.escape(f'"{PLACEHOLDER_PUBLISHER.name}"')),  # publisher, stackOwner, contact
        ("publisher name", re.escape(f"## Publisher: {PLACEHOLDER_PUBLISHER.name}\n")),  # readme heading
        ("contact email", re.escape(PLACEHOLDER_PUBLISHER.email)),
        ("website", re.escape(f'"{PLACEHOLDER_PUBLISHER.website}"')),
        ("privacy policy", re.escape(PLACEHOLDER_PUBLISHER.privacy_policy)),
        # Both are GUIDs, told apart by the key that holds them.
        ("client app id", rf'"clientId":\s*"{PLACEHOLDER_CLIENT_ID}"'),
        ("tenant id", rf'"tenantId":\s*\{{\s*"value":\s*"{PLACEHOLDER_TENANT_ID}"'),
    )
    found = [
        f"{path.relative_to(directory)}: {what}"
        for path in sorted(directory.rglob("*"))
        if path.suffix in (".json", ".md")
        for what, placeholder in placeholders
        if re.search(placeholder, path.read_text(encoding="utf-8"))
    ]
    return list(dict.fromkeys(found))


def parse_tenant_id(value: str) -> str:
    """`--tenant-id`: a tenant's id (a GUID), or `common` for a client app registered as multi-tenant."""
    if value == MULTI_TENANT or GUID.fullmatch(value):
        return value.lower()
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a tenant id: give the GUID of the client app's tenant "
        f"(az account show --query tenantId -o tsv), or {MULTI_TENANT} for a multi-tenant client app"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the Power Platform connector files.")
    parser.add_argument("--write", type=Path, required=True, metavar="DIR", help="for example connector")
    parser.add_argument(
        "--client-id",
        default=PLACEHOLDER_CLIENT_ID,
        help="the Entra ID app registration that Microsoft Entra ID connections sign in with",
    )
    parser.add_argument(
        "--tenant-id",
        type=parse_tenant_id,
        metavar="GUID",
        help="the Entra ID tenant of that app registration, whose sign-in page connections use: the "
        "deployment's AZURE_TENANT_ID output or `az account show --query tenantId -o tsv`; needed with "
        f"--client-id. {MULTI_TENANT} only for a client app registered as multi-tenant",
    )
    parser.add_argument(
        "--publisher",
        type=Path,
        metavar="FILE",
        help="JSON with the publisher's name, email, website and privacyPolicy; then no placeholder may "
        "be left in the files",
    )
    args = parser.parse_args(argv)
    if args.client_id != PLACEHOLDER_CLIENT_ID and args.tenant_id is None:
        # Not `common` by default: the client app docs/power-automate.md registers is single-tenant, and
        # its every sign-in there would fail with AADSTS50194.
        parser.error(
            "--tenant-id (make connector TENANT_ID=...) is needed with --client-id: the client app's tenant, "
            "the deployment's AZURE_TENANT_ID output (az account show --query tenantId -o tsv). Entra ID "
            f"refuses a single-tenant app at /{MULTI_TENANT} (AADSTS50194); --tenant-id {MULTI_TENANT} "
            "only for a client app registered as multi-tenant"
        )
    tenant = PLACEHOLDER_TENANT_ID if args.tenant_id is None else args.tenant_id
    publisher = PLACEHOLDER_PUBLISHER if args.publisher is None else publisher_from(args.publisher)
    for path in write_connector(args.write, args.client_id, publisher, tenant):
        print(f"wrote {path}")
    left = placeholders_left(args.write) if args.publisher is not None else []
    if left:
        raise SystemExit("placeholders left, fill them in before submitting:\n  " + "\n  ".join(left))


if __name__ == "__main__":
    main()
