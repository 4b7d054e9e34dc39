"""An instructor runs a seminar live: a lecture as slides (RISE), the seminar notebook shared
with the room, a student following the instructor's edits as they are typed (and editing too)."""

import pytest
from conftest import ARTIFACTS, login, open_in_lab
from hubdriver import ADMIN_PASSWORD, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SEMINAR = "modules/02_intro_ml/seminar.ipynb"


def seminar_cells(page):
    """Code cells of the seminar's panel (the shared workspace may show other notebooks too)."""
    return page.locator(".jp-NotebookPanel", has_text="Seminar notebook").locator(".jp-CodeCell")


@pytest.fixture
def two_pages(browser):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    for p in pages:
        p.set_default_timeout(60_000)
    yield pages
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for who, p in zip(("instructor", "student"), pages):
        p.screenshot(path=str(ARTIFACTS / f"live-seminar-{who}.png"))
    for c in contexts:
        c.close()


def test_instructor_presents_a_lecture_as_slides(page, hub):
    login(page, hub, "prof", ADMIN_PASSWORD)
    open_in_lab(page, hub, "prof", "lab/tree/modules/04_neural_nets/lecture.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    # RISE's toolbar button: the slides beside the notebook (a frame of the server's own page).
    page.locator(".jp-NotebookPanel-toolbar [data-command='RISE:preview']").click()
    page.frame_locator("iframe").first.locator(".reveal .slides section.present").first.wait_for()
    # Full screen for the room: the same slideshow page on its own, a slide per section.
    page.goto(f"{hub.url}/user/prof/rise/modules/04_neural_nets/lecture.ipynb")
    page.wait_for_selector(".reveal .slides section.present")
    assert page.locator(".reveal .slides > section").count() >= 5
    assert "Module 4" in page.locator(".reveal .slides section.present").first.inner_text()
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(".reveal .slides section.present:has-text('1. The perceptron')")
    page.wait_for_timeout(1000)  # the slide transition, for the screenshot


def test_instructor_shares_the_seminar_and_a_student_follows_edits_live(two_pages, hub):
    prof, alice = two_pages
    login(prof, hub, "prof", ADMIN_PASSWORD, lab=False)
    prof.click("#share-follow")
    prof.wait_for_selector("#share-status:has-text('Shared with 2 student(s)')")
    open_in_lab(prof, hub, "prof", f"lab/tree/{SEMINAR}")
    seminar_cells(prof).first.wait_for()

    login(alice, hub, "alice", PASSWORD, lab=False)
    join = alice.locator("#live-list a.join-link")
    assert join.inner_text() == "Join prof's live session"
    assert "follow and edit" in alice.locator("#live-list").inner_text()
    join.click()
    alice.get_by_role("button", name="Authorize").click()   # JupyterHub asks once per shared server
    alice.wait_for_selector("#jp-main-dock-panel")
    alice.goto(f"{hub.url}/user/prof/lab/tree/{SEMINAR}")
    seminar_cells(alice).first.wait_for()

    # The instructor types into the first code cell; the student's copy of the document shows it.
    note = "# live note from the instructor"
    seminar_cells(prof).first.locator(".cm-content").click()
    prof.keyboard.press("Control+Home")
    prof.keyboard.insert_text(note + "\n")
    seminar_cells(alice).first.locator(f".cm-content:has-text('{note}')").wait_for(timeout=30_000)

    # ... and an edit from the student reaches the instructor (follow includes editing).
    reply = "# question from alice"
    seminar_cells(alice).nth(1).locator(".cm-content").click()
    alice.keyboard.press("Control+Home")
    alice.keyboard.insert_text(reply + "\n")
    seminar_cells(prof).nth(1).locator(f".cm-content:has-text('{reply}')").wait_for(timeout=30_000)
    seminar_cells(alice).first.scroll_into_view_if_needed()

    # Running code on the instructor's server is not part of "follow": refused by the server.
    status = alice.evaluate("""async () => (await fetch('/user/prof/api/kernels', {method: 'POST',
        headers: {'X-XSRFToken': document.cookie.match(/_xsrf=([^;]+)/)?.[1] || ''},
        body: JSON.stringify({name: 'python3'})})).status""")
    assert status == 403

    prof.goto(f"{hub.url}/hub/home")
    prof.click("#share-stop")
    prof.wait_for_selector("#share-status:has-text('Not shared.')")
