"""Hub timings on this machine: hub start, cold spawn, warm login-to-lab (medians).

Each run starts a fresh hub (own state folder, free loopback ports), logs a student in,
spawns her server cold, then logs in again from a new browser session with the server
running and opens /user/<name>/lab. The same is measured with the spawner's readiness poll
off (stock JupyterHub behaviour: the hub's own back-off), side by side.

    make bench-hub            # 5 runs
    python bench/bench_hub.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from hepcourse.hubprocess import PASSWORD, HubProcess, HubUser

ROSTER = {"instructors": ["prof"], "students": ["alice"]}
GOALS = {"hub start": None, "cold spawn": 5.0, "warm login-to-lab": 2.0}
VARIANTS = {
    "course hub": [],
    "stock readiness": ["--LocalCourseSpawner.ready_poll_interval=0"],
}


def one_run(extra_args: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        hub = HubProcess(Path(tmp), ROSTER, settings={"hub": {"idle_timeout": 0}})
        try:
            times = {"hub start": hub.start(extra_args=extra_args)}
            user = HubUser(hub, "alice")
            user.login(PASSWORD)
            times["cold spawn"] = user.spawn()
            browser = HubUser(hub, "alice")
            started = time.monotonic()
            browser.login(PASSWORD)
            page = browser.open_lab()
            times["warm login-to-lab"] = time.monotonic() - started
            assert page.status_code == 200 and page.url.endswith("/user/alice/lab"), page.url
            return times
        finally:
            leaked = hub.stop()
            assert not leaked, leaked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = {name: [] for name in VARIANTS}
    with tqdm(total=args.runs * len(VARIANTS), desc="hub runs", unit="run") as bar:
        for _ in range(args.runs):  # interleaved, so both variants see the same machine load
            for name, extra in VARIANTS.items():
                results[name].append(one_run(extra))
                bar.update()

    medians = {name: {k: statistics.median(r[k] for r in runs) for k in GOALS}
               for name, runs in results.items()}
    ours, stock = medians["course hub"], medians["stock readiness"]
    print(f"\nmedian of {args.runs} runs (seconds)")
    print(f"{'':20}{'course hub':>12}{'stock':>10}{'ratio':>8}{'goal':>8}  met")
    for key, goal in GOALS.items():
        ratio = stock[key] / ours[key]
        met = "" if goal is None else ("yes" if ours[key] <= goal else "NO")
        goal_text = "" if goal is None else f"<= {goal:.0f}"
        print(f"{key:20}{ours[key]:12.2f}{stock[key]:10.2f}{ratio:7.1f}x{goal_text:>8}  {met}")
    print("warm login-to-lab = login form POST + OAuth redirects + JupyterLab page over HTTP "
          "(no browser rendering)")


if __name__ == "__main__":
    main()
