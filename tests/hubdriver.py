"""Drive a real course hub: start it on free loopback ports with its own state folder, log in
like a browser, spawn servers, run code in a kernel, and stop it with nothing left behind.

Test code (it holds the tests' demo passwords and needs the dev-only websocket-client): used by
the integration tests and by ``bench/`` (which puts this folder on its path).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import requests
import websocket
import yaml

from hepcourse.config import load_settings
from hepcourse.launcher import HUB_CONFIG, prepare, wait_healthy
from hepcourse.net import free_port

REPO = Path(__file__).resolve().parents[1]
# Debian's chromium as Playwright launches it for the browser tier and bench-hub.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "students-demo-pw"
ADMIN_PASSWORD = "instructors-demo-password-32-chars!"


# Seconds a hub may take to stop everything. It stops its services one after another, then the
# user servers, each with SIGINT, 10 s, SIGTERM, 5 s, SIGKILL; on a busy 2-core machine a few of
# those steps can take their full time.
STOP_BUDGET = 120


def let_accounts_through(folder: Path) -> None:
    """As root: let other accounts pass through ``folder`` and the folders above it (o+x, no
    listing). A root hub runs its formgrader as the grader account, which must reach the state
    folder; pytest's and tempfile's folders are private."""
    if os.geteuid() != 0:
        return
    for path in (folder, *folder.parents):
        mode = path.stat().st_mode
        if path.stat().st_uid == 0 and not mode & 0o001:
            path.chmod(mode | 0o001)


class TrackedProcess:
    """A process of the hub's tree, with what it was when it was seen (its parent changes to
    init once the hub has exited)."""

    def __init__(self, proc: psutil.Process):
        self.proc = proc
        with proc.oneshot():
            self.parent = f"{proc.ppid()} ({psutil.Process(proc.ppid()).name()})"
            self.cmdline = " ".join(proc.cmdline())

    def running(self) -> bool:
        try:
            return self.proc.is_running() and self.proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def describe(self) -> str:
        try:
            status = self.proc.status()
        except psutil.Error:
            status = "gone"
        return f"pid {self.proc.pid} [{status}] {self.cmdline[:300]} (started by {self.parent})"


class HubProcess:
    """A JupyterHub process (with its proxy and user servers) for tests and benchmarks."""

    def __init__(self, workdir: Path, roster: dict, settings: dict | None = None):
        self.workdir = Path(workdir)
        let_accounts_through(self.workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "hub.log"
        self.settings_path = self.workdir / "settings.yaml"
        (self.workdir / "roster.yaml").write_text(yaml.safe_dump(roster))
        values = {
            "roster": "roster.yaml",
            "hub": {"ip": "127.0.0.1", "port": self.port, "api_port": free_port(), "state_dir": "state",
                    "idle_timeout": 600},
            "auth": {"password": PASSWORD, "admin_password": ADMIN_PASSWORD},
            "content": {"source": str(REPO / "modules")},
        }
        for key, value in (settings or {}).items():
            values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
        self.settings_path.write_text(yaml.safe_dump(values))
        self.proc: subprocess.Popen | None = None

    @property
    def homes(self) -> Path:
        return self.workdir / "state" / "homes"

    def start(self, timeout: float = 180, extra_args: list[str] = ()) -> float:
        """Start the hub (``extra_args``: JupyterHub command-line config, e.g.
        ``--Spawner.x=1``); return seconds until /hub/health answered 200. The hub routes itself
        only once its managed services answer (the formgrader is a Jupyter server, which took over
        50 s to start on a 2-core machine under a load of 16): hence the generous timeout."""
        env = {**os.environ, "HEPCOURSE_SETTINGS": str(self.settings_path)}
        env.pop("HEPCOURSE_MODE", None)
        env.pop("HEPCOURSE_PORT", None)
        prepare(load_settings(self.settings_path, env=env))   # as `make run` does first
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG), *extra_args],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                # As `make run` does: a suite started in the background (CI) ignores SIGINT, and
                # the services the hub starts before its own handler would too, each sitting
                # out the hub's interrupt until SIGTERM.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (one syscall)
            )
        try:
            return wait_healthy(self.url, self.proc, timeout, interval=0.02)
        except RuntimeError as err:
            self.stop()   # a hub that did not come up must not outlive the test with its services
            raise RuntimeError(f"{err}:\n{self.log()}") from None

    def processes(self) -> list[psutil.Process]:
        """The hub and everything it started (proxy, services, user servers, kernels)."""
        hub = psutil.Process(self.proc.pid)
        return [hub, *hub.children(recursive=True)]

    def _track(self, tree: dict[int, TrackedProcess]) -> None:
        """Add the hub's tree to ``tree``, and every process working in the hub's folder: what
        a user's kernel started and left behind has left the tree but still works in a home."""
        found = []
        with contextlib.suppress(psutil.NoSuchProcess):  # the hub itself has exited
            found = self.processes()
        for p in psutil.process_iter(["cwd"]):
            if p.info["cwd"] and Path(p.info["cwd"]).is_relative_to(self.workdir) and p.pid != os.getpid():
                found.append(p)
        for p in found:
            if p.pid not in tree:
                with contextlib.suppress(psutil.Error):  # gone while we looked
                    tree[p.pid] = TrackedProcess(p)

    def stop(self, timeout: float = STOP_BUDGET) -> list[str]:
        """Stop the hub as Ctrl-C would and wait for its whole process tree to end. Return a
        description of every process still running after ``timeout`` seconds (then killed);
        one that has exited and only waits to be reaped by its parent is gone. A hub that has
        ended on its own (crashed, or failed during its start) may have left its proxy and
        services running: they are stopped too."""
        if self.proc is None:
            return []
        tree: dict[int, TrackedProcess] = {}
        self._track(tree)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        else:                                            # nothing else will stop them
            for t in tree.values():
                with contextlib.suppress(psutil.Error):
                    t.proc.terminate()
        deadline = time.monotonic() + timeout
        while True:
            self._track(tree)  # also what it starts while shutting down
            alive = [t for t in tree.values() if t.running()]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        leaked = [t.describe() for t in alive]
        for t in alive:  # never leave strays on the machine, but report them
            with contextlib.suppress(psutil.Error):
                t.proc.kill()
        self.proc.poll()
        return leaked

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class HubUser:
    """One user's browser-like session with the hub (cookies, XSRF) plus an API token."""

    def __init__(self, hub: HubProcess, name: str):
        self.hub, self.name = hub, name
        self.http = requests.Session()
        self.token: str | None = None

    def login(self, password: str) -> requests.Response:
        """Log in through the form; return the response to the POST (302 on success)."""
        self.http.get(f"{self.hub.url}/hub/login", timeout=10)
        return self.http.post(
            f"{self.hub.url}/hub/login",
            data={"username": self.name, "password": password, "_xsrf": self.xsrf},
            allow_redirects=False, timeout=10,
        )

    @property
    def xsrf(self) -> str:
        """The hub's XSRF token (user servers set their own ``_xsrf`` cookie on their path)."""
        return self.http.cookies.get("_xsrf", path="/hub/") or ""

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the hub's REST API with this user's cookie (as the browser does)."""
        headers = {"X-XSRFToken": self.xsrf}
        if method != "GET":  # as a browser does; a body-less POST gets a form type from the proxy
            kwargs.setdefault("json", {})
        return self.http.request(method, f"{self.hub.url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def spawn(self, timeout: float = 120) -> float:
        """Start this user's server; return seconds until the hub reports it ready."""
        started = time.monotonic()
        r = self.api("POST", f"/users/{self.name}/server")
        if r.status_code not in (201, 202):
            raise RuntimeError(f"spawn refused: {r.status_code} {r.text}")
        if r.status_code == 202:
            self.wait_ready(timeout)
        return time.monotonic() - started

    def wait_ready(self, timeout: float) -> None:
        with self.http.get(
            f"{self.hub.url}/hub/api/users/{self.name}/server/progress",
            headers={"X-XSRFToken": self.xsrf}, stream=True, timeout=timeout,
        ) as r:
            for line in r.iter_lines():
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if event.get("ready"):
                        return
                    if event.get("failed"):
                        raise RuntimeError(f"spawn failed: {event.get('message')}")
        raise RuntimeError("progress stream ended before the server was ready")

    def open_lab(self) -> requests.Response:
        """GET /user/<name>/lab the way a browser does (OAuth redirects included)."""
        return self.http.get(f"{self.hub.url}/user/{self.name}/lab", timeout=30)

    def new_token(self) -> str:
        r = self.api("POST", f"/users/{self.name}/tokens", json={"note": "hubprocess"})
        r.raise_for_status()
        self.token = r.json()["token"]
        return self.token

    def server(self, method: str, path: str, user: str | None = None, service: str | None = None,
               **kwargs) -> requests.Response:
        """Call a single-user server's API (this user's, or ``user``'s, or the hub service
        ``service``'s) with the token."""
        url = f"{self.hub.url}{self._prefix(user, service)}/api{path}"
        headers = {"Authorization": f"token {self.token or self.new_token()}"}
        return requests.request(method, url, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def _prefix(self, user: str | None = None, service: str | None = None) -> str:
        return f"/services/{service}" if service else f"/user/{user or self.name}"

    def start_kernel(self, service: str | None = None) -> str:
        """A new kernel on this user's server (or the hub service ``service``'s); its id."""
        kernel = self.server("POST", "/kernels", service=service, json={"name": "python3"})
        kernel.raise_for_status()
        return kernel.json()["id"]

    def execute(self, code: str, timeout: float = 60, kernel: str | None = None, service: str | None = None) -> str:
        """Run ``code`` in ``kernel`` (else in a new one, shut down afterwards) on this user's
        server (or the hub service ``service``'s); return its stdout + result."""
        kid = kernel or self.start_kernel(service)
        ws_url = self.hub.url.replace("http", "ws", 1) + f"{self._prefix(service=service)}/api/kernels/{kid}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                           "username": self.name, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False},
            }))
            out = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id or msg["channel"] != "iopub":
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    out.append(content["text"])
                elif kind == "execute_result":
                    out.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    raise RuntimeError(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(out)
            raise TimeoutError("no reply from the kernel")
        finally:
            ws.close()
            if kernel is None:
                self.server("DELETE", f"/kernels/{kid}", service=service)
