"""The app's functions, indexed once from `app.get_functions()` the way the Python worker indexes them."""

from __future__ import annotations

import importlib
import os
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatfn.devhost.routes import RouteTemplate, compile_route

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"

# `get_functions()` may run only once per app object (a second call raises), so a host started
# again in the same process (tests do) reuses the first index.
_INDEXES: weakref.WeakKeyDictionary[Any, FunctionIndex] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    auth_level: str
    request_param: str
    client_param: str | None  # the durableClient binding's parameter, if any
    fn: Callable[..., Any]


@dataclass(frozen=True)
class OrchestratorFunction:
    name: str
    handle: Callable[[str], str]  # Orchestrator.create(fn): context JSON in, state JSON out


@dataclass(frozen=True)
class ActivityFunction:
    name: str
    param: str
    fn: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str  # NCRONTAB, six fields
    param: str
    client_param: str | None  # the durableClient binding's parameter, if any (a purge job has one)
    fn: Callable[..., Any]


@dataclass
class FunctionIndex:
    http: list[HttpFunction] = field(default_factory=list)
    orchestrators: dict[str, OrchestratorFunction] = field(default_factory=dict)
    activities: dict[str, ActivityFunction] = field(default_factory=dict)
    timers: dict[str, TimerFunction] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)  # function name -> trigger type


def load_app(spec: str) -> Any:
    """Import `module:attr` (attr defaults to `app`) with the working directory importable."""
    module_name, _, attr = spec.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    return getattr(module, attr or "app")


def index_app(app: Any) -> FunctionIndex:
    """Index every function by its trigger; the HTTP routes most specific first."""
    if app in _INDEXES:
        return _INDEXES[app]
    index = FunctionIndex()
    for function in app.get_functions():
        _add(index, function)
    index.http.sort(key=lambda f: f.route.literal_segments, reverse=True)
    _INDEXES[app] = index
    return index


def _add(index: FunctionIndex, function: Any) -> None:
    name: str = function.get_function_name()
    bindings = [_plain(binding.get_dict_repr()) for binding in function.get_bindings()]
    trigger = _plain(function.get_trigger().get_dict_repr())
    kind = trigger["type"]
    fn = function.get_user_function()
    client = next((b["name"] for b in bindings if b["type"] == DURABLE_CLIENT), None)
    if kind == HTTP_TRIGGER:
        methods = trigger.get("methods")
        index.http.append(
            HttpFunction(
                name=name,
                route=compile_route(trigger.get("route") or name),
                methods=frozenset(m.upper() for m in methods) if methods else None,
                auth_level=str(trigger.get("authLevel", "function")),
                request_param=trigger["name"],
                client_param=client,
                fn=fn,
            )
        )
    elif kind == ORCHESTRATION_TRIGGER:
        orchestration = trigger.get("orchestration") or name
        index.orchestrators[orchestration] = OrchestratorFunction(orchestration, fn)
    elif kind == ACTIVITY_TRIGGER:
        activity = trigger.get("activity") or name
        index.activities[activity] = ActivityFunction(activity, trigger["name"], fn)
    elif kind == TIMER_TRIGGER:
        index.timers[name] = TimerFunction(name, str(trigger.get("schedule")), trigger["name"], client, fn)
    else:
        index.unsupported[name] = kind


def _plain(value: Any) -> Any:
    """Binding dictionaries hold enums (methods, auth level); the host wants their string values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return getattr(value, "value", value)
