"""A real one-node Slurm cluster on loopback for tests (Debian's slurm-wlm and munge; run as root).

Everything it writes lives in the folder it is given: slurm.conf, gres.conf, state, spool, logs,
pid files and a munged of its own (own key and socket), so it never touches /etc/slurm, /etc/munge
or a munged already running. Other users submit jobs to it, so they must read slurm.conf and reach
munged's socket: the folder is made world-readable, and its parents must let others through (a
tempfile.mkdtemp() folder under /tmp does; pytest's tmp_path, under a 0700 /tmp/pytest-of-root,
does not).
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Self

TOOLS = ("slurmctld", "slurmd", "sbatch", "munged")


def ensure_installed() -> None:
    """Install slurm-wlm and munge with apt-get unless their daemons and clients are all there."""
    if all(shutil.which(tool) for tool in TOOLS):
        return
    if not shutil.which("apt-get"):
        raise RuntimeError("Slurm and munge are missing and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode:  # a fresh image may have no package lists yet
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if result.returncode or missing:
        raise RuntimeError(f"installing slurm-wlm and munge failed, {missing} missing:\n"
                           f"{result.stderr[-2000:]}")


def _free_ports(count: int) -> list[int]:
    """Ports nothing listens on now, so that the cluster never meets a system Slurm's 6817/6818."""
    with contextlib.ExitStack() as stack:  # all bound at once, so the ports differ
        sockets = [stack.enter_context(socket.create_server(("", 0))) for _ in range(count)]
        return [sock.getsockname()[1] for sock in sockets]


