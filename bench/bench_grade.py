"""Autograde throughput: the course's sandboxed parallel autograde next to plain serial
`nbgrader autograde`, on the same generated submissions, in one run; with ``--image``, also
docker mode's grading (a throwaway container of that course image per submission).

N submissions of one module's homework (default 40 of 01_python): a third solved, a third half
solved, a third broken (the untouched student version, with a syntax error in every other one).
Both runs grade copies of the same course; their scores must agree. Goal: >= 1.8x on 2 cores
with the sandbox on (2.0x is the limit). As root, also ``grading.executor: slurm`` on a real
one-node Slurm cluster of this machine's cores (tests/slurmcluster.py), the same submissions
each a job, next to the local pool (``--no-slurm`` leaves it out).

    make bench-grade
    python bench/bench_grade.py --submissions 20 --assignment 03_trees
    python bench/bench_grade.py --image localhost/hepcourse/singleuser-cpu   (after make images)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from hepcourse.config import REPO_ROOT, load_settings
from hepcourse.grading.autograde import autograde
from hepcourse.grading.course import Course
from hepcourse.grading.samples import answer_cells, answered


def make_course(folder: Path) -> Course:
    folder.mkdir()
    settings = folder / "settings.yaml"
    data = os.environ.get("HEPCOURSE_DATA_DIR") or REPO_ROOT / ".cache" / "data"
    settings.write_text(f"roster: roster.yaml\nhub: {{state_dir: state}}\ncontent: {{source: {REPO_ROOT / 'modules'}}}\n"
                        f"grading: {{dir: state/grading}}\ndata: {{dir: {data}, scale: ci}}\n")
    return Course(load_settings(settings))


def copy_course(course: Course, folder: Path) -> Course:
    """Another course of the same settings, built course and submissions."""
    copy = make_course(folder)
    shutil.copytree(course.root.parent, copy.root.parent, dirs_exist_ok=True, symlinks=True)
    return copy


def on_cluster(course: Course, assignment: str, workers: int) -> float:
    """Seconds to autograde ``course`` with each submission a job of a one-node Slurm cluster
    started here (as many CPUs as this machine, no GPUs)."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from slurmcluster import SlurmCluster, ensure_installed

    ensure_installed()
    folder = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    try:
        with SlurmCluster(folder, cpus=len(os.sched_getaffinity(0)), gpus=0) as cluster:
            course.settings["grading"]["slurm"]["partition"] = cluster.partition
            os.environ["SLURM_CONF"] = str(cluster.conf)
            started = time.monotonic()
            autograde(course, assignment, workers=workers, sandbox=True)
            return time.monotonic() - started
    finally:
        os.environ.pop("SLURM_CONF", None)
        shutil.rmtree(folder, ignore_errors=True)


def submit_all(course: Course, assignment: str, n: int) -> list[str]:
    instructor = nbformat.read(course.modules / assignment / "homework.ipynb", 4)
    released = nbformat.read(course.root / "release" / assignment / "homework.ipynb", 4)
    students = [f"student{i:03d}" for i in range(n)]
    for i, student in enumerate(students):
        nb = answered(instructor, released, [1.0, 0.5, 0.0][i % 3])
        if i % 6 == 5:                 # broken: a syntax error in the first answer
            nb.cells[answer_cells(instructor)[0]].source = "def broken(:"
        folder = course.root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "homework.ipynb")
    return students


def scores(course: Course, assignment: str, students: list[str]) -> dict[str, float]:
    with Gradebook(course.db_url, course.id) as gb:
        return {s: round(gb.find_submission(assignment, s).score, 3) for s in students}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="01_python")
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=0, help="default: one per core")
    parser.add_argument("--image", help="also grade in throwaway containers of this course image (root, podman)")
    parser.add_argument("--no-slurm", action="store_true", help="leave out the one-node Slurm cluster (root)")
    args = parser.parse_args()
    os.environ.setdefault("HEPCOURSE_SCALE", "ci")
    os.environ["OMP_NUM_THREADS"] = "1"
    sandbox = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        ours = make_course(Path(tmp) / "ours")
        ours.build([args.assignment])
        students = submit_all(ours, args.assignment, args.submissions)
        stock = copy_course(ours, Path(tmp) / "stock")
        boxed = copy_course(ours, Path(tmp) / "containers")
        boxed.settings["grading"]["sandbox"]["engine"] = "container"
        boxed.settings["docker"]["image"] = args.image or ""
        jobs = copy_course(ours, Path(tmp) / "slurm")
        jobs.settings["grading"]["executor"] = "slurm"

        started = time.monotonic()
        outcomes = autograde(ours, args.assignment, workers=args.workers, sandbox=sandbox)
        t_ours = time.monotonic() - started
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", args.assignment,
                        f"--CourseDirectory.root={stock.root}", f"--CourseDirectory.course_id={stock.id}",
                        "--Execute.timeout=300", "--log-level=WARN"], check=True, cwd=stock.root)
        t_stock = time.monotonic() - started

        t_boxed = None
        if args.image and sandbox:
            started = time.monotonic()
            autograde(boxed, args.assignment, workers=args.workers, sandbox=True)
            t_boxed = time.monotonic() - started

        t_jobs = None
        if sandbox and not args.no_slurm:
            t_jobs = on_cluster(jobs, args.assignment, args.workers)

        ours_scores, stock_scores = scores(ours, args.assignment, students), scores(stock, args.assignment, students)
        workers = args.workers or len(os.sched_getaffinity(0))
        print(f"\n{args.submissions} submissions of {args.assignment} on {len(os.sched_getaffinity(0))} cores")
        print(f"  hepcourse grade autograde ({workers} workers, sandbox {'on' if sandbox else 'OFF: not root'}): {t_ours:7.1f} s")
        print(f"  nbgrader autograde (serial, stock)                    : {t_stock:7.1f} s")
        if t_boxed is not None:
            print(f"  in throwaway containers of {args.image} ({workers} workers)  : {t_boxed:7.1f} s "
                  f"({t_boxed / t_ours:.2f}x the namespace sandbox; scores agree: "
                  f"{scores(boxed, args.assignment, students) == ours_scores})")
        if t_jobs is not None:
            print(f"  as Slurm jobs, one-node cluster ({workers} at once)           : {t_jobs:7.1f} s "
                  f"({t_jobs / t_ours:.2f}x the local pool; scores agree: "
                  f"{scores(jobs, args.assignment, students) == ours_scores})")
        print(f"  speed-up: {t_stock / t_ours:.2f}x   (goal >= 1.8x on 2 cores)")
        failed = [o.student for o in outcomes if o.status != "graded"]
        print(f"  scores agree: {ours_scores == stock_scores}; failed submissions: {len(failed)}; "
              f"totals {sum(ours_scores.values()):g} vs {sum(stock_scores.values()):g}")
        return 0 if ours_scores == stock_scores else 1


if __name__ == "__main__":
    sys.exit(main())
