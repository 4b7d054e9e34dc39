"""One stable Unix uid per course user, so file permissions mean something between users.

In `docker` mode each user's container runs as its user's uid, and the nbgrader exchange (a
volume shared by all containers) relies on it: a submission belongs to the uid that wrote it.
Uids are handed out at first sight and kept in ``<state_dir>/uids.json`` (never reused, so
files a user left keep their owner); `local` mode runs everyone as the hub's OS user and does
not use them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .files import write_json
from .locks import locked

FIRST_UID = 20000


def uid_of(username: str, state_dir: str | Path) -> int:
    """The uid of ``username``, allocating the next free one the first time."""
    path = Path(state_dir) / "uids.json"
    with locked(path):
        known = json.loads(path.read_text()) if path.exists() else {}
        if username not in known:
            known[username] = max(known.values(), default=FIRST_UID - 1) + 1
            write_json(path, known)
        return known[username]


def known_uid(username: str, state_dir: str | Path) -> int | None:
    """The uid of ``username`` if one was handed out, without taking one (the grader account
    reads the registry, it cannot write the state folder)."""
    path = Path(state_dir) / "uids.json"
    return json.loads(path.read_text()).get(username) if path.exists() else None
