"""Small network helpers."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# The parts of the 10,000 ports below the system's ephemeral range that users' servers and their
# kernels pick from. A port picked inside the ephemeral range is taken, often, between its pick
# and its server's or kernel's bind: outgoing connections and every bind to port 0 draw from it
# (each kernel binds one there for its output pipe). Seen on class starts of 50 in local mode.
SERVER_PORTS, KERNEL_PORTS = 0, 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on ``host:port`` or the address cannot be bound."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_block(part: int, ephemeral: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range | None:
    """Part ``part`` (SERVER_PORTS or KERNEL_PORTS) of the ports below the ephemeral range
    (None: no room there, or no such range known)."""
    try:
        low = int(ephemeral.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    start = max(1024, low - 10_000)
    half = (low - start) // 2
    return range(start + part * half, start + (part + 1) * half) if half >= 100 else None


def pick_port(host: str, ports: range | None) -> int:
    """A port of ``ports`` free on ``host`` right now (None: the OS picks it)."""
    if ports is None:
        return free_port(host)
    while True:
        port = random.choice(ports)
        if not port_in_use(host, port):
            return port
