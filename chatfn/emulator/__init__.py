"""A local stand-in for Microsoft Graph and the managed identity endpoint (CONTRACT §3); never deployed."""

from chatfn.emulator.server import Emulator

__all__ = ["Emulator"]
