"""A local host for the function app, standing in for Azure Functions Core Tools (docs/local-host.md)."""

from chatfn.devhost.replay import NonDeterminismError, check_replay
from chatfn.devhost.server import DevHost, HostHandle, start_in_thread

__all__ = ["DevHost", "HostHandle", "NonDeterminismError", "check_replay", "start_in_thread"]
