"""A root hub's formgrader runs as the grader account, not root (issue: the real deployment).

On a real hub (local mode, run as root as under systemd): a facilitator's formgrader terminal
and kernel run as ``grading.account``; the hub's database and cookie secret, root's home, a
student's home and any container engine socket are refused to them; and the homework cycle
still works from the formgrader (collect, autograde through the grading broker, feedback) and
from the CLI run by the account itself (autograde, export).
"""

import base64
import csv
import io
import json
import os
import pwd
import re
import subprocess
import sys
import time

import nbformat
import pytest
import websocket
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, tiny_homework
from support import assignments_api, logged_in, run_cli, running_hub

from hepcourse.data.store import data_dir

pytestmark = [pytest.mark.hub, pytest.mark.sandbox, pytest.mark.xdist_group("hub"),
              pytest.mark.skipif(os.geteuid() != 0, reason="a root hub is what runs its formgrader as another account")]

ACCOUNT = "hepcourse-grader"
ROSTER = {"instructors": ["prof"], "facilitators": ["ta"], "students": ["alice", "bob"]}
ENGINE_SOCKETS = ["/run/podman/podman.sock", "/run/docker.sock", "/var/run/docker.sock"]


HELDOUT_ASSIGNMENT = "98_heldout"      # its own name: its held-out set is this hub's course's


@pytest.fixture(scope="module")
def hub(tmp_path_factory, ci_data):
    workdir = tmp_path_factory.mktemp("grader")
    for name, notebook in ((ASSIGNMENT, tiny_homework()), (HELDOUT_ASSIGNMENT, heldout_homework())):
        (workdir / "modules" / name).mkdir(parents=True)
        nbformat.write(notebook, workdir / "modules" / name / "homework.ipynb")
    with running_hub(workdir, ROSTER, {"content": {"source": str(workdir / "modules")},
                                       "data": {"dir": str(data_dir()), "scale": "ci"}}) as hub:
        yield hub


def heldout_homework():
    """The hostile suite's homework (a pion score graded on held-out calorimeter showers)."""
    from test_hostile import homework

    nb = homework()
    for cell in nb.cells:
        cell.source = cell.source.replace(ASSIGNMENT, HELDOUT_ASSIGNMENT)
    return nb


def terminal(user, command: str, expect: str, timeout: float = 60) -> str:
    """Run ``command`` in a new terminal of the formgrader; its output once ``expect`` shows."""
    name = user.server("POST", "/terminals", service="formgrader").json()["name"]
    url = user.hub.url.replace("http", "ws", 1) + f"/services/formgrader/terminals/websocket/{name}"
    ws = websocket.create_connection(url, header=[f"Authorization: token {user.token}"], timeout=timeout)
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        out, deadline = "", time.monotonic() + timeout
        while expect not in out and time.monotonic() < deadline:
            kind, *data = json.loads(ws.recv())
            out += data[0] if kind == "stdout" else ""
        return out
    finally:
        ws.close()
        user.server("DELETE", f"/terminals/{name}", service="formgrader")


PROBE = """
import json, os, socket
def probe(path, how):
    try:
        if how == "list":
            os.listdir(path)
        elif how == "connect":
            socket.socket(socket.AF_UNIX).connect(path)
        else:
            open(path, "rb").read(1)
        return "read"
    except PermissionError:
        return "refused"
print(json.dumps({path: probe(path, how) for path, how in %r}))
"""


def test_formgrader_terminal_and_kernel_run_as_the_account_and_cannot_read_the_hubs_secrets(hub):
    alice = logged_in(hub, "alice", spawn=True)
    saved = alice.server("PUT", "/contents/private.txt", json={"type": "file", "format": "text", "content": "mine"})
    assert saved.status_code in (200, 201), saved.text
    ta = logged_in(hub, "ta")
    ta.new_token()

    shown = terminal(ta, "echo user=$(id -un) uid=$(id -u)", f"user={ACCOUNT}")
    assert f"user={ACCOUNT}" in shown and "uid=0" not in shown, shown

    state = hub.workdir / "state"
    targets = [("/root", "list"), (str(state / "jupyterhub.sqlite"), "read"),
               (str(state / "jupyterhub_cookie_secret"), "read"), (str(state / "passwords.yaml"), "read"),
               (str(hub.homes / "alice" / "private.txt"), "read"),
               *((path, "connect") for path in ENGINE_SOCKETS if os.path.exists(path))]
    assert all(os.path.exists(path) for path, _ in targets)       # each is there, for root to read
    found = json.loads(ta.execute(PROBE % targets, service="formgrader"))
    assert found == {path: "refused" for path, _ in targets}
    # No supplementary group either (docker's or podman's socket group): only its own.
    groups = json.loads(ta.execute("import os, json; print(json.dumps([os.getuid(), os.getgroups()]))",
                                   service="formgrader"))
    assert groups[0] != 0 and len(groups[1]) <= 1


