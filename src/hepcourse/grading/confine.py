"""The kernel side of the autograde sandbox (see ``sandbox.py``): started as root inside a new
network namespace, it sets the limits, then execs the kernel as the sandbox uid. Kept free of
heavy imports: it runs once per graded submission."""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

# Variables a course notebook may see; everything else (tokens, hub secrets) is dropped.
KEEP_ENV = re.compile(r"^(PATH|LANG|LC_\w+|TZ|PYTHONPATH|OMP_NUM_THREADS|MKL_NUM_THREADS|MPLBACKEND|HEPCOURSE_\w+)$")


@dataclass(frozen=True)
class Limits:
    memory: int        # bytes of address space
    cpu_seconds: int
    processes: int


def confine(workdir: Path, limits: Limits) -> dict:
    """In the starting kernel process (root, new network namespace): set ``limits`` (inherited
    through the exec) and return the environment the kernel gets."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.umask(0o077)
    os.chdir(workdir)
    env = {key: value for key, value in os.environ.items() if KEEP_ENV.match(key)}
    env.update(HOME=str(workdir), MPLCONFIGDIR=str(workdir / ".matplotlib"), TMPDIR=str(workdir),
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
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    # The connection file holds the kernel's key and lives in the grader's private runtime
    # folder: hand the sandbox a copy it can read.
    flag = kernel.index("-f")
    copy = args.workdir / "connection.json"
    shutil.copyfile(kernel[flag + 1], copy)
    os.chown(copy, args.uid, args.uid)
    kernel[flag + 1] = str(copy)
    env = confine(args.workdir, Limits(args.memory, args.cpu_seconds, args.processes))
    # The kernel's own start-up chatter would flood the facilitator's terminal (and a progress
    # bar): it goes to a log in the sandbox; cell outputs travel over the kernel protocol.
    log = os.open(args.workdir / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchown(log, args.uid, args.uid)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # setpriv drops to the uid as it execs the kernel, so an interpreter installed under a
    # private folder (pyenv in /root) still starts; the kernel itself holds no privileges.
    uid = str(args.uid)
    os.execvpe("setpriv", ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                           *kernel], env)



if __name__ == "__main__":
    main()
