"""A batch of many chats through the whole app, measured: `POST /api/chat-batches` on a local host (a
process of its own, with the Graph emulator and Azurite each in a process of their own, as `bench.app`
starts them), under the emulator's documented per-app limits, while Graph fails after acting for some of
the chats and single `POST /api/chats` arrive while the batch runs.

Prints what the batch cost and how it went: chats made and duplicates, user lookups, the share of Graph
calls answered 429, Teams writes and reads beside the worker's budget of 30 a second each (whichever
takes longer is the floor of the batch's time), the time to the batch's last chat against the documented
pace (30 chats a second) and to its answer, the host's CPU time meanwhile, the largest orchestration
history; the host's memory before the batch (VmRSS), its peak while the batch ran (VmHWM, restarted
when the batch starts) and the growth; and the single requests' answers and their p50/p95 latency to
the end (a 202 followed through Location). A benchmark a person runs (`make bench-app`), not a test.

    python -m bench.batch [--chats 1000] [--people 200] [--members 4] [--after-acting 0.15] [--singles 20]
    [--list-lag 0]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.app import graph_and_storage, local_host

DOCUMENTED_CHATS_PER_SECOND = 30
BATCH_TOPIC = "Bench chat"
SINGLE_TOPIC = "Single chat"
_RANDOM = random.Random(4711)  # the same batch every run


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


def memory_mb(pid: int, name: str) -> float:
    """A figure of the process's /proc status (VmRSS, VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user and system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def restart_peak(pid: int) -> bool:
    """Restart the process's peak resident memory (VmHWM) from its present size (Linux 4.0 and later);
    False when it could not, and VmHWM still counts from the process's start."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Single:
    """One `POST /api/chats` sent while the batch ran."""

    first: int | str  # the first answer's status, or the error that ended the request
    final: int | str  # its status once a 202 was followed through Location, with a problem's type
    seconds: float  # from sending it to its final answer


def single(api: httpx.Client, body: dict[str, Any]) -> Single:
    """Send one request and follow a 202 to its end, as Power Automate does (Retry-After, at most 1 s)."""
    began = time.perf_counter()
    try:
        answer = api.post("/chats", json=body)
        first = answer.status_code
        while answer.status_code == 202:
            time.sleep(min(1.0, float(answer.headers.get("Retry-After", "1"))))
            answer = api.get(answer.headers["Location"])
    except httpx.HTTPError as exc:
        return Single(type(exc).__name__, type(exc).__name__, time.perf_counter() - began)
    seconds = time.perf_counter() - began
    if answer.is_success:
        return Single(first, answer.status_code, seconds)
    try:
        problem = str(answer.json().get("type", "")).rpartition(":")[2]
    except ValueError:  # not a problem's JSON
        problem = ""
    return Single(first, f"{answer.status_code} {problem}", seconds)


@dataclass
class Singles:
    """Single requests sent evenly over `over` seconds from `start()`, each in a thread of its own (none
    waits for another, nor for the batch)."""

    api: httpx.Client
    bodies: list[dict[str, Any]]
    over: float
    _sent: list[Future[Single]] = field(default_factory=list)
    _dispatcher: threading.Thread | None = None

    def start(self) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.bodies)), thread_name_prefix="single")
        began = time.monotonic()

        def dispatch() -> None:
            for n, body in enumerate(self.bodies):
                time.sleep(max(0.0, began + (n + 0.5) * self.over / len(self.bodies) - time.monotonic()))
                self._sent.append(pool.submit(single, self.api, body))
            pool.shutdown(wait=False)

        self._dispatcher = threading.Thread(target=dispatch, daemon=True)
        self._dispatcher.start()

    def answers(self) -> list[Single]:
        """Every request's answer, once all were sent and answered."""
        if self._dispatcher is not None:
            self._dispatcher.join()
        return [sent.result() for sent in self._sent]


