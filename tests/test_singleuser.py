"""The users' servers: their kernels' ports, reserved across the machine's servers."""

import asyncio
import os
import socket
import time

import pytest
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory

import hepcourse.singleuser
from hepcourse.singleuser import kernel_port_range, pick_port, reserve_ports


def test_a_port_another_server_noted_is_skipped_until_the_note_is_old(tmp_path, monkeypatch):
    (tmp_path / "41001").touch()                          # another server's pick, just now
    old = tmp_path / "41002"
    old.touch()
    os.utime(old, (time.time() - 3600,) * 2)              # one from an hour ago
    picks = iter([41001, 41002, 41001, 41003])            # what binding port 0 would give
    monkeypatch.setattr(hepcourse.singleuser, "pick_port", lambda ip: next(picks))
    assert reserve_ports("127.0.0.1", 2, folder=tmp_path) == [41002, 41003]
    assert time.time() - old.stat().st_mtime < 60         # noted again, now for this kernel
    assert (tmp_path / "41003").exists()


def test_real_picks_are_noted_and_distinct(tmp_path):
    ports = reserve_ports("127.0.0.1", 10, folder=tmp_path)
    assert len(set(ports)) == 10
    assert {int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()} == set(ports)


@pytest.mark.skipif(kernel_port_range() is None, reason="no ephemeral port range to keep out of")
def test_picks_stay_out_of_the_range_outgoing_connections_use():
    ports = kernel_port_range()
    picks = [pick_port("127.0.0.1") for _ in range(50)]
    assert all(port in ports for port in picks)


def test_a_kernel_whose_port_was_taken_while_it_was_down_restarts_on_new_ports(monkeypatch):
    """What the restarter does after a kernel died: restart it (jupyter_client keeps its cached
    ports, so a port taken meanwhile would fail every retry)."""
    monkeypatch.setattr(KernelProvisionerFactory.instance(), "default_provisioner_name", "hepcourse-kernel")

    async def scenario():
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel()
        try:
            old = km.ports
            km.provisioner.process.kill()
            await km.provisioner.wait()
            with socket.socket() as squatter:
                squatter.bind((km.ip, km.shell_port))
                squatter.listen()
                await km.restart_kernel(now=True, newports=True)
                client = km.client()
                client.start_channels()
                try:
                    await client.wait_for_ready(timeout=60)
                finally:
                    client.stop_channels()
            return old, km.ports, type(km.provisioner).__name__
        finally:
            await km.shutdown_kernel(now=True)

    old, new, provisioner = asyncio.run(scenario())
    assert provisioner == "KernelProvisioner"
    assert old[0] != new[0] and set(new).isdisjoint(old)
