"""The slurm mode against a real Slurm cluster: Debian's slurm-wlm and munge on one node on
loopback (tests/slurmcluster.py), the hub submitting each student's server as a job of the
student's own account through batchspawner. The node's GPUs are stand-in device files, not
GPUs: the requests go through Slurm's real gres allocation (CUDA_VISIBLE_DEVICES), no CUDA runs.

The partition holds two servers at once (one CPU each, two CPUs for the partition): a third
student is told the cluster is full; a job asking for more time than the partition allows is
refused at once; the hub, killed and restarted, reattaches to the running jobs.
"""

import os
import pwd
import subprocess
import time

import pytest
from support import logged_in, running_hub

pytestmark = [pytest.mark.slurm, pytest.mark.hub,
              pytest.mark.skipif(os.geteuid() != 0, reason="a Slurm cluster and the students' accounts need root")]

STUDENTS = ["hc-ana", "hc-ben", "hc-cho"]      # accounts on the cluster, as a site's would be


@pytest.fixture(scope="module")
def cluster(slurm_cluster):
    return slurm_cluster


@pytest.fixture(scope="module")
def accounts():
    made = []
    for name in STUDENTS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
            made.append(name)
    yield STUDENTS
    for name in made:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def hub(cluster, accounts, tmp_path_factory, ci_data):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLURM_CONF", str(cluster.conf))        # the hub's sbatch, squeue, scancel
        settings = {"mode": "slurm", "data": {"dir": os.environ["HEPCOURSE_DATA_DIR"], "scale": "ci"},
                    "slurm": {"partition": cluster.partition, "time": "1:00:00", "cpus": 1, "memory": "1G",
                              "gpus": "gpu:1", "queue_timeout": 10, "hub_connect_ip": "127.0.0.1"}}
        with running_hub(tmp_path_factory.mktemp("slurm-hub"), {"instructors": ["prof"], "students": accounts},
                         settings) as hub:
            yield hub
        assert not jobs(cluster), "the hub's servers' jobs outlived the hub's stop"


def jobs(cluster) -> dict[str, tuple[str, str]]:
    """The cluster's jobs: {user: (job id, state)}."""
    out = cluster.run("squeue", "-h", "-o", "%u %i %T").stdout.split("\n")
    return {user: (job, state) for user, job, state in (line.split() for line in out if line.strip())}


def test_students_servers_are_jobs_of_their_own_accounts(hub, cluster):
    ana, ben = (logged_in(hub, name, spawn=True, timeout=180) for name in STUDENTS[:2])
    running = jobs(cluster)
    assert {running[name][1] for name in STUDENTS[:2]} == {"RUNNING"}, running
    for user in (ana, ben):
        kernel = user.start_kernel()
        who, gpu = user.execute("import os, getpass\nprint(getpass.getuser(), os.environ['CUDA_VISIBLE_DEVICES'])",
                                kernel=kernel).split()
        assert who == user.name and gpu in ("0", "1")      # Slurm's gres gave the job a (stand-in) GPU
        assert user.execute("x = 6 * 7", kernel=kernel) == ""

    # The partition is full: the third student is told so, and nothing of theirs stays queued.
    cho = logged_in(hub, STUDENTS[2])
    with pytest.raises(RuntimeError, match="no room for your server"):
        cho.spawn(timeout=120)
    assert STUDENTS[2] not in jobs(cluster)

    # The hub dies and comes back: both jobs are still its students' servers, kernels and all.
    hub.proc.kill()
    hub.proc.wait()
    hub.start()
    for user in (ana, ben):
        (kernel,) = [k["id"] for k in user.server("GET", "/kernels").json()]
        assert user.execute("print(x)", kernel=kernel) == "42\n"

    # Stopping a server ends its job.
    assert ana.api("DELETE", f"/users/{ana.name}/server").status_code in (202, 204)
    deadline = time.monotonic() + 60
    while ana.api("GET", f"/users/{ana.name}").json().get("server") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ana.name not in jobs(cluster)


def test_a_job_asking_more_time_than_the_partition_allows_is_refused_at_once(hub, cluster):
    hub.proc.kill()
    hub.proc.wait()
    hub.start(extra_args=["--CourseSlurmSpawner.req_runtime=4:00:00"])   # the partition: 2:00:00
    cho = logged_in(hub, STUDENTS[2])
    with pytest.raises(RuntimeError, match="more time"):
        cho.spawn(timeout=60)
    assert STUDENTS[2] not in jobs(cluster)