def run(chats: int, pool: int, members: int, after_acting: float, singles: int, list_lag: float) -> None:
    directory = people(pool)
    addresses = [person["mail"] for person in directory]
    batch = [
        {"topic": f"{BATCH_TOPIC} {n}", "emails": _RANDOM.sample(addresses, members)} for n in range(chats)
    ]
    bodies = [
        {"topic": f"{SINGLE_TOPIC} {n}", "emails": _RANDOM.sample(addresses, members)} for n in range(singles)
    ]
    ideal = chats / DOCUMENTED_CHATS_PER_SECOND
    with (
        graph_and_storage() as (emulator, storage),
        local_host(emulator, storage, {}) as host,
        httpx.Client(base_url=f"{emulator}/_emulator", timeout=60) as control,
        httpx.Client(base_url=f"{host.url}/api", timeout=120) as api,
    ):
        control.post("/users", json=directory).raise_for_status()
        control.post("/throttle", json={"documented": True}).raise_for_status()
        if after_acting:
            fault = {"method": "POST", "path": "/v1.0/chats", "after": True, "probability": after_acting}
            control.post("/faults", json=fault | {"status": 504}).raise_for_status()
        if list_lag:
            control.post("/consistency", json={"listDelaySeconds": list_lag}).raise_for_status()
        before, cpu = memory_mb(host.pid, "VmRSS"), cpu_seconds(host.pid)
        peak_restarted = restart_peak(host.pid)
        started = datetime.now(UTC)
        answer = api.post("/chat-batches", json={"chats": batch})
        answer.raise_for_status()
        sent = Singles(api, bodies, over=ideal)
        sent.start()
        location = answer.headers["Location"]
        while answer.status_code == 202:
            time.sleep(min(0.5, float(answer.headers.get("Retry-After", "1"))))
            answer = api.get(location)
        answered = (datetime.now(UTC) - started).total_seconds()
        peak, after = memory_mb(host.pid, "VmHWM"), memory_mb(host.pid, "VmRSS")
        cpu = cpu_seconds(host.pid) - cpu
        single_answers = sent.answers()
        final: dict[str, Any] = answer.json()
        requests: list[dict[str, Any]] = control.get("/requests").json()
        made = control.get("/chats").json()
        histories = _histories(host.url, final["batchId"])

    graph = [r for r in requests if r["path"].startswith("/v1.0/")]
    statuses = Counter(r["status"] for r in graph)
    topics = Counter(chat["topic"] for chat in made)
    lookups = sum(r["path"] == "/v1.0/users" for r in graph)
    last_chat = max(
        _at(r["time"])
        for r in graph
        if r["method"] == "POST" and r["path"] == "/v1.0/chats" and _topic(r).startswith(BATCH_TOPIC)
    )
    elapsed = (last_chat - started).total_seconds()
    print(f"a batch of {chats} group chats of {members} members by email, from {pool} people")
    lag = f", new chats out of Graph's lists for {list_lag:g} s" if list_lag else ""
    print(f"  documented limits, {after_acting:.0%} of POST /chats failing after acting{lag}")
    print(f"  ended {final['status']}: {final['succeeded']} made, {final['failed']} failed")
    for name, topic in (("the batch's", BATCH_TOPIC), ("single requests'", SINGLE_TOPIC)):
        own = {t: n for t, n in topics.items() if t.startswith(topic)}
        print(f"  {name} chats in Graph: {len(own)}, duplicates: {sum(n - 1 for n in own.values() if n > 1)}")
    print(f"  user lookups: {lookups} (distinct addresses / 15 = {math.ceil(pool / 15)})")
    print(f"  Graph calls: {len(graph)}, {len(graph) / max(1, len(topics)):.2f} per chat made")
    writes = sum(r["method"] == "POST" and r["path"] == "/v1.0/chats" for r in graph)
    reads = sum(r["method"] == "GET" and r["path"] != "/v1.0/users" for r in graph)
    print(
        f"  Teams writes {writes} and reads {reads}: {writes / DOCUMENTED_CHATS_PER_SECOND:.1f} s and"
        f" {reads / DOCUMENTED_CHATS_PER_SECOND:.1f} s at the worker's budget of 30 a second each"
    )
    throttled = Counter(_template(r["method"], r["path"]) for r in graph if r["status"] == 429)
    print(f"  answered 429: {statuses.get(429, 0) / max(1, len(graph)):.1%} {dict(throttled) or ''}")
    print(
        f"  the batch's last chat after {elapsed:.1f} s; the documented pace takes {ideal:.1f} s"
        f" ({elapsed / ideal:.2f}x)"
    )
    print(f"  the batch answered 200 after {answered:.1f} s; the host used {cpu:.1f} s of CPU meanwhile")
    print(f"  largest history: {max(histories)} events over {len(histories)} orchestrations")
    since = "while the batch ran" if peak_restarted else "since the host started"
    print(
        f"  host's memory: {before:.0f} MB before the batch, peak {peak:.0f} MB {since}"
        f" (+{peak - before:.0f} MB), {after:.0f} MB when it ended"
    )
    if single_answers:
        seconds = sorted(s.seconds for s in single_answers)
        print(
            f"  {len(single_answers)} single requests over {ideal:.0f} s:"
            f" answered {dict(Counter(s.first for s in single_answers))},"
            f" ended {dict(Counter(s.final for s in single_answers))};"
            f" p50 {_quantile(seconds, 50):.2f} s, p95 {_quantile(seconds, 95):.2f} s,"
            f" slowest {seconds[-1]:.2f} s"
        )


_IDS = re.compile(r"(/(?:chats|users|operations))/[^/]+|\('[^']*'\)")


def _template(method: str, path: str) -> str:
    """A Graph call's route template: ids replaced by `{id}`."""
    return f"{method} " + _IDS.sub(lambda m: f"{m.group(1)}/{{id}}" if m.group(1) else "({id})", path)


def _topic(request: dict[str, Any]) -> str:
    body = request.get("body")
    return str(body.get("topic") or "") if isinstance(body, dict) else ""


def _quantile(ordered: list[float], q: int) -> float:
    return statistics.quantiles(ordered, n=100)[q - 1] if len(ordered) > 1 else ordered[0]


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
    parser.add_argument(
        "--singles", type=int, default=20, help="single POST /api/chats sent while the batch runs"
    )
    parser.add_argument(
        "--list-lag", type=float, default=0.0, metavar="SECONDS", help="how late new chats appear in lists"
    )
    parser.add_argument("--quick", action="store_true", help="200 chats")
    args = parser.parse_args()
    run(
        200 if args.quick else args.chats,
        args.people,
        args.members,
        args.after_acting,
        args.singles,
        args.list_lag,
    )


if __name__ == "__main__":
    main()
