"""Sandboxed parallel autograde: every submission in its own worker, its kernel confined.

The pipeline is nbgrader's own ``Autograde`` converter whose Execute step becomes four:
``SeparateVerdicts`` (the verdicts leave the cells; the kernel gets held-out features only),
``AuditCells`` (a student's cell that tampers with what tests use is not run),
``GuardedExecute`` (a dead or stuck kernel scores 0 from there on, with the reason; output
capped; whatever the sandbox left is killed) and ``JudgeAnswers`` (the verdicts, run here);
with ``OverwriteCells.add_missing_cells`` (deleted grade cells come back). Kernels start through
``SandboxedKernelManager``. Workers write their scores into the gradebook themselves, one short
transaction at a time (SQLite waits for the lock; PostgreSQL handles it), and a submission
that fails entirely (a file that is not a notebook) is recorded and never stops the others.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from tqdm import tqdm
from traitlets.config import Config

from ..config import parse_size
from ..cpus import cpu_budget
from ..files import write_json
from .course import Course
from .preprocessors import DROPPED, AuditCells, GuardedExecute
from .sandbox import ContainerKernelManager, SandboxedKernelManager, check_available, sandbox_of
from .slurmjobs import SlurmExecute, job_root, prepare_cluster
from .verdicts import JudgeAnswers, SeparateVerdicts


@dataclass
class Outcome:
    student: str
    score: float
    max_score: float
    seconds: float
    status: str        # "graded" or "failed"
    note: str = ""


def pipeline_config(settings: dict, confined: dict | None) -> Config:
    """nbgrader configuration of one worker whose kernels run in a sandbox (``confined``, from
    :func:`~hepcourse.grading.sandbox.sandbox_of`: its uid, or the broker's socket; None: no
    sandbox). With ``grading.executor: slurm`` the notebook runs as a Slurm job instead, whose
    own configuration is :func:`execute_config` on its node."""
    sandbox = settings["grading"]["sandbox"]
    on_cluster = settings["grading"]["executor"] == "slurm"
    config = Config()
    # nbgrader's own pipeline, its Execute step replaced by ours (so a new nbgrader step is kept).
    ours = [SeparateVerdicts, *([AuditCells] if sandbox["audit"] else []),
            SlurmExecute if on_cluster else GuardedExecute, JudgeAnswers]
    config.Autograde.autograde_preprocessors = [
        step for default in Autograde.autograde_preprocessors.default()
        for step in (ours if default is Execute else [default])]
    config.SeparateVerdicts.modules = config.AuditCells.modules = str(settings["content"]["source"])
    if on_cluster:
        config.SlurmExecute.settings = settings
        if os.geteuid() == 0:
            config.SeparateVerdicts.inputs_root = str(job_root(settings))     # the nodes read them there
        else:                        # the grader account: the broker copies them from its folder
            from .broker import socket_path, work_dir

            config.SlurmExecute.broker = str(socket_path(settings))
            config.SeparateVerdicts.inputs_root = str(work_dir(settings))
        return config
    config.merge(execute_config(settings, confined))
    if confined and "broker" in confined:
        from .broker import work_dir

        config.SeparateVerdicts.inputs_root = str(work_dir(settings))
    return config


def execute_config(settings: dict, confined: dict | None) -> Config:
    """How a notebook's kernel runs: nbgrader's Execute limits, the output caps and the sandbox's
    kernel manager (``confined`` as for :func:`pipeline_config`)."""
    sandbox = settings["grading"]["sandbox"]
    config = Config()
    config.Execute.timeout = sandbox["cell_timeout"]
    config.GuardedExecute.max_output = parse_size(sandbox["output"])
    config.GuardedExecute.max_answers = parse_size(sandbox["answers"])
    if confined and "broker" in confined:
        from .broker import BrokeredKernelManager

        config.Execute.kernel_manager_class = BrokeredKernelManager
        config.BrokeredKernelManager.socket = confined["broker"]
    elif confined:
        sandbox_uid = confined["uid"]
        in_container = container_grading(settings)
        config.Execute.kernel_manager_class = ContainerKernelManager if in_container else SandboxedKernelManager
        config.ContainerKernelManager.image = settings["docker"]["image"]
        config.GuardedExecute.sandbox_uid = sandbox_uid
        config.SandboxedKernelManager.sandbox_uid = sandbox_uid
        config.SandboxedKernelManager.memory = parse_size(sandbox["memory"])
        config.SandboxedKernelManager.cpu_seconds = sandbox["cpu_seconds"]
        config.SandboxedKernelManager.processes = sandbox["processes"]
        config.SandboxedKernelManager.file_size = parse_size(sandbox["file_size"])
        config.SandboxedKernelManager.hide = hidden_paths(settings)
    return config


def container_grading(settings: dict) -> bool:
    """Whether submissions' kernels run in throwaway containers (grading.sandbox.engine)."""
    engine = settings["grading"]["sandbox"]["engine"]
    return engine == "container" or (engine == "auto" and settings["mode"] == "docker")


