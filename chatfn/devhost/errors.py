"""The one error a start that cannot succeed raises: its message says, in one line, what to fix."""

from __future__ import annotations


class StartError(Exception):
    """A setting, the port, Node or Azurite stops the host from starting (docs/local-host.md)."""
