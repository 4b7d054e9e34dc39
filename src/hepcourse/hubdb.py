"""The hub's SQLite database, set so that a class logging in at once does not wait on the disk.

JupyterHub commits on its one thread after most requests of a login (the login, the OAuth code,
the server's token, each token's first use). In SQLite's default mode (a rollback journal, full
synchronisation) every commit waits for the disk to sync several times, and while a class's
kernels start and write, a sync takes long: in a 50-student class start the hub's event loop
spent about 2 s of it waiting in commits (py-spy on the hub, `docs/capacity.md`). In
write-ahead-log mode with ``synchronous=NORMAL`` a commit appends to the log without a sync (the
log is synced at its checkpoints). Nothing committed is lost when the hub crashes or is killed;
a power cut can lose the last commits (activity times, a fresh login), never the database, and
takes the servers with it anyway. The mode stays with the file; a backup copies it with the
log's contents (hepcourse.state).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine


def write_ahead_log(database: Path) -> None:
    """Every connection this process opens to the SQLite file ``database`` (the hub's) uses the
    write-ahead log with ``synchronous=NORMAL``. Other databases, and a database server set in its
    place (``hub.config``), are left as they are."""
    target = str(Path(database).resolve())

    def on_connect(connection, _record) -> None:
        if isinstance(connection, sqlite3.Connection) and main_file(connection) == target:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)


def main_file(connection: sqlite3.Connection) -> str:
    """The file of ``connection``'s main database ('' in memory)."""
    return next(row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main")
