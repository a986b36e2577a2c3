"""`python -m chatfn create ...`: open a Teams chat through a chatfn function app, from a shell or a script
(and `python -m chatfn create-many FILE`, one chat per row of a file: `chatfn.tools.bulk`).

The client posts to `POST /api/chats` with a short `Prefer: wait`, follows `202` + `Location` honouring
`Retry-After` until the final answer, and prints the chat's id and link. Every run sends an
`Idempotency-Key` (a fresh random UUID unless one is given), and a request whose connection drops is sent
again with that same key, so a network retry never makes a second chat.

Nothing here is imported by the function app: it is a separate entry point (`chatfn/__main__.py`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO, TypeGuard
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import httpx

from chatfn import __version__, contract
from chatfn.graph.retry import MAX_RETRY_AFTER_SECONDS, parse_retry_after


class ExitCode(IntEnum):
    CREATED = 0
    FAILED = 1  # any other answer: 401/403 (the function key), 404 (the URL), an answer not from chatfn
    USAGE = 2  # argparse's own code for a wrong command line; nothing is sent
    REFUSED = 3  # 400, 409, 413, 415, 422: the request must change; sending it again fails the same way
    SERVICE_FAILED = 4  # 5xx, 429, or no answer: try again later
    TIMED_OUT = 5  # --timeout passed while the chat was still being created; it may still be created
    NOT_ALL_CREATED = 6  # create-many: every batch ended, but some chats failed or were cancelled
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


EXIT_CODES_HELP = """\
exit status:
  0    the chat exists; its id and link are on stdout
  1    another failure: 401/403 (check the function key), 404 (check the URL), an answer not from chatfn
  2    the command line cannot make a request (no member, no URL, a malformed option); nothing was sent
  3    chatfn refused the request (400, 409, 413, 415, 422): fix it; sending it again fails the same way
  4    the service failed (5xx, 429) or gave no answer: try again later
  5    --timeout passed while the chat was still being created; it may still be created
  130  interrupted (Ctrl-C); the request goes on in the function app

When the outcome is unknown (no answer, 5, 130), stderr gives the run's --idempotency-key: the same
command with that key picks the request up instead of making a second chat.

"""
BATCH_EXIT_CODES_HELP = """\
exit status:
  0    every chat exists (made, or reused); the results are written
  1    another failure: 401/403 (check the function key), 404 (check the URL), an answer not from chatfn
  2    the file or the command line cannot make chats (a broken row, named by its line); nothing was sent
  3    chatfn refused a batch (400, 409, 413, 415); 409: the key was used with another file
  4    the service failed (5xx, 429) or gave no answer: run it again with the same key
  5    --timeout passed while a batch was still running; its chats may yet be made
  6    every batch ended, but some chats failed or were cancelled: see the results' problem column
  130  interrupted (Ctrl-C); the batch goes on in the function app, unless --cancel-on-interrupt

The results of every batch that ended are written, whatever the exit status (none ended: nothing is
written, and an earlier --output file is left as it was). As it starts, the run prints its
--idempotency-key on stderr: the same command with that key picks up the same batches and their
results instead of making the chats again.

