"""Students' everyday paths in a real browser."""

import pytest
from conftest import login

from hepcourse.hubprocess import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_student_runs_the_module_02_lecture_and_sees_a_plot(page, hub):
    login(page, hub, "alice", PASSWORD)
    page.goto(f"{hub.url}/user/alice/lab/tree/modules/02_intro_ml/lecture.ipynb")
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
