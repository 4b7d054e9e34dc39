"""The facilitator's whole homework cycle on the real hub (local mode): `hepcourse grade`
releases, three roster students fetch and submit from their own servers through nbgrader's
Assignments API (what the Assignments tab calls), the facilitator collects, autogrades
(sandboxed), returns feedback, the students fetch it, and the grades are exported. Formgrader
runs as a hub service for graders only; students have none of its UI."""

import csv
import json

import nbformat
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, page_text, tiny_homework
from hubdriver import ADMIN_PASSWORD
from support import assignments_api, logged_in, run_cli, running_hub

pytestmark = [pytest.mark.hub, pytest.mark.xdist_group("hub")]

ROSTER = {"instructors": ["prof"], "facilitators": ["ta"], "students": ["alice", "bob", "carol"]}
ANSWERS = {"alice": (GOOD_ADD, GOOD_DOUBLE), "bob": (GOOD_ADD, None), "carol": (None, None)}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cycle")
    modules = workdir / "modules" / ASSIGNMENT
    modules.mkdir(parents=True)
    nbformat.write(tiny_homework(), modules / "homework.ipynb")
    with running_hub(workdir, ROSTER, {"content": {"source": str(workdir / "modules")}}) as hub:
        yield hub


def grade(hub, *args):
    out = run_cli("hepcourse", "grade", *args, env={"HEPCOURSE_SETTINGS": str(hub.settings_path)}, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_release_fetch_submit_collect_autograde_feedback_export(hub, tmp_path):
    assert "released" in grade(hub, "release", ASSIGNMENT)
    students = {}
    for name, (add, double) in ANSWERS.items():
        user = logged_in(hub, name)
        user.spawn()
        listed = assignments_api(user, "GET", course_id="mlhep")
        assert [(a["assignment_id"], a["status"]) for a in listed] == [(ASSIGNMENT, "released")]
        assignments_api(user, "POST", "fetch", course_id="mlhep", assignment_id=ASSIGNMENT)
        path = f"/contents/mlhep/{ASSIGNMENT}/homework.ipynb"
        nb = nbformat.from_dict(user.server("GET", path).json()["content"])
        assert "BEGIN SOLUTION" not in nbformat.writes(nb)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id == "add" and add:
                cell.source = add
            if grade_id == "double" and double:
                cell.source = double
        saved = user.server("PUT", path, json={"type": "notebook", "format": "json", "content": nb})
        assert saved.status_code == 200, saved.text
        assignments_api(user, "POST", "submit", course_id="mlhep", assignment_id=ASSIGNMENT)
        students[name] = user

    assert "3 submissions collected: alice, bob, carol" in grade(hub, "collect", ASSIGNMENT)
    summary = grade(hub, "autograde", ASSIGNMENT)
    assert "3 submissions, 0 failed" in summary
    assert "feedback generated and released" in grade(hub, "feedback", ASSIGNMENT)

    expected = {"alice": 10, "bob": 5, "carol": 0}
    for name, user in students.items():
        assignments_api(user, "POST", "fetch_feedback", course_id="mlhep", assignment_id=ASSIGNMENT)
        feedback = user.server("GET", f"/contents/mlhep/{ASSIGNMENT}/feedback").json()["content"]
        (stamp,) = feedback
        html = user.server("GET", f"/contents/{stamp['path']}/homework.html").json()["content"]
        assert f"Score: {expected[name]:.1f} / 10.0" in html, name
        assert "HIDDEN TESTS" not in html and "add(-1, 1)" not in page_text(html), name   # what students get

    export = tmp_path / "grades.csv"
    grade(hub, "export", "--to", str(export))
    rows = {r["student"]: r for r in csv.DictReader(export.open())}
    assert {name: float(rows[name]["score"]) for name in expected} == expected
    assert all(rows[name]["status"] == "graded" for name in expected)


def test_a_module_added_while_the_hub_runs_is_on_the_course_page(hub):
    """A facilitator drops a module folder into the modules folder: the course page shows it at
    the next view (title from its README, its notebooks, its homework), no restart."""
    import shutil

    from support import REPO

    module = hub.workdir / "modules" / "07_nbgrader_ps1"
    module.mkdir()
    try:
        (module / "README.md").write_text("# Module 7 — nbgrader's example problem set\n")
        nbformat.write(nbformat.v4.new_notebook(), module / "lecture.ipynb")
        shutil.copy(REPO / "tests" / "data" / "nbgrader-ps1" / "problem1.ipynb", module / "homework.ipynb")
        page = logged_in(hub, "alice").http.get(f"{hub.url}/hub/home", timeout=60)
        assert page.status_code == 200
        row = page_text(page.text.split("Module 7")[1].split("</tr>")[0])
        assert "nbgrader's example problem set" in row and "lecture" in row and "homework: Assignment List" in row
        assert "lab/tree/modules/07_nbgrader_ps1/lecture.ipynb" in page.text.replace("%2F", "/")
    finally:
        shutil.rmtree(module)


def test_formgrader_is_a_service_for_graders_only(hub):
    ta = logged_in(hub, "ta")
    page = ta.http.get(f"{hub.url}/services/formgrader/formgrader", timeout=60)
    assert page.status_code == 200 and "formgrader" in page.text.lower()
    # Embeddable in its own JupyterLab (JupyterHub's default `frame-ancestors 'none'` would
    # leave formgrader's panel blank), and nowhere else.
    assert page.headers["Content-Security-Policy"].startswith("frame-ancestors 'self'")
    lab = ta.http.get(f"{hub.url}/services/formgrader/lab", timeout=60)
    config = json.loads(lab.text.split('id="jupyter-config-data" type="application/json">')[1].split("</script>")[0])
    assert "@jupyter/nbgrader:formgrader" not in config["disabledExtensions"]
    prof = logged_in(hub, "prof", ADMIN_PASSWORD)
    assert prof.http.get(f"{hub.url}/services/formgrader/formgrader", timeout=60).status_code == 200

    alice = logged_in(hub, "alice")
    assert alice.http.get(f"{hub.url}/services/formgrader/formgrader", timeout=60).status_code == 403


def test_students_have_the_assignments_tab_and_no_grading_ui(hub):
    alice = logged_in(hub, "alice")
    if alice.api("GET", "/users/alice").json()["server"] is None:
        alice.spawn()
    config = json.loads(alice.open_lab().text.split('id="jupyter-config-data" type="application/json">')[1]
                        .split("</script>")[0])
    disabled = config["disabledExtensions"]
    for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list"):
        assert plugin in disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    token = {"Authorization": f"token {alice.new_token()}"}
    assert alice.http.get(f"{hub.url}/user/alice/formgrader", headers=token, timeout=30).status_code == 404
    assert alice.http.get(f"{hub.url}/user/alice/assignments", params={"course_id": "mlhep"},
                          headers=token, timeout=60).status_code == 200


def test_grading_state_is_private_and_the_exchange_shared(hub):
    state = hub.workdir / "state"
    assert oct((state / "grading").stat().st_mode & 0o7777) == "0o700"   # gradebook, hidden tests
    assert oct((state / "exchange").stat().st_mode & 0o7777) == "0o1777"  # nbgrader's exchange
