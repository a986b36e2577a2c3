"""The connector's icon, drawn in code so that `make connector` needs no image library: a white speech
bubble on the brand colour, as a 230x230 PNG (certification asks for that size and a non-white
background)."""

from __future__ import annotations

import struct
import zlib

ICON_SIZE = 230


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """`#5b5fc7` as (91, 95, 199)."""
    value = colour.removeprefix("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def bubble_icon(background: str, size: int = ICON_SIZE) -> bytes:
    """A square PNG of `background` with a white rounded speech bubble in its middle."""
    ink = (255, 255, 255)
    paper = hex_rgb(background)
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type None for each scanline
        for x in range(size):
            rows.extend(ink if _in_bubble(x / size, y / size) else paper)
    return _png(size, size, bytes(rows))


def _in_bubble(x: float, y: float) -> bool:
    """A rounded rectangle with a tail at its lower left, in a unit square."""
    left, top, right, bottom, radius = 0.2, 0.25, 0.8, 0.65, 0.1
    inner_x = min(max(x, left + radius), right - radius)
    inner_y = min(max(y, top + radius), bottom - radius)
    in_body = (x - inner_x) ** 2 + (y - inner_y) ** 2 <= radius**2
    in_tail = 0.3 <= x <= 0.45 and bottom <= y <= 0.78 and (x - 0.3) <= (0.78 - y) * (0.15 / 0.13)
    return in_body or in_tail


def _png(width: int, height: int, scanlines: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
