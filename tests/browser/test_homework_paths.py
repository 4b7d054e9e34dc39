"""The homework cycle in the browser: a student fetches, answers, validates and submits from the
Assignments tab; the facilitator's side runs through `hepcourse grade`."""

import os
import subprocess

import nbformat
import pytest
from conftest import login
from support import REPO

from hepcourse.grading.samples import answer_cells, solved
from hepcourse.hubprocess import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
ASSIGNMENT = "01_python"


def grade(hub, *args):
    out = subprocess.run([str(REPO / ".venv" / "bin" / "hepcourse"), "grade", *args], capture_output=True, text=True,
                         env={**os.environ, "HEPCOURSE_SETTINGS": str(hub.settings_path)}, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def open_assignments(page):
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_role("menuitem", name="Assignment List").click()
    page.wait_for_selector("#released_assignments_list")


def save(page):
    """Ctrl+S; JupyterLab may ask whether to overwrite a file fetched a moment before it was
    opened (its clock and the server's disagree by a second): the student's edit wins."""
    page.keyboard.press("Control+S")
    changed = page.locator(".jp-Dialog:has-text('File Changed')")
    saved = page.locator(".jp-StatusBar-TextItem:has-text('Saving completed')")
    changed.or_(saved).first.wait_for()
    if changed.count():
        changed.get_by_role("button", name="Overwrite").click()
        saved.wait_for()


def test_student_fetches_answers_validates_submits_and_reads_feedback(page, hub):
    grade(hub, "release", ASSIGNMENT)
    instructor = nbformat.read(REPO / "modules" / ASSIGNMENT / "homework.ipynb", 4)
    first = answer_cells(instructor)[0]

    login(page, hub, "alice", PASSWORD)
    open_assignments(page)
    page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT).get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT)
    fetched.wait_for()
    # Fetched into the home, course folder first: open it from the file browser's path.
    page.goto(f"{hub.url}/user/alice/lab/tree/mlhep/{ASSIGNMENT}/homework.ipynb")
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')")

    # Answer the first task: replace the stub in its cell with the instructor's answer.
    cell = page.locator(".jp-Notebook .jp-Cell").nth(first)
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(solved(instructor.cells[first].source))
    save(page)

    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=240_000)
    # Later tasks are still unanswered, so validation reports them, not the one just answered.
    text = dialog.inner_text()
    assert "Validation" in text or "failed" in text.lower() or "success" in text.lower(), text
    dialog.get_by_role("button").last.click()

    open_assignments(page)
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT)
    fetched.get_by_role("button", name="Submit").click()
    page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).wait_for()

    inbound = hub.workdir / "state" / "exchange" / "mlhep" / "inbound"
    (submission,) = [p for p in inbound.iterdir() if p.name.startswith(f"alice+{ASSIGNMENT}+")]
    submitted = nbformat.read(submission / "homework.ipynb", 4)
    assert submitted.cells[first].source.strip() == solved(instructor.cells[first].source).strip()

    # The facilitator grades and returns feedback; the student fetches it and reads the score.
    grade(hub, "collect", ASSIGNMENT)
    summary = grade(hub, "autograde", ASSIGNMENT)
    grade(hub, "feedback", ASSIGNMENT)
    (row,) = [line for line in summary.splitlines() if line.startswith("alice")]
    score = row.split()[1]                       # "8 / 100": the first task's tests passed
    assert 0 < float(score) < float(row.split()[3])
    open_assignments(page)
    page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).get_by_role(
        "button", name="Fetch Feedback").click()
    page.wait_for_timeout(2000)
    (stamp,) = (hub.homes / "alice" / "mlhep" / ASSIGNMENT / "feedback").iterdir()
    page.goto(f"{hub.url}/user/alice/files/mlhep/{ASSIGNMENT}/feedback/{stamp.name}/homework.html")
    assert page.get_by_text(f"Score: {float(score):.1f}").count() >= 1
