"""The hardened autograde on real nbgrader runs with real (sandboxed) kernels: honest scores
for correct, partial and blank work, and a clear recorded outcome for each hostile submission,
with the grader's files, the gradebook and the other students' grades unharmed."""

import json
import os
import socket
import threading
import time

import nbformat
import psutil
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, answered, exported, student_version, submit

from hepcourse.grading.autograde import autograde, record

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(os.geteuid() != 0, reason="the autograde sandbox needs root (CI runs as root)")]


@pytest.fixture
def listener():
    """A TCP server on loopback that counts connections: a submission must not reach it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def by_student(outcomes):
    return {o.student: o for o in outcomes}


def test_correct_partial_and_blank_work_get_full_partial_and_zero_points(course):
    submit(course, "correct", answered(course, GOOD_ADD, GOOD_DOUBLE))
    submit(course, "partial", answered(course, GOOD_ADD))
    submit(course, "blank", student_version(course))
    got = by_student(autograde(course, ASSIGNMENT, workers=2, progress=False))
    assert {s: (o.score, o.max_score, o.status) for s, o in got.items()} == {
        "correct": (10, 10, "graded"), "partial": (5, 10, "graded"), "blank": (0, 10, "graded")}


def test_a_kernel_starts_when_its_environment_lies_under_a_covered_folder(course, tmp_path, monkeypatch):
    """CI clones the checkout anywhere, /tmp and /home included, which the sandbox covers: the
    Python environment and the data stay visible, the rest of the folder does not."""
    import sys
    from pathlib import Path

    outside = Path(sys.prefix).parent / "not-for-kernels.txt"
    monkeypatch.setitem(course.settings["grading"]["sandbox"], "hide", [str(Path(sys.prefix).parent)])
    probe = f"import os\nassert not os.path.exists({str(outside)!r})\n" + GOOD_ADD
    submit(course, "covered", answered(course, probe, GOOD_DOUBLE))
    outside.write_text("hidden")
    try:
        (o,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    finally:
        outside.unlink()
    assert (o.score, o.note) == (10, "")


def test_a_submissions_processes_share_one_memory_limit(course, monkeypatch):
    """Four children that each stay under the per-process limit cannot together take more than
    the submission's memory: its control group counts them together (without it all four hold
    their 600 MB at once). A child counts once it has held its block for the whole 5 s: one that
    the group's OOM killer ends midway, after a later child took its place, does not."""
    from hepcourse.grading import cgroups

    probe = cgroups.create(64999, 2**30, 64)
    if not probe:
        pytest.skip("no control groups can be made on this machine (the sandbox falls back to per-process limits)")
    cgroups.remove(probe)
    monkeypatch.setitem(course.settings["grading"]["sandbox"], "memory", "1500M")
    monkeypatch.setitem(course.settings["grading"]["sandbox"], "cell_timeout", 120)
    hog = ("import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
           "        block = b'x' * 600_000_000\n        time.sleep(5)\n        open(f'/tmp/held{i}', 'w').close()\n"
           "        os._exit(0)\n    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\n"
           "print('HELD', len([f for f in os.listdir('/tmp') if f.startswith('held')]))\n")
    submit(course, "hog", answered(course, GOOD_ADD, hog + GOOD_DOUBLE))
    (o,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    graded = nbformat.read(course.root / "autograded" / "hog" / ASSIGNMENT / "homework.ipynb", 4)
    held = [int(line.split()[1]) for cell in graded.cells for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" for line in out["text"].splitlines() if line.startswith("HELD")]
    assert held and held[0] <= 2 and o.score == 10, (o, held)


def test_hostile_submissions_end_with_a_clear_recorded_outcome(course, listener, tmp_path):
    port, hits = listener
    grader_file = course.root / "source" / ASSIGNMENT / "homework.ipynb"
    before = grader_file.read_bytes()
    outside = tmp_path / "outside.txt"
    hostile = {
        "loop": answered(course, GOOD_ADD, "while True:\n    pass"),
        "forkbomb": answered(course, GOOD_ADD, "import os\nwhile True:\n    os.fork()"),
        "membomb": answered(course, GOOD_ADD, "hog = [bytearray(10**8) for _ in range(1000)]\n" + GOOD_DOUBLE),
        "wiper": answered(course, GOOD_ADD, (
            "import os, shutil\nshutil.rmtree(os.path.expanduser('~'), ignore_errors=True)\n"
            f"for target in [{str(course.root / 'gradebook.db')!r}, {str(grader_file)!r}, {str(outside)!r}]:\n"
            "    try:\n        open(target, 'w').write('pwned')\n    except OSError:\n        pass\n"
            + GOOD_DOUBLE)),
        "network": answered(course, GOOD_ADD, (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\nexcept OSError:\n    pass\n"
            + GOOD_DOUBLE)),
        "patcher": answered(course, "def add(a, b):\n    return 0\nnp.allclose = lambda *a, **k: True"),
        "shadow": answered(course, GOOD_ADD, "def reference(x):\n    return 0\ndef double(x):\n    return 0"),
        "silencer": answered(course, "def add(a, b):\n    return 0\nget_ipython().showtraceback = lambda *a, **k: None"),
        "suicide": answered(course, GOOD_ADD, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        "garbage": "this is not a notebook {",
    }
    edited = answered(course, "def add(a, b):\n    return 0", GOOD_DOUBLE)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "add-test":
            cell.source = "pass  # no test here"
    hostile["edited-tests"] = edited
    deleted = answered(course, "def add(a, b):\n    return 0", GOOD_DOUBLE)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "add-test"]
    hostile["deleted-tests"] = deleted
    copied = answered(course, GOOD_ADD, GOOD_DOUBLE)
    copied.cells.append(nbformat.from_dict(dict(copied.cells[-1], id="copy")))           # a graded cell pasted twice
    hostile["copied-cell"] = copied
    relabelled = answered(course, GOOD_ADD, GOOD_DOUBLE)
    for cell in relabelled.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "add-test":
            cell.metadata.nbgrader.update(grade=False, locked=False)
    hostile["relabelled"] = relabelled
    submit(course, "honest", answered(course, GOOD_ADD, GOOD_DOUBLE))
    for student, nb in hostile.items():
        submit(course, student, nb)

    outcomes = autograde(course, ASSIGNMENT, workers=2, progress=False)
    record(course, ASSIGNMENT, outcomes)
    got = by_student(outcomes)
    summary = {s: (o.score, o.status, o.note) for s, o in got.items()}
    print(json.dumps(summary, indent=1))

    assert got["honest"].score == 10
    # Runaway code: the task that misbehaves scores 0, the good task keeps its 5 points.
    for student in ("loop", "forkbomb", "membomb"):
        assert got[student].score == 5, summary[student]
    assert "time limit" in got["loop"].note and "out of memory" in got["membomb"].note
    assert "kernel" in got["suicide"].note and got["suicide"].score == 5, summary["suicide"]
    # Tampering is not run and says why.
    assert got["patcher"].score == 0 and "np.allclose" in got["patcher"].note
    assert got["shadow"].score == 5 and "reference" in got["shadow"].note
    assert got["silencer"].score == 0 and "get_ipython" in got["silencer"].note
    # Edited and deleted test cells come back from the gradebook: the wrong answer fails them.
    assert got["edited-tests"].score == 5 and got["deleted-tests"].score == 5
    # Writes outside the sandbox and the network: refused; the good answers still count.
    assert got["wiper"].score == 10 and got["network"].score == 10
    assert hits == [], "a submission reached a server on the grader's loopback"
    assert grader_file.read_bytes() == before and not outside.exists()
    assert got["garbage"].status == "failed" and "not a valid notebook file" in got["garbage"].note
    # A damaged submission says how it was damaged, not "see the above traceback".
    assert got["copied-cell"].status == "failed" and "appears 2 times" in got["copied-cell"].note
    assert got["relabelled"].status == "failed" and "'add-test' was changed" in got["relabelled"].note

    # The gradebook is intact and every student has a row in the export, with the reason.
    rows = {r["student"]: r for r in exported(course, tmp_path / "grades.csv") if r["assignment"] == ASSIGNMENT}
    assert rows["honest"]["score"] == 10 and rows["honest"]["status"] == "graded"
    assert rows["garbage"]["status"] == "failed" and rows["garbage"]["score"] == 0
    assert rows["relabelled"]["note"] == got["relabelled"].note
    assert set(rows) == set(got)


def test_blank_student_version_is_never_a_pass_when_the_kernel_dies_early(course):
    nb = answered(course, "import os\nos._exit(0)", GOOD_DOUBLE)
    submit(course, "quitter", nb)
    (o,) = autograde(course, ASSIGNMENT, workers=1, progress=False)
    assert o.score == 0 and "kernel" in o.note
    graded = nbformat.read(course.root / "autograded" / "quitter" / ASSIGNMENT / "homework.ipynb", 4)
    tests = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert all(any(out.output_type == "error" for out in c.outputs) for c in tests)


def test_sandbox_uids_are_exclusive_and_cleaned_up():
    import subprocess
    import sys

    from hepcourse.grading.sandbox import claim_uid, kill_all

    first = claim_uid(64500)
    # Another process cannot claim the same uid while this one holds it.
    other = subprocess.run([sys.executable, "-c", "from hepcourse.grading.sandbox import claim_uid; print(claim_uid(64500))"],
                           capture_output=True, text=True, check=True)
    assert int(other.stdout) != first
    # A sandbox uid's processes (here a parent with forked children) are all killed.
    bomb = subprocess.Popen(["setpriv", f"--reuid={first}", f"--regid={first}", "--clear-groups", "--",
                             sys.executable, "-c", "import os, time\nfor _ in range(5): os.fork()\ntime.sleep(60)"])
    deadline = time.monotonic() + 10
    while len(owned(first)) < 32 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(owned(first)) == 32
    assert kill_all(first) >= 32
    bomb.wait(5)
    assert owned(first) == []


def owned(uid):
    return [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]


def test_workers_grade_with_the_callers_environment_of_now(course, monkeypatch):
    """The worker pool's forkserver outlives one autograde: a later call's environment (the data
    folder and scale the kernels read) must still reach the kernels."""
    monkeypatch.setenv("HEPCOURSE_PROBE", "first")
    submit(course, "early", answered(course, GOOD_ADD, GOOD_DOUBLE))
    autograde(course, ASSIGNMENT, ["early"], workers=1, progress=False)
    monkeypatch.setenv("HEPCOURSE_PROBE", "second")
    probe = "import os\nassert os.environ['HEPCOURSE_PROBE'] == 'second'\n" + GOOD_ADD
    submit(course, "late", answered(course, probe, GOOD_DOUBLE))
    (late,) = autograde(course, ASSIGNMENT, ["late"], workers=1, progress=False)
    assert late.score == 10
