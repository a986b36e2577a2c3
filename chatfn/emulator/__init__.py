"""A local stand-in for Microsoft Graph and the managed identity endpoint (docs/emulator.md); not deployed."""

from chatfn.emulator.server import Emulator

__all__ = ["Emulator"]
