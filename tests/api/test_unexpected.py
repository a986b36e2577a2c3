"""An HTTP function that raises answers the `internal-error` problem, never the host's plain-text 500,
and neither the answer nor the log repeats what the exception said."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

import function_app
from chatfn import contract
from chatfn.api import batches, endpoints
from chatfn.api.unexpected import internal_error_as_problem
from chatfn.devhost.functions import index_app

# What a careless exception might hold: it must reach neither the caller nor the log.
SECRET = "alex@contoso.com"
# The durableClient binding as the extension passes it (what DurableOrchestrationClient reads).
CLIENT_BINDING = json.dumps(
    {
        "taskHubName": "chatfn",
        "creationUrls": {},
        "managementUrls": {},
        "baseUrl": "http://127.0.0.1:9",
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": "http://127.0.0.1:9/",
    }
)


def _request() -> func.HttpRequest:
    return func.HttpRequest("GET", "http://127.0.0.1/api/health", body=b"", headers={})


def _raise(*_: Any, **__: Any) -> func.HttpResponse:
    raise RuntimeError(f"could not bind {SECRET}")


async def _raise_async(*_: Any, **__: Any) -> func.HttpResponse:
    raise RuntimeError(f"could not bind {SECRET}")


def assert_internal_error(answer: func.HttpResponse) -> None:
    assert answer.status_code == 500
    assert answer.mimetype == contract.PROBLEM_JSON
    body = answer.get_body().decode()
    assert json.loads(body)["type"] == "urn:chatfn:problem:internal-error"
    assert SECRET not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body


def test_a_function_that_raises_answers_the_internal_error_problem(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert_internal_error(internal_error_as_problem(_raise)(_request()))
    assert "RuntimeError" in caplog.text, "the log says what failed and where"
    assert SECRET not in caplog.text, "but not what the exception held"


def test_an_async_function_stays_async_and_answers_the_problem() -> None:
    guarded = internal_error_as_problem(_raise_async)
    assert inspect.iscoroutinefunction(guarded), "the worker awaits only what is async def"
    assert_internal_error(asyncio.run(guarded(_request())))


def test_an_answer_passes_through_untouched() -> None:
    answer = func.HttpResponse("ok", status_code=202)
    assert internal_error_as_problem(lambda: answer)() is answer


def test_every_http_function_of_the_app_answers_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each route of function_app.py, with the endpoint behind it broken."""
    functions = index_app(function_app.app).http
    behind: dict[str, tuple[Any, str]] = {
        "post_chats": (endpoints, "post_chats"),
        "get_chat_request": (endpoints, "get_chat_request"),
        "health": (endpoints, "health"),
        "openapi_json": (endpoints, "openapi_json"),
        "swagger_json": (endpoints, "swagger_json"),
        "post_chat_batches": (batches, "post_batches"),
        "get_chat_batch": (batches, "get_batch"),
        "delete_chat_batch": (batches, "delete_batch"),
    }
    assert {function.name for function in functions} == set(behind)
    for function in functions:
        broken: Callable[..., Any] = _raise_async if function.client_param else _raise
        monkeypatch.setattr(*behind[function.name], broken)
        kwargs: dict[str, Any] = {function.request_param: _request()}
        if function.client_param:
            kwargs[function.client_param] = CLIENT_BINDING
        answer = function.fn(**kwargs)
        if function.client_param:
            answer = asyncio.run(answer)
        assert_internal_error(answer)
