"""The real thing: a JupyterHub with its proxy, spawner and user servers on loopback."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from hubdriver import ADMIN_PASSWORD, PASSWORD, HubProcess, HubUser, TrackedProcess
from support import logged_in, run_cli, running_hub

from hepcourse.config import hub_api_port, load_settings

pytestmark = [pytest.mark.hub, pytest.mark.xdist_group("hub")]

CLASS = [f"s{i}" for i in range(6)]  # students who start their servers at the same moment
ROSTER = {"instructors": ["prof"], "facilitators": ["ta"], "students": ["alice", "bob", "dora", *CLASS]}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hub"), ROSTER) as hub:
        yield hub


@pytest.fixture(scope="module")
def alice(hub):
    user = logged_in(hub, "alice")
    user.spawn()
    return user


def test_student_gets_the_course_in_her_home(alice, hub):
    listing = alice.server("GET", "/contents/modules/01_python").json()
    names = {item["name"] for item in listing["content"]}
    assert {"README.md", "lecture.ipynb"} <= names
    assert not any(n.startswith("homework") for n in names)  # homework comes through nbgrader
    modules = {item["name"] for item in alice.server("GET", "/contents/modules").json()["content"]}
    assert {"01_python", "02_intro_ml", "03_trees", "04_neural_nets", "05_cv_generative", "06_ml_in_hep"} <= modules
    assert (hub.homes / "alice" / "modules" / "01_python" / "lecture.ipynb").exists()


def test_a_cell_executes_in_a_kernel(alice):
    out = alice.execute("import os, numpy\nprint(os.environ['HOME'].split('/')[-1])\nint(numpy.arange(5).sum())")
    assert out == "alice\n10"


def test_kernels_yield_to_their_server_and_servers_to_the_hub(alice, hub):
    """A class's kernels computing at once must not starve the servers' and the hub's replies."""
    kernel, server = alice.execute("import os, psutil\nprint(os.nice(0), psutil.Process().parent().nice())").split()
    hub_niceness = psutil.Process(hub.proc.pid).nice()
    assert int(server) == min(19, hub_niceness + 5)
    assert int(kernel) == min(19, int(server) + 10)
    if Path("/proc/self/autogroup").exists():   # Linux shares the CPU between sessions first
        groups = alice.execute("import os\nfor pid in ('self', os.getppid()): print(open(f'/proc/{pid}/autogroup').read().split()[-1])")
        assert groups.split() == [kernel, server]    # "/autogroup-N nice K": the session's niceness


def test_a_kernels_ports_are_noted_for_the_machines_other_servers(alice):
    out = alice.execute("import json, ipykernel.connect, hepcourse.singleuser\n"
                        "info = json.loads(ipykernel.connect.get_connection_info())\n"
                        "noted = hepcourse.singleuser.kernel_ports_folder()\n"
                        "print(all((noted / str(info[k])).exists() for k in info if k.endswith('_port')))")
    assert out == "True\n"


def test_jupyterlab_is_the_ui_without_the_news_popup(alice):
    page = alice.open_lab()
    assert page.status_code == 200 and page.url.endswith("/user/alice/lab")
    config = json.loads(page.text.split('id="jupyter-config-data" type="application/json">')[1].split("</script>")[0])
    assert config["news"] == {"disabled": True}  # no fetching from jupyter.org ...
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"]  # ... no popup


def test_servers_started_together_each_get_their_own_port_and_route(hub):
    students = [logged_in(hub, name) for name in CLASS]
    with ThreadPoolExecutor(len(students)) as pool:
        list(pool.map(lambda user: user.spawn(180), students))
    prof = logged_in(hub, "prof", ADMIN_PASSWORD)
    routes = prof.api("GET", "/proxy").json()
    targets = {routes[f"/user/{name}/"]["target"] for name in CLASS}
    assert len(targets) == len(CLASS), routes
    homes = {}
    for user in students:   # each route reaches its owner's server: another's would refuse the token
        homes[user.name] = user.server("GET", "/contents").status_code
        assert user.api("DELETE", f"/users/{user.name}/server").status_code in (202, 204)
    assert homes == dict.fromkeys(CLASS, 200)


def test_groups_follow_the_roster(hub):
    prof = logged_in(hub, "prof", ADMIN_PASSWORD)
    users = {u["name"]: u for u in prof.api("GET", "/users").json()}
    assert users["prof"]["admin"] and not users["ta"]["admin"]
    assert users["alice"]["groups"] == ["nbgrader-mlhep"]
    ta = logged_in(hub, "ta")
    assert ta.api("GET", "/users/ta").json()["groups"] == ["formgrade-mlhep"]


