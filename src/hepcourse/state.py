"""Back up and restore a course's state: ``hepcourse state backup|restore``.

A course's state is the hub's state folder (``hub.state_dir``: hub database, cookie secret,
passwords, uid table, exchange with every submission and feedback, local mode's homes) and the
private course directory (``grading.dir``: gradebook, source and autograded notebooks, the
held-out secret), wherever it lies. A backup is one ``.tar.gz`` of both, with owners and modes
kept (the exchange's safety rests on them) and every SQLite database copied through SQLite's own
backup API, so a backup taken while the hub runs is consistent. Not in it: docker mode's home
volumes (the container engine's, e.g. ``podman volume export``), a PostgreSQL gradebook
(``pg_dump``), and the held-out sets (``make data`` makes them again from the secret).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .errors import UserError

MANIFEST = "hepcourse-backup.json"
SQLITE_MAGIC = b"SQLite format 3\x00"
SKIPPED_SUFFIXES = ("-journal", "-wal", "-shm")      # a database's own side files: in its copy


class StateError(UserError):
    """A backup or restore cannot proceed (the message says why)."""


@dataclass
class Summary:
    archive: Path
    files: int = 0
    databases: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.archive}: {self.files} files, databases copied consistently: {', '.join(self.databases) or 'none'}"]
        return "\n".join(lines + [f"note: {w}" for w in self.warnings])


def roots(settings: dict) -> dict[str, Path]:
    """The folders a backup holds, by their name in the archive."""
    state = Path(settings["hub"]["state_dir"]).resolve()
    grading = Path(settings["grading"]["dir"] or state / "grading").resolve()
    found = {"state": state}
    if not grading.is_relative_to(state):
        found["grading"] = grading
    return found


def backup(settings: dict, archive: Path) -> Summary:
    """Write the course's state to ``archive`` (a new ``.tar.gz``)."""
    folders = roots(settings)
    if not folders["state"].is_dir():
        raise StateError(f"no course state at {folders['state']} (hub.state_dir): nothing to back up")
    if archive.exists():
        raise StateError(f"{archive} exists: choose a new file name (a backup never overwrites one)")
    summary = Summary(archive)
    if settings["grading"].get("db_url"):
        summary.warnings.append("the gradebook is in a database server (grading.db_url): back it up with its own tool (pg_dump)")
    if settings["mode"] == "docker":
        summary.warnings.append("students' homes are container volumes: back them up with the engine (podman volume export)")
    partial = archive.with_name(archive.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="hepcourse-backup-") as tmp, tarfile.open(partial, "w:gz") as tar:
        manifest = {"format": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "course": settings["course"]["id"],
                    "roots": {name: str(path) for name, path in folders.items()}}
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
        tar.addfile(info, io.BytesIO(data))
        for name, folder in folders.items():
            for path in sorted([folder, *folder.rglob("*")]):
                arcname = name if path == folder else f"{name}/{path.relative_to(folder)}"
                if path.name.endswith(SKIPPED_SUFFIXES):
                    continue
                if path.is_symlink() or path.is_dir():
                    tar.addfile(tar.gettarinfo(path, arcname))
                    continue
                if not path.is_file():          # sockets and pipes: the running hub's, not state
                    continue
                info = tar.gettarinfo(path, arcname)
                source = _sqlite_copy(path, Path(tmp)) if _is_sqlite(path) else path
                if source is not path:
                    summary.databases.append(arcname)
                    info.size = source.stat().st_size
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
                summary.files += 1
    os.chmod(partial, 0o600)           # it holds secrets and every student's work
    partial.rename(archive)
    return summary


def _is_sqlite(path: Path) -> bool:
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        return handle.read(16) == SQLITE_MAGIC
    return False


def _sqlite_copy(path: Path, folder: Path) -> Path:
    """A consistent copy of a live SQLite database (SQLite's online backup)."""
    copy = folder / f"{len(list(folder.iterdir()))}.sqlite"
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return copy


def restore(settings: dict, archive: Path, force: bool = False) -> list[Path]:
    """Put the state of ``archive`` where this machine's settings keep it. A non-empty state
    folder is refused, or with ``force`` moved aside (returned) first: nothing is lost."""
    if not archive.is_file():
        raise StateError(f"{archive}: no such backup file")
    with _backup_file(archive) as tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except (KeyError, ValueError):
            raise StateError(f"{archive} is not a hepcourse backup (no {MANIFEST})") from None
        folders = roots(settings)
        if set(manifest["roots"]) - set(folders):
            raise StateError("the backup holds a course directory apart from the state folder; set grading.dir "
                             "to a folder outside hub.state_dir here too, then restore again")
        _refuse_running_hub(folders["state"])
        moved = []
        for name, folder in folders.items():
            if folder.exists() and any(folder.iterdir()):
                if not force:
                    raise StateError(f"{folder} is not empty: restore into an empty state, or add --force "
                                     "to move the current one aside first")
                aside = folder.with_name(f"{folder.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
                folder.rename(aside)
                moved.append(aside)
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=folders["state"].parent) as tmp:
            members = [m for m in tar.getmembers() if m.name != MANIFEST]
            try:
                tar.extractall(tmp, members=members, numeric_owner=True, filter=_safe_member)
            except tarfile.FilterError as err:
                raise StateError(f"{archive}: refused, a member would land outside the course state ({err})") from None
            for name, folder in folders.items():
                if (Path(tmp) / name).exists():
                    if folder.exists():
                        folder.rmdir()
                    folder.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(Path(tmp) / name, folder)
    return moved


@contextlib.contextmanager
def _backup_file(archive: Path):
    try:
        with tarfile.open(archive, "r:gz") as tar:
            yield tar
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as err:
        raise StateError(f"{archive} is not a hepcourse backup, or it is damaged ({err})") from None


def _safe_member(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
    """tarfile's "tar" filter (nothing outside the destination, no device files), with the
    modes kept as they were: the exchange's sticky and shared folders need them. A link that
    points outside (a student's, in a local-mode home) is left out, not fatal."""
    try:
        safe = tarfile.tar_filter(member, destination)
    except tarfile.FilterError:
        if member.issym() or member.islnk():
            return None
        raise
    return safe.replace(mode=member.mode, deep=False)


def _refuse_running_hub(state: Path) -> None:
    for proc in psutil.process_iter(["cwd", "cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if Path(proc.info["cwd"]).resolve() == state and any("jupyterhub" in part for part in proc.info["cmdline"]):
                raise StateError(f"a hub runs on this state (pid {proc.pid}): stop it before restoring")
