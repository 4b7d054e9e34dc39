"""Files: writing so that a crash or a concurrent reader never sees half of one (a hidden
temporary file beside the target, renamed over it: atomic on one filesystem), and the one file
hash of the project."""

from __future__ import annotations

import hashlib
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


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
