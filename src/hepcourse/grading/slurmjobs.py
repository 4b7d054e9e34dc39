"""``grading.executor: slurm``: each submission's notebook runs as a Slurm job of its own.

The grading process keeps what must never leave it: the verdicts, the labels and the gradebook.
Its Execute step writes the notebook as the kernel may see it (verdicts already cut out, the
audit done) into a job folder on the cluster's shared filesystem, beside the held-out features,
and runs one job with ``srun``. The job is root's, so on its node it builds the same sandbox as
a local autograde (``python -m hepcourse.grading.slurmjobs FOLDER``: an unprivileged uid, no
network, the limits of ``grading.sandbox``), executes the notebook there and writes it back; the
job's own time and memory come on top. A job that ends before its notebook does (its time limit,
a node lost) scores 0 from the first cell, with Slurm's reason; a job that never started (srun
refused it) fails the submission with that reason, which the facilitator sees, instead of a 0.
The grader account (the formgrader, ``hepcourse grade`` as a facilitator) is not root: the
grading broker runs its jobs (``broker.brokered_job``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, Unicode

from ..config import parse_size
from ..errors import UserError
from ..files import replacing, write_json
from .answers import INPUTS_VAR
from .preprocessors import GuardedExecute, lose_cells

STARTED = "started"          # the job writes it first: srun's allocation went through


class ClusterError(UserError):
    """A grading job could not be run on the cluster (the message says why)."""


def prepare_cluster(settings: dict, sandbox: bool) -> None:
    """Make the jobs' folder; raise UserError unless this process can grade on the cluster: as
    root (the jobs build sandboxes), or as the grader account through the grading broker; srun
    on the PATH; the sandbox on."""
    from .sandbox import check_available

    if not sandbox:
        raise ClusterError("grading.executor: slurm always grades in the sandbox (its jobs are root's): "
                           "leave grading.sandbox.enabled on, or grade with executor: local")
    if not shutil.which("srun"):
        raise ClusterError("grading.executor: slurm needs Slurm's srun on the PATH (Debian: slurm-client)")
    check_available(settings)        # root, or the broker's socket
    if os.geteuid() == 0:
        job_root(settings).mkdir(mode=0o711, parents=True, exist_ok=True)


def job_root(settings: dict) -> Path:
    """The jobs' folder on the shared filesystem (``grading.slurm.workdir``): others may pass
    through it to the held-out features, not list it."""
    return Path(settings["grading"]["slurm"]["workdir"] or Path(settings["hub"]["state_dir"]) / "grading-jobs")


def srun_command(settings: dict, folder: Path, name: str) -> list[str]:
    job = settings["grading"]["slurm"]
    return ["srun", f"--job-name={name}", f"--chdir={folder}", "--ntasks=1", "--cpus-per-task=1", "--quiet",
            f"--mem={parse_size(job['memory']) // 2**20}M", f"--time={job['time']}",
            *([f"--partition={job['partition']}"] if job["partition"] else []), *job["options"],
            sys.executable, "-m", "hepcourse.grading.slurmjobs", str(folder)]


def run_job(settings: dict, nb: nbformat.NotebookNode, inputs: str, name: str) -> tuple[nbformat.NotebookNode | None, str]:
    """Run ``nb`` as a job of root's, the held-out features in the folder ``inputs``: (the executed
    notebook, or None when the job ended first; what Slurm said). ClusterError when the job never
    started."""
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=job_root(settings)))        # 0700: root's alone
    try:
        nbformat.write(nb, folder / "submission.ipynb")
        write_json(folder / "job.json", {"settings": settings, "inputs": inputs})
        ran = subprocess.run(srun_command(settings, folder, name), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, check=False)
        said = _slurm_says(ran.stderr)
        if not (folder / STARTED).exists():
            raise ClusterError(f"the grading job {name} did not start: {said}")
        executed = folder / "executed.ipynb"
        return (nbformat.read(executed, 4) if executed.exists() else None), said
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class SlurmExecute(NbGraderPreprocessor):
    """The Execute step of ``executor: slurm``: the notebook runs in a job, this process waits.
    Root runs the job itself; the grader account asks the grading broker to (``broker``)."""

    settings = Dict(help="the course settings (the jobs' resources, the sandbox of each job)").tag(config=True)
    broker = Unicode("", help="the grading broker's socket (this process is not root)").tag(config=True)

    def preprocess(self, nb, resources):
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        name, inputs = f"grade-{assignment}-{student}", os.environ.get(INPUTS_VAR, "")
        executed, said = (self._through_broker(nb, inputs, name) if self.broker
                          else run_job(self.settings, nb, inputs, name))
        if executed is not None:
            return executed, resources
        reason = f"the grading job ended before the notebook did ({said}); cells from here on were not run"
        self.log.error("%s: %s", student, reason)
        lose_cells(nb.cells, reason)
        return nb, resources

    def _through_broker(self, nb, inputs: str, name: str):
        from .broker import Connection, work_dir

        folder = Path(tempfile.mkdtemp(prefix="job-", dir=work_dir(self.settings)))
        connection = Connection(self.broker)
        try:
            nbformat.write(nb, folder / "submission.ipynb")
            answer = connection.ask(op="job", folder=str(folder), inputs=inputs, name=name)
            return (nbformat.read(folder / "executed.ipynb", 4) if answer["executed"] else None), answer["said"]
        finally:
            connection.close()
            shutil.rmtree(folder, ignore_errors=True)


def _slurm_says(stderr: str) -> str:
    """srun's and slurmstepd's own lines (a refusal, a time limit, a node failure)."""
    lines = [line.strip() for line in stderr.splitlines() if re.match(r"\s*(srun|slurmstepd[\w.-]*):|\s*\*\*\*", line)]
    return " / ".join(lines)[-400:] or "no reason given by Slurm"


def main(argv: list[str] | None = None) -> int:
    """The job: execute FOLDER's notebook in this node's sandbox, write it back."""
    from .autograde import execute_config
    from .broker import copy_inputs
    from .sandbox import claim_uid, work_root

    folder = Path((argv or sys.argv[1:])[0])
    (folder / STARTED).touch()
    job = json.loads((folder / "job.json").read_text())
    settings = job["settings"]
    # What the kernel reads (passed on by the sandbox), as in a local worker: the grader's data
    # folder and scale (srun exported its environment), else the course's; one thread.
    os.environ.setdefault("HEPCOURSE_DATA_DIR", settings["data"]["dir"])
    os.environ.setdefault("HEPCOURSE_SCALE", settings["data"]["scale"])
    os.environ["OMP_NUM_THREADS"] = "1"
    # The held-out features, copied to this node beside the sandboxes (which see no /tmp and
    # nothing of the hub's state folder, where the shared job folder may lie).
    inputs = work_root() / f"inputs-{folder.name}"
    try:
        if job["inputs"]:
            os.environ[INPUTS_VAR] = str(copy_inputs(Path(job["inputs"]), inputs))
        config = execute_config(settings, {"uid": claim_uid(settings["grading"]["sandbox"]["uid"])})
        nb = nbformat.read(folder / "submission.ipynb", 4)
        nb, _ = GuardedExecute(config=config).preprocess(nb, {"metadata": {"path": str(folder)}})
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
    with replacing(folder / "executed.ipynb") as tmp:
        nbformat.write(nb, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
