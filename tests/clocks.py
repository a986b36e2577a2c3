"""Time that passes only when the code under test sleeps, or the test moves it: a search that lasts
minutes, or a budget that waits out a Retry-After, takes none of the suite's time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class VirtualClock:
    """A wall clock (`Services.clock`) and its `sleep`: each sleep is recorded and moves the clock on."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


@dataclass
class MonotonicClock:
    """A monotonic clock in seconds (the Graph budget's and the directory's) and its `sleep`."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
