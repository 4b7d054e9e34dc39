"""The autograde sandbox: each submission's kernel runs confined.

A submission is student code, and nbgrader runs it in a kernel next to the grader's files. Here
that kernel is started through ``unshare`` and ``confine.py``, which, before handing over to
ipykernel:

* moves it into its own network namespace with only a loopback that is down: no network at all;
* into its own PID namespace (it sees no other process; when the grader kills what is left of the
  sandbox uid, a daemon it double-forked dies too) and mount namespace: private, size-bounded
  ``/tmp``, ``/var/tmp`` and ``/dev/shm`` that vanish with it, and the host's secrets covered
  (the hub's state files, ``/home``, container engine sockets: ``grading.sandbox.hide``);
* drops (with ``setpriv``) to an unprivileged uid/gid owning nothing but the sandbox's working directory (its HOME
  and cwd), so it cannot read the gradebook or the course directory (mode 0700) nor delete
  anything of the grader's;
* sets resource limits: address space (memory bombs), CPU seconds (busy loops), processes of
  that uid (fork bombs), file size, no core files;
* keeps only the environment a course notebook needs (no tokens or secrets).

The kernel talks to the grader over IPC sockets inside the working directory: TCP loopback would
not cross the network namespace. Each parallel worker has its own uid and working directory, so
the process limit of one submission never counts another's processes; :func:`release`, called
from the grader's own ``finally`` after every submission whatever happened, kills every process
of the uid and removes its working directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Int, List, Unicode

from ..errors import UserError
from . import cgroups


class SandboxError(UserError):
    """The sandbox cannot be set up on this machine (the message says why and what to do)."""


def check_available(settings: dict) -> None:
    """Raise SandboxError unless this process can have sandboxes built: as root (unshare,
    setpriv), otherwise through the course's grading broker."""
    if os.geteuid() != 0:
        from .broker import socket_path

        if not socket_path(settings).exists():
            raise SandboxError(
                "the autograde sandbox needs root: it runs each submission's kernel as an unprivileged "
                "uid without network. As the grader account, grade while the hub runs (its grading "
                f"broker, {socket_path(settings)}, starts the sandboxes); or run the autograde as root; "
                "or set grading.sandbox.enabled: false (or --no-sandbox) for code you trust.")
        return
    if not (shutil.which("unshare") and shutil.which("setpriv")):
        raise SandboxError("the autograde sandbox needs `unshare` and `setpriv` (Debian package util-linux)")


def sandbox_of(settings: dict) -> dict:
    """How this process's kernels get their sandbox: ``{"uid": n}``, a uid claimed for the
    process (root builds the sandboxes itself), or ``{"broker": socket}`` (the grader account
    asks the grading broker, which may start after the formgrader: a kernel that finds no
    broker fails with the reason). Raises SandboxError."""
    if os.geteuid() == 0:
        check_available(settings)
        return {"uid": claim_uid(settings["grading"]["sandbox"]["uid"])}
    from .broker import socket_path

    return {"broker": str(socket_path(settings))}


def work_root() -> Path:
    """Where sandboxes' working directories and the held-out inputs live: outside ``/tmp``,
    which a sandbox replaces by its own. Others may traverse it, not list it."""
    root = Path("/run/hepcourse-sandbox-work") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    root.mkdir(mode=0o711, exist_ok=True)
    return root


def needed_paths() -> list[Path]:
    """What a kernel reads to start and to load data: the Python environment (interpreter,
    packages, this package's folder), the data folders; not the grader's working folder or other
    entries of its ``sys.path``. Outermost folders only."""
    from ..data.cards import cards_dir
    from ..data.store import data_dir

    package = Path(__file__).resolve().parents[2]        # site-packages, or an editable checkout's src/
    extra = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    found = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent,
             data_dir(), cards_dir(), package, *(Path(p) for p in [*site.getsitepackages(), *extra] if p)}
    found = {path.resolve() for path in found if path.exists()} - {Path("/")}
    return sorted(path for path in found if not any(other in path.parents for other in found))


