"""Hub timings on this machine: hub start, cold spawn, warm login-to-lab (medians).

Each run starts a fresh hub (own state folder, free loopback ports), logs a student in and
spawns her server cold. With the server running it then measures login-to-lab twice:
over HTTP (login form, OAuth redirects, the JupyterLab page: the server's share), and in
Debian's chromium driven by Playwright (a returning browser with its cache, logging in until
JupyterLab shows the file browser). Every run is repeated with the spawner's readiness poll
off (stock JupyterHub: the hub's own back-off), side by side.

    make bench-hub            # 5 runs (installs Debian's chromium if missing)
    python bench/bench_hub.py --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hubdriver import CHROMIUM_ARGS, PASSWORD, HubProcess, HubUser

ROSTER = {"instructors": ["prof"], "students": ["alice"]}
CHROMIUM = shutil.which("chromium")
GOALS = {"hub start": None, "cold spawn": 5.0, "warm login-to-lab (HTTP)": None,
         "warm login-to-lab (browser)": 2.0}
VARIANTS = {
    "course hub": [],
    "stock readiness": ["--LocalCourseSpawner.ready_poll_interval=0"],
}


def browser_login_to_lab(browser, hub: HubProcess, repeats: int = 3) -> float:
    """Median seconds from pressing 'Sign in' to JupyterLab's file browser listing the course,
    for a returning browser (first login warms its cache and is not counted)."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    times = []
    for _ in range(repeats + 1):
        page.goto(f"{hub.url}/hub/logout")
        page.goto(f"{hub.url}/hub/login?next=/user/alice/lab")  # past the course landing page
        page.fill("#username_input", "alice")
        page.fill("#password_input", PASSWORD)
        started = time.monotonic()
        page.click("#login_submit")
        page.wait_for_selector(".jp-DirListing-itemText:has-text('modules')", timeout=60_000)
        times.append(time.monotonic() - started)
    page.context.close()
    return statistics.median(times[1:])


def one_run(extra_args: list[str], browser) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        hub = HubProcess(Path(tmp), ROSTER, settings={"hub": {"idle_timeout": 0}})
        try:
            times = {"hub start": hub.start(extra_args=extra_args)}
            user = HubUser(hub, "alice")
            user.login(PASSWORD)
            times["cold spawn"] = user.spawn()
            returning = HubUser(hub, "alice")
            started = time.monotonic()
            returning.login(PASSWORD)
            page = returning.open_lab()
            times["warm login-to-lab (HTTP)"] = time.monotonic() - started
            assert page.status_code == 200 and page.url.endswith("/user/alice/lab"), page.url
            times["warm login-to-lab (browser)"] = browser_login_to_lab(browser, hub)
            return times
        finally:
            leaked = hub.stop()
            assert not leaked, leaked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not CHROMIUM:
        raise SystemExit("bench-hub needs Debian's chromium: apt-get install chromium (make bench-hub does)")
    results = {name: [] for name in VARIANTS}
    with sync_playwright() as pw, tqdm(total=args.runs * len(VARIANTS), desc="hub runs", unit="run") as bar:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.runs):  # interleaved, so both variants see the same machine load
            for name, extra in VARIANTS.items():
                results[name].append(one_run(extra, browser))
                bar.update()
        browser.close()

    medians = {name: {k: statistics.median(r[k] for r in runs) for k in GOALS}
               for name, runs in results.items()}
    ours, stock = medians["course hub"], medians["stock readiness"]
    print(f"\nmedian of {args.runs} runs (seconds)")
    print(f"{'':30}{'course hub':>12}{'stock':>10}{'ratio':>8}{'goal':>8}  met")
    for key, goal in GOALS.items():
        ratio = stock[key] / ours[key]
        met = "" if goal is None else ("yes" if ours[key] <= goal else "NO")
        goal_text = "" if goal is None else f"<= {goal:.0f}"
        print(f"{key:30}{ours[key]:12.2f}{stock[key]:10.2f}{ratio:7.1f}x{goal_text:>8}  {met}")


if __name__ == "__main__":
    main()
