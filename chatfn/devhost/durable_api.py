"""The Durable extension's HTTP API (the one `DurableOrchestrationClient` calls at `rpcBaseUrl`), and
the durableClient binding JSON that points the client at it.

The management URLs carry a system key (`code=...`, random per run) like the extension's, so a test
can prove the app never hands them to its callers. Keys are not enforced, as with Core Tools.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from chatfn.devhost.body_limit import read_body
from chatfn.devhost.instances import Instance, RuntimeStatus
from chatfn.devhost.orchestrations import InstanceConflictError, Orchestrations, UnknownOrchestratorError

TASK_HUB = "chatfn"
CONNECTION = "Storage"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
_RUNNING = frozenset({RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW})


class DurableApi:
    def __init__(self, orchestrations: Orchestrations) -> None:
        self._orchestrations = orchestrations
        self.system_key = f"devhost-system-key-{secrets.token_urlsafe(24)}"
        self.origin = ""  # http://127.0.0.1:PORT, set once the server is bound

    @property
    def base_url(self) -> str:
        return f"{self.origin}{WEBHOOK_PATH}"

    def routes(self) -> list[web.RouteDef]:
        base = WEBHOOK_PATH
        return [
            web.post(base + "/orchestrators/{name}", self.start),
            web.post(base + "/orchestrators/{name}/{instance_id}", self.start),
            web.get(base + "/instances", self.list_instances),
            web.get(base + "/instances/", self.list_instances),
            web.delete(base + "/instances", self.purge_many),
            web.delete(base + "/instances/", self.purge_many),
            web.get(base + "/instances/{instance_id}", self.status),
            web.delete(base + "/instances/{instance_id}", self.purge),
            web.post(base + "/instances/{instance_id}/terminate", self.terminate),
            web.post(base + "/instances/{instance_id}/raiseEvent/{event}", self.raise_event),
        ]

    def binding_json(self) -> str:
        """What the extension passes for a durableClient binding (DurableOrchestrationBindings)."""
        key = f"code={self.system_key}"
        instance = f"{self.base_url}/instances/INSTANCEID"
        query = f"taskHub={TASK_HUB}&connection={CONNECTION}&{key}"
        creation = f"{self.base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return json.dumps(
            {
                "taskHubName": TASK_HUB,
                "creationUrls": {
                    "createNewInstancePostUri": f"{creation}?{key}",
                    "createAndWaitOnNewInstancePostUri": (
                        f"{creation}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{key}"
                    ),
                },
                "managementUrls": self._management_urls("INSTANCEID", instance, query),
                "baseUrl": self.base_url,
                "requiredQueryStringParameters": key,
                "rpcBaseUrl": f"{self.base_url}/",
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    @staticmethod
    def _management_urls(instance_id: str, prefix: str, query: str) -> dict[str, str]:
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{query}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{prefix}?{query}",
            "restartPostUri": f"{prefix}/restart?{query}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
        }

    async def start(self, request: web.Request) -> web.Response:
        """202 with the management payload; 409 while an instance with that id is pending or running
        (a finished one is replaced, as with the extension's default NonRunningStates); 400 for an
        unknown orchestrator, with the `ExceptionMessage` the SDK raises."""
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id") or uuid.uuid4().hex
        body = await read_body(request)
        input_json = json.loads(body) if body else None  # the SDK sends its JSON text as a JSON string
        try:
            self._orchestrations.start(name, instance_id, input_json)
        except InstanceConflictError as exc:
            return _error(409, "An orchestration instance with this ID is already running.", exc)
        except (UnknownOrchestratorError, ValueError) as exc:
            return _error(400, "One or more of the arguments submitted is incorrect", exc)
        query = f"taskHub={TASK_HUB}&connection={CONNECTION}&code={self.system_key}"
        payload = self._management_urls(instance_id, f"{self.base_url}/instances/{quote(instance_id)}", query)
        payload.pop("rewindPostUri")
        headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        return web.json_response(payload, status=202, headers=headers)

    async def status(self, request: web.Request) -> web.Response:
        """200 when finished, 202 (Location, Retry-After) while running, 404 with no body if unknown."""
        instance = self._orchestrations.instances.get(request.match_info["instance_id"])
        if instance is None:
            return web.Response(status=404)
        body = instance.payload(
            show_history=_flag(request, "showHistory", False),
            show_history_output=_flag(request, "showHistoryOutput", False),
            show_input=_flag(request, "showInput", True),
        )
        if instance.status in _RUNNING:
            headers = {"Location": str(request.url), "Retry-After": "5"}
            return web.json_response(body, status=202, headers=headers)
        return web.json_response(body)

    async def list_instances(self, request: web.Request) -> web.Response:
        show_input = _flag(request, "showInput", False)
        return web.json_response([i.payload(show_input=show_input) for i in self._matching(request)])

    async def purge(self, request: web.Request) -> web.Response:
        instance = self._orchestrations.instances.get(request.match_info["instance_id"])
        if instance is None or not instance.is_terminal:
            return web.Response(status=404)
        del self._orchestrations.instances[instance.instance_id]
        return web.json_response({"instancesDeleted": 1})

    async def purge_many(self, request: web.Request) -> web.Response:
        doomed = [i for i in self._matching(request) if i.is_terminal]
        for instance in doomed:
            del self._orchestrations.instances[instance.instance_id]
        if not doomed:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": len(doomed)})

    async def terminate(self, request: web.Request) -> web.Response:
        instance = self._running(request)
        if isinstance(instance, web.Response):
            return instance
        self._orchestrations.terminate(instance, request.query.get("reason", ""))
        return web.Response(status=202)

    async def raise_event(self, request: web.Request) -> web.Response:
        instance = self._running(request)
        if isinstance(instance, web.Response):
            return instance
        body = await read_body(request)
        self._orchestrations.raise_event(
            instance, request.match_info["event"], json.loads(body) if body else None
        )
        return web.Response(status=202)

    def _running(self, request: web.Request) -> Instance | web.Response:
        """The instance the URL names, or the extension's answer when there is none (404) or it has
        finished (410)."""
        instance = self._orchestrations.instances.get(request.match_info["instance_id"])
        if instance is None:
            return web.Response(status=404)
        if instance.is_terminal:
            return web.Response(status=410)
        return instance

    def _matching(self, request: web.Request) -> list[Instance]:
        """The filters of the SDK's get_status_by and purge_instance_history_by."""
        statuses = {s for s in request.query.get("runtimeStatus", "").split(",") if s}
        prefix = request.query.get("instanceIdPrefix", "")
        since = _time(request, "createdTimeFrom")
        until = _time(request, "createdTimeTo")
        return [
            i
            for i in self._orchestrations.instances.values()
            if (not statuses or i.status.value in statuses)
            and i.instance_id.startswith(prefix)
            and (since is None or i.created >= since)
            and (until is None or i.created <= until)
        ]


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def _time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _error(status: int, message: str, exc: Exception) -> web.Response:
    """The extension's error body (ASP.NET HttpError) without a stack trace."""
    body: dict[str, Any] = {
        "Message": message,
        "ExceptionMessage": str(exc),
        "ExceptionType": type(exc).__name__,
    }
    return web.json_response(body, status=status)
