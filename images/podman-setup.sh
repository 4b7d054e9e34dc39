#!/bin/sh
# Podman as the container engine of the tests and of a small GPU server without Docker:
# installs it if missing, configures it for this kind of host, and serves the Docker API
# (what DockerSpawner and docker-py speak) on a socket. Prints the DOCKER_HOST to use.
#   images/podman-setup.sh SOCKET
set -eu
socket=${1:?usage: podman-setup.sh SOCKET}
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
# runc and cgroupfs: crun fails on hybrid cgroup trees; containers may lower rlimits, not raise.
conf=/etc/containers/containers.conf
if [ ! -f "$conf" ]; then
    mkdir -p /etc/containers
    cat > "$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
fi
mkdir -p "$(dirname "$socket")"
if ! curl -fsS --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then
    rm -f "$socket"
    nohup podman system service --time=0 "unix://$socket" >"$(dirname "$socket")/podman-service.log" 2>&1 &
    for _ in $(seq 50); do
        curl -fsS --unix-socket "$socket" http://d/_ping >/dev/null 2>&1 && break
        sleep 0.2
    done
fi
curl -fsS --unix-socket "$socket" http://d/_ping >/dev/null
echo "unix://$socket"
