"""The request body limit, enforced while a body is read and without buffering past it.

The Functions host sets Kestrel's MaxRequestBodySize from the app setting
FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (its HttpRequestSizeMiddleware; 104857600 bytes by default, as the
[app settings reference](https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_request_body_size_limit)
documents), and Kestrel answers 413 as soon as `Content-Length` says more than that, or as soon as a
body sent without one (chunked) passes it while being read. The same here, for every request
(`/api/...`, the Durable and admin APIs): the body read so far never exceeds the limit, and the rest
is read and dropped (for up to aiohttp's lingering time) so the caller sees the 413 before the
connection closes. A caller that asks `Expect: 100-continue` (curl does, past 1 MiB) for a body
declared too large gets the 413 instead of the 100, and so never sends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import HttpVersion11, hdrs, web

from chatfn.devhost.errors import StartError

SETTING = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"
DEFAULT_LIMIT = 104_857_600
BODY_LIMIT = web.AppKey("body_limit", int)


class BodyTooLargeError(Exception):
    """The body passed the limit while being read."""


def read_limit(environ: Mapping[str, str]) -> int:
    """The limit in bytes from the app setting (the environment, local.settings.json's Values
    included); a value that is not a whole number of bytes stops the start, where the Functions host
    would fall back to its default without a word."""
    raw = environ.get(SETTING, "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone takes superscript digits
        raise StartError(f"{SETTING} must be a whole number of bytes, such as {DEFAULT_LIMIT}, not {raw!r}")
    return int(raw)


async def read_body(request: web.Request) -> bytes:
    """The whole body, read as it arrives; BodyTooLargeError as soon as it would pass the limit (the
    chunk that passes it is not kept)."""
    limit = request.app[BODY_LIMIT]
    body = bytearray()
    async for chunk in request.content.iter_any():
        if len(body) + len(chunk) > limit:
            raise BodyTooLargeError
        body += chunk
    return bytes(body)


def guarded(routes: list[web.RouteDef]) -> list[web.RouteDef]:
    """The routes, each answering `Expect: 100-continue` through `expect_within_limit`."""
    return [
        web.RouteDef(
            route.method, route.path, route.handler, {**route.kwargs, "expect_handler": expect_within_limit}
        )
        for route in routes
    ]


async def expect_within_limit(request: web.Request) -> web.StreamResponse | None:
    """413 in place of `100 Continue` when Content-Length is over the limit; else aiohttp's own answer
    (for HTTP/1.1, a 100 to `100-continue` and 417 to any other expectation)."""
    if _declared_too_large(request):
        return _too_large()
    if request.version != HttpVersion11:
        return None
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {request.headers[hdrs.EXPECT]}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the interim answer is not part of the response's size
    return None


@web.middleware
async def enforce_body_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """413 before anything is read when Content-Length is over the limit, or when a handler's
    `read_body` passes it."""
    if _declared_too_large(request):
        return _too_large()
    try:
        return await handler(request)
    except BodyTooLargeError:
        return _too_large()


def _declared_too_large(request: web.Request) -> bool:
    declared = request.content_length
    return declared is not None and declared > request.app[BODY_LIMIT]


def _too_large() -> web.Response:
    """Kestrel's answer: 413 with no body, and the connection closed after it."""
    response = web.Response(status=413)
    response.force_close()
    return response