input:
  CSV with a header row and one chat per row: emails (members by email or Entra object id, several
  in one cell separated by ; or ,), and optionally guests (the same), topic, chatType (oneOnOne or
  group), reuseExisting (true or false), app (a Teams app id) and permissions (VALUE[:delegated],
  separated by ;); or JSON lines, each a body of POST /api/chats. A file whose first line that is not
  blank starts with { is read as JSON lines.

"""
ENVIRONMENT_HELP = """\
environment:
  CHATFN_URL   default for --url
  CHATFN_KEY   default for --key (safer than --key, which other users of the machine can see in ps)
"""

REFUSED_STATUSES = frozenset({400, 409, 413, 415, 422})
DEFAULT_WAIT = 10
MAX_WAIT = int(contract.MAX_PREFER_WAIT)
DEFAULT_TIMEOUT = 660.0  # past the app's default 600 s operation deadline, so that its 504 comes first
DEFAULT_RETRY_AFTER = 2.0
RETRY_DELAYS = (0.5, 1.0, 2.0)  # before sending a request again after its connection failed
ANSWER_MARGIN = 30.0  # how long an answer may take beyond what the request asked the app to wait
BATCH_TIMEOUT = 3600.0  # a thousand chats take about a minute at Graph's pace; apps and throttling longer
MAX_BATCH_SIZE = 10_000  # the most CHATFN_BATCH_MAX_ITEMS may be set to
MAX_IDEMPOTENCY_KEY = 200
_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class UsageError(Exception):
    """The command line cannot make a request (exit 2)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the app's API is (`https://app.azurewebsites.net/api`, no query) and its function key."""

    base: str
    key: str | None

    @property
    def chats_url(self) -> str:
        return f"{self.base}/chats"

    def key_headers(self, url: str) -> dict[str, str]:
        """The function key goes to the app's own origin only, never to another host a Location names."""
        if self.key and _origin(url) == _origin(self.base):
            return {contract.FUNCTION_KEY_HEADER: self.key}
        return {}


def endpoint_from(url: str, key: str | None) -> Endpoint:
    """Accept the app's URL with or without `/api` (and a trailing `/`), or the function's own URL as
    the Azure portal shows it (`.../api/chats?code=KEY`): a `code` becomes the key unless one is given.
    Any other path is kept as the base, for a custom route prefix or a gateway in front of the app."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The URL is not echoed: it may carry the key in its query.
        raise UsageError(
            "the URL must start with http:// or https://, e.g. https://app.azurewebsites.net/api"
        )
    path = parts.path.rstrip("/").removesuffix("/chats").rstrip("/") or "/api"
    codes = parse_qs(parts.query).get("code")
    return Endpoint(
        urlunsplit((parts.scheme, parts.netloc, path, "", "")), key or (codes[0] if codes else None)
    )


@dataclass(frozen=True)
class ChatBody:
    """The JSON body of `POST /api/chats`, and which option produced each part of it, so that an error
    about `members[1].email` can name the `--member` that holds it."""

    body: dict[str, Any]
    options: dict[str, str]

    def option_for(self, field: str) -> str | None:
        """The option behind a field path: the longest known path that `field` is or lies under."""
        owners = [
            path for path in self.options if field == path or field.startswith((f"{path}.", f"{path}["))
        ]
        return self.options[max(owners, key=len)] if owners else None


@dataclass(frozen=True)
class ExternalMember:
    """A user of another organisation: Graph knows them only by object id, with their tenant's id."""

    user_id: str
    tenant_id: str


@dataclass(frozen=True)
class Permission:
    """A resource-specific permission of the app, and whether the app uses it as itself or for a user."""

    value: str
    type: str = "application"


def chat_body(
    members: Sequence[str],
    guests: Sequence[str],
    topic: str | None = None,
    chat_type: str | None = None,
    app: str | None = None,
    permissions: Sequence[Permission] = (),
    external: Sequence[ExternalMember] = (),
    reuse: bool = False,
) -> ChatBody:
    """The `members` form of the contract: a GUID is a `userId`, anything else an `email`."""
    entries: list[dict[str, Any]] = []
    options = {"members": "--member/--guest/--external", contract.IDEMPOTENCY_KEY_HEADER: "--idempotency-key"}
    for value in (member.strip() for member in members):
        options[f"members[{len(entries)}]"] = f"--member {value}"
        entries.append(_person(value))
    for value in (guest.strip() for guest in guests):
        options[f"members[{len(entries)}]"] = f"--guest {value}"
        entries.append({**_person(value), "guest": True})
    for person in external:
        options[f"members[{len(entries)}]"] = f"--external {person.user_id}@{person.tenant_id}"
        entries.append({"userId": person.user_id, "tenantId": person.tenant_id})
    body: dict[str, Any] = {"members": entries}
    if reuse:
        body["reuseExisting"] = True
        options["reuseExisting"] = "--reuse"
    if topic is not None:
        body["topic"] = topic
        options["topic"] = "--topic"
    if chat_type is not None:
        body["chatType"] = chat_type
        options["chatType"] = "--chat-type"
    if app is not None:
        body["apps"] = [{"teamsAppId": app, "permissions": [_permission(p) for p in permissions]}]
        options["apps[0].teamsAppId"] = f"--app {app}"
        options.update(
            {f"apps[0].permissions[{i}]": f"--permission {p.value}" for i, p in enumerate(permissions)}
        )
    return ChatBody(body, options)


def _person(value: str) -> dict[str, Any]:
    return {"userId": value} if contract.GUID.fullmatch(value) else {"email": value}


def _permission(permission: Permission) -> dict[str, Any]:
    """Only what differs from the app's default, so that the body says no more than the command."""
    if permission.type == "application":
        return {"value": permission.value}
    return {"value": permission.value, "type": permission.type}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatfn", description="Command-line client of a chatfn function app."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="open a Teams chat and print its id and link",
        description=(
            "Open a Teams chat through chatfn's POST /api/chats, wait for it (following 202 and Location), "
            "and print the chat's id and link (webUrl) on stdout, one per line."
        ),
        epilog=EXIT_CODES_HELP + ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat = create.add_argument_group("the chat")
    chat.add_argument(
        "-m",
        "--member",
        dest="members",
        action="append",
        default=[],
        metavar="EMAIL_OR_ID",
        help="a member, by email or UPN, or by Entra object id (a GUID); repeat for each member",
    )
    chat.add_argument(
        "-g",
        "--guest",
        dest="guests",
        action="append",
        default=[],
        metavar="EMAIL_OR_ID",
        help="a guest user of the tenant, by email or object id; joins with the guest role; repeatable",
    )
    chat.add_argument(
        "-x",
        "--external",
        action="append",
        default=[],
        type=_external_member,
        metavar="USER_ID@TENANT_ID",
        help="a user of another organisation, by object id and tenant id (Graph cannot look up another "
        "tenant's emails); joins as an owner; repeatable",
    )
    chat.add_argument("--topic", help="the chat's title (a group chat)")
    chat.add_argument(
        "--chat-type",
        choices=("oneOnOne", "group"),
        help="default: oneOnOne for two members and no topic, else group",
    )
    chat.add_argument("--app", metavar="TEAMS_APP_ID", help="a Teams app to install in the chat (its GUID)")
    chat.add_argument(
        "--permission",
        dest="permissions",
        action="append",
        default=[],
        type=permission_option,
        metavar="VALUE[:delegated]",
        help="a resource-specific permission of --app, e.g. ChatMessage.Read.Chat; ':delegated' when "
        "the app uses it for a user (default: application); repeatable",
    )
    chat.add_argument(
        "--reuse",
        action="store_true",
        help="answer with an existing group chat of exactly these members (and this topic) if there "
        "is one, instead of creating another",
    )
    chat.add_argument(
        "--idempotency-key",
        type=_idempotency_key,
        metavar="KEY",
        help="default: a new random UUID for each run; give your own (a new UUID per intended chat) "
        "to make running the command again safe too",
    )
    service = create.add_argument_group("the service")
    _add_service_options(service)
    service.add_argument(
        "--wait",
        type=_wait_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long the app may hold the request before answering 202, 0 to {MAX_WAIT} "
        "(0: Prefer: respond-async; default %(default)s)",
    )
    service.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up waiting after this long in all (default %(default)g)",
    )
    service.add_argument(
        "--json",
        action="store_true",
        help="print the app's JSON answer on stdout instead: the result, the problem, or the last 202",
    )
    _add_create_many(commands)
    return parser


