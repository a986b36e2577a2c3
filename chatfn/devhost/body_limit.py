"""The request body limit, enforced while a body is read and without buffering past it.

The Functions host sets Kestrel's MaxRequestBodySize from the app setting
FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (its HttpRequestSizeMiddleware; 104857600 bytes by default, as the
[app settings reference](https://learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_request_body_size_limit)
documents), and Kestrel answers 413 as soon as `Content-Length` says more than that, or as soon as a
body sent without one (chunked) passes it while being read. The same here, for every request
(`/api/...`, the Durable and admin APIs): the body read so far never exceeds the limit, and the rest
is read and dropped (for up to aiohttp's lingering time) so the caller sees the 413 before the
connection closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

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
    if not raw.isdigit():
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


@web.middleware
async def enforce_body_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """413 before anything is read when Content-Length is over the limit, or when a handler's
    `read_body` passes it."""
    declared = request.content_length
    if declared is not None and declared > request.app[BODY_LIMIT]:
        return _too_large()
    try:
        return await handler(request)
    except BodyTooLargeError:
        return _too_large()


def _too_large() -> web.Response:
    """Kestrel's answer: 413 with no body, and the connection closed after it."""
    response = web.Response(status=413)
    response.force_close()
    return response
