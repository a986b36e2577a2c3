"""`python -m chatfn.devhost [--port 7071] [--app function_app:app] [--no-emulator] [--no-azurite]
[--queue-latency SECONDS] [--function-timeout SECONDS]
[--rerun-activities SHARE]`: run the function app locally, as `func start`
would, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from chatfn.devhost.errors import StartError
from chatfn.devhost.server import DevHost

PREFIX = "chatfn local host: "


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chatfn.devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--app", default="function_app:app", help="the app object, as module:attribute")
    parser.add_argument("--no-emulator", action="store_true", help="do not start the Graph emulator")
    parser.add_argument(
        "--no-azurite",
        action="store_true",
        help="never start Azurite, even when AzureWebJobsStorage is unreachable",
    )
    parser.add_argument(
        "--queue-latency",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay every durable message by this much, as the Azure Storage provider's queues do",
    )
    parser.add_argument(
        "--function-timeout",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how long any function may run, in place of host.json's functionTimeout (for tests)",
    )
    parser.add_argument(
        "--rerun-activities",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="run this share of activity runs (0 to 1) twice, as when a worker dies before recording one",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = DevHost(
        app=args.app,
        port=args.port,
        emulator=not args.no_emulator,
        azurite=not args.no_azurite,
        queue_latency=args.queue_latency,
        function_timeout=args.function_timeout,
        activity_reruns=args.rerun_activities,
    )
    try:
        asyncio.run(serve(host))
    except StartError as exc:
        print(f"{PREFIX}{exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, not {text}")
    return value


async def serve(host: DevHost) -> None:
    """Start, serve until SIGINT or SIGTERM, stop; a failed start stops what it had started too."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await host.start()
        for line in host.banner():
            print(line, flush=True)
        await stopping.wait()
        print(f"{PREFIX}stopping", flush=True)
    finally:
        await host.stop()


if __name__ == "__main__":
    main()