class SlurmCluster:
    """`with SlurmCluster(folder) as cluster:` runs munged, slurmctld and slurmd for the block."""

    def __init__(self, folder: Path, cpus: int = 2, gpus: int = 2, partition: str = "course",
                 max_jobs: int | None = None, max_time: str = "INFINITE"):
        self.folder = Path(folder).resolve()
        self.cpus, self.gpus, self.partition, self.max_jobs = cpus, gpus, partition, max_jobs
        self.max_time = max_time  # the partition's MaxTime (minutes or [D-]HH:MM:SS)
        self.conf = self.folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.host = socket.gethostname().split(".")[0]  # slurmd finds its node by `hostname -s`
        self._munge = self.folder / "munge"
        self._procs: dict[str, subprocess.Popen] = {}

    def run(self, *args: str, user: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a Slurm command on this cluster, as `user` if given (from their home, as a login
        would: sbatch writes slurm-<id>.out into the working folder)."""
        command = ["runuser", "-u", user, "--", *args] if user else list(args)
        home = pwd.getpwnam(user).pw_dir if user else None
        return subprocess.run(command, env=self.env, cwd=home, capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)

    def __enter__(self) -> Self:
        try:
            self._configure()
            self._start_munged()
            self._start("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._start("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
            self._wait(lambda: self.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip() == "idle",
                       "idle node")
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._shutdown()

    def _configure(self) -> None:
        closed = [str(p) for p in self.folder.parents if not os.stat(p).st_mode & stat.S_IXOTH]
        if closed:
            raise ValueError(f"{self.folder}: other users cannot pass {closed}; use one in /tmp")
        if len(str(self._munge / "socket")) > 100:  # a unix socket's path has at most 107 bytes
            raise ValueError(f"{self.folder}: too long a path for munged's socket")
        for sub in ("state", "spool", "dev", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        # munged refuses a socket, key or log folder that anyone but its own user may write to.
        shutil.chown(self._munge, "munge", "munge")
        self._munge.chmod(0o755)

        # Stand-ins for GPUs, not GPUs: files named like /dev/nvidiaN (character devices 195,N where
        # mknod is allowed, plain files where it is not, as in gVisor), which is all the gres plugin
        # needs to hand them out and set CUDA_VISIBLE_DEVICES.
        gres = ["AutoDetect=off"]
        for index in range(self.gpus):
            device = self.folder / "dev" / f"nvidia{index}"
            if not device.exists():
                try:
                    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(195, index))
                except OSError:
                    device.touch(0o666)
            gres.append(f"NodeName={self.host} Name=gpu File={device}")
        (self.folder / "gres.conf").write_text("\n".join(gres) + "\n")

        # Memory is a consumable (CR_Core_Memory): without DefMemPerCPU a job takes the whole node.
        memory = min(4096, os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**21)
        node = f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory}"
        if self.gpus:
            node += f" Gres=gpu:{self.gpus}"
        partition = (f"PartitionName={self.partition} Nodes={self.host} Default=YES"
                     f" MaxTime={self.max_time} State=UP DefMemPerCPU={memory // self.cpus}")
        # Without slurmdbd there is no QOS or association MaxJobs: max_jobs caps the CPUs the
        # partition may use on the node instead. Every job holds at least one core, so at most
        # max_jobs run at once (fewer if jobs ask for several CPUs); the rest pend on Resources.
        if self.max_jobs:
            partition += f" MaxCPUsPerNode={self.max_jobs}"
        ctld_port, slurmd_port = _free_ports(2)
        f = self.folder
        self.conf.write_text(f"""\
ClusterName=testcluster
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={self._munge / "socket"}
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
# The CPUs and memory written here win over what slurmd counts, so a test may ask for more CPUs
# than the machine has without the node being drained.
SlurmdParameters=config_overrides
KillWait=5
MailProg=/bin/true
StateSaveLocation={f}/state
SlurmdSpoolDir={f}/spool
SlurmctldPidFile={f}/slurmctld.pid
SlurmdPidFile={f}/slurmd.pid
SlurmctldLogFile={f}/slurmctld.log
SlurmdLogFile={f}/slurmd.log
{node}
{partition}
""")

    def _start_munged(self) -> None:
        key, as_munge = self._munge / "munge.key", {"user": "munge", "group": "munge",
                                                    "extra_groups": []}
        if not key.exists():
            subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True,
                           capture_output=True, **as_munge)
        self._start("munged", ["munged", "--foreground", f"--socket={self._munge / 'socket'}",
                               f"--key-file={key}", f"--pid-file={self._munge / 'munged.pid'}",
                               f"--seed-file={self._munge / 'seed'}",
                               f"--log-file={self._munge / 'munged.log'}"], **as_munge)
        self._wait((self._munge / "socket").exists, "munged socket")

    def _start(self, name: str, command: list[str], **popen) -> None:
        with open(self.folder / f"{name}.out", "ab") as out:
            self._procs[name] = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL,
                                                 stdout=out, stderr=subprocess.STDOUT, **popen)

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, proc in self._procs.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = [*self.folder.glob("*.out"), *self.folder.glob("*.log"),
                        self._munge / "munged.log"]
                tails = "".join(f"\n--- {log.name}\n"
                                + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                                for log in logs if log.exists())
                why = f"{', '.join(dead)} exited" if dead else f"none in {timeout} s"
                raise RuntimeError(f"Slurm test cluster: no {what} ({why}){tails}")
            time.sleep(0.5)

    def _stepds(self) -> list[Path]:
        """This cluster's slurmstepd processes (/proc entries), known by the SLURM_CONF in their
        environment: slurmd daemonizes them, so they are not our children."""
        mark, found = f"SLURM_CONF={self.conf}\0".encode(), []
        for proc in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):  # ended meanwhile
                if ((proc / "comm").read_text() == "slurmstepd\n"
                        and mark in (proc / "environ").read_bytes()):
                    found.append(proc)
        return found

    def _shutdown(self) -> None:
        stepds = self._stepds()  # now, while they live: a zombie's environment cannot be read
        # Cancel the jobs and let them end while slurmd still runs, so that their steps clean up.
        if all(name in self._procs and self._procs[name].poll() is None
               for name in ("slurmctld", "slurmd")):
            self.run("scancel", f"--partition={self.partition}")
            deadline = time.monotonic() + 30
            while self.run("squeue", "-h").stdout.strip() and time.monotonic() < deadline:
                time.sleep(0.5)
        # munged last: slurmctld and slurmd authenticate through it until they are gone.
        for name in ("slurmd", "slurmctld", "munged"):
            if proc := self._procs.pop(name, None):
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for proc in stepds:  # any still there only if their jobs would not end
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
        # Ended steps were reparented to init: wait (bounded) until it has reaped them as well.
        deadline = time.monotonic() + 15
        while any(proc.exists() for proc in stepds) and time.monotonic() < deadline:
            time.sleep(0.2)
