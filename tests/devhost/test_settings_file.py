"""`local.settings.json` as Core Tools reads it: Values into the environment, the environment wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatfn.devhost.settings_file import apply_settings


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document))
    return path


def test_values_fill_what_the_environment_lacks(tmp_path: Path) -> None:
    path = _write(tmp_path, {"IsEncrypted": False, "Values": {"A": "file", "B": "file", "N": 5, "X": None}})
    environ = {"B": "shell"}
    assert apply_settings(path, environ) == {"A": "file", "N": "5"}
    assert environ == {"A": "file", "B": "shell", "N": "5"}


def test_no_file_sets_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert apply_settings(tmp_path / "local.settings.json", environ) == {}
    assert environ == {}


def test_values_that_are_not_an_object_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'Values' must be an object"):
        apply_settings(_write(tmp_path, {"Values": ["A"]}), {})
