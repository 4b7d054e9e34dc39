"""The grading broker: the one privileged entry point of grading, and its client.

The formgrader and ``hepcourse grade`` run as the grader account (``account.py``), without
root. Building an autograde sandbox needs root (a sandbox uid, namespaces, control groups, or
a throwaway container through the engine's root socket), so the hub, when it runs as root,
also runs this broker as a service. It listens on a Unix socket that only the grader account
(and root) may use (``/run/hepcourse-grading/<course>-<hash>/broker.sock``, checked again by the
peer's credentials) and does one thing: start a submission's kernel in the sandbox and, on
request, signal it, tell whether it still runs, and tear the sandbox down. Everything about
the sandbox comes from the course settings the broker read itself (limits, hidden paths, the
kernel command, the image); from the request it takes only the kernel's connection key and
ports and a few environment values, each checked. A connection holds at most one kernel, and
when it closes (the grader finished, or died) the sandbox goes with it.

Protocol: one JSON object per line each way. ``{"op": "open"}`` -> ``{"workdir": ...}``;
``{"op": "start", "connection": {...}, "env": {...}}`` -> ``{"pid": ...}``;
``{"op": "poll"}`` -> ``{"returncode": null|int}``; ``{"op": "signal", "signum": 2|9|15}``
-> ``{}``; with ``grading.executor: slurm``, ``{"op": "job", "folder": ..., "inputs": ...,
"name": ...}`` -> ``{"executed": bool, "said": "..."}`` (a submission's grading job, see
:func:`brokered_job`). An error answers ``{"error": "..."}``.

The client side is a jupyter_client kernel provisioner: nbgrader's Execute starts and stops
kernels as usual and never knows they are somewhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

from ..errors import UserError
from .answers import INPUTS_VAR as INPUTS

log = logging.getLogger("hepcourse.grading.broker")
RUN_ROOT = Path("/run/hepcourse-grading")
CHANNELS = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
# What a request may set in the kernel's environment (everything else is the broker's own).
PASSED_ENV = {INPUTS, "HEPCOURSE_SCALE", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGKILL}


class BrokerError(UserError):
    """The broker refused a request, or cannot be reached (the message says why)."""


def run_dir(settings: dict) -> Path:
    """The broker's folder: one per hub (its course id and state folder), so that two hubs on one
    machine (a course and a test hub, two courses) never share a broker."""
    state = os.path.realpath(settings["hub"]["state_dir"])
    return RUN_ROOT / f"{settings['course']['id']}-{hashlib.sha256(state.encode()).hexdigest()[:12]}"


def socket_path(settings: dict) -> Path:
    return run_dir(settings) / "broker.sock"


def work_dir(settings: dict) -> Path:
    """The grader account's own folder beside the socket: the held-out features it writes for
    its kernels live here (a sandbox sees /run, not the grader's /tmp or home)."""
    return run_dir(settings) / "work"


# --- the broker (root) ------------------------------------------------------------------------

class Sandbox:
    """One connection's kernel: its claimed uid, its manager (which builds the command), its
    process."""

    def __init__(self, broker: Broker):
        self.broker = broker
        self.km = None
        self.process: subprocess.Popen | None = None

    def open(self) -> dict:
        from .autograde import execute_config
        from .sandbox import claim_uid

        if self.km is not None:
            raise BrokerError("this connection already has a sandbox")
        settings = self.broker.settings
        uid = claim_uid(settings["grading"]["sandbox"]["uid"])
        config = execute_config(settings, {"uid": uid})
        manager = config.Execute.kernel_manager_class
        config[manager.__name__].share_gid = self.broker.gid
        self.km = manager(config=config, kernel_name="python3")
        return {"workdir": self.km.workdir}

    def start(self, connection: dict, env: dict) -> dict:
        if self.km is None or self.process is not None:
            raise BrokerError("start needs an open sandbox without a kernel")
        km = self.km
        ports = {name: connection.get(name) for name in CHANNELS}
        if not all(isinstance(p, int) and 0 < p < 65536 for p in ports.values()):
            raise BrokerError("the connection's ports must be integers in 1..65535")
        key = connection.get("key")
        if not (isinstance(key, str) and re.fullmatch(r"[\w-]{16,128}", key)):
            raise BrokerError("the connection's key must be 16 to 128 letters, digits, - or _")
        km.load_connection_info({**ports, "key": key.encode(), "transport": "ipc", "ip": f"{km.workdir}/kernel",
                                 "signature_scheme": "hmac-sha256"})
        # A name of its own: a finished sandbox's manager, garbage-collected late, deletes its
        # connection file, which must never be the next sandbox's of the same uid.
        km.connection_file = str(Path(km.workdir).parent / f"connection-{km.sandbox_uid}-{uuid.uuid4().hex}.json")
        km.write_connection_file()
        env = self.broker.checked_env(env)
        if INPUTS in env:
            env[INPUTS] = str(copy_inputs(Path(env[INPUTS]), Path(km.workdir) / "inputs"))
        km.kernel_env = {**os.environ, **env}
        # A process group of its own: signals reach the kernel's whole tree, nothing of ours.
        self.process = subprocess.Popen(km.format_kernel_cmd(), env=km.kernel_env, start_new_session=True,
                                        stdin=subprocess.DEVNULL)
        return {"pid": self.process.pid}

    def poll(self) -> dict:
        return {"returncode": self.process.poll() if self.process else 0}

    def signal(self, signum: int) -> dict:
        if signum not in SIGNALS:
            raise BrokerError(f"signal {signum} is not one a kernel is sent (SIGINT, SIGTERM, SIGKILL)")
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
        return {}

    def close(self) -> None:
        from .sandbox import unclaim_uid

        if self.process:
            ended = self.process.poll()
            if ended:                      # ended by itself, badly: say why in the hub's log
                log.warning("a sandboxed kernel (uid %d) exited with %d:\n%s", self.km.sandbox_uid, ended,
                            kernel_log(Path(self.km.workdir) / "kernel.log", self.km.sandbox_uid))
            self.signal(signal.SIGKILL)
            self.process.wait()
        if self.km is not None:
            Path(self.km.connection_file).unlink(missing_ok=True)
            self.km.release_sandbox(self.km.sandbox_uid)
            unclaim_uid(self.km.sandbox_uid)


def copy_inputs(source: Path, dest: Path) -> Path:
    """The held-out features the grader account wrote for the kernel, copied into a folder of
    root's in the sandbox (read-only to it). Copied, not handed over by path: the account could
    swap its folder for a link between the check and the kernel's start (or the engine's
    mount). Only plain files, never through a link."""
    folder = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        dest.mkdir(mode=0o755)
        for name in os.listdir(folder):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
            except OSError:
                continue
            if not (re.fullmatch(r"[\w.-]+", name) and stat.S_ISREG(os.fstat(fd).st_mode)):
                os.close(fd)
                continue
            with os.fdopen(fd, "rb") as src, open(os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644),
                                                  "wb") as out:
                shutil.copyfileobj(src, out)
    finally:
        os.close(folder)
    return dest


