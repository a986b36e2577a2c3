"""An HTTP function that raises answers an `internal-error` problem (application/problem+json), never the
Functions host's plain-text 500: the caller gets what to do, the log gets where it failed.

`function_app.py` puts `@internal_error_as_problem` under each HTTP binding. The log names the
exception's type and the frames it came through, not its message, which could hold a request's data
(an address, a topic): logs never carry those (chatfn.logs). Every answer, the problem included, is
also the request's telemetry (`chatfn.telemetry.http_request`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, cast, overload

import azure.functions as func

from chatfn import problems, telemetry
from chatfn.api.responses import problem_response

log = logging.getLogger(__name__)

P = ParamSpec("P")


@overload
def internal_error_as_problem(
    function: Callable[P, Coroutine[Any, Any, func.HttpResponse]],
) -> Callable[P, Coroutine[Any, Any, func.HttpResponse]]: ...


@overload
def internal_error_as_problem(function: Callable[P, func.HttpResponse]) -> Callable[P, func.HttpResponse]: ...


def internal_error_as_problem(function: Callable[P, Any]) -> Callable[P, Any]:
    """The function, answering `internal-error` when it raises; `async def` stays `async def`, as the
    Python worker and the durable client binding tell the two apart."""
    if inspect.iscoroutinefunction(function):
        coroutine_function = cast(Callable[P, Coroutine[Any, Any, func.HttpResponse]], function)

        @functools.wraps(function)
        async def guarded_coroutine(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
            with telemetry.http_request(_request_among(args, kwargs)) as request:
                try:
                    answer = await coroutine_function(*args, **kwargs)
                except Exception as exc:
                    answer = _internal_error(function.__name__, exc)
                request.answered(answer)
                return answer

        return guarded_coroutine

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> func.HttpResponse:
        with telemetry.http_request(_request_among(args, kwargs)) as request:
            try:
                answer: func.HttpResponse = function(*args, **kwargs)
            except Exception as exc:
                answer = _internal_error(function.__name__, exc)
            request.answered(answer)
            return answer

    return guarded


def _request_among(args: tuple[Any, ...], kwargs: dict[str, Any]) -> func.HttpRequest | None:
    """The function's HTTP request: the worker passes bindings by name, a caller may pass it first."""
    return next((arg for arg in (*args, *kwargs.values()) if isinstance(arg, func.HttpRequest)), None)


def _internal_error(name: str, exc: Exception) -> func.HttpResponse:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s failed unexpectedly with %s\n%s", name, type(exc).__qualname__, frames.rstrip())
    return problem_response(problems.INTERNAL_ERROR.problem())
