"""docker mode's autograde for real: each submission's kernel in a throwaway container of the
course image (the slim test image here; `make test-containers` builds it and runs this), started
through podman. Honest work gets its points; runaway or hostile code stays inside its container,
which is gone after its grading, and never touches the next submission."""

import os
import shutil
import subprocess
import textwrap

import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, answered, student_version, submit

from hepcourse.grading.autograde import autograde

pytestmark = [pytest.mark.containers, pytest.mark.xdist_group("containers"),
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("podman"), reason="needs root and podman")]
IMAGE = "localhost/hepcourse/singleuser-test"

DAEMON = textwrap.dedent("""\
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    os.kill(os.getpid(), 9)""")


def containers():
    out = subprocess.run(["podman", "ps", "-a", "--filter", "name=hepcourse-grade", "--format", "{{.Names}}"],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def test_each_submission_is_graded_in_its_own_throwaway_container(course, monkeypatch):
    subprocess.run(["podman", "image", "exists", IMAGE], check=True)
    sandbox = course.settings["grading"]["sandbox"]
    monkeypatch.setitem(sandbox, "engine", "container")
    monkeypatch.setitem(sandbox, "file_size", "64M")
    monkeypatch.setitem(course.settings["docker"], "image", IMAGE)
    host_file = course.root / "gradebook.db"
    submit(course, "honest", answered(course, GOOD_ADD, GOOD_DOUBLE))
    submit(course, "blank", student_version(course))
    submit(course, "daemon", answered(course, GOOD_ADD, DAEMON))
    submit(course, "membomb", answered(course, GOOD_ADD, "hog = [bytearray(10**8) for _ in range(100)]\n" + GOOD_DOUBLE))
    submit(course, "forkbomb", answered(course, GOOD_ADD, "import os\nwhile True:\n    os.fork()"))
    submit(course, "scratch", answered(course, GOOD_ADD, (
        "import os\nfor d in ['/tmp', '/var/tmp', '/dev/shm', os.path.expanduser('~'), '/']:\n    try:\n"
        "        open(d + '/hog', 'wb').write(b'x' * 100_000_000)\n    except OSError:\n        pass\n" + GOOD_DOUBLE)))
    submit(course, "snoop", answered(course, GOOD_ADD, (
        f"import os\nassert not os.path.exists({str(host_file)!r}), 'the grader files are visible'\n"
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    raise SystemExit('network!')\n"
        "except OSError:\n    pass\n" + GOOD_DOUBLE)))
    submit(course, "zz-after", answered(course, GOOD_ADD, GOOD_DOUBLE))     # graded after the daemon

    got = {o.student: o for o in autograde(course, ASSIGNMENT, workers=2, progress=False)}
    print({s: (o.score, o.note) for s, o in got.items()})
    assert got["honest"].score == got["zz-after"].score == 10
    assert got["blank"].score == 0
    assert got["daemon"].score == 5
    assert got["membomb"].score == 5 and got["forkbomb"].score == 5
    assert got["scratch"].score == 10 and got["snoop"].score == 10
    assert containers() == []
    assert not [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(f"{d}/hog")]
