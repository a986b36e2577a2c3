"""`activity_reruns`: activities run at least once, as Durable Functions promises ("The Durable Task
Framework guarantees that each called activity function will be executed at least once during an
orchestration's execution", learn.microsoft.com/azure/azure-functions/durable/
durable-functions-types-features-overview). A host of its own, in this process: one in-process host at a
time (the durable client's HTTP session belongs to the first host's event loop)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.devhost import sample_app
from tests.devhost.driving import finished, replays_cleanly, sample_host, start

pytestmark = pytest.mark.apphost


def test_a_rerun_activitys_second_run_is_the_one_the_orchestration_gets(tmp_path: Path, azurite: str) -> None:
    """`activity_reruns=1`: every activity runs twice, the first completion lost, as when its worker
    dies before recording it. `exhausting` calls `flaky` twice (with retry), which fails each run: four
    runs, and the orchestration sees the fourth."""
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {}}))
    with sample_host(azurite, settings, activity_reruns=1.0) as host, httpx.Client(base_url=host.url) as http:
        instance_id = start(http, "exhausting")
        caught = finished(http, instance_id)["output"]["caught"]
        replays_cleanly(host, "exhausting", instance_id)
    assert "attempt 4 failed" in caught
    assert sample_app.ATTEMPTS[instance_id] == 4