def test_student_is_refused_instructor_endpoints(alice, hub):
    assert alice.api("GET", "/users").status_code == 403  # the class list
    assert alice.http.get(f"{hub.url}/hub/admin", timeout=10).status_code == 403
    # Reading or starting another user's things: 404, not even confirming that bob exists.
    assert alice.api("GET", "/users/bob").status_code == 404
    assert alice.api("POST", "/users/bob/server").status_code == 404
    assert alice.api("DELETE", "/users/bob").status_code == 403
    prof = HubUser(hub, "prof")
    prof.login(ADMIN_PASSWORD)
    bob = prof.api("GET", "/users/bob").json()
    assert bob["name"] == "bob" and bob["server"] is None  # untouched


def test_student_cannot_use_another_students_server(hub, alice):
    bob = logged_in(hub, "bob")
    bob.spawn()
    refused = alice.server("GET", "/contents", user="bob")
    assert refused.status_code == 403


@pytest.mark.parametrize("name, password", [
    ("mallory", PASSWORD),  # not on the roster
    ("alice", "wrong-password"),
    ("prof", PASSWORD),  # instructors need the admin password
])
def test_bad_logins_are_refused(hub, name, password):
    response = HubUser(hub, name).login(password)
    assert response.status_code == 403
    assert "Invalid username or password" in response.text


