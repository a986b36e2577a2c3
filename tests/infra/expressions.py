"""pycep-parser's expressions, evaluated where the values are known: enough of Bicep to read which
branch of a template a choice of parameters deploys."""

from __future__ import annotations

from typing import Any


def accessor(node: Any) -> str:
    """A property access as written, `apiRegistration.outputs.clientId`."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        operands = node["operator"]["operands"]
        return f"{accessor(operands['operand_1'])}.{accessor(operands['operand_2'])}"
    if isinstance(node, dict) and "function" in node:
        return f"{node['function']['type']}()"
    return str(node)


def evaluate(node: Any, scope: dict[str, Any]) -> Any:
    """The value of a pycep expression where every name in `scope` is known; other strings are literals."""
    if isinstance(node, str):
        return scope.get(node, node)
    if isinstance(node, list):
        return [evaluate(item, scope) for item in node]
    if isinstance(node, dict) and node.get("function", {}).get("type") == "empty":
        return not evaluate(node["function"]["parameters"]["item_to_test"], scope)
    if isinstance(node, dict) and "operator" in node:
        operator, operands = node["operator"]["type"], node["operator"]["operands"]
        if operator == "property_accessor":  # another resource's output: known only in Azure
            return f"<{accessor(node)}>"
        if operator == "conditional":
            branch = "true_value" if evaluate(operands["condition"], scope) else "false_value"
            return evaluate(operands[branch], scope)
        left, right = evaluate(operands["operand_1"], scope), evaluate(operands["operand_2"], scope)
        return {"equals": left == right, "not_equals": left != right}[operator]
    return node
