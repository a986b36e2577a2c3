"""A batch of many chats through the whole app, measured: `POST /api/chat-batches` on a local host (a
process of its own, with its Graph emulator and Azurite), under the emulator's documented per-app limits,
while Graph fails after acting for some of the chats.

Prints what the batch cost and how it went: chats made and duplicates, user lookups, the share of Graph
calls answered 429, the time to the last chat against the documented pace (30 chats a second), the
largest orchestration history, and the host's peak memory. A benchmark a person runs (`make
bench-app`), not a test.

    python -m bench.batch [--chats 1000] [--people 200] [--members 4] [--after-acting 0.15]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_CHATS_PER_SECOND = 30
_HOST_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/api\b")
_EMULATOR_URL = re.compile(r"Graph emulator: (http://127\.0\.0\.1:\d+)")
_RANDOM = random.Random(4711)  # the same batch every run


@dataclass
class Host:
    """The app on a local host in a process of its own, and what it printed."""

    process: subprocess.Popen[str]
    url: str = ""
    emulator: str = ""
    printed: list[str] = field(default_factory=list)

    def peak_memory_mb(self) -> float:
        """The process's peak resident memory (VmHWM), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_host() -> Host:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "IDENTITY_", "CHATFN_"))}
    env.pop("AzureWebJobsStorage", None)
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(  # this interpreter, the project's own local host
        [sys.executable, "-m", "chatfn.devhost", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    host = Host(process)

    def drain() -> None:
        for line in process.stdout or ():
            host.printed.append(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        text = "".join(host.printed)
        found, emulator = _HOST_URL.search(text), _EMULATOR_URL.search(text)
        if found and emulator:
            host.url, host.emulator = found.group(1), emulator.group(1)
            return host
        time.sleep(0.1)
    host.stop()
    raise RuntimeError("the local host did not start:\n" + "".join(host.printed))


def people(count: int) -> list[dict[str, str]]:
    """A pool of members of the home tenant, found by mail (their sign-in names differ, as in real
    tenants)."""
    return [
        {
            "id": f"{n:08x}-1111-4222-8333-{n:012x}",
            "userPrincipalName": f"p{n}.x@contoso.onmicrosoft.com",
            "mail": f"person{n}@contoso.com",
        }
        for n in range(1, count + 1)
    ]


def run(chats: int, pool: int, members: int, after_acting: float) -> None:
    host = start_host()
    try:
        with (
            httpx.Client(base_url=f"{host.emulator}/_emulator", timeout=60) as control,
            httpx.Client(base_url=f"{host.url}/api", timeout=120) as api,
        ):
            directory = people(pool)
            control.post("/users", json=directory).raise_for_status()
            control.post("/throttle", json={"documented": True}).raise_for_status()
            if after_acting:
                fault = {"method": "POST", "path": "/v1.0/chats", "after": True, "probability": after_acting}
                control.post("/faults", json=fault | {"status": 504}).raise_for_status()
            addresses = [person["mail"] for person in directory]
            batch = [
                {"topic": f"Bench chat {n}", "emails": _RANDOM.sample(addresses, members)}
                for n in range(chats)
            ]
            started = datetime.now(UTC)
            answer = api.post("/chat-batches", json={"chats": batch})
            answer.raise_for_status()
            location = answer.headers["Location"]
            while answer.status_code == 202:
                time.sleep(min(2.0, float(answer.headers.get("Retry-After", "1"))))
                answer = api.get(location)
            answered = (datetime.now(UTC) - started).total_seconds()
            final: dict[str, Any] = answer.json()
            requests: list[dict[str, Any]] = control.get("/requests").json()
            made = control.get("/chats").json()
            histories = _histories(host.url, final["batchId"])
    finally:
        memory = host.peak_memory_mb()
        host.stop()

    graph = [r for r in requests if r["path"].startswith("/v1.0/")]
    statuses = Counter(r["status"] for r in graph)
    topics = Counter(chat["topic"] for chat in made)
    lookups = sum(r["path"] == "/v1.0/users" for r in graph)
    ideal = chats / DOCUMENTED_CHATS_PER_SECOND
    last_chat = max(_at(r["time"]) for r in graph if r["method"] == "POST" and r["path"] == "/v1.0/chats")
    elapsed = (last_chat - started).total_seconds()
    print(f"a batch of {chats} group chats of {members} members by email, from {pool} people")
    print(f"  documented limits, {after_acting:.0%} of POST /chats failing after acting")
    print(f"  ended {final['status']}: {final['succeeded']} made, {final['failed']} failed")
    print(f"  chats in Graph: {len(made)}, duplicates: {sum(n - 1 for n in topics.values() if n > 1)}")
    print(f"  user lookups: {lookups} (distinct addresses / 15 = {math.ceil(pool / 15)})")
    print(f"  Graph calls: {len(graph)}, {len(graph) / max(1, final['succeeded']):.2f} per chat")
    throttled = Counter(_template(r["method"], r["path"]) for r in graph if r["status"] == 429)
    print(f"  answered 429: {statuses.get(429, 0) / max(1, len(graph)):.1%} {dict(throttled) or ''}")
    print(
        f"  last chat after {elapsed:.1f} s; the documented pace takes {ideal:.1f} s ({elapsed / ideal:.2f}x)"
    )
    print(f"  the batch answered 200 after {answered:.1f} s")
    print(f"  largest history: {max(histories)} events over {len(histories)} orchestrations")
    print(f"  host's peak memory: {memory:.0f} MB")


_IDS = re.compile(r"(/(?:chats|users|operations))/[^/]+|\('[^']*'\)")


def _template(method: str, path: str) -> str:
    """A Graph call's route template: ids replaced by `{id}`."""
    return f"{method} " + _IDS.sub(lambda m: f"{m.group(1)}/{{id}}" if m.group(1) else "({id})", path)


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _histories(url: str, batch_id: str) -> list[int]:
    """The number of history events of the batch's orchestration and each of its chunks."""
    durable = f"{url}/runtime/webhooks/durabletask/instances"
    with httpx.Client(timeout=60) as client:
        instances = client.get(durable, params={"instanceIdPrefix": batch_id}).json()
        return [
            len(
                client.get(f"{durable}/{i['instanceId']}", params={"showHistory": "true"}).json()[
                    "historyEvents"
                ]
            )
            for i in instances
        ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument(
        "--after-acting", type=float, default=0.15, help="share of POST /chats failing after acting"
    )
    parser.add_argument("--quick", action="store_true", help="200 chats")
    args = parser.parse_args()
    run(200 if args.quick else args.chats, args.people, args.members, args.after_acting)


if __name__ == "__main__":
    main()
