"""`local.settings.json` `Values` into the environment, as Core Tools does before it starts the worker.

A variable already set in the environment wins over the file (Core Tools skips such keys too), so a
shell or a test can always override what the file says.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

FILE_NAME = "local.settings.json"


def read_values(path: Path) -> dict[str, str]:
    """The file's `Values` as strings (Core Tools reads them into a string dictionary)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: 'Values' must be an object")
    return {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
        if value is not None
    }


def apply_settings(path: Path, environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set each value the environment does not already have; return the ones that were set."""
    if not path.is_file():
        return {}
    applied = {key: value for key, value in read_values(path).items() if key not in environ}
    environ.update(applied)
    return applied
