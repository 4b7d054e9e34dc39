"""Sandboxed parallel autograde: every submission in its own worker, its kernel confined.

The pipeline is nbgrader's own ``Autograde`` converter with two preprocessors swapped in:
``AuditCells`` (a student's cell that tampers with what tests use is not run) and
``GuardedExecute`` (a dead or stuck kernel scores 0 from there on, with the reason), and with
``OverwriteCells.add_missing_cells`` (deleted grade cells come back). Kernels start through
``SandboxedKernelManager``. Workers write their scores into the gradebook themselves, one short
transaction at a time (SQLite waits for the lock; PostgreSQL handles it), and a submission
that fails entirely (a file that is not a notebook) is recorded and never stops the others.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)
from tqdm import tqdm
from traitlets.config import Config

from ..cpus import cpu_budget
from ..files import write_json
from .course import Course
from .preprocessors import AuditCells, GuardedExecute
from .sandbox import SandboxedKernelManager, check_available, claim_uid, parse_size


@dataclass
class Outcome:
    student: str
    score: float
    max_score: float
    seconds: float
    status: str        # "graded" or "failed"
    note: str = ""


def pipeline_config(settings: dict, sandbox_uid: int | None) -> Config:
    """nbgrader configuration of one worker whose kernels run as ``sandbox_uid`` (None: no
    sandbox)."""
    sandbox = settings["grading"]["sandbox"]
    config = Config()
    config.Autograde.autograde_preprocessors = [
        AuditCells, GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
        SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    config.Execute.timeout = sandbox["cell_timeout"]
    if sandbox_uid is not None:
        config.Execute.kernel_manager_class = SandboxedKernelManager
        config.SandboxedKernelManager.sandbox_uid = sandbox_uid
        config.SandboxedKernelManager.memory = parse_size(sandbox["memory"])
        config.SandboxedKernelManager.cpu_seconds = sandbox["cpu_seconds"]
        config.SandboxedKernelManager.processes = sandbox["processes"]
    return config


_worker: dict = {}


def _start_worker(settings: dict, sandboxed: bool, environ: dict) -> None:
    # The forkserver was started with the environment of its first use: take the caller's now
    # (data folder, data scale), which the kernels inherit.
    os.environ.clear()
    os.environ.update(environ)
    _worker["course"] = Course(settings)
    uid = claim_uid(settings["grading"]["sandbox"]["uid"]) if sandboxed else None
    _worker["api"] = _worker["course"].api(pipeline_config(settings, uid))   # one per worker
    # Kernels of parallel submissions share the cores: one thread each.
    os.environ["OMP_NUM_THREADS"] = "1"


def _grade(assignment: str, student: str) -> Outcome:
    course: Course = _worker["course"]
    started = time.monotonic()
    result = _worker["api"].autograde(assignment, student)
    seconds = time.monotonic() - started
    if not result.get("success"):
        lines = [line for line in (result.get("error") or result.get("log") or "").splitlines() if line.strip()]
        folder = course.root / "submitted" / student / assignment
        return Outcome(student, 0.0, 0.0, seconds, "failed", _unreadable(folder) or _last_error(lines))
    with Gradebook(course.db_url, course.id) as gb:
        submission = gb.find_submission(assignment, student)
        score, max_score = submission.score, submission.max_score
    return Outcome(student, score, max_score, seconds, "graded", _notes(course.root / "autograded" / student / assignment))


def _unreadable(folder: Path) -> str:
    """Why a submitted notebook cannot be read, if one cannot."""
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nbformat.validate(nbformat.read(path, 4))
        except Exception as err:  # noqa: BLE001 - JSON, schema and encoding errors alike
            return f"{path.name} is not a valid notebook file ({type(err).__name__})"
    return ""


def _last_error(lines: list[str]) -> str:
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["nbgrader reported a failure without detail"])[-1][:300]


# Errors that say more than "a test failed": the audit's, the kernel guard's, the limits'.
LIMIT_NOTES = {"CellTimeoutError": "a cell ran past the time limit", "MemoryError": "a cell ran out of memory"}


def _notes(folder: Path) -> str:
    """Why points were lost beyond failing asserts, from the graded notebook's error outputs."""
    notes = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                text = LIMIT_NOTES.get(out.get("ename"))
                if out.get("ename") == "KernelLost" or "not run by the autograder" in out.get("evalue", ""):
                    text = out["evalue"].split(";")[0]
                if text and text not in notes:
                    notes.append(text)
    return "; ".join(notes)


def autograde(course: Course, assignment: str, students: list[str] | None = None, *,
              workers: int = 0, sandbox: bool | None = None, progress: bool = True) -> list[Outcome]:
    """Autograde ``students``' submissions of ``assignment`` (default: all collected), ``workers``
    at a time (0: the settings' value, whose 0 means one per core)."""
    course.check_assignment(assignment)
    students = students or course.submitted(assignment)
    settings = course.settings
    sandbox = settings["grading"]["sandbox"]["enabled"] if sandbox is None else sandbox
    if sandbox:
        check_available()
    workers = workers or settings["grading"]["workers"] or cpu_budget()
    workers = max(1, min(workers, len(students)))
    with Gradebook(course.db_url, course.id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            course.build([assignment])
    outcomes = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_start_worker, initargs=(settings, sandbox, dict(os.environ))) as pool:
        futures = {pool.submit(_grade, assignment, student): student for student in students}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"autograde {assignment}",
                           unit="submission", disable=not progress):
            try:
                outcomes.append(future.result())
            except Exception as err:  # noqa: BLE001 - one broken submission never stops the rest
                outcomes.append(Outcome(futures[future], 0.0, 0.0, 0.0, "failed", f"{type(err).__name__}: {err}"))
    return sorted(outcomes, key=lambda o: o.student)


def record(course: Course, assignment: str, outcomes: list[Outcome]) -> Path:
    """Keep each student's latest outcome (score, status, note) beside the gradebook: the
    export and the facilitator's summary read the reasons from here."""
    path = course.root / "autograde" / f"{assignment}.json"
    path.parent.mkdir(exist_ok=True)
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update({o.student: asdict(o) for o in outcomes})
    write_json(path, known)
    return path
