"""The GPU pool of docker mode: inventories of 0, 1 and 4 devices, sharing off and on, MIG,
recovery after a hub restart, and the device_requests the containers get. The pool's spawner is
driven against a stand-in engine client (test names say so): a real GPU server with an engine
is not available to CI."""

import asyncio
from types import SimpleNamespace

import docker
import pytest

from hepcourse.gpus import LABEL, GpuPool, NoGpuFree, device_requests, parse_nvidia_smi
from hepcourse.spawners import CourseDockerSpawner

SMI = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)
  MIG 3g.40gb     Device  0: (UUID: MIG-b1)
  MIG 3g.40gb     Device  1: (UUID: MIG-b2)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-cccc)
"""


def test_inventory_from_nvidia_smi_lends_mig_slices_instead_of_their_gpu():
    assert parse_nvidia_smi(SMI) == ["GPU-aaaa", "MIG-b1", "MIG-b2", "GPU-cccc"]
    assert parse_nvidia_smi("") == []


def test_no_gpu_means_a_clear_refusal():
    with pytest.raises(NoGpuFree, match="no GPU"):
        GpuPool([]).assign("alice")


def test_one_gpu_one_user_at_a_time():
    pool = GpuPool(["0"])
    assert pool.assign("alice") == "0"
    assert pool.assign("alice") == "0"            # a restart of alice's server keeps it
    with pytest.raises(NoGpuFree, match="All 1 GPUs are in use"):
        pool.assign("bob")
    pool.release("alice")
    assert pool.assign("bob") == "0"


def test_four_gpus_are_spread_and_shared_only_when_allowed():
    users = [f"s{i}" for i in range(8)]
    exclusive = GpuPool(["0", "1", "2", "3"])
    assert [exclusive.assign(u) for u in users[:4]] == ["0", "1", "2", "3"]
    with pytest.raises(NoGpuFree):
        exclusive.assign(users[4])
    shared = GpuPool(["0", "1", "2", "3"], users_per_device=2)
    assert [shared.assign(u) for u in users] == ["0", "1", "2", "3", "0", "1", "2", "3"]
    with pytest.raises(NoGpuFree, match="2 user"):
        shared.assign("late")
    shared.release("s2")
    assert shared.assign("late") == "2"            # the freed device, not an overloaded one


def test_restart_recovery_takes_over_running_assignments():
    pool = GpuPool(["0", "1", "2", "3"])
    pool.rebuild({"alice": "2", "bob": "0", "ghost": "7"})   # device 7 left the inventory
    assert pool.holders == {"alice": "2", "bob": "0"}
    assert pool.assign("carol") == "1"
    assert pool.assign("alice") == "2"


def test_device_requests_name_explicit_devices():
    (request,) = device_requests(["MIG-b1"])
    host = docker.types.HostConfig(version="1.44", device_requests=[request])
    assert host["DeviceRequests"][0]["DeviceIDs"] == ["MIG-b1"]
    assert host["DeviceRequests"][0]["Driver"] == "nvidia"


class StandInEngine:
    """Answers CourseDockerSpawner's engine calls as podman/docker would (stand-in: no GPU
    server here). Records the containers created."""

    def __init__(self, running):
        self.running = running
        self.created = []


@pytest.fixture
def spawners(monkeypatch):
    CourseDockerSpawner._pool = None
    engine = StandInEngine([{"Labels": {LABEL: "1", "hepcourse.user": "alice"}}])

    async def fake_docker(self, method, *args, **kwargs):
        assert method == "containers" and kwargs == {"filters": {"label": LABEL}}
        return engine.running

    async def fake_start(self):
        engine.created.append((self.user.name, self.extra_host_config["device_requests"][0]["DeviceIDs"],
                               self.extra_create_kwargs["labels"]))
        return ("127.0.0.1", 8888)

    async def fake_stop(self, now=False):
        return None

    monkeypatch.setattr(CourseDockerSpawner, "docker", fake_docker)
    monkeypatch.setattr("dockerspawner.DockerSpawner.start", fake_start)
    monkeypatch.setattr("dockerspawner.DockerSpawner.stop", fake_stop)

    def make(name):
        return CourseDockerSpawner(user=SimpleNamespace(name=name, url=f"/user/{name}/"),
                                   gpu_pool_devices=["0", "1"])
    yield make, engine
    CourseDockerSpawner._pool = None


def test_spawner_lends_devices_recovers_after_restart_and_refuses_clearly_with_stand_in_engine(spawners):
    from tornado import web

    make, engine = spawners

    async def scenario():
        await make("bob").start()                 # alice already holds device 1 (a running container)
        with pytest.raises(web.HTTPError) as refused:
            await make("carol").start()
        await make("bob").stop()
        await make("carol").start()
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status_code == 503 and "All 2 GPUs are in use" in refused.log_message
    assert engine.created == [("bob", ["0"], {LABEL: "0", "hepcourse.user": "bob"}),
                              ("carol", ["0"], {LABEL: "0", "hepcourse.user": "carol"})]
