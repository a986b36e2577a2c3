"""`python -m chatfn create-many FILE`: open one Teams chat per row of a file through chatfn's
`POST /api/chat-batches`, follow each batch's `202` + `Location` honouring `Retry-After`, and write
every chat's result.

The file is checked here with the app's own rules (`chatfn.chats.spec`) before anything is sent, so
a broken row stops the run naming its line. Each batch is sent with an `Idempotency-Key` derived from
the run's key (`KEY-1`, `KEY-2`, ...): the same command with `--idempotency-key KEY` picks up the same
batches and their results instead of making the chats again. A separate module from `chatfn.tools.cli`,
loaded only by this command, so that `create` does not import the progress bar (rich).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from chatfn import __version__, contract
from chatfn.chats.spec import parse_chat_request
from chatfn.errors import InvalidRequest
from chatfn.tools.cli import (
    REFUSED_STATUSES,
    ChatBody,
    Endpoint,
    ExitCode,
    Permission,
    chat_body,
    exit_code_for,
    is_problem,
    json_or_none,
    permission_option,
    retry_after_seconds,
    send,
)

# The columns of a CSV file; only `emails` is needed.
COLUMNS = ("emails", "guests", "topic", "chatType", "reuseExisting", "app", "permissions")
RESULT_COLUMNS = ("line", "outcome", "status", "chatId", "webUrl", "reused", "problem")
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_BATCH_SIZE = contract.BATCH_MAX_ITEMS
DEFAULT_TIMEOUT = 3600.0
LISTED_PROBLEMS = 20  # lines of a broken file, or failed chats, printed before "and N more"
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", ""})
# Which CSV column each option of `chat_body` stands for, to name the column behind a field's error.
_OPTION_COLUMNS = {
    "--member": "emails",
    "--guest": "guests",
    "--topic": "topic",
    "--chat-type": "chatType",
    "--app": "app",
    "--permission": "permissions",
    "--reuse": "reuseExisting",
}


class FileError(Exception):
    """The file cannot make chat requests (exit 2): each entry names a line and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Row:
    """One chat of the file: the line it starts on and its body (with the column behind each part)."""

    line: int
    request: ChatBody


