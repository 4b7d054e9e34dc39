"""The ``slurm`` mode: each student's server is a Slurm job under the student's own account.

batchspawner's SlurmSpawner submits the job (``sbatch`` run as the student), follows it with
``squeue`` and cancels it with ``scancel``; the job runs ``batchspawner-singleuser`` (which tells
the hub the port it found on the node) around ``hepcourse-singleuser``. What this adds is the
course's part: resources from ``hub/settings.yaml`` (``slurm``), and a student whose job cannot
start is told so in the browser at once (a partition's time limit) or after ``queue_timeout``
seconds in a full queue, instead of waiting out the spawn timeout.
"""

from __future__ import annotations

import asyncio
import os
import time

from batchspawner import JobStatus, SlurmSpawner
from traitlets import Integer, Unicode, default

# Pending reasons that waiting does not cure (Slurm's squeue %r): refuse at once.
HOPELESS = {
    "PartitionTimeLimit": "asks for more time ({runtime}) than partition {partition} allows",
    "PartitionNodeLimit": "asks for more nodes than partition {partition} allows",
    "PartitionDown": "was sent to partition {partition}, which is down",
    "PartitionInactive": "was sent to partition {partition}, which is inactive",
    "InvalidQOS": "asks for a QOS the cluster does not know",
    "InvalidAccount": "asks for an account the cluster does not know",
}


class ClusterRefused(RuntimeError):
    """The cluster cannot start the server now: the message is the student's."""


class CourseSlurmSpawner(SlurmSpawner):
    """A student's server as a Slurm job (``slurm`` mode)."""

    queue_timeout = Integer(
        60, config=True,
        help="""Seconds a server's job may wait in the queue before it is withdrawn and the
        student told that the cluster is full (a queue that does not move within a minute will
        not within the spawn timeout either).""",
    )
    # The pending reason (%r) as well: why a job waits is what the student is told.
    batch_query_cmd = Unicode("squeue -h -j {job_id} -o '%T %r %B'", config=True)

    @default("exec_prefix")
    def _exec_prefix_default(self):
        # sbatch runs as the student: runuser as root (no sudoers rule needed), else sudo.
        return "runuser -u {username} --" if os.geteuid() == 0 else "sudo -E -u {username}"

    def get_env(self):
        env = super().get_env()
        # sbatch, squeue and scancel run in this environment (and srun in the job): a cluster
        # whose configuration is not in /etc/slurm names it in the hub's SLURM_CONF.
        if "SLURM_CONF" in os.environ:
            env["SLURM_CONF"] = os.environ["SLURM_CONF"]
        return env

    _queued_since: float | None = None      # set while start() waits for the job

    async def start(self):
        self._queued_since = time.monotonic()
        try:
            return await super().start()
        finally:
            self._queued_since = None

    @property
    def pending_reason(self) -> str:
        """Why a pending job waits (squeue's %r, the second field of job_status)."""
        return (self.job_status.split() + ["", ""])[1]

    async def query_job_status(self):
        status = await super().query_job_status()
        if status == JobStatus.PENDING and self._queued_since is not None:
            reason = self.pending_reason
            waited = time.monotonic() - self._queued_since
            if reason in HOPELESS:
                problem = HOPELESS[reason].format(runtime=self.req_runtime, partition=self.partition_name)
                await self._withdraw(f"Your server's job {problem} (Slurm: {reason}). "
                                     "Please tell your facilitator (slurm settings of the course's hub).")
            if waited > self.queue_timeout:
                await self._withdraw(
                    f"The cluster has no room for your server now: partition {self.partition_name} is "
                    f"full (your job waited {waited:.0f} s; Slurm: {reason or 'pending'}). Your request "
                    "was withdrawn; please try again in a few minutes.")
        return status

    @property
    def partition_name(self) -> str:
        return f"'{self.req_partition}'" if self.req_partition else "the default"

    async def _withdraw(self, message: str):
        await self.cancel_batch_job()
        self.clear_state()
        raise ClusterRefused(message)

    async def progress(self):
        """What the spawn page shows: queued (and why), then starting on its node."""
        yield {"progress": 5, "message": "Your server's job was submitted to the cluster"}
        while True:
            if self.state_ispending():
                yield {"progress": 20, "message": f"Waiting in the cluster's queue ({self.pending_reason or 'pending'})"}
            elif self.state_isrunning():
                yield {"progress": 60, "message": f"Your job runs on {self.state_gethost()}: starting JupyterLab"}
                return
            await asyncio.sleep(1)
