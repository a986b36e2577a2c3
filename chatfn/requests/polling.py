"""Waiting for something another worker is doing: read it again and again, with a growing pause, until
it is done or the caller's wait is over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")

# Quick at first (a repeat usually finds its first request done within a second), then no faster
# than twice a second: each read is a storage or durable-status call.
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 0.5


async def poll_until(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    current: T,
    deadline: datetime,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """The first value that is `done`, starting from `current` (already read); or the last one read
    when `deadline` passes first."""
    pause = FIRST_PAUSE
    while not done(current):
        remaining = (deadline - clock()).total_seconds()
        if remaining <= 0:
            return current
        await sleep(min(pause, remaining))
        pause = min(pause * 2, LONGEST_PAUSE)
        current = await read()
    return current
