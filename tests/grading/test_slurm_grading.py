"""grading.executor: slurm against a real one-node Slurm cluster (make test-slurm, root): each
submission's notebook is a job of its own. The hostile class of test_hostile.py is graded this
way too (its `slurm` variant); here: the job's own limits and a job Slurm refuses."""

import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, answered, submit, tiny_homework

from hepcourse.config import load_settings
from hepcourse.grading.autograde import autograde
from hepcourse.grading.broker import BrokerError, brokered_job, work_dir
from hepcourse.grading.course import Course
from hepcourse.grading.slurmjobs import ClusterError, prepare_cluster


def on_cluster(test):
    """A test of a real cluster's grading jobs: make test-slurm, as root."""
    for mark in (pytest.mark.slurm, pytest.mark.sandbox,
                 pytest.mark.skipif(os.geteuid() != 0, reason="grading jobs are root's (a real cluster, sandboxes)")):
        test = mark(test)
    return test


def cluster_course(tmp_path, partition: str, time: str) -> Course:
    (tmp_path / "modules" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(tiny_homework(), tmp_path / "modules" / ASSIGNMENT / "homework.ipynb")
    (tmp_path / "settings.yaml").write_text(
        "roster: roster.yaml\nhub: {state_dir: state}\ncontent: {source: modules}\n"
        "grading:\n  dir: state/grading\n  sandbox: {cell_timeout: 300, memory: 3G, cpu_seconds: 600}\n"
        f"  executor: slurm\n  slurm: {{partition: '{partition}', time: '{time}', memory: 1500M}}\n")
    course = Course(load_settings(tmp_path / "settings.yaml"))
    course.build()
    return course


@on_cluster
def test_a_job_past_its_time_limit_scores_zero_and_says_so(slurm_cluster, tmp_path):
    course = cluster_course(tmp_path, slurm_cluster.partition, time="1")
    submit(course, "honest", answered(course, GOOD_ADD, GOOD_DOUBLE))
    # Within every limit of the sandbox (a cell may take 300 s), past the job's minute.
    submit(course, "slow", answered(course, "import time\ntime.sleep(240)\n" + GOOD_ADD, GOOD_DOUBLE))
    outcomes = {o.student: o for o in autograde(course, ASSIGNMENT, workers=2, progress=False)}
    assert outcomes["honest"].score == 10 and outcomes["honest"].status == "graded", outcomes
    assert outcomes["slow"].score == 0 and outcomes["slow"].status == "graded", outcomes
    assert "grading job ended" in outcomes["slow"].note and "TIME LIMIT" in outcomes["slow"].note, outcomes["slow"]
    assert not list((tmp_path / "state" / "grading-jobs").glob("slow-*")), "the job's folder outlived it"


@on_cluster
def test_a_job_slurm_refuses_fails_the_submission_with_slurms_reason(slurm_cluster, tmp_path):
    course = cluster_course(tmp_path, "no-such-partition", time="5")
    submit(course, "honest", answered(course, GOOD_ADD, GOOD_DOUBLE))
    (outcome,) = autograde(course, ASSIGNMENT, progress=False)
    assert outcome.status == "failed" and outcome.score == 0, outcome
    assert "did not start" in outcome.note and "partition" in outcome.note.lower(), outcome.note


def test_cluster_grading_refuses_to_run_without_the_sandbox():
    settings = {"grading": {"executor": "slurm"}}
    with pytest.raises(ClusterError, match="always grades in the sandbox"):
        prepare_cluster(settings, sandbox=False)


@pytest.mark.sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="the broker's checks run as root")
def test_the_broker_runs_a_job_only_from_the_accounts_folder_and_never_through_a_link(tmp_path):
    course = cluster_course(tmp_path, "course", time="5")
    broker = SimpleNamespace(settings=course.settings, uid=os.getuid(), gid=os.getgid())
    work = work_dir(course.settings)
    work.mkdir(parents=True, exist_ok=True)
    try:
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        with pytest.raises(BrokerError, match="must lie in"):
            brokered_job(broker, {"folder": str(outside), "inputs": "", "name": "grade-x"})
        planted = Path(tempfile.mkdtemp(dir=work))
        (planted / "submission.ipynb").symlink_to("/etc/shadow")     # root would read it for the account
        with pytest.raises(FileNotFoundError):
            brokered_job(broker, {"folder": str(planted), "inputs": "", "name": "grade-x"})
        with pytest.raises(BrokerError, match="name"):
            brokered_job(broker, {"folder": str(planted), "inputs": "", "name": "grade x; rm -rf /"})
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
