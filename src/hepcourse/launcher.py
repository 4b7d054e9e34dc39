"""``make run``: check the settings, roster and port, start JupyterHub, say how to log in,
and stop everything cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

from .auth import SHARED_PASSWORD, check_authenticator, demo_passwords
from .config import (
    REPO_ROOT,
    ConfigError,
    check_data_folder,
    check_mode_tools,
    hub_api_port,
    load_settings,
)
from .content import module_problems
from .net import port_in_use
from .prestart import make_token
from .roster import load_roster

HUB_CONFIG = REPO_ROOT / "hub" / "jupyterhub_config.py"


def preflight(env=os.environ) -> tuple[dict, object]:
    """Settings, roster and data folder, validated; the public and API ports free. Raises
    ConfigError."""
    settings = load_settings(env=env)
    roster = load_roster(settings["roster"])
    check_authenticator(settings["auth"]["class"])
    check_data_folder(settings)
    check_mode_tools(settings)
    hub = settings["hub"]
    if port_in_use(hub["ip"], hub["port"]):
        raise ConfigError(
            f"port {hub['port']} on {hub['ip']} is already in use (another hub, or another program).\n"
            f"Stop it, or choose another port: make run PORT={hub['port'] + 1}"
        )
    api = hub_api_port(settings)
    if settings["mode"] == "local" and port_in_use("127.0.0.1", api):
        raise ConfigError(
            f"port {api} on 127.0.0.1, for the hub's API, is already in use (another program).\n"
            f"Set hub.api_port to a free port, or choose another public port: make run PORT={hub['port'] + 2}"
        )
    return settings, roster


def prepare(settings: dict) -> None:
    """What the hub needs on disk before it starts, made here so that loading
    ``hub/jupyterhub_config.py`` changes nothing (TLJH's rule: configuration only sets): the state
    folder, the private course directory and the exchange, the grader account and what it owns
    (a root hub), the prestart service's token, the demo passwords, the data folder (local mode). Services that a crashed hub left running are stopped: the new hub starts its
    own, and two idle cullers or formgraders must never run side by side."""
    from .grading import account
    from .grading.course import Course

    state = Path(settings["hub"]["state_dir"])
    state.mkdir(parents=True, exist_ok=True)
    if settings["mode"] == "local":
        Path(settings["data"]["dir"]).mkdir(parents=True, exist_ok=True)
    Course(settings).prepare()
    account.prepare(settings)
    make_token(settings)
    if settings["auth"]["class"] == SHARED_PASSWORD:
        demo_passwords(state, settings["auth"], create=True)
    stop_stale_services(hub_api_port(settings))


SERVICES = ("idle-culler", "formgrader", "grading-broker")


def stop_stale_services(api_port: int, timeout: float = 10) -> list[int]:
    """Stop this hub's services left by an earlier hub process (they call the hub API on
    ``api_port``); return their pids."""
    stale = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except psutil.Error:   # gone, or another user's
            continue
        url = env.get("JUPYTERHUB_API_URL", "")
        if env.get("JUPYTERHUB_SERVICE_NAME") in SERVICES and urlsplit(url).port == api_port:
            stale.append(proc)
    for proc in stale:
        with contextlib.suppress(psutil.NoSuchProcess):   # ended meanwhile
            proc.terminate()
    _, alive = psutil.wait_procs(stale, timeout=timeout)
    for proc in alive:
        proc.kill()
    return [proc.pid for proc in stale]


def banner(settings: dict, roster, elapsed: float) -> str:
    url = f"http://{settings['hub']['ip']}:{settings['hub']['port']}"
    lines = [
        "",
        f"  {settings['course']['title']} hub is up ({settings['mode']} mode, ready in {elapsed:.1f} s)",
        f"  Open {url}",
    ]
    if settings["auth"]["class"] == SHARED_PASSWORD:
        pw = demo_passwords(Path(settings["hub"]["state_dir"]), settings["auth"])
        who = [("student", roster.students, pw["user"]), ("facilitator", roster.facilitators, pw["user"]),
               ("instructor", roster.instructors, pw["admin"])]
        for role, names, password in who:
            if names:
                who_as = f"{'an' if role[0] in 'aeiou' else 'a'} {role}"
                lines.append(f"  Log in as {who_as:<14} user: {names[0]:<12} password: {password}")
        lines.append(f"  (all roster users: {settings['roster']})")
    lines += ["  Stop with Ctrl-C.", ""]
    return "\n".join(lines)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60, interval: float = 0.25) -> float:
    """Seconds until the hub answers /hub/health with 200 (the proxy answers 404 before)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout and proc.poll() is None:
        try:
            if requests.get(f"{url}/hub/health", timeout=1).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(interval)
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not healthy after {timeout} s"
    raise RuntimeError(f"the hub {state}")


def run(mode: str | None = None, port: int | None = None) -> int:
    env = dict(os.environ)
    if mode:
        env["HEPCOURSE_MODE"] = mode
    if port:
        env["HEPCOURSE_PORT"] = str(port)
    settings, roster = preflight(env)
    for problem in module_problems(settings["content"]["source"]):
        print(f"hepcourse: warning: {problem}", file=sys.stderr)
    prepare(settings)
    state = Path(settings["hub"]["state_dir"])
    cmd = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]
    started = time.monotonic()
    # Started from a background shell, we inherit an ignored SIGINT, and so would the hub's
    # children: the idle culler would then sit out the hub's interrupt until SIGTERM (~30 s).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    proc = subprocess.Popen(cmd, env=env, cwd=state)
    # Ctrl-C reaches the hub too (same process group); it stops its proxy and servers itself.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    url = f"http://{settings['hub']['ip']}:{settings['hub']['port']}"
    try:
        wait_healthy(url, proc)
        print(banner(settings, roster, time.monotonic() - started), flush=True)
    except RuntimeError as err:
        print(f"hepcourse: {err}", file=sys.stderr)
        proc.terminate()
    code = proc.wait()
    print("hepcourse: hub stopped.", file=sys.stderr)
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM) else code
