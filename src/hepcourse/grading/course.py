"""The nbgrader course: where it lives, its configuration, and the build of its assignments.

One assignment per module, named after the module folder (``03_trees``); its source is the
module's ``homework.ipynb`` (plus any ``homework*`` notebooks and assets), copied by
:meth:`Course.build`, so the modules stay the one place the homework is written. The course
directory is private to the facilitators (mode 0700): it holds the instructors' versions, the
submissions and the gradebook.

A homework is graded one of two ways, told apart by its test cells (``verdicts.check_judged``):
the course's own homework gives points only through verdicts run outside the student's kernel;
one whose test cells have no verdict at all (an nbgrader homework from another course) is graded
by its asserts, in the kernel, as nbgrader grades it: in the same sandbox, but a student who
tampers with the kernel can pass those tests, which the build says.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from traitlets.config import Config

from ..config import load_settings
from ..content import module_folders
from ..errors import UserError

log = logging.getLogger(__name__)
# The kernel every homework runs in (the course environment's); a Python notebook from elsewhere
# may name another ("python"), which does not exist here.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def heldout_datasets(modules: Path) -> dict[str, dict[str, list[str]]]:
    """assignment -> {dataset its hidden tests grade on: fields withheld from the kernel beyond
    the card's ``truth``}, from ``hepcourse.heldout`` in the homework notebook's metadata: a
    list of dataset names, or a mapping of names to the extra fields withheld (shell patterns)."""
    found = {folder.name: heldout_of(modules, folder.name) for folder in module_folders(modules)}
    return {assignment: sets for assignment, sets in found.items() if sets}


def heldout_of(modules: Path, assignment: str) -> dict[str, list[str]]:
    """What :func:`heldout_datasets` says of one assignment (reading its homework only)."""
    spec = _hepcourse_metadata(modules / assignment / "homework.ipynb").get("heldout", [])
    return {name: [] for name in spec} if isinstance(spec, list) else spec


def refused_names(modules: Path, assignment: str) -> dict[str, str]:
    """Names the homework's cells may not use, with why (``hepcourse.refuse`` in the course's own
    homework notebook: never the submission's metadata, which a student can edit)."""
    return _hepcourse_metadata(modules / assignment / "homework.ipynb").get("refuse", {})


def _hepcourse_metadata(homework: Path) -> dict:
    """The ``hepcourse`` metadata of a homework notebook ({} without one, or without the notebook)."""
    if not homework.exists():
        return {}
    try:
        return json.loads(homework.read_bytes()).get("metadata", {}).get("hepcourse", {})
    except (ValueError, AttributeError):
        raise GradingError(f"{homework}: not a notebook (not JSON): save it from JupyterLab again") from None


class GradingError(UserError):
    """A facilitator's grading command cannot proceed (the message says why)."""


class Course:
    def __init__(self, settings: dict | None = None):
        settings = settings or load_settings()
        grading = settings["grading"]
        self.settings = settings
        self.id = settings["course"]["id"]
        self.root = Path(grading["dir"] or Path(settings["hub"]["state_dir"]) / "grading")
        self.modules = Path(settings["content"]["source"])
        self.exchange = Path(settings["hub"]["state_dir"]) / "exchange"
        self.db_url = grading["db_url"] or f"sqlite:///{self.root / 'gradebook.db'}"

    def assignments(self) -> list[str]:
        """Assignment ids: every module folder with a homework notebook."""
        return [folder.name for folder in module_folders(self.modules) if (folder / "homework.ipynb").is_file()]

    def check_assignment(self, assignment: str) -> None:
        if assignment not in self.assignments():
            raise GradingError(f"no assignment {assignment!r} (a module folder {self.modules}/NN_name with a "
                               f"homework.ipynb); the course has: {', '.join(self.assignments()) or 'none'}")

    def config(self) -> Config:
        config = Config()
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.course_id = self.id
        config.CourseDirectory.db_url = self.db_url
        config.Exchange.root = str(self.exchange)
        config.Exchange.path_includes_course = True
        config.ExchangeFactory.release_assignment = "hepcourse.grading.exchange.GuardedRelease"
        config.ExchangeFactory.collect = "hepcourse.grading.exchange.VerifiedCollect"
        config.ExchangeFactory.release_feedback = "hepcourse.grading.exchange.AccountReleaseFeedback"
        from .account import runs_as

        config.GuardedRelease.account = config.AccountReleaseFeedback.account = runs_as(self.settings)
        config.ExportApp.plugin_class = "hepcourse.grading.export.NotesExport"
        if self.settings["mode"] in ("docker", "kubernetes"):    # users have their own uids (hepcourse.uids)
            config.VerifiedCollect.uid_registry = self.settings["hub"]["state_dir"]
        # A grade cell the student deleted comes back from the gradebook (and scores 0).
        config.OverwriteCells.add_missing_cells = True
        # Feedback shows outcomes and messages, never the hidden tests: nbgrader's feedback
        # pipeline with HideHiddenTests in front.
        from nbgrader.converters import GenerateFeedback

        from .preprocessors import HideHiddenTests

        config.GenerateFeedback.preprocessors = [HideHiddenTests, *GenerateFeedback.preprocessors.default()]
        return config

    def api(self, config: Config | None = None):
        from nbgrader.apps import NbGraderAPI  # heavy: not when the hub only reads paths

        # nbgrader creates and upgrades the gradebook by running the `alembic` command: the one
        # beside this interpreter must be found even when the venv is not activated.
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"

        merged = self.config()
        if config:
            merged.merge(config)
        return NbGraderAPI(config=merged)

    def heldout_secret(self) -> bytes:
        """The course's secret that the held-out sets' seeds come from: 32 random bytes made
        once in the private course directory (``heldout.secret``). To rotate it for a new year,
        delete it and the held-out folder, then run ``make data`` again."""
        path = self.root / "heldout.secret"
        self.prepare()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return bytes.fromhex(path.read_text().strip())
        value = secrets.token_bytes(32)
        with os.fdopen(fd, "w") as out:
            out.write(value.hex() + "\n")
        return value

    def prepare(self) -> None:
        """Create the private course directory and the shared exchange."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.exchange.mkdir(parents=True, exist_ok=True)
        os.chmod(self.exchange, 0o777 | 0o1000)   # nbgrader's exchange: world-writable, sticky

    def build(self, assignments: list[str] | None = None,
              warn: Callable[[str], None] = log.warning) -> dict[str, Path]:
        """Copy each module's homework into ``source/<assignment>`` and generate its student
        version (``release/<assignment>``) and gradebook entry; return the release folders.
        What the facilitator should know but need not fix goes to ``warn``."""
        self.prepare()
        built = {}
        for assignment in assignments or self.assignments():
            self.check_assignment(assignment)
            source = self.root / "source" / assignment
            shutil.rmtree(source, ignore_errors=True)
            source.mkdir(parents=True)
            for path in (self.modules / assignment).glob("homework*"):
                copy = shutil.copytree if path.is_dir() else shutil.copy2
                copy(path, source / path.name)
            for notebook in sorted(source.glob("*.ipynb")):
                self._prepare_source(notebook, assignment, warn)
            result = self.api().generate_assignment(assignment)
            _require(result, f"building {assignment}")
            built[assignment] = self.root / "release" / assignment
        return built

    def _prepare_source(self, notebook: Path, assignment: str, warn: Callable[[str], None]) -> None:
        """Refuse a homework nbgrader cannot grade, or whose tests only partly award points outside
        the kernel; warn when all of them run in the kernel; run it in the course's kernel; write
        this course's grading rules (budgets, what cells may not do) into its rules cell."""
        from .rules import RULES_KEY, fill_rules
        from .verdicts import check_judged

        where = f"{assignment}: {notebook.name}"
        try:
            nb = nbformat.read(notebook, 4)
            nbformat.validate(nb)
        except Exception as err:  # noqa: BLE001 - JSON, schema and encoding errors alike
            raise GradingError(f"{where} is not a valid notebook ({type(err).__name__}): save it from JupyterLab "
                               "again") from None
        if not any("nbgrader" in cell.metadata for cell in nb.cells):
            raise GradingError(f"{where} has no nbgrader cells, so there is nothing to grade: mark its answer and "
                               "test cells with nbgrader's Create Assignment toolbar (JupyterLab's right panel, for staff)")
        language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get("language_info", {}).get("name")
        if language not in (None, "python"):
            raise GradingError(f"{where} is a notebook in {language}; the course grades Python notebooks only")
        nb.metadata.kernelspec = dict(KERNELSPEC)
        in_kernel = check_judged(nb, assignment)
        if in_kernel:
            warn(f"{where}: its tests run in the student's kernel, as nbgrader runs them (it has no verdicts, "
                 "grading/README.md): graded in the same sandbox, but a student who tampers with the kernel can "
                 "make those tests pass. Fine for practice and trusted classes; for marks that count, give each "
                 "test a verdict, or check high scores by hand")
        if not fill_rules(nb, self.settings, in_kernel):
            if not in_kernel:
                raise GradingError(f"{where} has no grading-rules cell (a markdown cell with metadata "
                                   "hepcourse.rules: true) to tell students the budgets and rules")
            # A homework from elsewhere has none: students still learn the budgets, above its first cell.
            nb = nbformat.v4.upgrade(nb)          # cell ids (nbformat 4.5) for the new cell
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(metadata={"hepcourse": {RULES_KEY: True}}))
            fill_rules(nb, self.settings, in_kernel)
        nbformat.write(nb, notebook)

    def release(self, assignment: str, warn: Callable[[str], None] = log.warning) -> None:
        self.check_assignment(assignment)
        if not (self.root / "release" / assignment).is_dir():
            self.build([assignment], warn)
        _require(self.api().release_assignment(assignment), f"releasing {assignment}")

    def collect(self, assignment: str) -> list[str]:
        self.check_assignment(assignment)
        _require(self.api().collect(assignment), f"collecting {assignment}")
        return self.submitted(assignment)

    def submitted(self, assignment: str) -> list[str]:
        folder = self.root / "submitted"
        return sorted(p.parent.name for p in folder.glob(f"*/{assignment}") if p.is_dir())

    def feedback(self, assignment: str) -> None:
        self.check_assignment(assignment)
        api = self.api()
        _require(api.generate_feedback(assignment), f"generating feedback for {assignment}")
        _require(api.release_feedback(assignment), f"releasing feedback for {assignment}")


def _require(result: dict, doing: str) -> None:
    if not result.get("success"):
        lines = [line.strip() for line in f"{result.get('log', '')}\n{result.get('error', '')}".splitlines()]
        errors = [line for line in lines if ("Error" in line or "[ERROR]" in line) and "NbGraderException" not in line]
        raise GradingError(f"{doing} failed: {(errors or [line for line in lines if line] or ['no detail'])[-1]}")
