"""chatfn: open Microsoft Teams chats from flows and services through one small HTTP API."""

__version__ = "0.1.0"
