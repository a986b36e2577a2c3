"""The /_emulator knobs that shape how Graph and the identity behave: the managed identity, async
operations, throttling and list consistency. Fields left out keep their value; /reset restores all."""

from __future__ import annotations

from typing import Any

from chatfn.emulator.control_input import ControlError, an_object, flag, number, only, strings
from chatfn.emulator.messages import Response, json_response
from chatfn.emulator.state import OPERATION_STATUSES, IdentityConfig, OperationsConfig, State
from chatfn.emulator.throttle import (
    BUCKETS,
    DIRECTORY,
    DOCUMENTED_LIMITS,
    MOST_RESOURCE_UNITS,
    Limit,
    Throttle,
)


def _identity_json(config: IdentityConfig) -> dict[str, Any]:
    return {
        "roles": list(config.roles),
        "clientIds": list(config.client_ids),
        "tokenLifetimeSeconds": config.token_lifetime_seconds,
    }


def set_identity(state: State, body: Any) -> Response:
    """Roles and lifetime apply to tokens issued from now on; `revokeTokens` ends the issued ones."""
    fields = an_object(body, "identity", {"roles", "clientIds", "tokenLifetimeSeconds", "revokeTokens"})
    current = state.identity
    roles = strings(fields, "roles") if "roles" in fields else current.roles
    client_ids = strings(fields, "clientIds") if "clientIds" in fields else current.client_ids
    lifetime = fields.get("tokenLifetimeSeconds", current.token_lifetime_seconds)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 1:
        raise ControlError("'tokenLifetimeSeconds' must be an integer >= 1")
    if flag(fields, "revokeTokens"):
        state.revoke_tokens()
    state.identity = IdentityConfig(roles, client_ids, lifetime)
    return json_response(200, _identity_json(state.identity))


def _operations_json(config: OperationsConfig) -> dict[str, Any]:
    return {
        "statuses": list(config.statuses),
        "completeAfterSeconds": config.complete_after_seconds,
        "retryAfter": config.retry_after,
    }


def _statuses(fields: dict[str, Any], current: tuple[str, ...]) -> tuple[str, ...]:
    """`statuses` as given, or the legacy form: `polls` reads inProgress, then `result`."""
    if "statuses" in fields:
        if "polls" in fields or "result" in fields:
            raise ControlError("give either 'statuses' or 'polls'/'result', not both")
        statuses = strings(fields, "statuses")
        if not statuses or any(status not in OPERATION_STATUSES for status in statuses):
            raise ControlError(f"'statuses' must be a non-empty list of: {', '.join(OPERATION_STATUSES)}")
        return statuses
    polls = fields.get("polls", len(current) - 1)
    if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
        raise ControlError("'polls' must be an integer >= 0")
    result = fields.get("result", current[-1])
    if result not in ("succeeded", "failed"):
        raise ControlError("'result' must be 'succeeded' or 'failed'")
    return ("inProgress",) * polls + (result,)


def set_operations(state: State, body: Any) -> Response:
    fields = an_object(
        body, "operations", {"statuses", "completeAfterSeconds", "polls", "result", "retryAfter"}
    )
    current = state.operations_config
    statuses = _statuses(fields, current.statuses)
    complete_after = number(fields, "completeAfterSeconds", current.complete_after_seconds)
    retry_after = number(fields, "retryAfter", current.retry_after)
    state.operations_config = OperationsConfig(statuses, complete_after, retry_after)
    return json_response(200, _operations_json(state.operations_config))


def _bucket_limit(name: str, setting: Any) -> Limit:
    if not isinstance(setting, dict):
        raise ControlError(f'bucket \'{name}\' must be an object {{"rps", "burst"}}, or null (unlimited)')
    only(setting, {"rps", "burst", "resourceUnits"}, f"'{name}' bucket")
    rps = number(setting, "rps", None)
    burst = number(setting, "burst", rps)
    if not rps or burst is None or burst < 1:
        raise ControlError(f"bucket '{name}': 'rps' must be > 0 and 'burst' >= 1")
    counts_resource_units = flag(setting, "resourceUnits")
    if counts_resource_units and name != DIRECTORY:
        raise ControlError(f"'resourceUnits' is the identity service's measure: only for '{DIRECTORY}'")
    if counts_resource_units and burst < MOST_RESOURCE_UNITS:
        raise ControlError(
            f"bucket '{name}': 'burst' must hold the costliest lookup, {MOST_RESOURCE_UNITS} resource units"
        )
    return Limit(rps, burst, counts_resource_units)


def _bucket_limits(buckets: Any) -> dict[str, Limit]:
    """Limits by bucket name; a bucket left out or null is unlimited."""
    if not isinstance(buckets, dict):
        raise ControlError(f"'buckets' must be an object whose fields are among: {', '.join(BUCKETS)}")
    only(buckets, set(BUCKETS), "bucket")
    return {name: _bucket_limit(name, setting) for name, setting in buckets.items() if setting is not None}


def _over_every_call(fields: dict[str, Any]) -> Throttle | None:
    """The first form, read as it always was: no `rps` (or null) is off, and `burst` defaults to it."""
    rps = number(fields, "rps", None)
    if rps is None:
        return None
    burst = number(fields, "burst", rps)
    if not rps or burst is None or burst < 1:
        raise ControlError("'rps' must be > 0 and 'burst' >= 1")
    return Throttle.over_every_call(rps, burst)


def show_throttle(state: State, _body: Any) -> Response:
    """What is in force, in the form POST takes it back; off answers as the first form always did."""
    off = {"rps": None, "burst": None}
    return json_response(200, off if state.throttle is None else state.throttle.settings_json())


def set_throttle(state: State, body: Any) -> Response:
    """`{"buckets": {...}}` limits kinds of calls; `{"documented": true}` sets Microsoft's documented
    limits; `{"rps": N, "burst": M}` is one bucket over every Graph call and `{"rps": null}` turns
    throttling off. Each answers what is in force, in the form it takes."""
    fields = an_object(body, "throttle", {"rps", "burst", "buckets", "documented"})
    if sum(name in fields for name in ("rps", "buckets", "documented")) > 1:
        raise ControlError("give one of 'rps' (with 'burst'), 'buckets' or 'documented'")
    if "documented" in fields:
        if fields["documented"] is not True:
            raise ControlError("'documented' can only be true; {\"rps\": null} turns throttling off")
        state.throttle = Throttle(DOCUMENTED_LIMITS)
    elif "buckets" in fields:
        state.throttle = Throttle(_bucket_limits(fields["buckets"]))
    else:
        state.throttle = _over_every_call(fields)
    return show_throttle(state, None)


def set_consistency(state: State, body: Any) -> Response:
    """`listDelaySeconds`: how long a new chat stays out of `/users/{id}/chats`, as Graph's lists lag."""
    fields = an_object(body, "consistency", {"listDelaySeconds"})
    delay = number(fields, "listDelaySeconds", state.list_delay_seconds)
    state.list_delay_seconds = delay or 0.0
    return json_response(200, {"listDelaySeconds": state.list_delay_seconds})
