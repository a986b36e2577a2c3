"""`python -m chatfn.emulator [--port N] [--identity-header S]`: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from chatfn.emulator.server import DEFAULT_IDENTITY_HEADER, Emulator

DEFAULT_PORT = 8765


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatfn.emulator", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)"
    )
    parser.add_argument(
        "--identity-header",
        default=DEFAULT_IDENTITY_HEADER,
        help="the secret X-IDENTITY-HEADER must carry (default %(default)s)",
    )
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        emulator = Emulator.start(port=args.port, identity_header=args.identity_header)
    except OSError as error:
        print(f"Graph emulator cannot listen on 127.0.0.1:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"Graph emulator listening on {emulator.url}", flush=True)
    try:
        stopping.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