def test_ctrl_c_on_the_launcher_stops_everything(tmp_path):
    """`make run` + Ctrl-C: the hub, proxy, culler, user servers and kernels all go, quickly,
    even when the launcher inherited an ignored SIGINT (as from a background shell)."""
    hub = HubProcess(tmp_path, ROSTER)  # writes settings and roster; the launcher starts it
    launcher = subprocess.Popen(
        ["sh", "-c", f"trap '' INT; exec {sys.executable} -m hepcourse.cli hub"],  # SIGINT ignored
        env={**os.environ, "HEPCOURSE_SETTINGS": str(hub.settings_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    hub.proc = launcher  # so that HubProcess.processes() and stop() cover the launcher's tree
    try:
        banner = []
        for line in launcher.stdout:
            banner.append(line)
            if "Stop with Ctrl-C" in line:
                break
        assert any(f"Open {hub.url}" in line for line in banner), "".join(banner)
        alice = HubUser(hub, "alice")
        alice.login(PASSWORD)
        alice.spawn()
        assert alice.server("POST", "/kernels", json={"name": "python3"}).status_code == 201  # left running
        tree = hub.processes()
        assert len(tree) >= 6  # launcher, hub, proxy, culler, alice's server, her kernel
        os.killpg(launcher.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert launcher.wait(timeout=120) == 0   # bounds for a busy machine, not a speed goal
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert not alive, alive
        assert "hepcourse: hub stopped." in launcher.stdout.read()
    finally:
        hub.stop()  # only does anything if the test failed half-way


def test_the_culler_stops_an_idle_server_and_keeps_a_working_student(tmp_path):
    with running_hub(tmp_path, {"instructors": ["prof"], "students": ["idle", "busy"]},
                     {"hub": {"idle_timeout": 20}}) as hub:
        idle, busy = logged_in(hub, "idle", spawn=True), logged_in(hub, "busy", spawn=True)
        deadline = time.monotonic() + 90   # culled within 1.1 timeouts (22 s) once it is idle
        while idle.api("GET", "/users/idle").json().get("server") and time.monotonic() < deadline:
            assert busy.execute("6 * 7") == "42"   # a cell every few seconds
            time.sleep(2)
        assert not idle.api("GET", "/users/idle").json().get("server"), "the idle server was not culled"
        assert busy.api("GET", "/users/busy").json().get("server"), "the working student was culled"


def test_a_hub_crash_costs_no_student_anything(tmp_path):
    """kill -9 of the hub, then a restart: every running server reattaches and every kernel keeps
    its variables; the crashed hub's services are replaced, never duplicated."""
    students = ["ana", "ben", "cem"]
    with running_hub(tmp_path, {"instructors": ["prof"], "students": students}) as hub:
        kernels = {}
        for name in students:
            user = logged_in(hub, name, spawn=True)
            kernels[name] = (user, user.start_kernel())
            user.execute(f"work = {name!r} * 2", kernel=kernels[name][1])
        hub.proc.kill()
        hub.proc.wait()
        hub.start()
        database = sqlite3.connect(hub.workdir / "state" / "jupyterhub.sqlite")   # commits unsynced: hepcourse.hubdb
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        database.close()
        for name, (user, kernel) in kernels.items():
            assert user.execute("print(work)", kernel=kernel) == f"{name * 2}\n"
            assert user.server("GET", "/contents/modules").status_code == 200
        broker = ["grading-broker"] if os.geteuid() == 0 else []    # a root hub's (hepcourse.grading.broker)
        assert services_of(load_settings(hub.settings_path)) == sorted(["formgrader", "idle-culler", *broker])


def test_stopping_a_hub_that_ended_on_its_own_stops_what_it_left_running(tmp_path):
    """Its proxy, services and users' servers are no longer its children: found by their folder,
    or they would outlive the test (as they did after hubs that failed during their start)."""
    hub = HubProcess(tmp_path, {"instructors": ["prof"], "students": ["ana"]})
    hub.start()
    logged_in(hub, "ana", spawn=True)
    left = [TrackedProcess(p) for p in hub.processes()[1:]]
    hub.proc.kill()
    hub.proc.wait()
    hub.stop()
    assert len(left) >= 3 and not [t.describe() for t in left if t.running()]   # proxy, services, ana's
    assert services_of(load_settings(hub.settings_path)) == []


def services_of(settings: dict) -> list[str]:
    """The services running for the hub of ``settings`` (they call its API), by name."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if env.get("JUPYTERHUB_SERVICE_NAME") and urlsplit(env["JUPYTERHUB_API_URL"]).port == hub_api_port(settings):
                found.append(env["JUPYTERHUB_SERVICE_NAME"])
    return sorted(found)


def test_class_prestart_starts_every_students_server_before_they_log_in(tmp_path):
    students = ["ana", "ben", "cem"]
    with running_hub(tmp_path, {"instructors": ["prof"], "students": students},
                     {"hub": {"concurrent_spawn_limit": 2}}) as hub:    # the hub paces it (429s)
        out = run_cli("hepcourse", "class", "prestart", env={"HEPCOURSE_SETTINGS": str(hub.settings_path)},
                      timeout=300)
        assert out.returncode == 0, out.stderr
        assert "3 of 3 servers ready" in out.stderr
        assert [line.split()[:2] for line in out.stdout.splitlines()[2:]] == [[s, "started"] for s in students]
        again = run_cli("hepcourse", "class", "prestart", "--users", "ana", env={"HEPCOURSE_SETTINGS": str(hub.settings_path)})
        assert again.stdout.splitlines()[2].split()[:2] == ["ana", "running"]
        ana = logged_in(hub, "ana")                     # no spawn: her lab is there at once
        assert ana.open_lab().url.endswith("/user/ana/lab")
        refused = run_cli("hepcourse", "class", "prestart", "--users", "prof", env={"HEPCOURSE_SETTINGS": str(hub.settings_path)})
        assert refused.returncode == 2 and "not students on the roster: prof" in refused.stderr


def test_students_beyond_the_hubs_limits_are_told_to_try_again(tmp_path):
    """Over a spawn limit a student gets JupyterHub's 429 with when to come back, at once, never
    a start that times out: one start at a time and two servers at most here."""
    students = ["ana", "ben", "cem"]
    with running_hub(tmp_path, {"instructors": ["prof"], "students": students},
                     {"hub": {"concurrent_spawn_limit": 1, "active_server_limit": 2}}) as hub:
        ana, ben, cem = (logged_in(hub, name) for name in students)
        assert ana.api("POST", "/users/ana/server").status_code == 202    # starting (seconds of CPU)
        busy = ben.api("POST", "/users/ben/server")
        assert busy.status_code == 429 and "Try again in" in busy.json()["message"], busy.text
        ana.wait_ready(120)
        ben.spawn()
        full = cem.api("POST", "/users/cem/server")
        assert full.status_code == 429 and "Try again in a few minutes" in full.json()["message"], full.text


def test_start_my_server_is_answered_at_once_with_progress(hub):
    user = logged_in(hub, "dora")
    r = user.api("POST", "/users/dora/server")
    assert r.status_code == 202            # not 201 after the hub's slow-spawn wait of up to 10 s
    events = []
    with user.http.get(f"{hub.url}/hub/api/users/dora/server/progress", headers={"X-XSRFToken": user.xsrf},
                       stream=True, timeout=120) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
    assert any(e.get("message") == "Your server is starting" for e in events)
    assert events[-1].get("ready"), events[-1]
