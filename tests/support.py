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
    hub.start()
    yield hub
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
