"""Spawners of the course hub."""

from __future__ import annotations

import asyncio
import os
import time

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Float


class LocalCourseSpawner(SimpleLocalProcessSpawner):
    """``local`` mode: one server process per user, all as the hub's OS user.

    For development, CI and trusted users only: users share one Unix account, so nothing but
    the UI keeps them apart (the ``docker`` mode is the isolated one). Works as root too.
    """

    ready_poll_interval = Float(
        0.05,
        config=True,
        help="""Seconds between checks that the new server listens. start() returns once it
        does, so the hub's first readiness probe succeeds instead of waiting out its growing
        back-off (0.2, 0.6, 1.4, 3 s ...). 0 returns at once, as stock spawners do.""",
    )

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0:  # jupyter_server refuses to run as root without it
            args.append("--allow-root")
        return args

    async def start(self):
        ip, port = await super().start()
        if self.ready_poll_interval <= 0:
            return ip, port
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(self.ready_poll_interval)
                continue
            writer.close()
            break
        return ip, port
