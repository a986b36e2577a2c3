"""The local host: settings, the Graph emulator, Azurite, the app's functions and one aiohttp server
on 127.0.0.1 serving `/api/...`, the Durable extension's API and the admin API."""

from __future__ import annotations

import asyncio
import copy
import errno
import os
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from azure.durable_functions.models.utils import http_utils

from chatfn.devhost import body_limit, settings_file
from chatfn.devhost.admin import ADMIN_PATH, AdminApi
from chatfn.devhost.azurite import Azurite, ensure_storage
from chatfn.devhost.durable_api import DurableApi
from chatfn.devhost.errors import StartError
from chatfn.devhost.functions import FunctionIndex, index_app, load_app
from chatfn.devhost.history import Event
from chatfn.devhost.http_triggers import ROUTE_PREFIX, HttpTriggers
from chatfn.devhost.orchestrations import Orchestrations
from chatfn.devhost.timeouts import HOST_JSON, FunctionTimeout

if TYPE_CHECKING:
    from chatfn.emulator import Emulator

HOST = "127.0.0.1"
PUBLIC_ORIGIN_SETTING = "CHATFN_PUBLIC_ORIGIN"
T = TypeVar("T")


class DevHost:
    """One run of the app. `start()` and `stop()` run on the event loop that serves it."""

    def __init__(
        self,
        app: str = "function_app:app",
        port: int = 7071,
        emulator: bool = True,
        settings: Path | None = None,
        azurite: bool = True,
        queue_latency: float = 0.0,
        function_timeout: float | None = None,
        host_json: Path | None = None,
        activity_reruns: float = 0.0,
    ) -> None:
        """`function_timeout` (seconds) overrides host.json's functionTimeout; `settings` and
        `host_json` default to the files in the working directory, the app's root as for Core Tools;
        `activity_reruns` is the share of activity runs run twice (`Orchestrations`)."""
        self._app_spec = app
        self._port = port
        self._want_emulator = emulator
        self._want_azurite = azurite
        self._queue_latency = queue_latency
        self._activity_reruns = activity_reruns
        self._settings = settings if settings is not None else Path.cwd() / settings_file.FILE_NAME
        self._host_json = host_json if host_json is not None else Path.cwd() / HOST_JSON
        self._timeout_override = function_timeout
        self.emulator: Emulator | None = None
        self.azurite: Azurite | None = None
        self.functions = FunctionIndex()
        self.url = ""
        self._executor = ThreadPoolExecutor(thread_name_prefix="devhost-worker")
        self._listener: socket.socket | None = None
        self._runner: web.AppRunner | None = None
        self._orchestrations: Orchestrations | None = None
        self._durable: DurableApi | None = None
        self._admin: AdminApi | None = None

    async def start(self) -> None:
        """Settings, the port, the emulator and storage first (the app may read them all at import),
        then the app itself. The port is bound before the app is imported, so that
        CHATFN_PUBLIC_ORIGIN can name it even when the port was picked by the system.

        A start that cannot succeed raises StartError, whose message says what to fix; `stop()` then
        stops whatever had been started (the caller runs it either way)."""
        try:
            settings_file.apply_settings(self._settings)
        except ValueError as exc:
            raise StartError(f"{self._settings} cannot be read: {_one_line(exc)}") from None
        limit = body_limit.read_limit(os.environ)
        timeout = (
            FunctionTimeout(self._timeout_override)
            if self._timeout_override is not None
            else FunctionTimeout.from_host_json(self._host_json)
        )
        self._listener = listener = _listen(self._port)
        self.url = f"http://{HOST}:{listener.getsockname()[1]}"
        os.environ.setdefault(PUBLIC_ORIGIN_SETTING, self.url)
        if self._want_emulator and "GRAPH_BASE_URL" not in os.environ:
            from chatfn.emulator import Emulator  # written alongside; imported only when wanted

            self.emulator = Emulator.start(port=0)
            os.environ["GRAPH_BASE_URL"] = self.emulator.graph_url
            os.environ["IDENTITY_ENDPOINT"] = self.emulator.identity_endpoint
            os.environ["IDENTITY_HEADER"] = self.emulator.identity_header
        self.azurite = await asyncio.to_thread(ensure_storage, os.environ, self._want_azurite)
        self.functions = index_app(_import_app(self._app_spec))
        self._orchestrations = Orchestrations(
            self.functions, self._executor, self._queue_latency, timeout, self._activity_reruns
        )
        self._durable = DurableApi(self._orchestrations)
        self._durable.origin = self.url
        binding = self._durable.binding_json
        triggers = HttpTriggers(self.functions.http, binding, self._executor, timeout)
        self._admin = AdminApi(self.functions.timers, binding, self._executor, timeout)
        app = web.Application(middlewares=[body_limit.enforce_body_limit])
        app[body_limit.BODY_LIMIT] = limit
        app.add_routes(body_limit.guarded(self._durable.routes() + self._admin.routes() + triggers.routes()))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, listener).start()

    async def stop(self) -> None:
        """Stop serving, cancel orchestrations and timer runs, close the SDK's shared HTTP session
        (it belongs to this loop), and stop the emulator and Azurite; after a failed start too."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._listener is not None:
            self._listener.close()
        if self._orchestrations is not None:
            await self._orchestrations.stop()
        if self._admin is not None:
            await self._admin.stop()
        await http_utils._close_session()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.emulator is not None:
            self.emulator.stop()
        if self.azurite is not None:
            self.azurite.stop()

    @property
    def system_key(self) -> str:
        """The key inside the management URLs: it must never reach the app's callers."""
        return self._started(self._durable).system_key

    def history(self, instance_id: str) -> list[Event]:
        """The instance's recorded history (the SDK's shape: EventType numbers), for `check_replay`."""
        return copy.deepcopy(self._started(self._orchestrations).instances[instance_id].history)

    def instance_input(self, instance_id: str) -> str | None:
        return self._started(self._orchestrations).instances[instance_id].input

    def client_binding(self) -> str:
        """What a durableClient binding receives: a test builds the app's own durable client from it."""
        return self._started(self._durable).binding_json()

    @staticmethod
    def _started(part: T | None) -> T:
        """A part that exists once `start()` has run."""
        if part is None:
            raise RuntimeError("the local host has not started")
        return part

    def banner(self) -> list[str]:
        """What the CLI prints: the base URL, the emulator, and every function."""
        lines = []
        if self.emulator is not None:
            lines.append(f"Graph emulator: {self.emulator.url} (GRAPH_BASE_URL={self.emulator.graph_url})")
        if self.azurite is not None:
            lines.append(f"Azurite: {self.azurite.url} (tables; AzureWebJobsStorage points at it)")
        lines.append(f"chatfn local host: {self.url}/api")
        lines.append("Functions:")
        for function in self.functions.http:
            methods = ",".join(sorted(function.methods)) if function.methods else "*"
            lines.append(f"  {function.name}: [{methods}] {self.url}{ROUTE_PREFIX}{function.route.template}")
        lines += [f"  {name}: orchestrationTrigger" for name in self.functions.orchestrators]
        lines += [f"  {name}: activityTrigger" for name in self.functions.activities]
        lines += [
            f"  {name}: timerTrigger ({timer.schedule}), run it: POST {self.url}{ADMIN_PATH}/{name}"
            for name, timer in self.functions.timers.items()
        ]
        lines += [
            f"  {name}: {kind} (not run by the local host)"
            for name, kind in self.functions.unsupported.items()
        ]
        return lines


