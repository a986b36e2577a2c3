"""The Functions host's admin API for running a non-HTTP function on demand:
`POST /admin/functions/<name>` with `{"input": ...}` answers 202 and runs the function in the
background (https://learn.microsoft.com/azure/azure-functions/functions-manually-run-non-http).
Locally no master key is asked for, as with Core Tools.

Timer triggers run only this way: the local host keeps no schedule, so a daily job runs when asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web
from azure.functions import meta
from azure.functions.timer import TimerRequestConverter

from chatfn.devhost.body_limit import read_body
from chatfn.devhost.functions import TimerFunction
from chatfn.devhost.invoke import call
from chatfn.devhost.timeouts import FunctionTimeout, FunctionTimeoutError

log = logging.getLogger("chatfn.devhost")
ADMIN_PATH = "/admin/functions"


class AdminApi:
    def __init__(
        self,
        timers: dict[str, TimerFunction],
        client_binding: Callable[[], str],
        executor: Executor,
        timeout: FunctionTimeout,
    ) -> None:
        self._timers = timers
        self._client_binding = client_binding
        self._executor = executor
        self._timeout = timeout
        self._running: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [web.post(ADMIN_PATH + "/{name}", self.invoke)]

    async def invoke(self, request: web.Request) -> web.Response:
        """202 once the run has begun; 404 for a name that is not a timer function; 400 for a body
        that is not JSON."""
        function = self._timers.get(request.match_info["name"])
        if function is None:
            return web.Response(status=404)
        body = await read_body(request)
        try:
            json.loads(body or b"{}")
        except ValueError:
            return web.Response(status=400, text='The body must be JSON, such as {"input": ""}.')
        task = asyncio.get_running_loop().create_task(self._run(function))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return web.Response(status=202)

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _run(self, function: TimerFunction) -> None:
        """The timer argument as the worker decodes the host's TimerInfo; a manual run is never past due.
        A run that overruns functionTimeout is cancelled and ends failed."""
        info = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": False}
        timer = TimerRequestConverter.decode(meta.Datum(json.dumps(info), "json"), trigger_metadata=None)
        kwargs: dict[str, Any] = {function.param: timer}
        if function.client_param is not None:
            kwargs[function.client_param] = self._client_binding()
        try:
            await self._timeout.run(function.name, call(function.fn, kwargs, self._executor))
        except FunctionTimeoutError as exc:
            log.error("timer function %s failed: %s", function.name, exc)
        except Exception:
            log.exception("timer function %s failed", function.name)
        else:
            log.info("timer function %s ran", function.name)
