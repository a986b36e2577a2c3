"""What README.md claims about running chatfn locally, held to what the code does: the emulator's
users and apps, how long the 202 example takes, and the second virtual environment. (The CLI's exit
statuses are held to the README in tests/tools/test_cli.py.)"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from chatfn.emulator import Emulator
from chatfn.emulator.directory import TEAMS_APPS
from chatfn.emulator.state import OperationsConfig
from chatfn.services import Services
from chatfn.settings import Settings
from tests.chats.test_job import poll_waits
from tests.clocks import VirtualClock
from tests.graphs import graph_for

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def disk_usage(directory: Path) -> int:
    """Bytes a directory takes on disk, as `du` counts them (blocks, links not followed)."""
    total = 0
    for parent, _, files in os.walk(directory.resolve()):
        for name in files:
            total += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return total


def sentence_with(words: str) -> str:
    """The README's sentence that holds `words`, on one line."""
    flat = " ".join(README.split())
    start = flat.index(words)
    return flat[flat.rfind(". ", 0, start) + 2 : flat.index(". ", start) + 1]


def test_the_emulators_users_are_listed_and_its_apps_named(control: httpx.Client) -> None:
    users = control.get("/users").json()
    assert users
    assert all("userPrincipalName" in user for user in users), "/_emulator/users lists users only"
    catalog = sentence_with("app catalog holds")
    assert "users are listed by `curl -s <emulator URL>/_emulator/users`" in catalog
    named = set(re.findall(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", catalog))
    assert named == set(TEAMS_APPS)
    assert "users and apps are listed" not in README


@pytest.mark.anyio
@pytest.mark.usefixtures("managed_identity_env", "control")
async def test_the_202_example_takes_as_long_as_the_readme_says(emulator: Emulator) -> None:
    """The job's own schedule with the default settings, against the emulator's default operation: the
    chat is read right after the poll that finds the operation done."""
    settings = Settings()
    clock = VirtualClock()
    async with graph_for(emulator) as graph:
        waits = await poll_waits(Services(settings, graph=graph, clock=clock, sleep=clock.sleep), clock)
    assert len(waits) == len(OperationsConfig().statuses)
    polls = [sum(waits[: i + 1]) for i in range(len(waits))]
    ready = polls[-1]
    claim = sentence_with("the chat is ready about")
    assert f"about {ready:g} s later" in claim
    looks = sentence_with("and chatfn looks")
    assert ", ".join(f"{poll:g}" for poll in polls[:-1]) in looks
    assert f"and {ready:g} s after the start" in looks
    wait = sentence_with("the `POST` itself waits")
    assert f"waits {settings.sync_wait_seconds:g} s (`CHATFN_SYNC_WAIT_SECONDS`)" in wait


def test_the_second_virtual_environment_is_named_with_the_room_it_takes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [venv] = re.findall(r"^INFRA_VENV := (\S+)$", makefile, re.MULTILINE)
    claim = sentence_with("On disk,")
    stated = re.search(rf"`{re.escape(venv)}` about (\d+) MB", claim)
    assert stated, f"README does not say how much room {venv} takes"
    if not (ROOT / venv).is_dir():
        pytest.skip(f"{venv} is not set up here")
    measured_mb = disk_usage(ROOT / venv) / 2**20
    assert abs(measured_mb - int(stated.group(1))) <= 0.35 * measured_mb, f"{venv} takes {measured_mb:.0f} MB"
