"""How long a new worker takes to import the function app: what every cold start pays first.

    python -m bench.cold_import [--runs 7]

Times `import function_app` in fresh interpreters, once per telemetry set-up (`CHATFN_TELEMETRY` off,
console, and Azure Monitor set up by chatfn or, as in Azure, by the Python worker before the app), and
prints the median and spread of each, then the modules that cost the most with telemetry off (from
`python -X importtime`), so a slow new import is easy to spot. Azure Monitor is pointed at
127.0.0.1:9 and asks nothing of Microsoft's services: nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Application Insights on this machine: nothing leaves 127.0.0.1, and neither Microsoft's statsbeat nor
# its control plane nor the Azure VM metadata service is asked anything.
LOCAL_AZURE_MONITOR = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
    ),
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_functions",
}
# What the Python worker runs before it imports the app when PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY
# is true (azure-functions-python-worker, initialize_azure_monitor).
WORKER_SET_UP = (
    "from azure.monitor.opentelemetry import configure_azure_monitor\n"
    "configure_azure_monitor(logger_name='')\n"
)
IMPORT_APP = "import function_app"
WORKER_EXPORTS = {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}

# Each case: what it is, the settings it runs with, the code it times.
CASES = [
    ("telemetry off", {"CHATFN_TELEMETRY": "off"}, IMPORT_APP),
    ("console", {"CHATFN_TELEMETRY": "console"}, IMPORT_APP),
    ("azure-monitor, set up by chatfn (on its own thread)", LOCAL_AZURE_MONITOR, IMPORT_APP),
    (
        "azure-monitor, set up by chatfn, until it is ready",
        LOCAL_AZURE_MONITOR,
        IMPORT_APP + "\nfrom chatfn import telemetry\ntelemetry.azure_monitor_ready.wait(60)",
    ),
    ("azure-monitor, the worker's set-up alone", LOCAL_AZURE_MONITOR | WORKER_EXPORTS, WORKER_SET_UP),
    (
        "azure-monitor, the worker's set-up + the app",
        LOCAL_AZURE_MONITOR | WORKER_EXPORTS,
        WORKER_SET_UP + IMPORT_APP,
    ),
]
_MARK = "chatfn-bench-seconds"
# Settings of the calling shell that would change a case.
_TELEMETRY_SETTINGS = ("CHATFN_TELEMETRY", "APPLICATIONINSIGHTS_", "PYTHON_APPLICATIONINSIGHTS_", "OTEL_")


def _seconds(code: str, env: dict[str, str]) -> float:
    """How long `code` takes in a fresh interpreter, timed inside it: neither the interpreter's start,
    the same for every case, nor its exit (when Azure Monitor's exporters try to send) counts."""
    timed = (
        f"import time\nstarted = time.perf_counter()\n{code}\nprint('{_MARK}', time.perf_counter() - started)"
    )
    done = subprocess.run(  # noqa: S603  # our own interpreter on our own code
        [sys.executable, "-c", timed], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    [seconds] = [line.split()[1] for line in done.stdout.splitlines() if line.startswith(_MARK)]
    return float(seconds)


def _costliest(count: int) -> list[tuple[int, str]]:
    trace = subprocess.run(  # noqa: S603  # our own interpreter on our own module
        [sys.executable, "-X", "importtime", "-c", IMPORT_APP],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=_environment({"CHATFN_TELEMETRY": "off"}, tempfile.gettempdir()),
    ).stderr
    rows = []
    for line in trace.splitlines()[1:]:
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if not name.startswith(" "):  # top-level imports only; their cumulative time includes children
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:count]


def _environment(settings: dict[str, str], tmp: str) -> dict[str, str]:
    """This shell's environment without its telemetry settings, plus the case's; Azure Monitor keeps
    what it could not send under `tmp`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_TELEMETRY_SETTINGS)}
    return {**inherited, **settings, "TMPDIR": tmp}


def main(runs: int) -> None:
    print(f"import function_app, {runs} fresh interpreters per case (median, min-max)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings, code in CASES:
            samples = [_seconds(code, _environment(settings, tmp)) * 1000 for _ in range(runs)]
            print(
                f"  {name:<46} {statistics.median(samples):7.1f} ms  ({min(samples):.0f}-{max(samples):.0f})"
            )
    print("  costliest top-level imports with telemetry off (cumulative):")
    for micros, name in _costliest(8):
        print(f"    {micros / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    main(parser.parse_args().runs)
