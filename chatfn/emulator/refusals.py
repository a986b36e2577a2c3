"""Graph's refusals as an exception the surfaces raise and `graph.handle` answers in Graph's shape."""

from __future__ import annotations


class GraphError(Exception):
    """A refusal, answered in Graph's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def bad_request(message: str) -> GraphError:
    return GraphError(400, message)
