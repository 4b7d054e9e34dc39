"""The users' servers: their kernels' ports, reserved across the machine's servers."""

import os
import time

from jupyter_client.connect import LocalPortCache

from hepcourse.singleuser import reserve_ports


def test_a_port_another_server_noted_is_skipped_until_the_note_is_old(tmp_path, monkeypatch):
    (tmp_path / "41001").touch()                          # another server's pick, just now
    old = tmp_path / "41002"
    old.touch()
    os.utime(old, (time.time() - 3600,) * 2)              # one from an hour ago
    picks = iter([41001, 41002, 41001, 41003])            # what binding port 0 would give
    monkeypatch.setattr(LocalPortCache.instance(), "find_available_port", lambda ip: next(picks))
    assert reserve_ports("127.0.0.1", 2, folder=tmp_path) == [41002, 41003]
    assert time.time() - old.stat().st_mtime < 60         # noted again, now for this kernel
    assert (tmp_path / "41003").exists()


def test_real_picks_are_noted_and_distinct(tmp_path):
    ports = reserve_ports("127.0.0.1", 10, folder=tmp_path)
    assert len(set(ports)) == 10
    assert {int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()} == set(ports)
