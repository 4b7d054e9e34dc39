"""Entry point of every user's server (local process or container): deliver the course into the
home, then run ``jupyterhub-singleuser`` in this same process.

Its Jupyter config (hub/singleuser) makes ``SeminarAuthorizer`` check every request.
``$HEPCOURSE_CONTENT`` names the course folder (the repo's ``modules/`` locally,
``/opt/hepcourse/modules`` in the image); it lands in ``~/modules``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import requests
from jupyter_client.provisioning import LocalProvisioner
from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from traitlets import Int

from . import content
from .cpus import set_niceness
from .net import KERNEL_PORTS, pick_port, port_block, port_in_use
from .seminar import scope


def deliver_course(env=os.environ) -> None:
    source = env.get("HEPCOURSE_CONTENT")
    if not source:
        return
    exclude = [p for p in env.get("HEPCOURSE_CONTENT_EXCLUDE", "").split(":") if p] or None
    home = Path(env.get("HOME") or Path.home())
    try:
        report = content.sync(source, home / "modules", exclude or content.DEFAULT_EXCLUDE,
                              solutions=env.get("HEPCOURSE_SOLUTIONS") == "1")
    except OSError as err:  # never block a student's server on a content problem
        print(f"hepcourse: course content not delivered: {err}", file=sys.stderr)
        return
    print(f"hepcourse: course content in {home / 'modules'}: {report.summary()}", file=sys.stderr)
    for rel, new in report.renamed:
        print(f"hepcourse: your file modules/{rel} was renamed to modules/{new}", file=sys.stderr)


def kernel_ports_folder() -> Path:
    """Where this account's servers note their kernels' ports (one folder per account: nobody
    else can fill it or hold its lock)."""
    return Path(tempfile.gettempdir()) / f"hepcourse-kernel-ports-{os.getuid()}"


def reserve_ports(ip: str, count: int, hold: float = 600, folder: Path | None = None) -> list[int]:
    """``count`` free ports for a kernel that no other server of this account on this machine
    reserved in the last ``hold`` seconds.

    Jupyter picks a kernel's ports by binding and releasing them, and remembers them only within
    one server: two servers starting kernels together can pick the same port, and one kernel
    then fails to start, its restarts too, which keep the ports (jupyter/jupyter_client#487;
    seen on class starts of 50 in local mode). The servers of one account on a machine (local
    mode, a Slurm node) therefore note their picks in one folder, one file per port, under a lock.
    """
    folder = folder or kernel_ports_folder()
    folder.mkdir(mode=0o700, exist_ok=True)
    block = port_block(KERNEL_PORTS)
    if folder.stat().st_uid != os.getuid():      # another account made it first: unnoted picks
        return [pick_port(ip, block) for _ in range(count)]
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ports = []
        while len(ports) < count:
            port = pick_port(ip, block)
            mark = folder / str(port)
            with contextlib.suppress(FileNotFoundError):
                if time.time() - mark.stat().st_mtime < hold:
                    continue                     # another kernel's, maybe not bound yet
            mark.touch()
            ports.append(port)
        return ports


class KernelProvisioner(LocalProvisioner):
    """Jupyter's local kernels, started at a lower CPU priority than the server that starts them,
    on ports no other server of the machine is handing out (``reserve_ports``) and outside the
    range outgoing connections take theirs from (``hepcourse.net``); a restart whose old ports
    were taken meanwhile gets new ones (Jupyter's restarter would retry the taken ones until it
    gives the kernel up).

    A student's kernel computes; their server, the hub and the proxy answer clicks. When a class
    starts its kernels at once (50 on 2 cores), kernels at the same priority would starve the
    servers' and the hub's replies (pages taking 10 s, the hub's event loop stalling); niced,
    they still get every cycle nothing interactive wants. Kernels compete among themselves as
    before.
    """

    niceness = Int(10, config=True, help="""Added to the server's niceness for its kernels
        (0-19; 0: the server's own priority).""")

    async def pre_launch(self, **kwargs):
        km = self.parent
        if km.transport == "tcp" and km.cache_ports:
            if self.ports_cached and any(port_in_use(km.ip, port) for port in km.ports):
                km.cleanup_connection_file()     # a restart whose old ports were taken meanwhile
                self.ports_cached = False
            if not self.ports_cached:
                km.shell_port, km.iopub_port, km.stdin_port, km.hb_port, km.control_port = reserve_ports(km.ip, 5)
                self.ports_cached = True
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd, **kwargs):
        info = await super().launch_kernel(cmd, **kwargs)
        if self.niceness:
            with contextlib.suppress(ProcessLookupError):    # died at once: the restarter's case
                set_niceness(self.process.pid, os.nice(0) + self.niceness)
        return info


class SeminarAuthorizer(JupyterHubAuthorizer):
    """Every request to a user's server: the owner may do anything; anyone else needs the action
    (read, write or execute) on this server, from a role (instructors) or from a share the owner
    granted them (their live seminar). Starting, stopping or talking to kernels and terminals
    counts as execute: Jupyter Server calls starting one "write", but a kernel runs code as the
    owner.

    Shares are read from the hub's share list (refreshed every few seconds: a revoked share
    stops working within them), because JupyterHub does not put a share's custom scopes into
    the OAuth token a browser gets for the shared server, only its access scope.
    """

    EXECUTING: ClassVar[set[str]] = {"kernels", "terminals", "sessions"}
    refresh_seconds = 5.0
    _shared: ClassVar[dict[str, set[str]]] = {}
    _fetched = float("-inf")

    def is_authorized(self, handler, user, action, resource):
        owner = os.environ["JUPYTERHUB_USER"]
        allowed = super().is_authorized(handler, user, action, resource)  # the access scope
        name = user.hub_user.get("name")
        if name == owner or not allowed:
            return allowed
        if action == "write" and resource in self.EXECUTING:
            action = "execute"
        server = f"{owner}/{os.environ.get('JUPYTERHUB_SERVER_NAME', '')}"
        wanted = {scope(action) + f"!user={owner}", scope(action) + f"!server={server}"}
        return bool(self.hub_auth.check_scopes(wanted, user.hub_user)) or scope(action) in self.shared_with(name, server)

    def shared_with(self, name: str, server: str) -> set[str]:
        """Scopes (filters stripped) that this server's shares grant to ``name``."""
        if time.monotonic() - self._fetched > self.refresh_seconds:
            shared, url = {}, f"{self.hub_auth.api_url}/shares/{server}"
            try:
                while url:
                    r = requests.get(url, headers={"Authorization": f"token {self.hub_auth.api_token}"}, timeout=5)
                    r.raise_for_status()
                    page = r.json()
                    for share in page["items"]:
                        if share["user"]:
                            shared[share["user"]["name"]] = {s.split("!", 1)[0] for s in share["scopes"]}
                    url = (page["_pagination"].get("next") or {}).get("url")
            except (requests.RequestException, KeyError, ValueError) as err:
                self.log.warning("hepcourse: cannot read this server's shares (%s): shared access refused", err)
                shared = {}
            SeminarAuthorizer._shared, SeminarAuthorizer._fetched = shared, time.monotonic()
        return self._shared.get(name, set())


def skip_yarn_registry_lookup() -> None:
    """Importing JupyterLab runs ``node yarn.js config`` wherever node is on PATH (in local mode:
    the proxy's node), half a CPU second of every server's start, only to learn the npm registry
    for installing extensions from npm, which course servers never do: they get yarn's default
    registry without asking (jupyterlab.commands.AppOptions.registry)."""
    from jupyterlab import commands

    commands._yarn_config = lambda logger: {"yarn config": {}, "npm config": {}}


def main() -> int:
    deliver_course()
    skip_yarn_registry_lookup()
    from jupyterhub.singleuser import main as singleuser_main

    sys.argv[0] = "jupyterhub-singleuser"
    return singleuser_main()


if __name__ == "__main__":
    sys.exit(main())