def submit(hub, name: str, assignment: str, answers: dict) -> None:
    """Student ``name`` fetches ``assignment``, puts ``answers`` (grade id -> code) in and submits."""
    user = logged_in(hub, name, spawn=True)
    assignments_api(user, "POST", "fetch", course_id="mlhep", assignment_id=assignment)
    path = f"/contents/mlhep/{assignment}/homework.ipynb"
    nb = nbformat.from_dict(user.server("GET", path).json()["content"])
    for cell in nb.cells:
        cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    assert user.server("PUT", path, json={"type": "notebook", "format": "json", "content": nb}).status_code == 200
    assignments_api(user, "POST", "submit", course_id="mlhep", assignment_id=assignment)


def grade_as_account(ta, hub, grading: str, timeout: float) -> dict:
    """Run ``grading`` (hepcourse commands) in the formgrader's terminal, as the account; then
    its grade export, by (student, assignment)."""
    command = (f"{grading} >grading.log 2>&1; echo exit=$?; "
               "echo \"[[$(hepcourse grade export --to - | base64 -w0)]]\"; echo done=$((1 + 1))")
    shown = terminal(ta, f"cd && export HEPCOURSE_SETTINGS={hub.settings_path} && {command}", "done=2", timeout)
    assert "exit=0" in shown, shown
    (encoded,) = re.findall(r"\[\[([A-Za-z0-9+/=]+)\]\]", shown)
    return {(r["student"], r["assignment"]): r for r in csv.DictReader(io.StringIO(base64.b64decode(encoded).decode()))}


def test_cycle_from_the_formgrader_and_from_the_account_cli(hub):
    settings = {"HEPCOURSE_SETTINGS": str(hub.settings_path)}
    released = run_cli("hepcourse", "grade", "release", ASSIGNMENT, env=settings, timeout=300)  # as root
    assert released.returncode == 0, released.stderr
    submit(hub, "alice", ASSIGNMENT, {"add": GOOD_ADD, "double": GOOD_DOUBLE})
    submit(hub, "bob", ASSIGNMENT, {"double": GOOD_DOUBLE})

    ta = logged_in(hub, "ta")
    ta.new_token()
    fg = f"{hub.url}/services/formgrader/formgrader/api"
    headers = {"Authorization": f"token {ta.token}"}

    def call(method, path):
        r = ta.http.request(method, f"{fg}/{path}", headers=headers, timeout=300)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body.get("success", True), body
        return body

    call("POST", f"assignment/{ASSIGNMENT}/collect")
    call("POST", f"submission/{ASSIGNMENT}/alice/autograde")          # the formgrader's button
    # The account's own CLI, in the formgrader's terminal: autograde through the broker, export.
    rows = grade_as_account(ta, hub, f"hepcourse grade autograde {ASSIGNMENT} bob", timeout=300)
    assert {name: float(rows[name, ASSIGNMENT]["score"]) for name in ("alice", "bob")} == {"alice": 10.0, "bob": 5.0}
    call("POST", f"assignment/{ASSIGNMENT}/generate_feedback")
    call("POST", f"assignment/{ASSIGNMENT}/release_feedback")
    feedback = hub.workdir / "state" / "exchange" / "mlhep" / "feedback"
    assert any(feedback.iterdir())
    graded = hub.workdir / "state" / "grading" / "autograded" / "alice" / ASSIGNMENT / "homework.ipynb"
    assert graded.stat().st_uid != 0           # written by the account, not root


ASK = """
import json, os, socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
stream = sock.makefile("rwb")
workdir = None
for request in json.loads(sys.argv[2]):
    if request == "plant":      # a link where the root starter writes the connection file
        try:
            os.symlink("/etc/shadow", os.path.join(workdir, "connection.json"))
            print(json.dumps({"planted": True}))
        except PermissionError:
            print(json.dumps({"error": "cannot write in the sandbox's folder"}))
        continue
    stream.write(json.dumps(request).encode() + b"\\n")
    stream.flush()
    answer = stream.readline().decode().strip()
    workdir = json.loads(answer).get("workdir", workdir)
    print(answer)
"""