def _listen(port: int) -> socket.socket:
    """The socket the host serves on; a port it cannot have is a StartError that says what to do."""
    try:
        return socket.create_server((HOST, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartError(
                f"port {port} on {HOST} is in use: stop what listens there, or pick another port with "
                "--port (make run PORT=...)"
            ) from None
        raise StartError(
            f"cannot listen on {HOST}:{port} ({exc.strerror}): pick another port with --port"
        ) from None


def _import_app(spec: str) -> Any:
    """Import the app. Its refusal of a setting is a StartError: chatfn reads its settings at import and
    raises SettingsError, a ValueError naming the variable. So is an --app that names no module here."""
    module_name = spec.partition(":")[0]
    try:
        return load_app(spec)
    except ValueError as exc:
        raise StartError(
            f"the app refused a setting: {_one_line(exc)} (fix it in local.settings.json or the environment)"
        ) from None
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # something the app imports: its traceback says more than a line could
        raise StartError(
            f"there is no module {module_name} here (--app {spec}): run the host in the app's root"
        ) from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class HostHandle:
    """A DevHost running on its own event loop in a background thread (for tests and tools)."""

    def __init__(self, host: DevHost, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.host = host
        self._loop = loop
        self._thread = thread

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def emulator(self) -> Emulator | None:
        return self.host.emulator

    @property
    def azurite(self) -> Azurite | None:
        return self.host.azurite

    def history(self, instance_id: str) -> list[Event]:
        """A copy of the instance's history, taken on the host's loop."""
        return self._on_loop(lambda: self.host.history(instance_id))

    def client_binding(self) -> str:
        return self._on_loop(self.host.client_binding)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the host's loop, where the app's clients live, and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.host.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def _on_loop(self, read: Callable[[], T]) -> T:
        async def on_loop() -> T:
            return read()

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout=30)


def start_in_thread(
    app: str = "function_app:app",
    port: int = 0,
    emulator: bool = True,
    settings: Path | None = None,
    azurite: bool = True,
    queue_latency: float = 0.0,
    function_timeout: float | None = None,
    host_json: Path | None = None,
    activity_reruns: float = 0.0,
) -> HostHandle:
    """Start a host in a daemon thread and return once it serves; a startup error is raised here."""
    host = DevHost(
        app=app,
        port=port,
        emulator=emulator,
        settings=settings,
        azurite=azurite,
        queue_latency=queue_latency,
        function_timeout=function_timeout,
        host_json=host_json,
        activity_reruns=activity_reruns,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(host.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.run_until_complete(host.stop())
            _close(loop)
            return
        ready.set()
        loop.run_forever()
        _close(loop)

    thread = threading.Thread(target=serve, name="devhost", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        raise failure[0]
    return HostHandle(host, loop, thread)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending and close the loop, as `asyncio.run` does at its end (aiohttp
    keeps reading and dropping the rest of a refused body for a while, even after the caller left)."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
