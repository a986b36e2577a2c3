"""`python -m chatfn create-many FILE` against the app on the local host and its Graph emulator: one
chat per row of a CSV or JSON lines file, sent as batches, followed to their end, and each chat's
result written; the exit code, stdout and stderr that a person or a script gets."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatfn.tools.cli import ExitCode, main
from tests.apphost import ROOT
from tests.tools.clients import Tap, graph_requests, read_terminal, start_cli, subprocess_env

APP_ID = "8e55a7b1-6766-4f0a-8610-ecacfe3d569a"
# Three chats: a one-on-one, a group with a guest and a topic (a cell of several entries separated
# by ; and ,), and the group of EARLIER_CHAT, reused when it exists. (The items of a batch run side by
# side: one item cannot reuse the chat another item of the same batch makes.)
CSV_FILE = """\
emails,topic,guests,reuseExisting
alex@contoso.com;jacob@contoso.com,,,
"alex@contoso.com, jacob@contoso.com; lynne@contoso.com",Order 1,ana@fabrikam.com,
alex@contoso.com;jacob@contoso.com;lynne@contoso.com,Order 0,,true
"""
EARLIER_CHAT = {"emails": "alex@contoso.com;jacob@contoso.com;lynne@contoso.com", "topic": "Order 0"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The client in this process, as `python -m chatfn create-many ARGV...` (not on a terminal)."""
    code = main(["create-many", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_results(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def printed_key(stderr: str) -> str:
    found = re.search(r"Idempotency-Key (\S+)", stderr)
    assert found, stderr
    return found.group(1)


def app_rows(count: int) -> str:
    """Chats with a Teams app: each waits on Graph's operation, as long as the emulator is told."""
    return "emails,app\n" + "".join(f"alex@contoso.com;jacob@contoso.com,{APP_ID}\n" for _ in range(count))


# --- the file's chats, made ---------------------------------------------------------------------------


def test_a_csv_file_makes_one_chat_per_row_in_one_batch_and_writes_each_result(
    tap: Tap, app_control: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = httpx.post(f"{tap.target}/api/chats", json=EARLIER_CHAT, timeout=60).json()
    output = tmp_path / "results.csv"
    code, out, err = run(capsys, str(write(tmp_path, "chats.csv", CSV_FILE)), "--output", str(output))
    assert code == ExitCode.CREATED, err
    assert out == ""
    key = printed_key(err)
    assert err.splitlines() == [
        f"chatfn: sending 3 chats as one batch, Idempotency-Key {key}",
        "chatfn: 3 of 3 chats exist (1 reused), 0 failed or cancelled",
    ], "no progress bar when stderr is not a terminal"
    results = csv_results(output.read_text())
    assert [(r["line"], r["outcome"], r["status"]) for r in results] == [
        ("2", "created", "201"),
        ("3", "created", "201"),
        ("4", "reused", "200"),
    ]
    made = {chat["topic"]: chat for chat in app_control.get("/chats").json()}
    assert [r["chatId"] for r in results] == [made[None]["id"], made["Order 1"]["id"], earlier["chatId"]]
    assert [r["reused"] for r in results] == ["false", "false", "true"]
    group = made["Order 1"]
    roles = sorted(role for member in group["members"] for role in member["roles"])
    assert roles == ["guest", "owner", "owner", "owner"]
    [post] = tap.requests("POST")
    assert (post.path, post.headers["idempotency-key"]) == ("/api/chat-batches", f"{key}-1")
    polls = tap.requests("GET")
    assert polls, "the 202 was followed"
    assert {poll.path for poll in polls} == {polls[0].path}
    assert polls[0].path.startswith("/api/chat-batches/")
    gaps = [later.at - earlier.at for earlier, later in zip([post, *polls], polls, strict=False)]
    assert min(gaps) >= 0.95, f"Retry-After (at least a second) was honoured: {gaps}"


def test_json_lines_are_sent_as_written_and_results_written_as_json_lines(
    chatfn_url: str, app_control: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line is a body of POST /api/chats, either form; blank lines are skipped but counted."""
    members = [{"email": "megan@contoso.com"}, {"userId": "4b822dfc-2864-44e6-aa1e-7e0e8552168f"}]
    lines = [
        json.dumps({"emails": "alex@contoso.com;jacob@contoso.com"}),
        "",
        json.dumps({"members": members, "topic": "Order 2"}),
    ]
    output = tmp_path / "results.jsonl"
    chats = write(tmp_path, "chats.txt", "\n".join(lines) + "\n")
    code, _, err = run(capsys, str(chats), "--output", str(output))
    assert code == ExitCode.CREATED, err
    results = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["line"], r["outcome"]) for r in results] == [(1, "created"), (3, "created")]
    made = {chat["id"]: chat for chat in app_control.get("/chats").json()}
    assert made[results[1]["chatId"]]["topic"] == "Order 2"
    assert "problem" not in results[0], "JSON lines leave out what does not apply"


def test_a_chat_that_fails_exits_6_with_its_problem_and_the_others_are_made(
    chatfn_url: str, app_control: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chats = write(
        tmp_path,
        "chats.csv",
        "emails,topic\nalex@contoso.com;jacob@contoso.com,A\nalex@contoso.com;nobody@contoso.com,B\n",
    )
    code, out, err = run(capsys, str(chats))
    assert code == ExitCode.NOT_ALL_CREATED
    made, failed = csv_results(out)
    assert (made["outcome"], made["chatId"]) == ("created", app_control.get("/chats").json()[0]["id"])
    assert (failed["line"], failed["outcome"], failed["status"], failed["chatId"]) == (
        "3",
        "failed",
        "422",
        "",
    )
    assert failed["problem"].startswith("Members could not be found (422): ")
    assert "members[1].email: nobody@contoso.com matches no user" in failed["problem"]
    assert "chatfn: line 3: Members could not be found (422)" in err
    assert err.endswith("chatfn: 1 of 2 chats exist (0 reused), 1 failed or cancelled\n")


def test_a_file_longer_than_the_batch_size_goes_as_several_batches_in_order(
    tap: Tap, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(uuid.uuid4())
    chats = write(tmp_path, "chats.csv", CSV_FILE)
    code, out, err = run(capsys, str(chats), "--batch-size", "2", "--idempotency-key", key)
    assert code == ExitCode.CREATED, err
    assert f"sending 3 chats as 2 batches of at most 2, Idempotency-Key {key}" in err
    assert [post.headers["idempotency-key"] for post in tap.requests("POST")] == [f"{key}-1", f"{key}-2"]
    assert [r["line"] for r in csv_results(out)] == ["2", "3", "4"]


# --- the same run again ---------------------------------------------------------------------------------


def test_the_printed_key_picks_the_same_batch_up_and_makes_nothing_again(
    chatfn_url: str, app_control: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chats = write(tmp_path, "chats.csv", CSV_FILE)
    first = run(capsys, str(chats))
    key = printed_key(first[2])
    sent = len(graph_requests(app_control, "POST", "/v1.0/chats"))
    again = run(capsys, str(chats), "--idempotency-key", key)
    assert (first[0], again[0]) == (ExitCode.CREATED, ExitCode.CREATED)
    assert again[1] == first[1], "the same batch, so the same results"
    assert len(graph_requests(app_control, "POST", "/v1.0/chats")) == sent, "no chat was sent twice"
    other = write(tmp_path, "other.csv", "emails\nalex@contoso.com;lynne@contoso.com\n")
    refused = run(capsys, str(other), "--idempotency-key", key)
    assert refused[0] == ExitCode.REFUSED
    assert "chatfn: The idempotency key was used for another request (409)" in refused[2]


# --- a file that cannot make chats -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("emails,topic,gusts\nalex@contoso.com;jacob@contoso.com,T,\n", "unknown: 'gusts'"),
        ("topic\nT\n", "the header row must name an emails column"),
        (
            "emails\nalex@contoso.com;jacob@contoso.com\nalex@contoso.com\n",
            "line 3 (emails/guests): members:",
        ),
        ("emails\nalex@contoso.com;jacob\n", "line 2 (emails: jacob): members[1].email: must be an email"),
        ("emails,reuseExisting\na@contoso.com;b@contoso.com,maybe\n", "line 2: reuseExisting: 'maybe' is"),
        (
            f"emails,app,permissions\na@contoso.com;b@contoso.com,{APP_ID},Member.Read.Chat:user\n",
            "line 2: permissions: 'Member.Read.Chat:user': the type after ':' must be application",
        ),
        (
            "emails,permissions\na@contoso.com;b@contoso.com,Member.Read.Chat\n",
            "line 2: permissions: give the app",
        ),
        (
            '{"emails": "alex@contoso.com;jacob@contoso.com"}\n["alex@contoso.com"]\n',
            "line 2: must be a JSON object",
        ),
        ('{"emails": "alex@contoso.com;jacob@contoso.com", "gust": true}\n', "line 1: gust: unknown field"),
        ("emails,topic\n\n,\n", "no chats in the file"),
    ],
)
def test_a_row_that_is_not_a_chat_request_exits_2_naming_its_line_before_anything_is_sent(
    text: str, message: str, tap: Tap, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(write(tmp_path, "chats.csv", text)))
    assert code == ExitCode.USAGE
    assert message in err
    assert err.endswith("  nothing was sent\n")
    assert (out, tap.seen) == ("", [])


def test_every_broken_line_is_named_in_the_order_of_the_file(
    tap: Tap, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cell the client cannot read and a chat the app would refuse are found in two passes, and
    listed by line all the same: the first 20, then how many more."""
    rows = "".join(
        "alex@contoso.com;jacob@contoso.com,maybe\n" if n % 2 else "alex@contoso.com;jacob,\n"
        for n in range(50)
    )
    _, _, err = run(capsys, str(write(tmp_path, "chats.csv", "emails,reuseExisting\n" + rows)))
    named = [int(number) for number in re.findall(r"^  line (\d+)\b", err, re.MULTILINE)]
    assert named == list(range(2, 22))
    assert "  and 30 more\n" in err


# --- waiting, Ctrl-C, and the terminal -----------------------------------------------------------


def test_running_out_of_time_exits_5_with_the_status_url_and_the_key(
    chatfn_url: str, app_control: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_control.post("/operations", json={"polls": 100_000, "result": "succeeded"}).raise_for_status()
    code, _, err = run(capsys, str(write(tmp_path, "chats.csv", app_rows(2))), "--timeout", "1")
    assert code == ExitCode.TIMED_OUT
    assert "chatfn: still running after 1 s; its chats may yet be made" in err
    status_url = re.search(r"status: (\S+)", err)
    assert status_url
    assert httpx.get(status_url.group(1), timeout=10).status_code == 202, "the batch goes on"
    assert f"--idempotency-key {printed_key(err)}" in err


@pytest.mark.usefixtures("suite_sigint")
@pytest.mark.parametrize("cancel", [False, True], ids=["goes-on", "cancelled"])
def test_ctrl_c_exits_130_with_the_key_and_cancels_when_asked(
    cancel: bool, tap: Tap, app_control: httpx.Client, tmp_path: Path
) -> None:
    app_control.post("/operations", json={"polls": 100_000, "result": "succeeded"}).raise_for_status()
    chats = write(tmp_path, "chats.csv", app_rows(3))
    process = start_cli(
        "create-many",
        str(chats),
        *(["--cancel-on-interrupt"] if cancel else []),
        env=subprocess_env(CHATFN_URL=tap.url),
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not tap.requests("GET") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert f"--idempotency-key {printed_key(stderr.decode())}".encode() in stderr
    assert b"Traceback" not in stderr
    assert stdout == b"", "no batch had ended, so no result is written"
    [batch] = {poll.path for poll in tap.requests("GET")}
    deletes = tap.requests("DELETE")
    if not cancel:
        assert b"chatfn: interrupted; the batch goes on in the function app" in stderr
        assert deletes == []
        return
    assert b"chatfn: interrupted; the batch is cancelled: its chats not sent yet will not be made" in stderr
    assert [delete.path for delete in deletes] == [batch]
    status = _ended(tap.url + batch)
    assert status["status"] == "cancelled"


def _ended(status_url: str) -> dict[str, Any]:
    """A batch's final answer: its chats in flight end at the app's operation deadline (5 s in tests)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(status_url, timeout=10)
        if answer.status_code == 200:
            ended: dict[str, Any] = answer.json()
            return ended
        time.sleep(0.5)
    raise AssertionError(f"{status_url} did not end")


def test_on_a_terminal_a_progress_bar_is_shown_and_cleared(tap: Tap, tmp_path: Path) -> None:
    chats = write(tmp_path, "chats.csv", CSV_FILE)
    terminal, terminal_end = pty.openpty()
    process = start_cli(
        "create-many", str(chats), env=subprocess_env(CHATFN_URL=tap.url), stderr=terminal_end
    )
    os.close(terminal_end)
    shown = read_terminal(terminal)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == ExitCode.CREATED, shown
    assert b"chatfn: creating chats" in shown
    assert re.search(rb"[0-3]/3", shown), "chats ended out of all"
    summary = shown.rindex(b"chatfn: 3 of 3 chats exist")
    assert b"creating chats" not in shown[summary:], "the bar is gone before the summary"
    assert len(csv_results(stdout.decode())) == 3


def test_the_readmes_example_runs_as_shown(
    chatfn_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Many chats from a file") :]
    example = re.search(
        r"cat > chats.csv <<'EOF'\n(.*?)EOF\n\.venv/bin/python -m chatfn (.*?)\n(.*?)```", section, re.S
    )
    assert example, "README shows a file and the command"
    content, command, comments = example.groups()
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "chats.csv", content)
    code, _, err = run(capsys, *command.split()[1:])
    assert code == ExitCode.CREATED, err
    shown = [line.removeprefix("# ") for line in comments.splitlines()]
    any_key = re.compile(r"Idempotency-Key \S+")
    assert [any_key.sub("KEY", line) for line in err.splitlines()] == [
        any_key.sub("KEY", line) for line in shown
    ]
    assert len(csv_results((tmp_path / "results.csv").read_text())) == 2
