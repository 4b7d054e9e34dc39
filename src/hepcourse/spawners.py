"""Spawners of the course hub."""

from __future__ import annotations

import asyncio
import os
import time
from typing import ClassVar

from dockerspawner import DockerSpawner
from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado import web
from traitlets import Float, Int, List, Unicode, Union

from .cpus import set_niceness
from .gpus import LABEL, GpuPool, NoGpuFree, device_requests, pool_inventory
from .net import SERVER_PORTS, pick_port, port_block
from .uids import uid_of


class LocalCourseSpawner(SimpleLocalProcessSpawner):
    """``local`` mode: one server process per user, all as the hub's OS user.

    For development, CI and trusted users only: users share one Unix account, so nothing but
    the UI keeps them apart (the ``docker`` mode is the isolated one). Works as root too.
    """

    ready_poll_interval = Float(
        0.05,
        config=True,
        help="""Seconds before the first re-check that the new server listens (growing by
        half each time, up to a second). start() returns once it does, so the hub's first
        readiness probe succeeds instead of waiting out its growing back-off (0.2, 0.6, 1.4,
        3 s ...). 0 returns at once, as stock spawners do.""",
    )

    niceness = Int(
        5,
        config=True,
        help="""Niceness of the users' servers (0-19; their kernels add
        KernelProvisioner.niceness). The hub and the proxy serve every student and keep the
        default priority: at the same priority as 50 busy servers the hub would get a fiftieth
        of the CPU and its event loop would stall for seconds (containers get this from their
        cgroups).""",
    )

    # Ports handed to this hub's servers. A port from the OS is only free until someone binds
    # it: two servers starting together could be given the same one (and the proxy would route
    # one user to the other's server) unless ports already handed out are skipped.
    _ports_handed_out: ClassVar[set[int]] = set()

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0:  # jupyter_server refuses to run as root without it
            args.append("--allow-root")
        return args

    def make_preexec_fn(self, name):
        preexec, niceness = super().make_preexec_fn(name), self.niceness

        def lower_priority_then_preexec():
            set_niceness(0, os.nice(0) + niceness)
            preexec()

        return lower_priority_then_preexec

    @classmethod
    def unique_port(cls) -> int:
        """A free port that no other server of this hub has been given."""
        block = port_block(SERVER_PORTS)
        while (port := pick_port("127.0.0.1", block)) in cls._ports_handed_out:
            pass
        cls._ports_handed_out.add(port)
        return port

    async def start(self):
        if self.port == 0:
            self.port = self.unique_port()
        self._started = time.monotonic()
        ip, port = await super().start()
        if self.ready_poll_interval <= 0:
            return ip, port
        deadline = time.monotonic() + self.start_timeout
        interval = self.ready_poll_interval
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(interval)
                # Backing off up to a second: a class of servers starting together must not
                # keep the hub's event loop busy with connection attempts.
                interval = min(1.0, interval * 1.5)
                continue
            writer.close()
            break
        return ip, port

    async def progress(self):
        """What the spawn page shows while the server starts (JupyterHub's progress events)."""
        yield {"progress": 10, "message": "Your server is starting"}
        while True:
            await asyncio.sleep(1)
            waited = time.monotonic() - getattr(self, "_started", time.monotonic())
            yield {"progress": min(90, 10 + int(4 * waited)),
                   "message": f"Starting JupyterLab ({waited:.0f} s; a class starting at once takes longer)"}


class CourseDockerSpawner(DockerSpawner):
    """``docker`` mode: DockerSpawner, each user's container under the user's own uid, plus a
    GPU lent to it from a pool."""

    gpu_pool_devices = Union(
        [Unicode(), List(Unicode())], default_value=[], config=True,
        help="""Devices the pool lends: "auto" (nvidia-smi's GPUs, MIG slices in place of
        their GPU) or a list of ids. Empty: no pool (the container gets extra_host_config's
        device_requests, if any).""",
    )
    gpu_users_per_device = Int(1, config=True, help="Users sharing one device of the pool.")
    uid_registry = Unicode("", config=True, help="""State folder of hepcourse.uids: each user's
        container runs as that user's own uid ($NB_UID, applied by the image's entry point).""")

    _pool: GpuPool | None = None   # one per hub process, shared by every user's spawner
    _pool_lock = asyncio.Lock()

    def get_env(self):
        env = super().get_env()
        if self.uid_registry:
            env["NB_UID"] = str(uid_of(self.user.name, self.uid_registry))
        return env

    async def pool(self) -> GpuPool:
        """The hub's pool, rebuilt from the running containers' labels the first time."""
        async with CourseDockerSpawner._pool_lock:
            if CourseDockerSpawner._pool is None:
                pool = GpuPool(pool_inventory(self.gpu_pool_devices), self.gpu_users_per_device)
                running = await self.docker("containers", filters={"label": LABEL})
                pool.rebuild({c["Labels"]["hepcourse.user"]: c["Labels"][LABEL] for c in running})
                CourseDockerSpawner._pool = pool
            return CourseDockerSpawner._pool

    async def start(self):
        if not self.gpu_pool_devices:
            return await super().start()
        try:
            device = (await self.pool()).assign(self.user.name)
        except NoGpuFree as err:
            raise web.HTTPError(503, str(err)) from None
        self.extra_host_config = {**self.extra_host_config, "device_requests": device_requests([device])}
        self.extra_create_kwargs = {**self.extra_create_kwargs,
                                    "labels": {LABEL: device, "hepcourse.user": self.user.name}}
        try:
            return await super().start()
        except Exception:
            CourseDockerSpawner._pool.release(self.user.name)
            raise

    async def stop(self, now=False):
        await super().stop(now=now)
        if self.gpu_pool_devices and CourseDockerSpawner._pool:
            CourseDockerSpawner._pool.release(self.user.name)