def ask_broker(hub, uid: int, requests: list) -> list[dict]:
    """Send ``requests`` over one connection to the hub's grading broker as ``uid``."""
    from hepcourse.config import load_settings
    from hepcourse.grading.broker import socket_path

    socket = socket_path(load_settings(hub.settings_path))
    out = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", ASK,
                          str(socket), json.dumps(requests)], check=False, capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_the_broker_does_only_its_fixed_job_and_only_for_the_account(hub):
    grader = pwd.getpwnam(ACCOUNT).pw_uid
    # Not reachable by anyone else (the socket is the account's, mode 0600).
    assert ask_broker(hub, 64999, [{"op": "open"}]) == []
    (opened, *refusals) = ask_broker(hub, grader, [
        {"op": "open"},
        "plant",
        {"op": "start", "connection": {}, "env": {}},                                     # no ports, no key
        {"op": "start", "connection": PORTS, "env": {"PYTHONPATH": "/tmp/evil"}},         # the root starter's env
        {"op": "start", "connection": PORTS, "env": {"HEPCOURSE_GRADING_INPUTS": "/root"}},  # a mount of root's
        {"op": "signal", "signum": 19},
        {"op": "run", "argv": ["id"]},
    ])
    assert opened["workdir"].startswith("/run/")
    assert [list(r) for r in refusals] == [["error"]] * 6, refusals
    assert "cannot write" in refusals[0]["error"] and "ports" in refusals[1]["error"]
    assert "PYTHONPATH" in refusals[2]["error"] and "held-out inputs" in refusals[3]["error"]
    assert "signal 19" in refusals[4]["error"]
    deadline = time.monotonic() + 30          # the connection closed: the sandbox goes with it
    while os.path.exists(opened["workdir"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(opened["workdir"])


PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "hb_port": 4, "control_port": 5, "key": "a" * 32}


def test_the_broker_copies_held_out_inputs_as_plain_files_only(tmp_path):
    from hepcourse.grading.broker import copy_inputs

    source = tmp_path / "inputs"
    source.mkdir()
    (source / "higgs.npz").write_bytes(b"features")
    (source / "shadow").symlink_to("/etc/shadow")
    (source / "sub").mkdir()
    copy = copy_inputs(source, tmp_path / "sandbox-inputs")
    assert sorted(p.name for p in copy.iterdir()) == ["higgs.npz"]
    assert (copy / "higgs.npz").read_bytes() == b"features" and (copy / "higgs.npz").stat().st_uid == 0
    (tmp_path / "linked").symlink_to(source)
    with pytest.raises(OSError):                 # the folder itself handed over as a link
        copy_inputs(tmp_path / "linked", tmp_path / "again")


def test_a_held_out_homework_grades_through_the_broker(hub):
    """The held-out features reach the sandboxed kernel through the broker's copy, the labels
    stay with the verdict: an honest pion score gets the held-out test's points, a constant not."""
    from test_hostile import HONEST, WRONG

    env = {"HEPCOURSE_SETTINGS": str(hub.settings_path)}
    for args in (("data", "generate", "calorimeter", "--scale", "ci", "--heldout"),
                 ("grade", "release", HELDOUT_ASSIGNMENT)):          # as root, as an operator would
        out = run_cli("hepcourse", *args, env=env, timeout=600)
        assert out.returncode == 0, out.stderr
    submit(hub, "alice", HELDOUT_ASSIGNMENT, HONEST)
    submit(hub, "bob", HELDOUT_ASSIGNMENT, WRONG)
    ta = logged_in(hub, "ta")
    ta.new_token()
    rows = grade_as_account(ta, hub, f"hepcourse grade collect {HELDOUT_ASSIGNMENT} && "
                                     f"hepcourse grade autograde {HELDOUT_ASSIGNMENT}", timeout=600)
    assert float(rows["alice", HELDOUT_ASSIGNMENT]["score"]) == 20.0, rows["alice", HELDOUT_ASSIGNMENT]
    assert float(rows["bob", HELDOUT_ASSIGNMENT]["score"]) == 0.0, rows["bob", HELDOUT_ASSIGNMENT]
