"""The kernel side of the autograde sandbox (see ``sandbox.py``): started as root inside new
network, PID and mount namespaces, it gives the kernel private scratch folders, hides the
host's secrets, sets the limits, then execs the kernel as the sandbox uid. Kept free of
heavy imports: it runs once per graded submission."""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Variables a course notebook may see; everything else (tokens, hub secrets) is dropped.
# The held-out folder's path stays behind too: a kernel gets only the features the grader wrote
# for it (HEPCOURSE_GRADING_INPUTS).
KEEP_ENV = re.compile(r"^(PATH|LANG|LC_\w+|TZ|PYTHONPATH|OMP_NUM_THREADS|MKL_NUM_THREADS|MPLBACKEND|HEPCOURSE_(?!HELDOUT)\w+)$")


# Scratch folders every process may write: private to the submission, bounded, gone with it.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


@dataclass(frozen=True)
class Limits:
    memory: int        # bytes of address space
    cpu_seconds: int
    processes: int
    file_size: int     # bytes: the largest file it may write, and each scratch folder's size


def isolate_files(workdir: Path, limits: Limits, hide: list[Path], keep: list[Path]) -> None:
    """In the kernel's own mount namespace (root, before dropping privileges): a fresh tmpfs of
    bounded size on each scratch folder, and each path of ``hide`` covered (a folder by an empty
    root-owned tmpfs, a file or socket by /dev/null). What the kernel needs (``keep``: the Python
    environment, the package, the data) stays where it is even under a covered folder (a
    checkout in /tmp, a venv in /home): it is bound aside first and moved back on top."""
    scratch = [Path(folder) for folder in SCRATCH if Path(folder).is_dir()]
    covers = [*scratch, *(path for path in hide if path.exists())]
    staged = []
    for i, path in enumerate(keep):
        if path.exists() and any(cover == path or cover in path.parents for cover in covers):
            stage = workdir / f".keep-{i}"
            stage.mkdir()
            _mount("--rbind", str(path), str(stage))
            staged.append((stage, path))
    for folder in scratch:
        _mount("-t", "tmpfs", "-o", f"size={limits.file_size},mode=1777,nosuid,nodev", "tmpfs", str(folder))
    for path in hide:
        if path.is_dir():
            _mount("-t", "tmpfs", "-o", "size=64k,mode=0755,nosuid,nodev", "tmpfs", str(path))
        elif path.exists():
            _mount("--bind", "/dev/null", str(path))
    for stage, path in staged:
        path.mkdir(parents=True, exist_ok=True)
        _mount("--move", str(stage), str(path))
        stage.rmdir()


def hand_over_connection(kernel: list[str], workdir: Path, uid: int) -> Path:
    """The connection file holds the kernel's key and lives in the grader's private runtime
    folder: copy it into the sandbox's work folder for ``uid`` and point the kernel command's
    ``-f`` at the copy."""
    flag = kernel.index("-f")
    copy = Path(workdir) / "connection.json"
    shutil.copyfile(kernel[flag + 1], copy)
    os.chown(copy, uid, uid)
    kernel[flag + 1] = str(copy)
    return copy


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def confine(workdir: Path, limits: Limits, shared: bool = False) -> dict:
    """In the starting kernel process (root, new namespaces): set ``limits`` (inherited through
    the exec) and return the environment the kernel gets. ``shared``: what the kernel makes
    (its sockets above all) stays usable by the working directory's group, the grader account
    that talks to it through the broker."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.umask(0o007 if shared else 0o077)
    os.chdir(workdir)
    env = {key: value for key, value in os.environ.items() if KEEP_ENV.match(key)}
    env.update(HOME=str(workdir), MPLCONFIGDIR=str(workdir / ".matplotlib"), TMPDIR="/tmp",
               XDG_CACHE_HOME=str(workdir / ".cache"), JUPYTER_RUNTIME_DIR=str(workdir / ".runtime"),
               IPYTHONDIR=str(workdir / ".ipython"))
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hepcourse.grading.confine",
                                     description="Start a kernel confined (used by SandboxedKernelManager).")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--file-size", type=int, required=True)
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("--keep", type=Path, action="append", default=[])
    parser.add_argument("--cgroup", type=Path, action="append", default=[])
    parser.add_argument("--shared", action="store_true", help="files and sockets usable by the workdir's group")
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    hand_over_connection(kernel, args.workdir, args.uid)
    # Into the submission's control groups first: every process it will ever fork is counted there.
    for group in args.cgroup:
        (group / "cgroup.procs").write_text("0")
    limits = Limits(args.memory, args.cpu_seconds, args.processes, args.file_size)
    isolate_files(args.workdir, limits, args.hide, args.keep)
    env = confine(args.workdir, limits, args.shared)
    # The kernel's own start-up chatter would flood the facilitator's terminal (and a progress
    # bar): it goes to a log in the sandbox; cell outputs travel over the kernel protocol.
    log = os.open(args.workdir / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchown(log, args.uid, args.uid)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # setpriv drops to the uid as it execs the kernel, so an interpreter installed under a
    # private folder (pyenv in /root) still starts; the kernel itself holds no privileges.
    uid = str(args.uid)
    kernel_pid = os.fork()
    if kernel_pid == 0:
        os.execvpe("setpriv", ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                               *kernel], env)
    # This root process stays the namespace's init: out of the kernel's reach (it cannot signal
    # it), it reaps orphans and, when the kernel ends, ends too, which kills every process the
    # submission left in the namespace. Interrupts sent to the process group are for the kernel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pid, status = os.wait()
        if pid == kernel_pid:
            os._exit(os.waitstatus_to_exitcode(status) % 256)


if __name__ == "__main__":
    main()
