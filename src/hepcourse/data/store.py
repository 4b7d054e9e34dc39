"""Where dataset files live: ``<data dir>/<dataset>/<scale>/<file>``, each with a
``<file>.json`` record of where it came from (generated or downloaded), its rows and sha256.

The data dir is ``$HEPCOURSE_DATA_DIR`` (the hub points every user at one shared, possibly
read-only copy) or ``~/.cache/hepcourse/data``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UserError
from ..files import write_json
from .cards import Card

ENV_VAR = "HEPCOURSE_DATA_DIR"
HELDOUT_VAR = "HEPCOURSE_HELDOUT_DIR"


class DataError(UserError):
    """A dataset that cannot be provided as asked; the message says what to do."""


def data_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "hepcourse" / "data")


def heldout_dir(data: Path | None = None) -> Path:
    """Grader-only data (``$HEPCOURSE_HELDOUT_DIR``, else ``heldout`` beside the data dir, or
    beside ``data``): never mounted into students' containers."""
    return Path(os.environ.get(HELDOUT_VAR) or (data or data_dir()).parent / "heldout")


def file_path(card: Card, scale: str, filename: str) -> Path:
    return (card.root or data_dir()) / card.name / scale / filename


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_meta(path: Path) -> dict | None:
    meta = meta_path(path)
    return json.loads(meta.read_text()) if meta.exists() and path.exists() else None


def write_meta(path: Path, meta: dict) -> None:
    write_json(meta_path(path), meta)


def writable(directory: Path) -> bool:
    """True if ``directory`` (or its nearest existing parent) can be written."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK)
    return False
