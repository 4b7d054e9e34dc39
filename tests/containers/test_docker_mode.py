"""docker mode for real: the hub (DockerSpawner) against podman's Docker API, the slim course
image (`make test-containers` builds it), two students in their own containers."""

import os
import subprocess
import time

import pytest
from hubdriver import ADMIN_PASSWORD
from support import REPO, container_engine, logged_in, remove_homes, running_hub

from hepcourse.config import load_settings
from hepcourse.uids import uid_of

pytestmark = [pytest.mark.containers, pytest.mark.xdist_group("containers")]
IMAGE = "localhost/hepcourse/singleuser-test"
NETWORK = "hepcourse-test"
ROSTER = {"instructors": ["prof"], "facilitators": [], "students": ["alice", "bob"]}


@pytest.fixture(scope="module")
def engine():
    with container_engine(IMAGE, NETWORK) as found:
        yield found


@pytest.fixture(scope="module")
def hub(engine, tmp_path_factory):
    client, host = engine
    workdir = tmp_path_factory.mktemp("docker-mode")
    data = workdir / "data"
    data.mkdir()
    (data / "README").write_text("course datasets\n")
    volumes = f"hepcourse-test-{workdir.name}-"
    try:
        with running_hub(workdir, ROSTER, {
            "mode": "docker",
            "data": {"dir": str(data)},
            "docker": {"image": IMAGE, "network": NETWORK, "hub_connect_ip": host, "mem_limit": "1G",
                       "cpu_limit": 1, "volume": volumes + "{username}"},
        }) as hub:
            yield hub
        # The hub stopped its users' containers (DockerSpawner.remove): none is left.
        assert not client.containers.list(all=True, filters={"network": NETWORK})
    finally:
        remove_homes(client, volumes)


def student(hub, name):
    """A logged-in student whose server is running (started if it is not)."""
    return logged_in(hub, name, spawn=True, timeout=180)


def stop_server(user):
    assert user.api("DELETE", f"/users/{user.name}/server").status_code in (202, 204)
    deadline = time.monotonic() + 60
    while user.api("GET", f"/users/{user.name}").json().get("server") and time.monotonic() < deadline:
        time.sleep(0.5)


def container_of(client, name):
    (container,) = client.containers.list(filters={"name": f"jupyter-{name}"})
    return container


def test_students_get_the_course_in_their_own_container(hub, engine):
    client, _ = engine
    alice, bob = student(hub, "alice"), student(hub, "bob")
    for user in (alice, bob):
        names = {i["name"] for i in user.server("GET", "/contents/modules").json()["content"]}
        assert {"01_python", "06_ml_in_hep"} <= names
        out = user.execute("import os\nprint(os.getuid(), os.environ['JUPYTERHUB_USER'])\n6 * 7")
        settings = load_settings(hub.settings_path)
        assert out == f"{uid_of(user.name, settings['hub']['state_dir'])} {user.name}\n42"
    container = container_of(client, "alice")
    assert container.attrs["HostConfig"]["Memory"] == 1024**3
    checks = alice.execute(
        "import os, errno\n"
        "socks = [p for p in ('/var/run/docker.sock', '/run/docker.sock', '/run/podman/podman.sock') if os.path.exists(p)]\n"
        "try:\n    open('/srv/hepcourse/data/x', 'w')\n    ro = False\nexcept OSError as e:\n    ro = e.errno == errno.EROFS\n"
        "print(socks, 'DOCKER_HOST' in os.environ, ro, open('/srv/hepcourse/data/README').read().strip(), sorted(os.listdir('/home')))")
    assert checks == "[] False True course datasets ['jovyan']\n"


def test_student_files_survive_server_and_hub_restarts(hub):
    alice = student(hub, "alice")
    note = {"type": "file", "format": "text", "content": "my notes\n"}
    assert alice.server("PUT", "/contents/notes.txt", json=note).status_code in (200, 201)
    stop_server(alice)                      # the container is removed; the home volume stays
    alice = student(hub, "alice")
    assert alice.server("GET", "/contents/notes.txt").json()["content"] == "my notes\n"
    stop_server(alice)
    assert not hub.stop()
    hub.start()
    alice = student(hub, "alice")
    assert alice.server("GET", "/contents/notes.txt").json()["content"] == "my notes\n"