def read_rows(path: Path) -> list[Row]:
    """The file's chats, each checked as the app checks one: JSON lines when the first line that is not
    blank starts with `{`, else CSV with a header row. `FileError` naming every broken line."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets write CSV with a byte order mark
    except (OSError, UnicodeDecodeError) as error:
        raise FileError([f"{path}: {error}"]) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    rows, problems = _json_rows(text) if first.lstrip().startswith("{") else _csv_rows(text)
    for row in rows:
        try:
            parse_chat_request(row.request.body)
        except InvalidRequest as invalid:
            problems.extend(_where(row, error.field, error.message) for error in invalid.errors)
    if not rows and not problems:
        problems.append(f"{path}: no chats in the file")
    if problems:
        raise FileError(sorted(problems, key=_line_number))
    return rows


def _json_rows(text: str) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except ValueError as error:
            problems.append(f"line {number}: not JSON ({error})")
            continue
        if not isinstance(body, dict):
            problems.append(f"line {number}: must be a JSON object, a body of POST /api/chats")
            continue
        rows.append(Row(number, ChatBody(body, {})))
    return rows, problems


def _csv_rows(text: str) -> tuple[list[Row], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or "emails" not in header or len(set(header)) < len(header):
        raise FileError(
            [
                f"line 1: the header row must name an emails column and no column twice, among "
                f"{', '.join(COLUMNS)}"
                + (f"; unknown: {', '.join(repr(name) for name in unknown)}" if unknown else "")
            ]
        )
    rows: list[Row] = []
    problems: list[str] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row a spreadsheet left with empty cells only
        if len(cells) > len(header):
            problems.append(f"line {line}: {len(cells)} cells, but the header names {len(header)} columns")
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=False))
        try:
            rows.append(Row(line, _csv_chat(row)))
        except ValueError as error:
            problems.append(f"line {line}: {error}")
    return rows, problems


def _csv_chat(row: dict[str, str]) -> ChatBody:
    """A CSV row as the `members` form that `create` sends: an entry that is a GUID is a user id."""
    reuse = row.get("reuseExisting", "").lower()
    if reuse not in _TRUE | _FALSE:
        raise ValueError(f"reuseExisting: {row['reuseExisting']!r} is not true or false")
    request = chat_body(
        _entries(row.get("emails", "")),
        _entries(row.get("guests", "")),
        topic=row.get("topic") or None,
        chat_type=row.get("chatType") or None,
        app=row.get("app") or None,
        permissions=[_permission(entry) for entry in _entries(row.get("permissions", ""))],
        reuse=reuse in _TRUE,
    )
    if request.body.get("apps") is None and row.get("permissions"):
        raise ValueError("permissions: give the app they are for in the app column")
    options = {field: _column(option) for field, option in request.options.items()}
    return ChatBody(request.body, options)


def _entries(cell: str) -> list[str]:
    """One cell of several values, separated by `;` or `,` as the API takes them; empty ones dropped."""
    return [entry.strip() for entry in cell.replace(",", ";").split(";") if entry.strip()]


def _permission(entry: str) -> Permission:
    """`VALUE[:delegated]`, as `create --permission` takes it."""
    try:
        return permission_option(entry)
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"permissions: {entry!r}: {error}") from None


def _column(option: str) -> str:
    """`--member alex@contoso.com` -> `emails: alex@contoso.com`: the column a field came from."""
    flag, _, value = option.partition(" ")
    column = _OPTION_COLUMNS.get(flag, "emails/guests")
    return f"{column}: {value}" if value else column


def _where(row: Row, field: str, message: str) -> str:
    source = row.request.option_for(field)
    return f"line {row.line}{f' ({source})' if source else ''}: {field}: {message}"


def _line_number(problem: str) -> int:
    number = problem.removeprefix("line ").partition(":")[0].partition(" ")[0]
    return int(number) if number.isdigit() else 0


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """What a run needs besides its rows: where to send them and how."""

    endpoint: Endpoint
    idempotency_key: str
    batch_size: int
    timeout: float
    cancel_on_interrupt: bool


class Stop(Exception):
    """The run stops before every batch has ended, with this exit code (the reason already printed)."""

    def __init__(self, code: ExitCode) -> None:
        self.code = code
        super().__init__(code.name)


@dataclass
class Run:
    """A run: its rows in batches, the results of the batches that ended, the status URL of the batch
    under way (to cancel it on Ctrl-C), and where it reports."""

    rows: Sequence[Row]
    options: RunOptions
    stderr: TextIO
    results: list[dict[str, Any]] = field(default_factory=list)
    status_url: str | None = None

    def batches(self) -> Iterator[tuple[int, Sequence[Row]]]:
        size = self.options.batch_size
        for start in range(0, len(self.rows), size):
            yield start // size + 1, self.rows[start : start + size]

    def batch_key(self, number: int) -> str:
        return f"{self.options.idempotency_key}-{number}"

    def say(self, text: str) -> None:
        print(f"chatfn: {text}", file=self.stderr)

    def resume_hint(self) -> None:
        print(
            "  to pick this run up without making its chats twice, run the same command with "
            f"--idempotency-key {self.options.idempotency_key}",
            file=self.stderr,
        )


def batch_count(rows: int, batch_size: int) -> int:
    return math.ceil(rows / batch_size)


def create_many(
    rows: Sequence[Row], options: RunOptions, stderr: TextIO
) -> tuple[ExitCode, list[dict[str, Any]]]:
    """Send the rows batch by batch, follow each to its end, and return the exit code and every result
    known (those of the batches that ended, even when a later one could not)."""
    run = Run(rows, options, stderr)
    count = batch_count(len(rows), options.batch_size)
    batches = f"{count} batches of at most {options.batch_size}" if count > 1 else "one batch"
    run.say(f"sending {len(rows)} chats as {batches}, Idempotency-Key {options.idempotency_key}")
    deadline = time.monotonic() + options.timeout
    try:
        with (
            httpx.Client(headers={"User-Agent": f"chatfn-cli/{__version__}"}) as client,
            _Progress(stderr, len(rows)) as progress,
        ):
            for number, batch in run.batches():
                _send_batch(run, client, progress, number, batch, deadline)
    except Stop as stop:
        return stop.code, run.results
    except KeyboardInterrupt:
        _interrupted(run)
        return ExitCode.INTERRUPTED, run.results
    failed = [result for result in run.results if result["outcome"] in ("failed", "cancelled")]
    _report_failures(run, failed)
    reused = sum(result["outcome"] == "reused" for result in run.results)
    run.say(
        f"{len(rows) - len(failed)} of {len(rows)} chats exist ({reused} reused), "
        f"{len(failed)} failed or cancelled"
    )
    return (ExitCode.NOT_ALL_CREATED if failed else ExitCode.CREATED), run.results


class _Progress:
    """A progress bar of chats ended, on stderr when it is a terminal (rich draws nothing otherwise)."""

    def __init__(self, stderr: TextIO, total: int) -> None:
        self._bar = Progress(
            TextColumn("chatfn: {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(file=stderr),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            disable=not stderr.isatty(),
        )
        self._task: TaskID = self._bar.add_task("creating chats", total=total, failed=0)
        self._before = 0  # chats of the batches that ended
        self._failed_before = 0

    def show(self, status: dict[str, Any]) -> None:
        """Where the current batch stands, from its counts."""
        ended = _count(status, "succeeded") + _count(status, "failed") + _count(status, "cancelled")
        failed = _count(status, "failed") + _count(status, "cancelled")
        self._bar.update(self._task, completed=self._before + ended, failed=self._failed_before + failed)

    def batch_ended(self, results: Sequence[dict[str, Any]]) -> None:
        self._before += len(results)
        self._failed_before += sum(r["outcome"] in ("failed", "cancelled") for r in results)
        self._bar.update(self._task, completed=self._before, failed=self._failed_before)

    def stop(self) -> None:
        """Off the screen, before a message: rich stops once, whether here or at the end."""
        self._bar.stop()

    def __enter__(self) -> _Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


def _count(status: dict[str, Any], name: str) -> int:
    value = status.get(name)
    return value if isinstance(value, int) else 0


def _send_batch(
    run: Run,
    client: httpx.Client,
    progress: _Progress,
    number: int,
    batch: Sequence[Row],
    deadline: float,
) -> None:
    """One batch, from its POST to its results; `Stop` when it cannot end within the run."""
    endpoint = run.options.endpoint
    url = f"{endpoint.base}/{contract.BATCHES_ROUTE}"
    headers = {contract.IDEMPOTENCY_KEY_HEADER: run.batch_key(number), **endpoint.key_headers(url)}
    body = {"chats": [row.request.body for row in batch]}
    run.status_url = None
    try:
        answer = send(client, "POST", url, deadline, 0, json=body, headers=headers)
        while answer.status_code == 202 and contract.LOCATION_HEADER in answer.headers:
            location = urljoin(str(answer.url), answer.headers[contract.LOCATION_HEADER])
            run.status_url = location
            status = json_or_none(answer)
            progress.show(status if isinstance(status, dict) else {})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                progress.stop()
                run.say(f"still running after {run.options.timeout:g} s; its chats may yet be made")
                print(f"  status: {location}", file=run.stderr)
                run.resume_hint()
                raise Stop(ExitCode.TIMED_OUT)
            time.sleep(min(retry_after_seconds(answer.headers.get(contract.RETRY_AFTER_HEADER)), remaining))
            answer = send(client, "GET", location, deadline, 0, headers=endpoint.key_headers(location))
    except httpx.TransportError as error:
        progress.stop()
        if time.monotonic() >= deadline:
            run.say(f"no answer within {run.options.timeout:g} s; the chats may yet be made")
            run.resume_hint()
            raise Stop(ExitCode.TIMED_OUT) from None
        run.say(f"no answer from {endpoint.base}: {error or type(error).__name__}")
        run.resume_hint()
        raise Stop(ExitCode.SERVICE_FAILED) from None
    ended = json_or_none(answer)
    if answer.status_code != 200 or not isinstance(ended, dict) or not isinstance(ended.get("results"), list):
        progress.stop()
        raise Stop(_refused(run, answer, batch))
    results = [_result(batch[item["index"]].line, item) for item in ended["results"]]
    run.results.extend(results)
    progress.batch_ended(results)


def _interrupted(run: Run) -> None:
    """Ctrl-C: the batch under way goes on, unless --cancel-on-interrupt asks to cancel it."""
    if run.options.cancel_on_interrupt and run.status_url is not None:
        url = run.status_url
        try:
            httpx.delete(url, headers=run.options.endpoint.key_headers(url), timeout=10).raise_for_status()
        except httpx.HTTPError as error:
            run.say(f"interrupted; the batch could not be cancelled ({error}) and goes on")
        else:
            run.say("interrupted; the batch is cancelled: its chats not sent yet will not be made")
    else:
        run.say("interrupted; the batch goes on in the function app")
    run.resume_hint()


def _refused(run: Run, answer: httpx.Response, batch: Sequence[Row]) -> ExitCode:
    """A batch answered with other than its results: the problem, each field named by its line."""
    body = json_or_none(answer)
    code = exit_code_for(answer.status_code)
    if not is_problem(body):
        run.say(f"HTTP {answer.status_code} {answer.reason_phrase}, not an answer from chatfn")
        if code == ExitCode.SERVICE_FAILED:
            run.resume_hint()
        return code
    run.say(f"{body['title']} ({answer.status_code})")
    print(f"  {body.get('detail') or ''}", file=run.stderr)
    for error in (body.get("errors") or [])[:LISTED_PROBLEMS]:
        print(f"  {_field_of(batch, str(error.get('field')))}: {error.get('message')}", file=run.stderr)
    if answer.status_code not in REFUSED_STATUSES or code == ExitCode.SERVICE_FAILED:
        run.resume_hint()
    return code


def _field_of(batch: Sequence[Row], field: str) -> str:
    """`chats[3].members[1].email` -> `line 5 (emails: jacob): members[1].email`."""
    index, _, rest = field.removeprefix("chats[").partition("]")
    if not (field.startswith("chats[") and index.isdigit() and int(index) < len(batch)):
        return field
    row = batch[int(index)]
    return _where(row, rest.removeprefix("."), "").removesuffix(": ")


def _result(line: int, item: dict[str, Any]) -> dict[str, Any]:
    """One chat's result as written: its line in the file, then what the app answered for it."""
    return {"line": line, **{name: value for name, value in item.items() if name != "index"}}


