"""A class start on this machine: N students at once, cold and with their servers started ahead.

Cold: N students log in through the hub's form at the same moment, each starts their server,
opens JupyterLab, runs a first cell (``import numpy, pandas, sklearn``) and loads a dataset
(Higgs, ci scale). Prestarted: the same class after ``hepcourse class prestart`` (its time
printed too): log in, JupyterLab, first cell. For each step: p50 / p95 / max seconds and the
errors; the machine's CPU and memory peak, the memory per student, and where the CPU went (hub,
proxy, servers, kernels, ...). Next to it the floor this machine imposes: the CPU seconds the
whole machine spends on one student alone (login, server, kernel, first cell; the median of
three, measured first), times N over the cores (goal: cold login-to-first-result p95 within
1.3x of it; prestarted login-to-lab p95 within 5 s).

In docker mode (``--mode docker``, against podman's Docker API with the real course image) every
student's server is a container (the floor then includes the engine's work).

    make bench-class N=50                # local mode
    make bench-class N=30 MODE=docker    # docker mode, the CPU course image
    python bench/bench_class.py --students 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hubdriver import ADMIN_PASSWORD, PASSWORD, HubProcess, HubUser
from support import container_engine, remove_homes

from hepcourse.config import load_settings
from hepcourse.cpus import cpu_budget
from hepcourse.data import load
from hepcourse.data.store import data_dir
from hepcourse.prestart import prestart

FIRST_CELL = "import numpy, pandas, sklearn\nprint('ok')"
LOAD = "from hepcourse.data import load\nprint(len(load('higgs')))"
OUT = Path(__file__).resolve().parents[1] / "build" / "bench"


class Sampler(threading.Thread):
    """The machine's CPU use and memory in use, every half second: their peaks."""

    def __init__(self):
        super().__init__(daemon=True)
        self.base = psutil.virtual_memory().used
        self.cpu = self.memory = 0.0
        self.running = True

    def run(self):
        psutil.cpu_percent()
        while self.running:
            time.sleep(0.5)
            self.cpu = max(self.cpu, psutil.cpu_percent())
            self.memory = max(self.memory, psutil.virtual_memory().used - self.base)


def student(hub: HubProcess, name: str, warm: bool) -> dict:
    """One student's way in; seconds of each step (``login to first result`` from pressing
    'Sign in'), or the error."""
    user = HubUser(hub, name)
    times, started = {}, time.monotonic()
    try:
        assert user.login(PASSWORD).status_code == 302
        times["login"] = time.monotonic() - started
        if not warm:
            times["spawn"], times["turned away"] = spawn_as_a_browser_would(user)
        step = time.monotonic()
        lab = user.open_lab()
        assert lab.status_code == 200 and lab.url.endswith(f"/user/{name}/lab"), lab.url
        times["lab"] = time.monotonic() - step
        times["login to lab"] = time.monotonic() - started
        step = time.monotonic()
        user.new_token()
        kernel = user.start_kernel()
        assert user.execute(FIRST_CELL, timeout=600, kernel=kernel) == "ok\n"
        times["first cell"] = time.monotonic() - step
        times["login to first result"] = time.monotonic() - started
        step = time.monotonic()
        assert int(user.execute(LOAD, timeout=600, kernel=kernel).split()[-1]) > 0
        times["load dataset"] = time.monotonic() - step
        return times
    except Exception as err:  # noqa: BLE001 - an error is a result of the benchmark
        return {"error": f"{type(err).__name__}: {err}"[:200]}


def spawn_as_a_browser_would(user: HubUser) -> tuple[float, int]:
    """Start the server; turned away by the hub's spawn limit (429, "try again in N seconds"),
    try again after the time it gives, as a student would. (seconds until ready, times turned away)"""
    started, turned_away = time.monotonic(), 0
    while True:
        try:
            user.spawn(timeout=600)
            return time.monotonic() - started, turned_away
        except RuntimeError as err:
            if "429" not in str(err):
                raise
            turned_away += 1
            wait = re.search(r"Try again in (\d+)", str(err))    # or "in a few minutes" (a full hub)
            time.sleep(float(wait.group(1)) if wait else 30)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def machine_cpu_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.system + t.nice


ROLES = ("hub", "proxy", "services", "servers", "kernels", "benchmark client", "rest of the machine")


def role_of(proc: psutil.Process, hub_pid: int) -> str:
    if proc.pid == hub_pid:
        return "hub"
    line = " ".join(proc.cmdline())
    if "configurable-http-proxy" in line:
        return "proxy"
    if "ipykernel" in line:
        return "kernels"
    return "servers" if "singleuser" in line else "services"


