"""Browser tier: Playwright driving Debian's chromium (headless, never a downloaded browser)
against a real hub. Screenshots of every path go to test-artifacts/browser/ (kept on failure
and success alike, for looking at)."""

import shutil
from urllib.parse import quote

import pytest
from hubdriver import CHROMIUM_ARGS
from support import REPO, running_hub

from hepcourse.data.store import data_dir

ARTIFACTS = REPO / "test-artifacts" / "browser"
ROSTER = {"instructors": ["prof"], "facilitators": ["ta"], "students": ["alice", "bob"]}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("Debian's chromium is missing: `make test-browser` installs it")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, ci_data):
    with running_hub(tmp_path_factory.mktemp("browser"), ROSTER,
                     {"data": {"dir": str(data_dir()), "scale": "ci"}}) as hub:
        yield hub


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def login(page, hub, name, password, lab=True):
    """Log in through the hub's form: the course landing page; then, with ``lab``, go on to
    JupyterLab (starting the server) and wait for it, whatever workspace it restores."""
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_selector("#course-home")
    if lab:
        open_in_lab(page, hub, name, "lab")


def open_in_lab(page, hub, owner, path):
    """What the landing page's links do: /hub/spawn starts the server if needed, then goes on."""
    page.goto(f"{hub.url}/hub/spawn?next={quote(f'/user/{owner}/{path}')}")
    page.wait_for_selector("#jp-main-dock-panel")
