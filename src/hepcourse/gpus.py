"""GPUs for user containers (docker mode): fixed requests, or a pool that lends devices to users.

``docker.gpus``: ``none``; ``all`` (every container sees every GPU); a list of ids (every
container gets those); or ``pool``: each user's container gets one device of the server's
inventory (``docker.gpu_pool.devices``: ``auto`` = what ``nvidia-smi -L`` lists, MIG slices in
place of their parent GPU, or an explicit list), shared by at most
``docker.gpu_pool.users_per_device`` users, handed back when the server stops. The pool keeps no
state of its own: after a hub restart it is rebuilt from the running containers' labels.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

from docker.types import DeviceRequest

from .errors import UserError

LABEL = "hepcourse.gpu"


def device_requests(gpus: str | list[str]) -> list[DeviceRequest]:
    """``all`` -> every GPU; a list of ids -> exactly those devices; ``none`` -> nothing."""
    if gpus == "none":
        return []
    if gpus == "all":
        return [DeviceRequest(driver="nvidia", count=-1, capabilities=[["gpu"]])]
    return [DeviceRequest(driver="nvidia", device_ids=list(gpus), capabilities=[["gpu"]])]


def parse_nvidia_smi(listing: str) -> list[str]:
    """Device ids from ``nvidia-smi -L``: GPU UUIDs, or the MIG UUIDs of a GPU split into slices."""
    devices: list[str] = []
    gpu = None
    for line in listing.splitlines():
        uuid = re.search(r"\(UUID: ([^)]+)\)", line)
        if not uuid:
            continue
        if line.lstrip().startswith("MIG"):
            if gpu in devices:            # a GPU with MIG slices lends its slices, not itself
                devices.remove(gpu)
            devices.append(uuid.group(1))
        else:
            gpu = uuid.group(1)
            devices.append(gpu)
    return devices


def discover() -> list[str]:
    """The GPUs (or MIG slices) of this server; none when there is no NVIDIA driver."""
    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False, timeout=30)
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


class NoGpuFree(UserError):
    """Every device of the pool is taken (the message is shown to the user on the spawn page)."""


class GpuPool:
    """Which user holds which device. ``assign`` is idempotent for a user who holds one."""

    def __init__(self, devices: list[str], users_per_device: int = 1):
        self.devices = list(devices)
        self.users_per_device = users_per_device
        self.holders: dict[str, str] = {}

    def assign(self, user: str) -> str:
        if user in self.holders:
            return self.holders[user]
        if not self.devices:
            raise NoGpuFree("This server has no GPU to lend; ask your facilitator to start you without one.")
        load = Counter(self.holders.values())
        device = min(self.devices, key=lambda d: (load[d], self.devices.index(d)))
        if load[device] >= self.users_per_device:
            raise NoGpuFree(
                f"All {len(self.devices)} GPUs are in use ({self.users_per_device} user(s) each). "
                "Try again when a classmate stops their server, or ask your facilitator.")
        self.holders[user] = device
        return device

    def release(self, user: str) -> None:
        self.holders.pop(user, None)

    def rebuild(self, running: dict[str, str]) -> None:
        """Take over the assignments of running containers (user -> device) after a restart;
        devices no longer in the inventory are dropped from the pool's view, not the container."""
        self.holders = {user: device for user, device in running.items() if device in self.devices}


def pool_inventory(setting: str | list[str]) -> list[str]:
    return discover() if setting == "auto" else list(setting)