@pytest.fixture(scope="module")
def bobs_submission(hub):
    """01_python released, and bob's copy of it submitted from his container."""
    subprocess.run([str(REPO / ".venv/bin/hepcourse"), "grade", "release", "01_python"], check=True,
                   env={**os.environ, "HEPCOURSE_SETTINGS": str(hub.settings_path)}, capture_output=True)
    bob = student(hub, "bob")
    for action in ("fetch", "submit"):
        r = bob.http.post(f"{hub.url}/user/bob/assignments/{action}",
                          data={"course_id": "mlhep", "assignment_id": "01_python"},
                          headers={"Authorization": f"token {bob.token or bob.new_token()}"}, timeout=120)
        assert r.json()["success"], r.text


def test_a_student_cannot_read_anothers_home_or_submission(hub, bobs_submission):
    alice = student(hub, "alice")
    inbound = "/srv/nbgrader/exchange/mlhep/inbound"
    settings = load_settings(hub.settings_path)
    (bobs,) = [p.name for p in (hub.workdir / "state" / "exchange" / "mlhep" / "inbound").iterdir()]
    assert bobs.startswith("bob+")
    out = alice.execute(
        "import os\nresults = []\n"
        f"for attempt in (lambda: os.listdir({inbound!r}), lambda: os.listdir({inbound + '/' + bobs!r}),\n"
        f"                lambda: open({inbound + '/' + bobs + '/homework.ipynb'!r}).read()):\n"
        "    try:\n        attempt()\n        results.append('read')\n"
        "    except PermissionError:\n        results.append('refused')\n"
        "print(results)")
    assert out == "['refused', 'refused', 'refused']\n"
    assert uid_of("alice", settings["hub"]["state_dir"]) != uid_of("bob", settings["hub"]["state_dir"])


def test_the_formgrader_account_collects_and_autogrades_in_throwaway_containers(hub, bobs_submission):
    """The real deployment's grading path: the formgrader (the grader account, not root)
    collects bob's submission (his uid, verified) and autogrades it in a container of the course
    image, which the grading broker starts."""
    prof = logged_in(hub, "prof", ADMIN_PASSWORD)
    prof.new_token()
    assert prof.execute("import os; print(os.getuid() != 0)", service="formgrader") == "True\n"
    api = f"{hub.url}/services/formgrader/formgrader/api"
    for path in ("assignment/01_python/collect", "submission/01_python/bob/autograde"):
        r = prof.http.post(f"{api}/{path}", headers={"Authorization": f"token {prof.token}"}, timeout=600)
        assert r.status_code == 200 and r.json()["success"], r.text
    graded = hub.workdir / "state" / "grading" / "autograded" / "bob" / "01_python" / "homework.ipynb"
    assert graded.stat().st_uid != 0
    submission = prof.http.get(f"{api}/submission/01_python/bob", headers={"Authorization": f"token {prof.token}"},
                               timeout=60).json()
    assert submission["autograded"] and submission["max_score"] > 0, submission


def test_seminar_push_reaches_every_home_volume(hub):
    alice, bob = student(hub, "alice"), student(hub, "bob")
    seminar = "modules/04_neural_nets/seminar.ipynb"
    mine = {"type": "notebook", "content": {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "my notes"}],
                                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    assert alice.server("PUT", f"/contents/{seminar}", json=mine).status_code in (200, 201)
    assert bob.server("DELETE", f"/contents/{seminar}").status_code == 204
    out = subprocess.run([str(REPO / ".venv/bin/hepcourse"), "seminar", "push", "04_neural_nets"], text=True,
                         env={**os.environ, "HEPCOURSE_SETTINGS": str(hub.settings_path)}, capture_output=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()[2:]}
    assert rows["alice"][0] == "beside" and rows["bob"] == ["added", seminar]
    # Inside the containers: alice's copy untouched, the fresh one beside it; bob's back, his own.
    assert alice.server("GET", f"/contents/{seminar}").json()["content"]["cells"][0]["source"] == "my notes"
    assert alice.server("GET", f"/contents/{rows['alice'][1]}").json()["type"] == "notebook"
    owner = bob.execute(f"import os\nprint(os.stat({seminar!r}).st_uid == os.getuid())")
    assert owner == "True\n"
