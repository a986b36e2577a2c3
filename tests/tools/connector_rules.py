"""The certification rules for a Power Platform connector that can be checked offline: those of the
swagger validator (https://learn.microsoft.com/connectors/custom-connectors/certification-swagger-validator-rules)
and of the submission guide (https://learn.microsoft.com/connectors/custom-connectors/certification-submission):
lengths and wording of titles and descriptions, an x-ms-summary on every input and output, required
inputs, the connector metadata, the properties, the icon and the readme.

`violations` returns each broken rule as (rule, where); an empty list means the package passes.
`designer_outputs` is which response the flow designer shows an action's outputs from.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

PRODUCT_NAMES = ("Power Automate", "Power Apps", "Power Platform", "Logic Apps", "Copilot Studio", "Flow")
CATEGORIES = {
    "AI", "Business Management", "Business Intelligence", "Collaboration", "Commerce", "Communication",
    "Content and Files", "Finance", "Data", "Human Resources", "Internet of Things", "IT Operations",
    "Lifestyle and Entertainment", "Marketing", "Productivity", "Sales and CRM", "Security",
    "Social Media", "Website",
}  # fmt: skip
README_SECTIONS = (
    "## Publisher",
    "## Prerequisites",
    "## Supported Operations",
    "## Obtaining Credentials",
    "## Known Issues and Limitations",
    "## Deployment Instructions",
)
VISIBILITIES = {"important", "advanced", "internal"}
PARAMETER_NAME = re.compile(r"[0-9a-zA-Z_]+")
_HTTPS = re.compile(r"https://[^\s]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Violation(NamedTuple):
    rule: str
    where: str


def violations(
    swagger: dict[str, Any],
    properties: dict[str, Any],
    certification: dict[str, Any],
    icon: bytes,
    readme: str,
) -> list[Violation]:
    """Every broken rule of the package."""
    return [
        *_info(swagger),
        *_metadata(swagger),
        *_operations(swagger),
        *_schemas(swagger),
        *_properties(properties, certification, swagger["info"]["title"]),
        *_icon(icon),
        *(Violation("readme-section", section) for section in README_SECTIONS if section not in readme),
    ]


def _wording(text: str, where: str) -> Iterator[Violation]:
    if "`" in text:
        yield Violation("raw-markup", where)
    if any(name in text for name in PRODUCT_NAMES):
        yield Violation("product-name", where)


def _info(swagger: dict[str, Any]) -> Iterator[Violation]:
    info = swagger["info"]
    title, description = info.get("title", ""), info.get("description", "")
    if not 1 <= len(title) <= 30 or re.search(r"\b(API|Connector)\b", title, re.IGNORECASE):
        yield Violation("title", "info.title")
    yield from _wording(title, "info.title")
    if not 30 <= len(description) <= 500:
        yield Violation("description-length", "info.description")
    yield from _wording(description, "info.description")
    contact = info.get("contact", {})
    if not contact.get("name") or not _HTTPS.fullmatch(contact.get("url", "")):
        yield Violation("contact", "info.contact")
    if not _EMAIL.fullmatch(contact.get("email", "")):
        yield Violation("contact-email", "info.contact.email")


def _metadata(swagger: dict[str, Any]) -> Iterator[Violation]:
    metadata = {
        item["propertyName"]: item["propertyValue"] for item in swagger.get("x-ms-connector-metadata", [])
    }
    for name in ("Website", "Privacy policy"):
        if not _HTTPS.fullmatch(metadata.get(name, "")):
            yield Violation("connector-metadata", name)
    categories = [c for c in metadata.get("Categories", "").split(";") if c]
    if not categories or not set(categories) <= CATEGORIES:
        yield Violation("connector-metadata", "Categories")


def _operations(swagger: dict[str, Any]) -> Iterator[Violation]:
    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            summary, description = operation.get("summary", ""), operation.get("description", "")
            if not operation.get("operationId"):
                yield Violation("operation-id", where)
            if not summary or len(summary) > 80 or summary[-1] in ".!?:;,":
                yield Violation("summary", where)
            if not description or description == summary:
                yield Violation("description", where)
            yield from _wording(summary + " " + description, where)
            if operation.get("x-ms-visibility", "none") not in VISIBILITIES | {"none"}:
                yield Violation("visibility", where)
            for status, answer in operation["responses"].items():
                yield from _wording(answer.get("description", ""), f"{where} {status}")
                for name, header in answer.get("headers", {}).items():
                    if not header.get("x-ms-summary") or not header.get("description"):
                        yield Violation("x-ms-summary", f"{where} {status} {name}")
            yield from _parameters(swagger, operation, where)


def designer_outputs(responses: dict[str, Any]) -> dict[str, Any]:
    """The response whose schema and headers the flow designer offers as the action's outputs, as
    Azure/LogicAppsUX decides it (libs/logic-apps-shared/src/parsers/lib/common/outputprocessor.ts,
    `OutputsProcessor._getResponse`, commit 5c7453c9cf90bde2ffb20e68fdfaf655a8db19b5): the only response
    if there is one and it is a 2xx or `default`; otherwise `200`, else `201`, else `default`, else none.
    """
    codes = list(responses)
    if len(codes) == 1 and (codes[0] == "default" or codes[0].startswith("2")):
        return dict(responses[codes[0]])
    for code in ("200", "201", "default"):
        if code in responses:
            return dict(responses[code])
    return {}


def _parameters(swagger: dict[str, Any], operation: dict[str, Any], where: str) -> Iterator[Violation]:
    for parameter in operation.get("parameters", []):
        at = f"{where} {parameter['name']}"
        if not parameter.get("x-ms-summary") or not parameter.get("description"):
            yield Violation("x-ms-summary", at)
        yield from _wording(parameter.get("description", ""), at)
        if parameter["in"] == "path" and parameter.get("x-ms-url-encoding") not in ("single", "double"):
            yield Violation("url-encoding", at)
        if parameter["in"] == "header" and not (parameter.get("enum") or parameter.get("pattern")):
            yield Violation("free-text-header", at)
        if parameter["in"] == "body":
            body = _resolve(swagger, parameter["schema"])
            if not parameter.get("required") or not body.get("required"):
                yield Violation("required-input", at)


def _schemas(swagger: dict[str, Any]) -> Iterator[Violation]:
    for name, definition in swagger["definitions"].items():
        yield from _schema(definition, f"definitions.{name}")


def _schema(schema: dict[str, Any], where: str) -> Iterator[Violation]:
    for name, field in schema.get("properties", {}).items():
        at = f"{where}.{name}"
        if not field.get("x-ms-summary") or not field.get("description"):
            yield Violation("x-ms-summary", at)
        yield from _wording(field.get("description", ""), at)
        if field.get("enum") and "x-ms-enum-values" not in field:
            yield Violation("enum-names", at)
        if re.search(r"(DateTime|Date)$", name) and field.get("format") not in ("date-time", "date"):
            yield Violation("format", at)
        if re.search(r"(Url|Uri)$", name) and field.get("format") != "uri":
            yield Violation("format", at)
        yield from _schema(field, at)
        if "items" in field:
            yield from _schema(field["items"], f"{at}[]")


def _resolve(swagger: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return swagger["definitions"][ref.rsplit("/", 1)[-1]] if ref else schema


def _properties(properties: dict[str, Any], certification: dict[str, Any], title: str) -> Iterator[Violation]:
    imported = properties["properties"]
    if "stackOwner" in imported:
        yield Violation("stack-owner-in-import", "apiProperties.json")
    certified = certification["properties"]
    for field in ("publisher", "stackOwner"):
        if not certified.get(field) or certified[field].strip().lower() == title.lower():
            yield Violation("organisation-name", f"certification {field}")
    colour = imported.get("iconBrandColor", "")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour) or colour.lower() == "#ffffff":
        yield Violation("brand-colour", "iconBrandColor")
    sets = imported.get("connectionParameterSets", {}).get("values", [])
    for parameter_set in sets:
        for name in parameter_set["parameters"]:
            if not PARAMETER_NAME.fullmatch(name):
                yield Violation("parameter-name", f"{parameter_set['name']}.{name}")
    host_policies = [
        p for p in imported.get("policyTemplateInstances", []) if p["templateId"] == "dynamichosturl"
    ]
    for policy in host_policies:
        template = policy["parameters"]["x-ms-apimTemplateParameter.urlTemplate"]
        for parameter_set in sets:
            used = re.findall(r"@connectionParameters\('([^']+)'", template)
            if not set(used) <= set(parameter_set["parameters"]):
                yield Violation("host-parameter", parameter_set["name"])


def _icon(icon: bytes) -> Iterator[Violation]:
    if icon[:8] != b"\x89PNG\r\n\x1a\n" or len(icon) > 1_000_000:
        yield Violation("icon", "icon.png")
        return
    width, height, depth, colour_type = struct.unpack(">IIBB", icon[16:26])
    if (width, height) != (230, 230):
        yield Violation("icon-size", "icon.png")
    if depth == 8 and colour_type == 2 and _first_pixel(icon) == (255, 255, 255):
        yield Violation("icon-background", "icon.png")


def _first_pixel(icon: bytes) -> tuple[int, ...]:
    """The top left pixel of an 8-bit RGB PNG, whose first scanline is unfiltered."""
    data, offset = b"", 8
    while offset < len(icon):
        (length,) = struct.unpack(">I", icon[offset : offset + 4])
        if icon[offset + 4 : offset + 8] == b"IDAT":
            data += icon[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return tuple(zlib.decompress(data)[1:4])
