"""Route templates as Azure Functions (ASP.NET routing) reads them."""

from __future__ import annotations

import pytest

from chatfn.devhost.routes import compile_route


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("chats", "chats", {}),
        ("chats", "CHATS/", {}),
        ("chats/requests/{requestId}", "chats/requests/abc", {"requestId": "abc"}),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/x", None),
        (
            "items/{id:guid}",
            "items/8b081ef6-4792-4def-b2c9-c363a1bf41d5",
            {"id": "8b081ef6-4792-4def-b2c9-c363a1bf41d5"},
        ),
        ("items/{name?}", "items", {}),
        ("items/{name?}", "items/a", {"name": "a"}),
        ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "files", {}),
        ("v{version}/items", "v2/items", {"version": "2"}),
        ("chats/{id}", "chats/a/b", None),
        ("chats", "chatsx", None),
    ],
)
def test_a_template_matches_as_functions_routing_does(
    template: str, path: str, params: dict[str, str] | None
) -> None:
    assert compile_route(template).match(path) == params


def test_literal_segments_are_counted_so_literals_win() -> None:
    assert compile_route("chats/requests/{id}").literal_segments == 2
    assert compile_route("chats/{a}/{b}").literal_segments == 1
