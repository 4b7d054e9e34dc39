"""`hepcourse state backup|restore`: a course's state (hub database, exchange, gradebook,
secrets, uid table) leaves in one archive and comes back whole, owners and modes included, so
that the exchange's permissions still hold and grading goes on where it stopped."""

import hashlib
import io
import os
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
from conftest import ASSIGNMENT, GOOD_ADD, fetch_and_submit
from nbgrader.api import Gradebook

from hepcourse.config import load_settings
from hepcourse.grading.autograde import autograde
from hepcourse.state import MANIFEST, StateError, backup, restore


def tree(folder: Path) -> dict:
    """Every path under ``folder``: its mode, owner and content (SQLite databases by their rows)."""
    found = {}
    for path in sorted([folder, *folder.rglob("*")]):
        st = path.lstat()
        if path.is_file() and path.suffix in (".db", ".sqlite"):
            with sqlite3.connect(path) as db:
                content = "\n".join(db.iterdump())
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = None
        found[str(path.relative_to(folder))] = (st.st_mode, st.st_uid, st.st_gid, content)
    return found


@pytest.mark.sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to keep several uids' files (CI runs as root)")
def test_backup_and_restore_keep_the_gradebook_the_exchange_and_their_owners(world, tmp_path):
    course, homes = world
    course.settings["grading"]["sandbox"]["engine"] = "process"
    fetch_and_submit(course, homes, "alice", GOOD_ADD)
    assert course.collect(ASSIGNMENT) == ["alice"]
    (outcome,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    assert outcome.status == "graded"
    with Gradebook(course.db_url, course.id) as gb:
        score = gb.find_submission(ASSIGNMENT, "alice").score
    assert score > 0

    state = Path(course.settings["hub"]["state_dir"])
    hub_db = sqlite3.connect(state / "jupyterhub.sqlite", isolation_level=None)
    hub_db.execute("PRAGMA journal_mode=WAL")   # as the hub keeps it (hepcourse.hubdb): alice only in the log
    hub_db.execute("CREATE TABLE users (name TEXT)")
    hub_db.execute("INSERT INTO users VALUES ('alice')")
    hub_db.execute("BEGIN IMMEDIATE")           # the hub mid-write while the backup runs
    hub_db.execute("INSERT INTO users VALUES ('half-written')")
    summary = backup(course.settings, tmp_path / "course.tar.gz")
    hub_db.execute("ROLLBACK")
    hub_db.close()
    assert {"state/jupyterhub.sqlite", "state/grading/gradebook.db"} <= set(summary.databases)
    assert oct((tmp_path / "course.tar.gz").stat().st_mode & 0o777) == "0o600"
    before = tree(state)

    shutil.rmtree(state)
    restore(course.settings, tmp_path / "course.tar.gz")
    assert tree(state) == before
    with Gradebook(course.db_url, course.id) as gb:
        assert gb.find_submission(ASSIGNMENT, "alice").score == score
    with sqlite3.connect(state / "jupyterhub.sqlite") as db:
        assert db.execute("SELECT name FROM users").fetchall() == [("alice",)]

    # The exchange works on: bob submits, alice's submission is still hers alone, collect checks owners.
    fetch_and_submit(course, homes, "bob", GOOD_ADD)
    assert course.collect(ASSIGNMENT) == ["alice", "bob"]

    with pytest.raises(StateError, match="not empty"):
        restore(course.settings, tmp_path / "course.tar.gz")
    (aside,) = restore(course.settings, tmp_path / "course.tar.gz", force=True)
    assert tree(state) == before and (aside / "exchange").is_dir()       # nothing lost: the newer state kept aside
    with pytest.raises(StateError, match="exists"):
        backup(course.settings, tmp_path / "course.tar.gz")


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "settings.yaml").write_text("roster: roster.yaml\nhub: {state_dir: state}\n")
    return load_settings(tmp_path / "settings.yaml")


def test_restore_refuses_what_is_not_a_backup_or_would_write_outside_the_state(settings, tmp_path):
    with pytest.raises(StateError, match="no such backup"):
        restore(settings, tmp_path / "missing.tar.gz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StateError, match="not a hepcourse backup"):
        restore(settings, tmp_path / "notes.txt")

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in [(MANIFEST, b'{"format": 1, "roots": {"state": "/x"}}'), ("state/../../outside", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(StateError, match="outside the course state"):
        restore(settings, evil)
    assert not (tmp_path / "outside").exists()
