"""Waiting on another worker's progress (chatfn/requests/polling.py): read again with a pause that grows
from a twentieth of a second to half a second, and never wait past the caller's deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from chatfn.requests.polling import poll_until
from tests.clocks import VirtualClock

pytestmark = pytest.mark.anyio

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Progress:
    """Another worker's state as each read finds it: `pending` until read `done_at`, then `done`."""

    done_at: int | None
    reads: int = 0

    async def read(self) -> str:
        self.reads += 1
        return "done" if self.reads == self.done_at else f"pending {self.reads}"


def _is_done(value: str) -> bool:
    return value == "done"


async def _poll(progress: Progress, clock: VirtualClock, current: str, seconds: float) -> str:
    return await poll_until(
        progress.read,
        _is_done,
        current=current,
        deadline=START + timedelta(seconds=seconds),
        clock=clock,
        sleep=clock.sleep,
    )


async def test_a_value_already_done_is_returned_without_a_read_or_a_wait() -> None:
    progress, clock = Progress(done_at=1), VirtualClock(START)
    assert await _poll(progress, clock, "done", 60) == "done"
    assert (progress.reads, clock.slept) == (0, [])


async def test_the_pause_doubles_from_a_twentieth_of_a_second_to_half_a_second() -> None:
    """A repeat usually finds its first request done within a second; after that, each read (a storage
    or durable-status call) comes no faster than twice a second."""
    progress, clock = Progress(done_at=8), VirtualClock(START)
    assert await _poll(progress, clock, "pending 0", 60) == "done"
    assert progress.reads == 8
    assert clock.slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5])


async def test_the_last_pause_ends_at_the_deadline_and_the_last_read_is_returned() -> None:
    progress, clock = Progress(done_at=None), VirtualClock(START)
    assert await _poll(progress, clock, "pending 0", 1.0) == "pending 5"
    assert clock.slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.25])
    assert clock.now == START + timedelta(seconds=1)


@pytest.mark.parametrize("seconds", [0.0, -5.0], ids=["now", "past"])
async def test_a_deadline_that_has_come_returns_what_was_read_without_reading_again(seconds: float) -> None:
    progress, clock = Progress(done_at=1), VirtualClock(START)
    assert await _poll(progress, clock, "pending 0", seconds) == "pending 0"
    assert (progress.reads, clock.slept) == (0, [])
