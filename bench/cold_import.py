"""How long a new worker takes to import the function app: what every cold start pays first.

    python -m bench.cold_import [--runs 7]

Runs `import function_app` in fresh interpreters and prints the median and spread, then the modules
that cost the most (from `python -X importtime`), so a slow new import is easy to spot.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)  # noqa: S603  # our own code
    return time.perf_counter() - started


def _costliest(count: int) -> list[tuple[int, str]]:
    trace = subprocess.run(  # our own interpreter on our own module
        [sys.executable, "-X", "importtime", "-c", "import function_app"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    rows = []
    for line in trace.splitlines()[1:]:
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if not name.startswith(" "):  # top-level imports only; their cumulative time includes children
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:count]


def main(runs: int) -> None:
    baseline = statistics.median(_seconds("pass") for _ in range(runs))
    samples = [_seconds("import function_app") for _ in range(runs)]
    print(f"import function_app, {runs} fresh interpreters")
    print(
        f"  median {statistics.median(samples) * 1000:7.1f} ms  (bare interpreter {baseline * 1000:.1f} ms)"
    )
    print(f"  min    {min(samples) * 1000:7.1f} ms   max {max(samples) * 1000:.1f} ms")
    print("  costliest top-level imports (cumulative):")
    for micros, name in _costliest(8):
        print(f"    {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    main(parser.parse_args().runs)