def _add_service_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--url",
        help="the function app, with or without /api, e.g. https://app.azurewebsites.net/api or "
        "http://127.0.0.1:7071 (default: $CHATFN_URL)",
    )
    group.add_argument(
        "--key", help="the function key, sent as the x-functions-key header (default: $CHATFN_KEY)"
    )


def _add_create_many(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    many = commands.add_parser(
        "create-many",
        help="open one Teams chat per row of a CSV or JSON lines file, and write each chat's result",
        description=(
            "Open one Teams chat per row of FILE through chatfn's POST /api/chat-batches, follow each "
            "batch (202 and Location) to its end, and write every chat's result, in the order of the "
            "file. The file is checked first: a broken row stops the run, naming its line, before "
            "anything is sent. A progress bar is shown on stderr when it is a terminal."
        ),
        epilog=BATCH_EXIT_CODES_HELP + ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    many.add_argument(
        "file", type=Path, metavar="FILE", help="the chats: CSV with a header row, or JSON lines"
    )
    results = many.add_argument_group("the results")
    results.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the results (default: stdout): line, outcome, status, chatId, webUrl, "
        "reused and problem of each chat",
    )
    results.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="of the results; default: from the extension of --output (.csv, .jsonl or .ndjson), else csv",
    )
    batches = many.add_argument_group("the batches")
    batches.add_argument(
        "--batch-size",
        type=_batch_size,
        default=contract.BATCH_MAX_ITEMS,
        metavar="N",
        help="chats per batch, at most the app's CHATFN_BATCH_MAX_ITEMS (default %(default)s, the app's "
        "default); a longer file is sent as several batches, one after the other",
    )
    batches.add_argument(
        "--idempotency-key",
        type=_idempotency_key,
        metavar="KEY",
        help="default: a new random UUID; the key a run printed, to pick that run up (batch N is sent "
        "with KEY-N)",
    )
    batches.add_argument(
        "--cancel-on-interrupt",
        action="store_true",
        help="on Ctrl-C, cancel the batch under way: its chats not sent yet are not made",
    )
    service = many.add_argument_group("the service")
    _add_service_options(service)
    service.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=BATCH_TIMEOUT,
        metavar="SECONDS",
        help="give up waiting after this long in all (default %(default)g)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The command line in, an exit code out (see `ExitCode`); `python -m chatfn` calls this."""
    args = build_parser().parse_args(argv)
    if args.command == "create-many":
        return create_many_main(args)
    url = args.url or os.environ.get("CHATFN_URL")
    try:
        if not url:
            raise UsageError("give the function app's URL with --url or CHATFN_URL")
        if args.permissions and args.app is None:
            raise UsageError("--permission needs --app")
        endpoint = endpoint_from(url, args.key or os.environ.get("CHATFN_KEY"))
        if not (args.members or args.guests or args.external):
            raise UsageError("give the chat's members with -m/--member, -g/--guest or -x/--external")
    except UsageError as error:
        print(f"python -m chatfn create: error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    request = chat_body(
        args.members,
        args.guests,
        args.topic,
        args.chat_type,
        args.app,
        args.permissions,
        args.external,
        args.reuse,
    )
    return create(
        endpoint,
        request,
        idempotency_key=args.idempotency_key or str(uuid.uuid4()),
        wait=min(args.wait, math.floor(args.timeout)),
        timeout=args.timeout,
        as_json=args.json,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )


