"""The users' servers' and kernels' ports: apart from each other and from the ports outgoing
connections use; kernels' reserved across the machine's servers. What a server runs as it starts."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory

import hepcourse.singleuser
from hepcourse.net import KERNEL_PORTS, SERVER_PORTS, pick_port, port_block
from hepcourse.singleuser import reserve_ports


def test_a_port_another_server_noted_is_skipped_until_the_note_is_old(tmp_path, monkeypatch):
    (tmp_path / "41001").touch()                          # another server's pick, just now
    old = tmp_path / "41002"
    old.touch()
    os.utime(old, (time.time() - 3600,) * 2)              # one from an hour ago
    picks = iter([41001, 41002, 41001, 41003])            # what pick_port would give
    monkeypatch.setattr(hepcourse.singleuser, "pick_port", lambda ip, ports: next(picks))
    assert reserve_ports("127.0.0.1", 2, folder=tmp_path) == [41002, 41003]
    assert time.time() - old.stat().st_mtime < 60         # noted again, now for this kernel
    assert (tmp_path / "41003").exists()


def test_real_picks_are_noted_and_distinct(tmp_path):
    ports = reserve_ports("127.0.0.1", 10, folder=tmp_path)
    assert len(set(ports)) == 10
    assert {int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()} == set(ports)


@pytest.mark.skipif(port_block(KERNEL_PORTS) is None, reason="no room below the ephemeral port range")
def test_servers_and_kernels_pick_apart_and_out_of_the_range_outgoing_connections_use(tmp_path):
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    servers, kernels = port_block(SERVER_PORTS), port_block(KERNEL_PORTS)
    assert servers.stop <= kernels.start and kernels.stop <= low
    assert all(port in kernels for port in reserve_ports("127.0.0.1", 50, folder=tmp_path))
    assert all(pick_port("127.0.0.1", servers) in servers for _ in range(50))


def test_no_port_block_without_room_below_the_ephemeral_range(tmp_path):
    (tmp_path / "range").write_text("1024\t65535\n")
    assert port_block(KERNEL_PORTS, tmp_path / "range") is None
    assert pick_port("127.0.0.1", None) >= 1024       # the OS's pick


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


@pytest.mark.parametrize("skipped", [False, True])
def test_a_server_starting_runs_no_node_for_yarn_s_registry(tmp_path, skipped):
    # a node on PATH that notes each run (the first run, without the skip, shows that the note works)
    node = tmp_path / "bin" / "node"
    node.parent.mkdir()
    node.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'runs'}\n")
    node.chmod(0o755)
    skip = "hepcourse.singleuser.skip_yarn_registry_lookup(); " if skipped else ""
    subprocess.run([sys.executable, "-c", f"import hepcourse.singleuser; {skip}import jupyterlab.labapp"],
                   env={**os.environ, "PATH": f"{node.parent}:{os.environ['PATH']}"}, check=True, timeout=120)
    runs = (tmp_path / "runs").read_text() if (tmp_path / "runs").exists() else ""
    assert ("yarn.js config" in runs) is not skipped