def hidden_paths(settings: dict) -> list[str]:
    """What a submission's kernel must not see: ``grading.sandbox.hide`` and every entry of the
    hub's state folder (database, cookie secret, passwords, homes, the course), except the
    entries on the way to what kernels read (the data folder, the modules)."""
    needed = [Path(settings["data"]["dir"]).resolve(), Path(settings["content"]["source"]).resolve()]
    state = Path(settings["hub"]["state_dir"]).resolve()
    entries = sorted(state.iterdir()) if state.is_dir() else []
    private = [str(p) for p in entries if not any(n == p or p in n.parents for n in needed)]
    return [*settings["grading"]["sandbox"]["hide"], *private]


_worker: dict = {}


def _start_worker(settings: dict, sandboxed: bool, environ: dict) -> None:
    # The forkserver was started with the environment of its first use: take the caller's now
    # (data folder, data scale), which the kernels inherit.
    os.environ.clear()
    os.environ.update(environ)
    # Kernels read the course's data folder and scale (the caller's environment may name others);
    # without them a sandboxed kernel would look in its own empty home.
    os.environ.setdefault("HEPCOURSE_DATA_DIR", str(settings["data"]["dir"]))
    os.environ.setdefault("HEPCOURSE_SCALE", settings["data"]["scale"])
    _worker["course"] = Course(settings)
    # On a cluster the sandbox is built in each job, on its node.
    confined = sandbox_of(settings) if sandboxed and settings["grading"]["executor"] == "local" else None
    _worker["api"] = _worker["course"].api(pipeline_config(settings, confined))   # one per worker
    # Kernels of parallel submissions share the cores: one thread each.
    os.environ["OMP_NUM_THREADS"] = "1"


def _grade(assignment: str, student: str) -> Outcome:
    course: Course = _worker["course"]
    started = time.monotonic()
    result = _worker["api"].autograde(assignment, student)
    seconds = time.monotonic() - started
    if not result.get("success"):
        folder = course.root / "submitted" / student / assignment
        why = _unreadable(folder) or _edited(folder, course.root / "source" / assignment) \
            or _logged_error(f"{result.get('log') or ''}\n{result.get('error') or ''}")
        return Outcome(student, 0.0, 0.0, seconds, "failed", why)
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


def _edited(folder: Path, source: Path) -> str:
    """How a submission's graded cells were damaged (copied, relabelled), which nbgrader refuses
    with a traceback of its own."""
    problems = []
    for path in sorted(folder.glob("*.ipynb")):
        if not (source / path.name).exists():
            continue
        cells = [c for c in nbformat.read(path, 4).cells if "nbgrader" in c.metadata]
        ids = [c.metadata.nbgrader.get("grade_id") for c in cells]
        problems += [f"{path.name}: the cell {i!r} appears {ids.count(i)} times (a cell was copied with its grading "
                     "metadata)" for i in sorted({i for i in ids if ids.count(i) > 1}, key=str)]
        submitted = dict(zip(ids, cells))
        for cell in nbformat.read(source / path.name, 4).cells:
            meta = cell.metadata.get("nbgrader", {})
            mine = submitted.get(meta.get("grade_id"))
            if mine is not None and (mine.cell_type != cell.cell_type or any(
                    mine.metadata.nbgrader.get(k, False) != meta.get(k, False) for k in ("grade", "solution", "locked"))):
                problems.append(f"{path.name}: the cell {meta['grade_id']!r} was changed into another kind of cell "
                                "(its grading metadata was edited)")
    return "; ".join(problems)[:500]


def _logged_error(log: str) -> str:
    """The real exception in nbgrader's log, not its "see the above traceback"."""
    errors = [line.strip() for line in log.splitlines()
              if re.match(r"^\s*[\w.]*(Error|Exception|Warning)\b.*:", line) and "NbGraderException" not in line]
    return (errors or ["nbgrader reported a failure without detail"])[-1][:300]


# Errors that say more than "a test failed": the audit's, the kernel guard's, the limits'.
LIMIT_NOTES = {"CellTimeoutError": "a cell ran past the time limit", "MemoryError": "a cell ran out of memory"}


def _notes(folder: Path) -> str:
    """Why points were lost beyond failing asserts, from the graded notebook's outputs."""
    notes = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            for out in cell.get("outputs", []):
                notes.append(_note(out))
    return "; ".join(dict.fromkeys(note for note in notes if note))


def _note(out) -> str | None:
    if out.get("output_type") == "stream" and str(out.get("text", "")).startswith(DROPPED):
        return out["text"].strip()           # output beyond the cap was dropped as it came
    if out.get("output_type") != "error":
        return None
    if out.get("ename") == "KernelLost" or "not run by the autograder" in out.get("evalue", ""):
        return out["evalue"].split(";")[0]
    return LIMIT_NOTES.get(out.get("ename"))


def autograde(course: Course, assignment: str, students: list[str] | None = None, *,
              workers: int = 0, sandbox: bool | None = None, progress: bool = True) -> list[Outcome]:
    """Autograde ``students``' submissions of ``assignment`` (default: all collected), ``workers``
    at a time (0: the settings' value, whose 0 means one per core)."""
    course.check_assignment(assignment)
    students = students or course.submitted(assignment)
    settings = course.settings
    sandbox = settings["grading"]["sandbox"]["enabled"] if sandbox is None else sandbox
    if settings["grading"]["executor"] == "slurm":
        prepare_cluster(settings, sandbox)
    elif sandbox:
        check_available(settings)
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
