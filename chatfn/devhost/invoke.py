"""Calling user functions as the Python worker does: `async def` on the host's one event loop (so
they can share clients made on it), plain functions in a thread pool."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any


async def call(fn: Callable[..., Any], kwargs: dict[str, Any], executor: Executor) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, **kwargs))
