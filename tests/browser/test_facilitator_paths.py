"""The facilitator's formgrader in a real browser: the hub service, inside its own JupyterLab
(no blank frame under JupyterHub >= 4.1), releasing an assignment with a click."""

import pytest
from conftest import login
from hubdriver import PASSWORD
from test_homework_paths import grade

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_facilitator_opens_formgrader_and_releases_an_assignment(page, hub):
    grade(hub, "build", "02_intro_ml")
    login(page, hub, "ta", PASSWORD)
    page.goto(f"{hub.url}/services/formgrader/lab")
    page.wait_for_selector("#jp-main-dock-panel")
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    frame = page.frame_locator("#formgrader-iframe iframe")
    row = frame.locator("tr", has_text="02_intro_ml")
    row.wait_for()                                        # the frame rendered: not blank
    assert frame.get_by_text("Manage Assignments").first.is_visible()
    row.locator("td.release a").click()
    frame.get_by_text("Successfully released '02_intro_ml'").wait_for()
    row.locator("td.status:has-text('released')").wait_for()
    assert (hub.workdir / "state" / "exchange" / "mlhep" / "outbound" / "02_intro_ml" / "homework.ipynb").exists()


def test_facilitator_starts_the_class_servers_from_the_course_page(page, hub):
    login(page, hub, "ta", PASSWORD, lab=False)
    page.click("#prestart")
    page.locator("#prestart-status", has_text="2 of 2 servers ready").wait_for(timeout=180_000)
    for student in ("alice", "bob"):
        assert (hub.homes / student).is_dir()          # each server started in its home
    # A student who logs in now gets JupyterLab with no spawn page in between.
    page.goto(f"{hub.url}/hub/logout")
    login(page, hub, "alice", PASSWORD, lab=False)
    page.goto(f"{hub.url}/user/alice/lab")
    page.wait_for_selector("#jp-main-dock-panel")
    assert "/spawn-pending/" not in page.url
