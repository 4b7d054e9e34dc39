"""The gradebook on PostgreSQL: a real server started by the test (initdb + postgres on
loopback), the parallel sandboxed autograde writing into it, the export reading from it."""

import os
import shutil
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

import nbformat
import psycopg
import pytest
from conftest import (
    ASSIGNMENT,
    GOOD_ADD,
    GOOD_DOUBLE,
    answered,
    exported,
    student_version,
    submit,
    tiny_homework,
)
from nbgrader.api import Gradebook

from hepcourse.config import load_settings
from hepcourse.grading.autograde import autograde
from hepcourse.grading.course import Course
from hepcourse.net import free_port


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        pytest.fail("PostgreSQL's server is not installed: `make test` installs it (apt package postgresql)")
    return found


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server; as root it runs as `nobody` (postgres refuses root), in a
    folder that user can reach (pytest's own are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="hepcourse-pg-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir()
    run_as = []
    if os.geteuid() == 0:
        run_as = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        shutil.chown(data, "nobody", "nogroup")
    subprocess.run([*run_as, postgres_bin("initdb"), "-D", str(data), "-U", "grader", "--auth=trust"],
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([*run_as, postgres_bin("postgres"), "-D", str(data), "-p", str(port),
                               "-c", "listen_addresses=127.0.0.1", "-k", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=grader dbname=postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE gradebook")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)
    yield f"postgresql+psycopg://grader@127.0.0.1:{port}/gradebook"
    server.terminate()
    server.wait(30)
    shutil.rmtree(top)


def test_autograde_writes_the_gradebook_into_postgresql(postgres, tmp_path):
    modules = tmp_path / "modules" / ASSIGNMENT
    modules.mkdir(parents=True)
    nbformat.write(tiny_homework(), modules / "homework.ipynb")
    (tmp_path / "settings.yaml").write_text(
        f"roster: roster.yaml\nhub: {{state_dir: state}}\ncontent: {{source: modules}}\n"
        f"grading: {{db_url: '{postgres}'}}\n")
    course = Course(load_settings(tmp_path / "settings.yaml"))
    course.build()
    assert not (course.root / "gradebook.db").exists()
    submit(course, "correct", answered(course, GOOD_ADD, GOOD_DOUBLE))
    submit(course, "partial", answered(course, GOOD_ADD))
    submit(course, "blank", student_version(course))
    outcomes = autograde(course, ASSIGNMENT, workers=2, sandbox=os.geteuid() == 0, progress=False)
    assert {o.student: o.score for o in outcomes} == {"correct": 10, "partial": 5, "blank": 0}
    with Gradebook(postgres, course.id) as gb:
        assert sorted(s.id for s in gb.students) == ["blank", "correct", "partial"]
        assert gb.find_submission(ASSIGNMENT, "correct").score == 10
    rows = {r["student"]: r["score"] for r in exported(course, tmp_path / "grades.csv")}
    assert rows == {"correct": 10, "partial": 5, "blank": 0}
    assert Path(course.root).stat().st_mode & 0o777 == 0o700
