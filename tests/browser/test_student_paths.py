"""Students' everyday paths in a real browser."""

import pytest
from conftest import login
from hubdriver import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_student_lands_on_the_course_page_and_the_login_is_branded(page, hub):
    page.goto(f"{hub.url}/hub/login")
    assert page.locator("#course-brand h1").inner_text() == "Machine Learning in High-Energy Physics"
    assert page.title().startswith("Machine Learning in High-Energy Physics")
    login(page, hub, "alice", PASSWORD, lab=False)
    rows = page.locator("#modules tr")
    assert rows.count() == 6 and rows.first.inner_text().startswith("Module 1")
    assert page.locator("#seminar-host").count() == 0  # students get no sharing controls
    assert page.locator("#live-list").inner_text() == "Nothing is shared with you right now."


def test_student_runs_the_module_02_lecture_and_sees_a_plot(page, hub):
    login(page, hub, "alice", PASSWORD, lab=False)
    # From the landing page's module list straight into the notebook.
    page.locator("#modules tr", has_text="Module 2").get_by_role("link", name="lecture").click()
    page.wait_for_url("**/user/alice/lab/tree/modules/02_intro_ml/lecture.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')")   # kernel connected
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Every code cell has run (a number in its prompt) and matplotlib figures are in the page.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
        ".every(p => /\\[\\d+\\]/.test(p.textContent))", timeout=240_000)
    assert page.locator(".jp-OutputArea-output img").count() >= 1
    page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()   # for the screenshot
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] :text('Traceback')").count() == 0
    assert page.locator(".jp-OutputArea-output .jp-RenderedText:has-text('Traceback')").count() == 0


def test_student_is_refused_formgrader_and_another_students_server(page, hub):
    login(page, hub, "alice", PASSWORD)
    response = page.goto(f"{hub.url}/services/formgrader/formgrader")
    assert response.status == 403
    assert page.locator("text=403").count() >= 1
    response = page.goto(f"{hub.url}/user/bob/lab")
    assert response.status in (403, 404)
    assert page.locator(f"text={response.status}").count() >= 1
