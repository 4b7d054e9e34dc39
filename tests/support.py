"""Shared test helpers (importable from every test folder)."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from hubdriver import HUB_CONFIG, PASSWORD, REPO, HubProcess, HubUser  # noqa: F401 (re-exported)

# The suite's held-out sets come from a fixed secret (a course makes a random one), so that every
# run grades the reference solutions on the same draw.
TEST_SECRET = b"hepcourse test suite: not a course secret"

def run_cli(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run a console command from the venv as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(Path(sys.executable).parent / args[0]), *args[1:]],
        check=False, capture_output=True, text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def load_hub_config(monkeypatch, write, settings: str, prepared: bool = True):
    """hub/jupyterhub_config.py's configuration as JupyterHub loads it, for a roster of an
    instructor (prof), a facilitator (ta) and a student (alice), after the launcher's prepare
    step; ``settings`` is YAML added to the test's settings file."""
    from hubdriver import let_accounts_through
    from jupyterhub.app import JupyterHub

    from hepcourse.config import load_settings
    from hepcourse.launcher import prepare

    roster = write("roster.yaml", "instructors: [prof]\nfacilitators: [ta]\nstudents: [alice]\n")
    path = write("settings.yaml", f"roster: {roster}\nhub: {{state_dir: state}}\n{settings}")
    monkeypatch.setenv("HEPCOURSE_SETTINGS", str(path))
    if prepared:
        let_accounts_through(path.parent)          # a root hub's grader account reaches its state
        prepare(load_settings())
    app = JupyterHub()
    app.load_config_file(str(HUB_CONFIG))
    return app.config


def disk_tree(folder: Path) -> dict:
    """Every path below ``folder`` with its mode and modification time (the test's own settings
    and roster, which load_hub_config() writes again, aside)."""
    return {p: (p.stat().st_mode, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.name not in ("settings.yaml", "roster.yaml")}


def course_kernel_env(monkeypatch) -> None:
    """Environment for kernels that run course notebooks: ci data, no display, and an equal share
    of the CPUs per xdist worker (torch and BLAS threads oversubscribing the cores run the
    notebooks several times slower)."""
    from hepcourse.cpus import cpu_budget

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    monkeypatch.setenv("HEPCOURSE_SCALE", "ci")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", str(max(1, cpu_budget() // workers)))


@contextlib.contextmanager
def running_hub(workdir: Path, roster: dict, settings: dict | None = None):
    """A real hub for the tests of a module; stopping it must leave no process behind."""
    hub = HubProcess(workdir, roster, settings)
    try:
        hub.start()
        yield hub
    except BaseException:
        hub.stop()   # a failed test leaves nothing running either; its own error is the report
        raise
    leaked = hub.stop()
    tail = "\n".join(hub.log().splitlines()[-60:])
    assert not leaked, "processes left behind:\n  " + "\n  ".join(leaked) + f"\nhub log (tail):\n{tail}"


def logged_in(hub: HubProcess, name: str, password: str = PASSWORD, spawn: bool = False,
              timeout: float = 120) -> HubUser:
    """A user logged in through the hub's form; with ``spawn``, their server running (started
    if it is not)."""
    user = HubUser(hub, name)
    assert user.login(password).status_code == 302
    if spawn and not user.api("GET", f"/users/{name}").json().get("server"):
        user.spawn(timeout)
    return user


def assignments_api(user, method, action="", **params):
    """nbgrader's Assignments endpoints on the user's own server, through the hub's proxy."""
    url = f"{user.hub.url}/user/{user.name}/assignments{'/' + action if action else ''}"
    headers = {"Authorization": f"token {user.token or user.new_token()}"}
    r = user.http.request(method, url, params=params if method == "GET" else None,
                          data=params if method == "POST" else None, headers=headers, timeout=120)
    r.raise_for_status()
    body = r.json()
    assert body["success"], body
    return body["value"]


@contextlib.contextmanager
def container_engine(image: str, network: str = "hepcourse-test"):
    """The container engine (podman's Docker API, started by `make test-containers` or
    `make test-images`) with ``image`` in it: (client, this host's address on ``network``, which
    the hub listens on so that containers and its services reach its API). The network is
    removed at the end when nothing uses it."""
    import socket

    import docker
    import pytest

    if not os.environ.get("DOCKER_HOST"):
        pytest.fail("DOCKER_HOST is not set: run this tier through make (make test-containers, make test-images)")
    client = docker.from_env()
    client.images.get(image)
    net = (client.networks.list(names=[network]) or [client.networks.create(network)])[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((net.attrs["IPAM"]["Config"][0]["Gateway"], 9))
        host = probe.getsockname()[0]
    try:
        yield client, host
    finally:
        net.reload()
        if not net.containers:
            net.remove()
        client.close()


def remove_homes(client, prefix: str) -> None:
    """Remove the test's home volumes, each after every container that still uses it."""
    for volume in client.volumes.list(filters={"name": prefix}):
        for container in client.containers.list(all=True, filters={"volume": volume.name}):
            container.remove(force=True)
        volume.remove()
    assert not client.volumes.list(filters={"name": prefix})