def brokered_job(broker: Broker, request: dict) -> dict:
    """``grading.executor: slurm`` for the grader account: a submission's notebook and held-out
    features are copied from the account's folders (plain files only) into root's, the job runs
    as root's (``slurmjobs.run_job``: the sandbox is built on the node), and the executed notebook
    is written back into the account's folder as a new file of its own, never through a link."""
    import nbformat

    from .slurmjobs import job_root, run_job

    settings = broker.settings
    if settings["grading"]["executor"] != "slurm":
        raise BrokerError("this course grades with grading.executor: local")
    work = work_dir(settings).resolve()
    folder, inputs, name = (Path(os.path.realpath(str(request.get("folder") or ""))), str(request.get("inputs") or ""),
                            str(request.get("name") or ""))
    if work not in folder.parents or (inputs and work not in Path(os.path.realpath(inputs)).parents):
        raise BrokerError(f"a job's notebook and held-out inputs must lie in {work}")
    if not re.fullmatch(r"[\w.-]{1,128}", name):
        raise BrokerError("a job's name is 1 to 128 letters, digits, '.', '-' or '_'")
    job_root(settings).mkdir(mode=0o711, parents=True, exist_ok=True)
    copies = Path(tempfile.mkdtemp(prefix="copies-", dir=job_root(settings)))
    try:
        nb = nbformat.read(copy_inputs(folder, copies / "submission") / "submission.ipynb", 4)
        held = str(copy_inputs(Path(inputs), copies / "inputs")) if inputs else ""
        executed, said = run_job(settings, nb, held, name)
    finally:
        shutil.rmtree(copies, ignore_errors=True)
    if executed is not None:
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open("executed.ipynb", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
        finally:
            os.close(directory)
        os.fchown(fd, broker.uid, broker.gid)
        with os.fdopen(fd, "w") as out:
            nbformat.write(executed, out)
    return {"executed": executed is not None, "said": said}


def kernel_log(path: Path, uid: int) -> str:
    """The end of a sandbox's kernel log, read as root from a folder its student code could
    write: only a plain file of the sandbox's own, never through a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "(no kernel log)"
    with os.fdopen(fd, "rb") as log_file:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) and info.st_uid == uid and info.st_nlink == 1):
            return "(the kernel log is not the sandbox's own file)"
        log_file.seek(max(0, info.st_size - 2000))
        return log_file.read().decode(errors="replace")


class Broker(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, settings: dict, account: str):
        import pwd

        entry = pwd.getpwnam(account)
        self.settings, self.uid, self.gid = settings, entry.pw_uid, entry.pw_gid
        path = socket_path(settings)
        # Root's folder holds the socket (nothing of the grader's is ever chowned by path);
        # the grader's work folder sits beside it.
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
        work = work_dir(settings)
        work.mkdir(mode=0o711, exist_ok=True)
        os.lchown(work, self.uid, self.gid)
        path.unlink(missing_ok=True)
        super().__init__(str(path), Handler)
        os.chown(path, self.uid, self.gid)
        os.chmod(path, 0o600)

    def checked_env(self, env: dict) -> dict:
        """The request's environment values for the kernel, each checked."""
        unknown = set(env) - PASSED_ENV
        if unknown:
            raise BrokerError(f"the kernel's environment may not be set here: {', '.join(sorted(unknown))}")
        checked = {}
        for key, value in env.items():
            if key == INPUTS:
                inputs = Path(os.path.realpath(value))
                if work_dir(self.settings).resolve() not in inputs.parents:
                    raise BrokerError(f"held-out inputs must lie in {work_dir(self.settings)}")
                checked[key] = str(inputs)          # then copied into the sandbox (copy_inputs)
            elif re.fullmatch(r"[\w.-]{1,64}", str(value)):
                checked[key] = str(value)
            else:
                raise BrokerError(f"{key}: {value!r} is not a plain value")
        return checked


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        _, uid, _ = struct.unpack("3i", self.request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid not in (0, self.server.uid):
            self.wfile.write(b'{"error": "only the grader account may use the grading broker"}\n')
            return
        sandbox = Sandbox(self.server)
        try:
            for line in iter(lambda: self.rfile.readline(1 << 16), b""):   # requests are small
                try:
                    request = json.loads(line)
                    op = request.get("op")
                    if op == "open":
                        answer = sandbox.open()
                    elif op == "start":
                        answer = sandbox.start(request.get("connection") or {}, request.get("env") or {})
                    elif op == "poll":
                        answer = sandbox.poll()
                    elif op == "signal":
                        answer = sandbox.signal(request.get("signum"))
                    elif op == "job":
                        answer = brokered_job(self.server, request)
                    else:
                        answer = {"error": f"unknown operation {op!r}"}
                except (UserError, ValueError, AttributeError) as err:
                    answer = {"error": str(err)}
                except Exception as err:  # the broker outlives a bad request
                    log.exception("grading broker: request failed")
                    answer = {"error": f"{type(err).__name__}: {err}"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")
        finally:
            sandbox.close()


def main(argv: list[str] | None = None) -> int:
    from ..config import load_settings

    parser = argparse.ArgumentParser(prog="python -m hepcourse.grading.broker",
                                     description="Start autograde sandboxes for the grader account (run as root).")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[grading-broker] %(message)s")
    if os.geteuid() != 0:
        sys.exit("hepcourse: the grading broker must run as root (the hub starts it when it runs as root)")
    settings = load_settings()
    broker = Broker(settings, settings["grading"]["account"])
    for stop in (signal.SIGTERM, signal.SIGINT):     # the hub stops its services with either
        signal.signal(stop, lambda *_: threading.Thread(target=broker.shutdown).start())
    log.info("listening on %s for %s", socket_path(settings), settings["grading"]["account"])
    try:
        with broker:
            broker.serve_forever()
    finally:
        shutil.rmtree(run_dir(settings), ignore_errors=True)
    return 0


# --- the client (the grader account) ----------------------------------------------------------

class Connection:
    """A connection to the broker, held for one kernel's life."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as err:
            raise BrokerError(f"the grading broker ({path}) does not answer ({err.strerror}): is the hub running "
                              "as root?") from None
        self.stream = self.sock.makefile("rwb")
        self.lock = threading.Lock()

    def ask(self, **request) -> dict:
        with self.lock:
            self.stream.write(json.dumps(request).encode() + b"\n")
            self.stream.flush()
            line = self.stream.readline()
        if not line:
            raise BrokerError("the grading broker closed the connection")
        answer = json.loads(line)
        if "error" in answer:
            raise BrokerError(f"the grading broker refused: {answer['error']}")
        return answer

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


class BrokeredKernel:
    """What LocalProvisioner expects of a Popen, for a kernel the broker started."""

    stdin = stdout = stderr = None

    def __init__(self, connection: Connection, pid: int):
        self.connection, self.pid = connection, pid

    def poll(self) -> int | None:
        return self.connection.ask(op="poll")["returncode"]

    def wait(self) -> int:
        while (code := self.poll()) is None:
            time.sleep(0.1)
        return code

    def send_signal(self, signum: int) -> None:
        self.connection.ask(op="signal", signum=int(signum))

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class BrokeredProvisioner(LocalProvisioner):
    """The kernel starts in a sandbox the broker builds; the rest of LocalProvisioner's work
    (connection file, signals, waiting) goes through :class:`BrokeredKernel`."""

    async def pre_launch(self, **kwargs):
        km = self.parent
        self.connection = Connection(km.socket)
        workdir = self.connection.ask(op="open")["workdir"]
        km.transport, km.ip, km.cache_ports = "ipc", f"{workdir}/kernel", False
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd, **kwargs):
        info = self.connection_info
        env = kwargs.get("env") or os.environ
        answer = self.connection.ask(
            op="start", connection={**{name: info[name] for name in CHANNELS}, "key": info["key"].decode()},
            env={key: env[key] for key in PASSED_ENV if key in env})
        self.process = BrokeredKernel(self.connection, answer["pid"])
        self.pid = answer["pid"]
        return info

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if not restart:
            self.connection.close()      # the broker tears the sandbox down


class BrokeredKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels the grading broker starts in the sandbox."""

    socket = Unicode("", help="the grading broker's socket").tag(config=True)

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
        if self.provisioner is None:
            self.provisioner = BrokeredProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


if __name__ == "__main__":
    sys.exit(main())
