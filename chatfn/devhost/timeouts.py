"""host.json's `functionTimeout`, enforced on every function as the Functions host enforces it.

The WebJobs SDK's FunctionExecutor logs "Timeout value of 00:05:00 exceeded by function
'Functions.<name>' (Id: '<invocation id>'). Initiating cancellation." and fails the invocation with
FunctionTimeoutException "Timeout value of 00:05:00 was exceeded by function: Functions.<name>". What
that failure means depends on the trigger (see the callers): an HTTP caller gets a 500, an activity's
orchestrator a TaskFailed, an orchestrator episode is aborted and tried again, a timer run fails.

An `async def` is cancelled. A plain function cannot be stopped in its thread and is abandoned there,
still running: the Functions host restarts the language worker after a timeout instead, which a
local host cannot do without losing everything else it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chatfn.devhost.errors import StartError

log = logging.getLogger("chatfn.devhost")
T = TypeVar("T")

HOST_JSON = "host.json"
# With no functionTimeout in host.json the Functions host allows 30 minutes outside the Consumption
# plan (5 there), and Core Tools runs as the former. The format is `[d.]hh:mm:ss` (hh 0-23, mm and ss
# 0-59) or -1 for unbounded: learn.microsoft.com/azure/azure-functions/functions-host-json#functiontimeout
DEFAULT_SECONDS = 30 * 60.0
UNBOUNDED = "-1"
_TICKS_PER_SECOND = 10_000_000  # .NET TimeSpan ticks
_TIMESPAN = re.compile(r"(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<f>\d{1,7}))?")


class FunctionTimeoutError(Exception):
    """A function ran past functionTimeout; the message is the WebJobs SDK's FunctionTimeoutException's."""


@dataclass(frozen=True)
class FunctionTimeout:
    """How long any one function may run (None: unbounded), and the running of a function under it."""

    seconds: float | None = DEFAULT_SECONDS

    @classmethod
    def from_host_json(cls, path: Path) -> FunctionTimeout:
        """`functionTimeout` from the app's host.json (`hh:mm:ss`, `d.hh:mm:ss`, or -1); the host's
        default when the file or the property is absent. A value it cannot read is a StartError."""
        if not path.is_file():
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StartError(f"{path} is not valid JSON ({exc})") from None
        value: Any = document.get("functionTimeout") if isinstance(document, dict) else None
        if value is None:
            return cls()
        if str(value).strip() == UNBOUNDED:
            return cls(None)
        found = _TIMESPAN.fullmatch(str(value).strip())
        if found is None or int(found["h"]) > 23 or int(found["m"]) > 59 or int(found["s"]) > 59:
            raise StartError(
                f"{path}: functionTimeout must be a time span such as 00:05:00 (or -1), not {value!r}"
            )
        days, fraction = int(found["d"] or 0), float(f"0.{found['f'] or 0}")
        seconds = ((days * 24 + int(found["h"])) * 60 + int(found["m"])) * 60 + int(found["s"]) + fraction
        if seconds <= 0:
            raise StartError(f"{path}: functionTimeout must be longer than zero, not {value!r}")
        return cls(seconds)

    @property
    def span(self) -> str:
        """The limit as .NET prints a TimeSpan (`00:05:00`, `1.00:00:00`, `00:00:01.5000000`)."""
        ticks = round((self.seconds or 0) * _TICKS_PER_SECOND)
        whole, fraction = divmod(ticks, _TICKS_PER_SECOND)
        minutes, seconds = divmod(whole, 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        text = f"{hours:02}:{minutes:02}:{seconds:02}"
        return (f"{days}." if days else "") + text + (f".{fraction:07}" if fraction else "")

    async def run(self, name: str, work: Awaitable[T]) -> T:
        """Await `work` (one invocation of function `name`) for at most the limit; past it, cancel
        it and raise FunctionTimeoutError."""
        task = asyncio.ensure_future(work)
        if self.seconds is None:
            return await task
        try:
            done, _ = await asyncio.wait({task}, timeout=self.seconds)
        except asyncio.CancelledError:
            task.cancel()  # the host is stopping: the invocation goes with it
            raise
        if task in done:
            return task.result()
        log.error(
            "Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). Initiating cancellation.",
            self.span,
            name,
            uuid.uuid4(),
        )
        task.cancel()
        task.add_done_callback(lambda late: _log_late_failure(name, late))
        raise FunctionTimeoutError(f"Timeout value of {self.span} was exceeded by function: Functions.{name}")


def _log_late_failure(name: str, late: asyncio.Future[Any]) -> None:
    """A function that ignored its cancellation and then failed: say so rather than lose it."""
    if not late.cancelled() and late.exception() is not None:
        log.warning("function %s failed after its timeout: %r", name, late.exception())