def workdir_of(uid: int) -> Path:
    return work_root() / f"uid-{uid}"


def release(uid: int) -> None:
    """Kill every process of sandbox ``uid``, remove its control groups and working directory."""
    kill_all(uid)
    cgroups.remove(cgroups.existing(uid))
    shutil.rmtree(workdir_of(uid), ignore_errors=True)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside the sandbox (``confine.py`` on the kernel side)."""

    sandbox_uid = Int(64000, help="uid (and gid) the kernel runs as").tag(config=True)
    memory = Int(6 * 1024**3, help="address-space limit in bytes").tag(config=True)
    cpu_seconds = Int(900, help="CPU-time limit in seconds").tag(config=True)
    processes = Int(256, help="process/thread limit of the sandbox uid").tag(config=True)
    file_size = Int(1024**3, help="largest file, and size of each private scratch folder, in bytes").tag(config=True)
    hide = List(Unicode(), help="host paths the kernel must not see (covered in its mount namespace)").tag(config=True)
    own_cgroups = True       # the memory and processes of a submission, counted together (cgroups.py)

    share_gid = Int(None, allow_none=True, help="a group (the grader account's, through the broker) that may use the "
                    "kernel's sockets and files: its working directory is that group's (setgid)").tag(config=True)
    kernel_env = Dict(None, allow_none=True, help="the environment the kernel is given (default: this process's)")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release_sandbox(self.sandbox_uid)         # whatever an earlier kernel of the uid left
        self.cgroups = cgroups.create(self.sandbox_uid, self.memory, self.processes) if self.own_cgroups else []
        self.workdir = str(workdir_of(self.sandbox_uid))
        os.mkdir(self.workdir, 0o700)
        shared = self.share_gid is not None
        os.chown(self.workdir, self.sandbox_uid, self.share_gid if shared else self.sandbox_uid)
        if shared:
            # The group may reach the kernel's sockets, never write here: a link it planted
            # would be followed by the root starter writing the connection file and the log.
            os.chmod(self.workdir, 0o2750)
        # IPC sockets in the sandbox's own directory: reachable from the grader, no network.
        self.transport = "ipc"
        self.ip = os.path.join(self.workdir, "kernel")

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = super().format_kernel_cmd(extra_arguments)
        hide = [arg for path in self.hide for arg in ("--hide", path)]
        hide += [arg for path in needed_paths() for arg in ("--keep", str(path))]
        return ["unshare", "--net", "--pid", "--kill-child", "--mount-proc", sys.executable, "-m", "hepcourse.grading.confine",
                "--uid", str(self.sandbox_uid), "--workdir", self.workdir,
                "--memory", str(self.memory), "--cpu-seconds", str(self.cpu_seconds),
                "--processes", str(self.processes), "--file-size", str(self.file_size), *hide,
                *(["--shared"] if self.share_gid is not None else []),
                *(arg for group in self.cgroups for arg in ("--cgroup", str(group))), "--", *kernel]

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.release_sandbox(self.sandbox_uid)

    @staticmethod
    def release_sandbox(uid: int) -> None:
        release(uid)


class ContainerKernelManager(SandboxedKernelManager):
    """docker mode: each submission's kernel in a throwaway container of the course image
    (Otter-Grader's model): no network, the engine's cgroup limits on memory and processes, a
    read-only root, private bounded scratch folders, no capabilities, the uid of the sandbox;
    only its working directory (read-write), the data and the held-out features (read-only)
    mounted, at the same paths as here. The kernel talks to the grader over IPC sockets in the
    working directory."""

    image = Unicode("", help="the course image the kernels run in").tag(config=True)
    own_cgroups = False      # the engine makes the container's
    engine = Unicode("", help="container engine command (default: podman, else docker)").tag(config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        from .answers import INPUTS_VAR
        from .confine import KEEP_ENV, hand_over_connection

        kernel = super(SandboxedKernelManager, self).format_kernel_cmd(extra_arguments)
        connection = hand_over_connection(kernel, self.workdir, self.sandbox_uid)
        environ = os.environ if self.kernel_env is None else self.kernel_env
        env = {key: value for key, value in environ.items() if KEEP_ENV.match(key) and key != "PATH"}
        env.update(HOME=self.workdir, MPLCONFIGDIR=f"{self.workdir}/.matplotlib")
        mounts = [(self.workdir, "rw")] + [(path, "ro") for path in (os.environ.get("HEPCOURSE_DATA_DIR"),
                                                                   environ.get(INPUTS_VAR)) if path]
        size, uid = self.file_size, self.sandbox_uid
        return [container_engine(self.engine), "run", "--rm", "--name", container_name(uid), "--network", "none",
                "--user", f"{uid}:{uid}", "--cap-drop", "all", "--security-opt", "no-new-privileges",
                "--memory", str(self.memory), "--memory-swap", str(self.memory), "--pids-limit", str(self.processes),
                "--ulimit", f"cpu={self.cpu_seconds}:{self.cpu_seconds}", "--ulimit", f"fsize={size}:{size}",
                "--ulimit", "core=0:0", "--ulimit", "nofile=4096:4096", "--ulimit", f"nproc={self.processes}:{self.processes}", "--read-only", "--tmpfs", f"/tmp:rw,size={size},mode=1777",
                "--tmpfs", f"/var/tmp:rw,size={size},mode=1777", "--shm-size", str(size), "--log-driver", "none",
                *(arg for path, mode in mounts for arg in ("-v", f"{path}:{path}:{mode}")),
                *(arg for key, value in env.items() for arg in ("-e", f"{key}={value}")),
                "--workdir", self.workdir, "--entrypoint", "sh", self.image, "-c",
                ("umask 007; " if self.share_gid is not None else "")
                + f"exec python3 -m ipykernel_launcher -f {connection} >{self.workdir}/kernel.log 2>&1"]

    @staticmethod
    def release_sandbox(uid: int) -> None:
        subprocess.run([container_engine(""), "rm", "--force", "--time", "0", container_name(uid)],
                       check=False, capture_output=True)
        release(uid)


def container_name(uid: int) -> str:
    return f"hepcourse-grade-{uid}"


def container_engine(command: str) -> str:
    found = command or shutil.which("podman") or shutil.which("docker")
    if not found:
        raise SandboxError("grading in containers needs podman or docker on the grading machine "
                           "(or set grading.sandbox.engine: process)")
    return found


LOCKS = Path("/run/hepcourse-sandbox") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir()) / "hepcourse-sandbox"
_claims: dict = {}


def claim_uid(first: int, count: int = 256) -> int:
    """Claim a sandbox uid for this process's lifetime: the first of ``first .. first+count-1``
    that no other process holds (an flock on its lock file). Two autogrades on one machine
    (the CLI and the formgrader, two courses) never share a uid, so one's clean-up can never
    kill the other's kernels."""
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    for uid in range(first, first + count):
        lock = open(LOCKS / f"{uid}.lock", "w")  # noqa: SIM115 - held until the process exits
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _claims[uid] = lock
        return uid
    raise SandboxError(f"all {count} sandbox uids from {first} are in use by other autogrades")


def unclaim_uid(uid: int) -> None:
    """Give back a uid claimed by :func:`claim_uid` (the broker, which outlives its kernels)."""
    _claims.pop(uid).close()


def kill_all(uid: int) -> int:
    """Kill every process of a sandbox uid (what a fork bomb or a daemon left behind): the uid
    belongs to one worker, so nothing else can be hit. Returns how many were killed."""
    killed = 0
    for _ in range(20):            # a fork bomb forks while we kill: sweep until none is left
        victims = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
        if not victims:
            break
        for process in victims:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(victims, timeout=5)
        killed += len(victims)
    return killed

