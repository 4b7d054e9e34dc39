"""Live seminars on the real hub: staff share their server with the students' group; what the
room may do there is decided per request by the user server's SeminarAuthorizer."""

import time

import pytest
from hubdriver import ADMIN_PASSWORD
from support import logged_in, running_hub

from hepcourse.seminar import share_scopes
from hepcourse.singleuser import SeminarAuthorizer

pytestmark = [pytest.mark.hub, pytest.mark.xdist_group("hub")]

ROSTER = {"instructors": ["prof"], "facilitators": ["ta"], "students": ["alice", "bob"]}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("seminar"), ROSTER) as hub:
        yield hub


@pytest.fixture(scope="module")
def prof(hub):
    return logged_in(hub, "prof", ADMIN_PASSWORD, spawn=True)


def share(host, mode):
    """What the landing page's buttons do: revoke, then one share per student."""
    host.api("DELETE", f"/shares/{host.name}/")
    for student in ROSTER["students"]:
        r = host.api("POST", f"/shares/{host.name}/", json={"user": student, "scopes": share_scopes(host.name, mode)})
        assert r.status_code == 200, r.text
    time.sleep(SeminarAuthorizer.refresh_seconds + 1)  # the server re-reads its shares this often


def test_staff_present_the_worked_answers_students_get_the_scaffolds(prof, hub):
    logged_in(hub, "alice", spawn=True)
    seminar = "modules/03_trees/seminar.ipynb"
    assert "### BEGIN SOLUTION" in (hub.homes / "prof" / seminar).read_text()
    given = (hub.homes / "alice" / seminar).read_text()
    assert "### BEGIN SOLUTION" not in given and "pass  # (your code here)" in given


def test_students_cannot_share_their_server(prof, hub):
    alice = logged_in(hub, "alice", spawn=True)
    refused = alice.api("POST", "/shares/alice/", json={"user": "bob"})
    assert refused.status_code == 403
    assert alice.server("GET", "/contents/modules", user="prof").status_code in (403, 404)


def test_without_a_share_the_room_has_no_access(prof, hub):
    prof.api("DELETE", "/shares/prof/")
    bob = logged_in(hub, "bob")
    assert bob.server("GET", "/contents/modules", user="prof").status_code in (403, 404)


def test_follow_lets_the_room_read_and_edit_but_not_run_code(prof, hub):
    share(prof, "follow")
    bob = logged_in(hub, "bob")
    shared = bob.api("GET", "/users/bob/shared").json()["items"]
    assert [s["server"]["user"]["name"] for s in shared] == ["prof"]

    assert bob.server("GET", "/contents/modules/02_intro_ml", user="prof").status_code == 200
    put = bob.server("PUT", "/contents/from-bob.txt", user="prof",
                     json={"type": "file", "format": "text", "content": "hello"})
    assert put.status_code == 201
    assert (hub.homes / "prof" / "from-bob.txt").read_text() == "hello"
    # Kernels and terminals run code as prof: refused.
    assert bob.server("POST", "/kernels", user="prof", json={"name": "python3"}).status_code == 403
    assert bob.server("POST", "/sessions", user="prof", json={
        "path": "x.ipynb", "type": "notebook", "kernel": {"name": "python3"}}).status_code == 403
    assert bob.server("POST", "/terminals", user="prof").status_code == 403
    # The owner is unaffected.
    assert prof.execute("print(1 + 1)") == "2\n"


def test_run_lets_the_room_execute_and_stop_sharing_revokes_everything(prof, hub):
    share(prof, "run")
    bob = logged_in(hub, "bob")
    kernel = bob.server("POST", "/kernels", user="prof", json={"name": "python3"})
    assert kernel.status_code == 201
    assert bob.server("DELETE", f"/kernels/{kernel.json()['id']}", user="prof").status_code == 204

    assert prof.api("DELETE", "/shares/prof/").status_code == 204
    assert logged_in(hub, "bob").server("GET", "/contents/modules", user="prof").status_code in (403, 404)
    # A session that used the share loses it once the server re-checks its token (HubOAuth's
    # cache_max_age, 10 s in hub/singleuser) and its shares.
    time.sleep(max(SeminarAuthorizer.refresh_seconds, 10) + 1)
    assert bob.server("GET", "/contents/modules", user="prof").status_code in (403, 404)


def test_a_facilitator_may_share_too(hub):
    ta = logged_in(hub, "ta", spawn=True)
    share(ta, "follow")
    assert ta.api("DELETE", "/shares/ta/").status_code == 204


def test_instructors_keep_the_use_of_students_servers_and_facilitators_do_not(prof, hub):
    logged_in(hub, "alice", spawn=True)
    assert prof.server("GET", "/contents/modules", user="alice").status_code == 200
    kernel = prof.server("POST", "/kernels", user="alice", json={"name": "python3"})
    assert kernel.status_code == 201
    assert prof.server("DELETE", f"/kernels/{kernel.json()['id']}", user="alice").status_code == 204
    assert logged_in(hub, "ta").server("GET", "/contents/modules", user="alice").status_code in (403, 404)
