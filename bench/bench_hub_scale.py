"""The hub itself at the size of a school: for a roster of N students (default 100, 500 and 1000),
a fresh hub (local mode, SQLite) starts, every student logs in through the form (8 at a time),
and an instructor lists every user as the idle culler does (pages of 200). Prints the hub's
start time, the logins' p50 / p95, the listing's time, and the resident memory of the hub and
of its proxy after the logins; no user server is started (they are the students' cost, see
`make bench-modules` and `make bench-class`). The figures go to docs/capacity.md beside
JupyterHub's own published ones.

    make bench-hub-scale
    python bench/bench_hub_scale.py --students 100 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hubdriver import ADMIN_PASSWORD, PASSWORD, HubProcess, HubUser


def log_in(hub: HubProcess, name: str) -> float:
    started = time.monotonic()
    response = HubUser(hub, name).login(PASSWORD)
    if response.status_code != 302:
        raise RuntimeError(f"{name} could not log in: {response.status_code}")
    return time.monotonic() - started


def measure(students: int) -> dict:
    names = [f"s{i:04d}" for i in range(students)]
    with tempfile.TemporaryDirectory(prefix="bench-hub-scale-") as tmp:
        hub = HubProcess(Path(tmp), {"instructors": ["prof"], "students": names})
        try:
            start = hub.start(timeout=300)
            with ThreadPoolExecutor(8) as pool:
                logins = list(tqdm(pool.map(lambda name: log_in(hub, name), names), total=students,
                                   desc=f"{students} logins", unit="login"))
            listed, listing = list_users(hub)
            hub_process, *started_by_hub = hub.processes()
            hub_rss = hub_process.memory_info().rss
            proxy_rss = sum(p.memory_info().rss for p in started_by_hub if "configurable-http-proxy" in " ".join(p.cmdline()))
        finally:
            hub.stop()
    return {"students": students, "start_s": round(start, 1), "login_p50_s": round(statistics.median(logins), 3),
            "login_p95_s": round(statistics.quantiles(logins, n=20)[18], 3), "listed": listed,
            "listing_s": round(listing, 2), "hub_mib": round(hub_rss / 2**20), "proxy_mib": round(proxy_rss / 2**20)}


def list_users(hub: HubProcess) -> tuple[int, float]:
    """An instructor lists every user in pages of 200, as the idle culler does: (users, seconds)."""
    prof = HubUser(hub, "prof")
    prof.login(ADMIN_PASSWORD)
    started, listed, offset = time.monotonic(), 0, 0
    while offset is not None:
        page = prof.http.get(f"{hub.url}/hub/api/users?offset={offset}&limit=200", timeout=60, headers={
            "X-XSRFToken": prof.xsrf, "Accept": "application/jupyterhub-pagination+json"}).json()
        listed += len(page["items"])
        offset = (page["_pagination"].get("next") or {}).get("offset")
    return listed, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[100, 500, 1000])
    args = parser.parse_args()
    rows = [measure(n) for n in args.students]
    print("\n| students | hub start (s) | login p50 / p95 (s) | list all users (s) | hub memory (MiB) | proxy memory (MiB) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['students']} | {r['start_s']} | {r['login_p50_s']} / {r['login_p95_s']} | {r['listing_s']} "
              f"({r['listed']} users) | {r['hub_mib']} | {r['proxy_mib']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
