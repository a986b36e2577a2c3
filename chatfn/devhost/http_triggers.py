"""HTTP triggers under `/api/<route>`: aiohttp requests in, `azure.functions.HttpRequest` to the
function, its `HttpResponse` (or string) back out, as the worker converts them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.http import HttpRequest
from multidict import CIMultiDict

from chatfn.devhost.body_limit import read_body
from chatfn.devhost.functions import HttpFunction
from chatfn.devhost.invoke import call
from chatfn.devhost.timeouts import FunctionTimeout, FunctionTimeoutError

log = logging.getLogger("chatfn.devhost")
ROUTE_PREFIX = "/api/"


class HttpTriggers:
    def __init__(
        self,
        functions: list[HttpFunction],
        client_binding: Callable[[], str],
        executor: Executor,
        timeout: FunctionTimeout,
    ) -> None:
        self._functions = functions
        self._client_binding = client_binding
        self._executor = executor
        self._timeout = timeout

    def routes(self) -> list[web.RouteDef]:
        # Every path, line breaks included (`.` stops at them): the app answers, as under the Functions host.
        return [web.route("*", ROUTE_PREFIX + r"{path:[\s\S]*}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """404 for no route, 405 when it exists for other methods, 500 (logged) if the function fails
        or overruns functionTimeout (the Functions host's ExceptionMiddleware answers 500 to any
        invocation that ends in an exception, FunctionTimeoutException included)."""
        path = request.match_info["path"]
        allowed: set[str] = set()
        for function in self._functions:
            params = function.route.match(path)
            if params is None:
                continue
            if function.methods is not None and request.method not in function.methods:
                allowed |= function.methods
                continue
            return await self._invoke(function, request, params)
        if allowed:
            return web.Response(status=405, headers={"Allow": ", ".join(sorted(allowed))})
        return web.Response(status=404)

    async def _invoke(
        self, function: HttpFunction, request: web.Request, params: dict[str, str]
    ) -> web.Response:
        kwargs: dict[str, Any] = {function.request_param: await _to_function_request(request, params)}
        if function.client_param is not None:
            kwargs[function.client_param] = self._client_binding()
        try:
            result = await self._timeout.run(function.name, call(function.fn, kwargs, self._executor))
            return _to_aiohttp_response(result)
        except FunctionTimeoutError as exc:
            log.error("function %s failed on %s %s: %s", function.name, request.method, request.path, exc)
        except Exception:
            log.exception("function %s failed on %s %s", function.name, request.method, request.path)
        return web.Response(status=500, text="Internal Server Error")


async def _to_function_request(request: web.Request, params: dict[str, str]) -> HttpRequest:
    """Repeated headers and query parameters are joined with commas, as the host's dictionaries do."""
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers={key: ", ".join(request.headers.getall(key)) for key in request.headers},
        params={key: ",".join(request.query.getall(key)) for key in request.query},
        route_params=params,
        body_type="bytes",
        body=await read_body(request),
    )


def _to_aiohttp_response(result: Any) -> web.Response:
    if isinstance(result, str):
        return web.Response(text=result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return HttpResponse or str, not {type(result).__name__}")
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in result.headers.items():
        headers.add(key, value)
    if "Content-Type" not in headers:
        mimetype, charset = result.mimetype, result.charset
        headers["Content-Type"] = (
            f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
        )
    headers.popall("Content-Length", None)
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