def create_many_main(args: argparse.Namespace) -> int:
    """`create-many`: the file checked, then sent batch by batch, and the results written."""
    from chatfn.tools import bulk  # loaded by this command only: the progress bar's library is large

    try:
        url = args.url or os.environ.get("CHATFN_URL")
        if not url:
            raise UsageError("give the function app's URL with --url or CHATFN_URL")
        endpoint = endpoint_from(url, args.key or os.environ.get("CHATFN_KEY"))
        rows = bulk.read_rows(args.file)
        key = args.idempotency_key or str(uuid.uuid4())
        suffix = len(f"-{bulk.batch_count(len(rows), args.batch_size)}")
        if len(key) + suffix > MAX_IDEMPOTENCY_KEY:
            raise UsageError(
                f"--idempotency-key: this file makes batches whose keys end with -N, so at most "
                f"{MAX_IDEMPOTENCY_KEY - suffix} characters"
            )
    except UsageError as error:
        print(f"python -m chatfn create-many: error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except bulk.FileError as error:
        print(f"python -m chatfn create-many: error: {args.file} cannot make chats:", file=sys.stderr)
        for problem in error.problems[: bulk.LISTED_PROBLEMS]:
            print(f"  {problem}", file=sys.stderr)
        if len(error.problems) > bulk.LISTED_PROBLEMS:
            print(f"  and {len(error.problems) - bulk.LISTED_PROBLEMS} more", file=sys.stderr)
        print("  nothing was sent", file=sys.stderr)
        return ExitCode.USAGE
    options = bulk.RunOptions(endpoint, key, args.batch_size, args.timeout, args.cancel_on_interrupt)
    code, results = bulk.create_many(rows, options, sys.stderr)
    file_format = bulk.output_format(args.output, args.format)
    if results and args.output is None:
        bulk.write_results(results, sys.stdout, file_format)
    elif results:  # none: an earlier run's results file is left as it was
        with open(args.output, "w", encoding="utf-8", newline="") as output:
            bulk.write_results(results, output, file_format)
    return code


def create(
    endpoint: Endpoint,
    request: ChatBody,
    *,
    idempotency_key: str,
    wait: int,
    timeout: float,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Post the request, follow its 202s to the end within `timeout` seconds, and report how it ended."""
    deadline = time.monotonic() + timeout
    progress = Progress(stderr)
    report = Report(request, idempotency_key, as_json, stdout, stderr)
    accepted: httpx.Response | None = None  # the latest 202, for a report if the wait ends before the chat
    headers = {
        contract.IDEMPOTENCY_KEY_HEADER: idempotency_key,
        contract.PREFER_HEADER: f"wait={wait}" if wait else "respond-async",
        **endpoint.key_headers(endpoint.chats_url),
    }
    progress.show("sending the request")
    try:
        with httpx.Client(headers={"User-Agent": f"chatfn-cli/{__version__}"}) as client:
            answer = send(
                client, "POST", endpoint.chats_url, deadline, wait, json=request.body, headers=headers
            )
            while answer.status_code == 202 and contract.LOCATION_HEADER in answer.headers:
                accepted = answer
                status = json_or_none(answer)
                status = status if isinstance(status, dict) else {}
                progress.show(str(status.get("stage", "running")), status.get("polls"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(
                    min(retry_after_seconds(answer.headers.get(contract.RETRY_AFTER_HEADER)), remaining)
                )
                location = urljoin(str(answer.url), answer.headers[contract.LOCATION_HEADER])
                answer = send(client, "GET", location, deadline, 0, headers=endpoint.key_headers(location))
    except httpx.TransportError as error:
        progress.clear()
        if time.monotonic() >= deadline:
            return report.unfinished(accepted, timeout)
        return report.no_answer(endpoint, error)
    except KeyboardInterrupt:
        progress.clear()
        return report.interrupted()
    progress.clear()
    if answer is accepted:
        return report.unfinished(accepted, timeout)
    return report.answer(answer)


def send(
    client: httpx.Client, method: str, url: str, deadline: float, server_wait: int, **kwargs: Any
) -> httpx.Response:
    """One request; when its connection fails it is sent again as it was (the same idempotency key, so
    never a second chat) after a short pause, a few times, within the deadline."""
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        try:
            return client.request(
                method, url, timeout=max(1.0, min(remaining, server_wait + ANSWER_MARGIN)), **kwargs
            )
        except _RETRYABLE:
            if attempt == len(RETRY_DELAYS) or time.monotonic() + RETRY_DELAYS[attempt] >= deadline:
                raise
            time.sleep(RETRY_DELAYS[attempt])
            attempt += 1


def retry_after_seconds(value: str | None) -> float:
    """chatfn sends whole seconds; fractions are read too, and an HTTP date (RFC 9110 section 10.2.3),
    as a gateway in front of the app may send one. Absent or unreadable: the default pause."""
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        until_date = parse_retry_after(value)
        return DEFAULT_RETRY_AFTER if until_date is None else until_date
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER


class Progress:
    """One line on stderr, rewritten in place, when stderr is a terminal; nothing at all otherwise,
    so that scripts and logs get only the outcome."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream if stream.isatty() else None
        self._started = time.monotonic()
        self._shown = False

    def show(self, stage: str, polls: object = None) -> None:
        if self._stream is None:
            return
        polled = f", Graph polled {polls} times" if isinstance(polls, int) and polls > 0 else ""
        elapsed = time.monotonic() - self._started
        self._stream.write(f"\rchatfn: {stage}{polled}, {elapsed:.0f} s\x1b[K")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


@dataclass(frozen=True)
class Report:
    """How a run ended, as people read it (stderr, and the chat on stdout) or scripts do (`--json`)."""

    request: ChatBody
    idempotency_key: str
    as_json: bool
    stdout: TextIO
    stderr: TextIO

    def answer(self, answer: httpx.Response) -> int:
        body = json_or_none(answer)
        if answer.status_code in (200, 201) and isinstance(body, dict) and "chatId" in body:
            if self.as_json:
                self._print_json(body)
            else:
                self._out(f"{body['chatId']}\n{body.get('webUrl')}")
            return ExitCode.CREATED
        code = exit_code_for(answer.status_code)
        if not is_problem(body):
            self._err(f"chatfn: HTTP {answer.status_code} {answer.reason_phrase}, not an answer from chatfn")
            self._err(_HINTS.get(answer.status_code, ""))
            if code == ExitCode.SERVICE_FAILED:
                self._resume_hint()
            return code
        if self.as_json:
            self._print_json(body)
        self._err(f"chatfn: {body['title']} ({answer.status_code})")
        self._err(f"  {body.get('detail') or ''}")
        for error in body.get("errors") or []:
            option = self.request.option_for(str(error.get("field")))
            self._err(f"  {error.get('field')}{f' ({option})' if option else ''}: {error.get('message')}")
        graph = body.get("graphError")
        if isinstance(graph, dict):
            request_id = f" (request id {graph['requestId']})" if graph.get("requestId") else ""
            self._err(f"  Graph error: {graph.get('code')}{request_id}")
        if contract.RETRY_AFTER_HEADER in answer.headers:
            self._err(f"  try again after {answer.headers[contract.RETRY_AFTER_HEADER]} s")
        return code

    def unfinished(self, accepted: httpx.Response | None, timeout: float) -> int:
        status = json_or_none(accepted) if accepted is not None else None
        if isinstance(status, dict):
            if self.as_json:
                self._print_json(status)
            self._err(
                f"chatfn: still running after {timeout:g} s ({status.get('stage')}); the chat may yet be "
                f"created\n  status: {status.get('statusUrl')}"
            )
        else:
            self._err(f"chatfn: no answer within {timeout:g} s; the chat may yet be created")
        self._resume_hint()
        return ExitCode.TIMED_OUT

    def no_answer(self, endpoint: Endpoint, error: httpx.TransportError) -> int:
        self._err(f"chatfn: no answer from {endpoint.base}: {error or type(error).__name__}")
        self._resume_hint()
        return ExitCode.SERVICE_FAILED

    def interrupted(self) -> int:
        self._err("chatfn: interrupted; the request goes on in the function app")
        self._resume_hint()
        return ExitCode.INTERRUPTED

    def _resume_hint(self) -> None:
        self._err(
            "  to pick this request up without making a second chat, run the same command with "
            f"--idempotency-key {self.idempotency_key}"
        )

    def _print_json(self, body: Any) -> None:
        self._out(json.dumps(body, indent=2))

    def _out(self, text: str) -> None:
        print(text, file=self.stdout)

    def _err(self, text: str) -> None:
        if text.strip():
            print(text, file=self.stderr)


_HINTS = {
    401: "  check the function key (--key or CHATFN_KEY)",
    403: "  check the function key (--key or CHATFN_KEY)",
    404: "  check the URL (--url or CHATFN_URL), e.g. https://app.azurewebsites.net/api",
}


def exit_code_for(status: int) -> ExitCode:
    if status in REFUSED_STATUSES:
        return ExitCode.REFUSED
    if status >= 500 or status == 429:
        return ExitCode.SERVICE_FAILED
    return ExitCode.FAILED


def is_problem(body: Any) -> TypeGuard[dict[str, Any]]:
    """An RFC 9457 problem as chatfn writes them (a gateway's error page is not one)."""
    return (
        isinstance(body, dict) and isinstance(body.get("title"), str) and isinstance(body.get("status"), int)
    )


def json_or_none(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _idempotency_key(value: str) -> str:
    if not contract.IDEMPOTENCY_KEY.fullmatch(value):
        raise argparse.ArgumentTypeError("must be 1 to 200 visible ASCII characters, e.g. a UUID")
    return value


def _external_member(value: str) -> ExternalMember:
    user_id, _, tenant_id = value.strip().partition("@")
    if not (contract.GUID.fullmatch(user_id) and contract.GUID.fullmatch(tenant_id)):
        raise argparse.ArgumentTypeError("must be USER_ID@TENANT_ID, two GUIDs (object id and tenant id)")
    return ExternalMember(user_id, tenant_id)


def permission_option(value: str) -> Permission:
    name, _, kind = value.strip().partition(":")
    if kind not in ("", "application", "delegated"):
        raise argparse.ArgumentTypeError("the type after ':' must be application or delegated")
    return Permission(name, kind or "application")


def _batch_size(value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_BATCH_SIZE} chats")
    return int(value)


def _wait_seconds(value: str) -> int:
    if not value.strip().isdigit() or int(value) > MAX_WAIT:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_WAIT} seconds")
    return int(value)


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return seconds