def cpu_by_role(hub: HubProcess) -> dict[str, float]:
    """CPU seconds so far of the hub's processes by role (the live ones: a phase's servers and
    kernels are still running at its end), this benchmark's own, and the whole machine's."""
    spent = dict.fromkeys(ROLES, 0.0)
    for proc in hub.processes():
        with contextlib.suppress(psutil.Error):
            spent[role_of(proc, hub.proc.pid)] += cpu_seconds([proc])
    spent["benchmark client"] = cpu_seconds([psutil.Process()])
    spent["rest of the machine"] = machine_cpu_seconds() - sum(spent.values())
    return spent


def solo_cpu_seconds(hub: HubProcess, names: list[str]) -> list[float]:
    """CPU seconds the machine spends on one student alone (login, server start, kernel, first
    cell; the hub's, the proxy's, the server's short-lived helpers', and in docker mode the
    engine's too), less this benchmark's own: for each of ``names``, one after the other."""
    spent = []
    for name in names:
        user = HubUser(hub, name)
        machine, client = machine_cpu_seconds(), cpu_seconds([psutil.Process()])
        user.login(PASSWORD)
        user.spawn(timeout=600)
        user.new_token()
        kernel = user.start_kernel()
        user.execute(FIRST_CELL, timeout=600, kernel=kernel)
        spent.append(machine_cpu_seconds() - machine - (cpu_seconds([psutil.Process()]) - client))
        stop_all(user, [name])
    return spent


def stop_all(caller: HubUser, names: list[str], timeout: float = 300) -> None:
    """Stop ``names``' servers (``caller``: an admin, or the one user themselves) and wait."""
    for name in names:
        caller.api("DELETE", f"/users/{name}/server")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(caller.api("GET", f"/users/{n}").json().get("server") for n in names):
        time.sleep(1)


def phase(hub: HubProcess, names: list[str], warm: bool) -> tuple[list[dict], Sampler, dict[str, float]]:
    """Each student's steps, the machine's peaks, and where the CPU went meanwhile (seconds)."""
    before = cpu_by_role(hub)
    sampler = Sampler()
    sampler.start()
    with ThreadPoolExecutor(len(names)) as pool, tqdm(total=len(names), desc="prestarted" if warm else "cold",
                                                     unit="student") as bar:
        futures = [pool.submit(student, hub, name, warm) for name in names]
        results = []
        for future in futures:
            results.append(future.result())
            bar.update()
    sampler.running = False
    after = cpu_by_role(hub)
    # A process of the hub that ended within the phase takes its CPU time to "rest of the
    # machine"; one from before the phase (prestarted servers) counts from the phase's start.
    return results, sampler, {role: after[role] - before[role] for role in ROLES}


def summary(results: list[dict]) -> dict:
    """p50 / p95 / max of each step, over the students who got that far."""
    steps = dict.fromkeys(k for r in results for k in r if k != "error")
    table = {}
    for step in steps:
        values = sorted(r[step] for r in results if step in r)
        table[step] = {"p50": statistics.median(values), "p95": values[max(0, round(0.95 * len(values)) - 1)],
                       "max": values[-1]}
    return table


