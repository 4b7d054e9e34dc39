"""Writing files so that a crash or a concurrent reader never sees half of one: write a hidden
temporary file beside the target, then rename it over the target (atomic on one filesystem)."""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path):
    """Yield the temporary path to write; on success it replaces ``path``, on failure it goes."""
    # A name of its own: two writers of the same file never write into one temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data) -> None:
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
