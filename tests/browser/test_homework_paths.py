"""The homework cycle in the browser: a student fetches, answers, validates and submits from the
Assignments tab; the facilitator collects, autogrades (the sandboxed pipeline, through
grading/nbgrader_config.py) and releases feedback in formgrader; the student reads the score."""

import os
import subprocess
from typing import NamedTuple

import nbformat
import pytest
from conftest import ARTIFACTS, login
from hubdriver import PASSWORD
from support import REPO

from hepcourse.grading.samples import answer_cells, solved

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


class Score(NamedTuple):
    points: float
    total: float


def formgrader_cycle(browser, hub, student) -> Score:
    """Collect, autograde ``student``, generate and release feedback: formgrader's buttons."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(240_000)
    try:
        login(page, hub, "ta", PASSWORD, lab=False)
        page.goto(f"{hub.url}/services/formgrader/formgrader")

        def click_and_confirm(locator, message):
            locator.click()
            page.get_by_text(message).wait_for()
            page.locator(".modal-footer button").first.click()
            page.get_by_text(message).wait_for(state="hidden")

        row = page.locator("tr", has_text=ASSIGNMENT)
        click_and_confirm(row.locator("td.collect a"), f"Successfully collected submissions of '{ASSIGNMENT}'.")
        row.locator("td.num-submissions a").click()
        submission = page.locator("tr", has_text=student)
        click_and_confirm(submission.locator("td.autograde a"),
                          f"Successfully autograded '{ASSIGNMENT}' for student '{student}'.")
        page.reload()
        points, total = submission.locator("td.score").inner_text().split(" / ")
        page.goto(f"{hub.url}/services/formgrader/formgrader")
        click_and_confirm(row.locator("td.generate-feedback a"), f"Successfully generated feedback of '{ASSIGNMENT}'.")
        click_and_confirm(row.locator("td.release-feedback a"), f"Successfully released feedback of '{ASSIGNMENT}'.")
        return Score(float(points), float(total))
    finally:
        page.screenshot(path=str(ARTIFACTS / "formgrader-after-feedback.png"))
        context.close()


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

    # The facilitator grades and returns feedback in formgrader, in a browser of their own.
    score = formgrader_cycle(page.context.browser, hub, "alice")
    assert 0 < score.points < score.total   # the first task's tests passed, the rest not
    open_assignments(page)
    page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).get_by_role(
        "button", name="Fetch Feedback").click()
    page.wait_for_timeout(2000)
    (stamp,) = (hub.homes / "alice" / "mlhep" / ASSIGNMENT / "feedback").iterdir()
    page.goto(f"{hub.url}/user/alice/files/mlhep/{ASSIGNMENT}/feedback/{stamp.name}/homework.html")
    assert page.get_by_text(f"Score: {score.points:.1f}").count() >= 1