@contextlib.contextmanager
def mode_settings(mode: str, image: str, tmp: str, students: int):
    """The hub's settings for ``mode``; in docker mode the engine is ready and the students'
    home volumes are removed at the end."""
    settings = {"hub": {"idle_timeout": 0}, "data": {"dir": str(data_dir()), "scale": "ci"}}
    if mode == "local":
        yield settings
        return
    volumes = f"hepcourse-bench-{Path(tmp).name}-"
    with container_engine(image, "hepcourse-bench") as (client, host):
        try:
            # 2G per container, the whole class admitted: memory limits are caps, not
            # reservations, and the benchmark measures what the machine actually holds (the
            # hub's default would admit memory / mem_limit students: 11 here).
            yield {**settings, "mode": "docker", "hub": {**settings["hub"], "active_server_limit": students + 1},
                   "docker": {"image": image, "network": "hepcourse-bench", "hub_connect_ip": host,
                              "volume": volumes + "{username}", "mem_limit": "2G"}}
        finally:
            remove_homes(client, volumes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--mode", choices=["local", "docker"], default="local")
    parser.add_argument("--image", default="localhost/hepcourse/singleuser-cpu", help="docker mode's image")
    args = parser.parse_args()
    names = [f"s{i:02d}" for i in range(1, args.students + 1)]
    os.environ["HEPCOURSE_SCALE"] = "ci"
    load("higgs")                                   # the ci file exists before the class comes
    cores = cpu_budget()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp, mode_settings(args.mode, args.image, tmp, args.students) as settings:
        solos = [f"solo{i}" for i in range(1, 6)]    # the floor: their median (one varies by 20 %)
        hub = HubProcess(Path(tmp), {"instructors": ["prof"], "students": [*names, *solos]}, settings=settings)
        try:
            hub.start()
            samples = solo_cpu_seconds(hub, solos)
            solo = statistics.median(samples)
            floor = solo * args.students / cores
            cold, cold_load, cold_cpu = phase(hub, names, warm=False)
            admin = HubUser(hub, "prof")
            admin.login(ADMIN_PASSWORD)
            stop_all(admin, names)
            started = time.monotonic()
            ready = prestart(load_settings(hub.settings_path), names)
            prestart_seconds = time.monotonic() - started
            warm, warm_load, warm_cpu = phase(hub, names, warm=True)
        finally:
            leaked = hub.stop()
            hub_log = hub.log()
    report = {
        "students": args.students, "cores": cores, "mode": args.mode,
        **({"image": args.image} if args.mode == "docker" else {}),
        "floor": {"cpu seconds per student": solo, "samples": samples, "seconds for the class": floor},
        "cold": {"steps": summary(cold), "errors": [r["error"] for r in cold if "error" in r],
                 "cpu peak %": cold_load.cpu, "memory peak GiB": cold_load.memory / 2**30,
                 "memory per student MiB": cold_load.memory / args.students / 2**20, "cpu seconds": cold_cpu},
        "prestart": {"seconds": prestart_seconds, "not ready": [r for r in ready if r[1] not in ("started", "running")]},
        "prestarted": {"steps": summary(warm), "errors": [r["error"] for r in warm if "error" in r],
                       "cpu peak %": warm_load.cpu, "memory peak GiB": warm_load.memory / 2**30,
                       "cpu seconds": warm_cpu},
        "leaked": leaked,
        "event loop stalls": hub_log.count("Event loop was unresponsive"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"class-{args.mode}-{args.students}.json").write_text(json.dumps(report, indent=1))
    (OUT / f"class-{args.mode}-{args.students}-hub.log").write_text(hub_log)   # the servers' logs too
    print_report(report)


def print_report(report: dict) -> None:
    n, floor = report["students"], report["floor"]
    print(f"\n{n} students, {report['mode']} mode, {report['cores']} cores")
    print(f"floor: {floor['cpu seconds per student']:.1f} CPU s per student (server + kernel + first cell; median of "
          f"{', '.join(f'{x:.1f}' for x in floor['samples'])}) "
          f"x {n} / {report['cores']} cores = {floor['seconds for the class']:.0f} s")
    for name in ("cold", "prestarted"):
        part = report[name]
        print(f"\n{name}: {len(part['errors'])} errors; CPU peak {part['cpu peak %']:.0f} %, "
              f"memory peak {part['memory peak GiB']:.1f} GiB")
        print(f"{'step':24}{'p50':>8}{'p95':>8}{'max':>8}")
        for step, row in part["steps"].items():
            print(f"{step:24}{row['p50']:8.1f}{row['p95']:8.1f}{row['max']:8.1f}")
        print("CPU seconds: " + ", ".join(f"{role} {sec:.0f}" for role, sec in part["cpu seconds"].items()))
        for error in part["errors"][:5]:
            print(f"  error: {error}")
    cold = report["cold"]["steps"].get("login to first result", {})
    warm = report["prestarted"]["steps"].get("login to lab", {})
    print(f"\nmemory per student: {report['cold']['memory per student MiB']:.0f} MiB; "
          f"the hub's event loop stalled {report['event loop stalls']} times (its log)")
    print(f"prestart of the class: {report['prestart']['seconds']:.0f} s "
          f"({len(report['prestart']['not ready'])} not ready)")
    if cold:
        ratio = cold["p95"] / report["floor"]["seconds for the class"]
        print(f"cold login to first result p95 / floor: {ratio:.2f} (goal <= 1.3: {'yes' if ratio <= 1.3 else 'NO'})")
    if warm:
        print(f"prestarted login to lab p95: {warm['p95']:.1f} s (goal <= 5: {'yes' if warm['p95'] <= 5 else 'NO'})")


if __name__ == "__main__":
    main()