def _report_failures(run: Run, failed: Sequence[dict[str, Any]]) -> None:
    for result in failed[:LISTED_PROBLEMS]:
        run.say(f"line {result['line']}: {problem_text(result.get('problem'))}")
    if len(failed) > LISTED_PROBLEMS:
        run.say(f"and {len(failed) - LISTED_PROBLEMS} more, listed in the results")


def problem_text(problem: object) -> str:
    """A result's problem on one line: title and status, detail, and each field's error."""
    if not isinstance(problem, dict):
        return ""
    errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors") or [])
    text = f"{problem.get('title')} ({problem.get('status')}): {problem.get('detail')}"
    return f"{text} {errors}" if errors else text


# --- the results ------------------------------------------------------------------------------------


def output_format(path: str | None, chosen: str | None) -> str:
    """`--format`, else the output file's extension, else CSV."""
    if chosen:
        return chosen
    return OUTPUT_FORMATS.get(Path(path).suffix.lower(), "csv") if path else "csv"


def write_results(results: Sequence[dict[str, Any]], stream: TextIO, file_format: str) -> None:
    """CSV with a header row (a problem as one line of text), or JSON lines (the problem as the app
    wrote it), one chat per row in the order of the file."""
    writers: dict[str, Callable[[Sequence[dict[str, Any]], TextIO], None]] = {
        "csv": _write_csv,
        "jsonl": _write_json_lines,
    }
    writers[file_format](results, stream)


def _write_csv(results: Sequence[dict[str, Any]], stream: TextIO) -> None:
    writer = csv.DictWriter(stream, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        reused = "true" if result.get("reused") else "false"
        writer.writerow({**result, "reused": reused, "problem": problem_text(result.get("problem"))})


def _write_json_lines(results: Sequence[dict[str, Any]], stream: TextIO) -> None:
    for result in results:
        stream.write(json.dumps(result, ensure_ascii=False) + "\n")
