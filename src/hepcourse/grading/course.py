"""The nbgrader course: where it lives, its configuration, and the build of its assignments.

One assignment per module, named after the module folder (``03_trees``); its source is the
module's ``homework.ipynb`` (plus any ``homework*`` assets), copied by :meth:`Course.build`, so the
modules stay the one place the homework is written. The course directory is private to the
facilitators (mode 0700): it holds the instructors' versions, the submissions and the gradebook.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import nbformat
from traitlets.config import Config

from ..config import load_settings
from ..errors import UserError


def heldout_datasets(modules: Path) -> dict[str, dict[str, list[str]]]:
    """assignment -> {dataset its hidden tests grade on: fields withheld from the kernel beyond
    the card's ``truth``}, from ``hepcourse.heldout`` in the homework notebook's metadata: a
    list of dataset names, or a mapping of names to the extra fields withheld (shell patterns)."""
    found = {}
    for homework in sorted(modules.glob("*/homework.ipynb")):
        spec = json.loads(homework.read_text())["metadata"].get("hepcourse", {}).get("heldout", [])
        if spec:
            found[homework.parent.name] = {name: [] for name in spec} if isinstance(spec, list) else spec
    return found


def refused_names(modules: Path, assignment: str) -> dict[str, str]:
    """Names the homework's cells may not use, with why (``hepcourse.refuse`` in the course's own
    homework notebook: never the submission's metadata, which a student can edit)."""
    homework = modules / assignment / "homework.ipynb"
    if not homework.exists():
        return {}
    return json.loads(homework.read_text())["metadata"].get("hepcourse", {}).get("refuse", {})


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
        return sorted(p.parent.name for p in self.modules.glob("*/homework.ipynb"))

    def check_assignment(self, assignment: str) -> None:
        if assignment not in self.assignments():
            raise GradingError(f"no assignment {assignment!r}; the course has: {', '.join(self.assignments())}")

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

    def build(self, assignments: list[str] | None = None) -> dict[str, Path]:
        """Copy each module's homework into ``source/<assignment>`` and generate its student
        version (``release/<assignment>``) and gradebook entry; return the release folders."""
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
            for notebook in source.glob("*.ipynb"):
                self._prepare_source(notebook, assignment)
            result = self.api().generate_assignment(assignment)
            _require(result, f"building {assignment}")
            built[assignment] = self.root / "release" / assignment
        return built

    def _prepare_source(self, notebook: Path, assignment: str) -> None:
        """Refuse a homework whose tests could score inside the kernel; write this course's
        grading rules (budgets, what cells may not do) into its rules cell."""
        from .rules import fill_rules
        from .verdicts import check_judged

        nb = nbformat.read(notebook, 4)
        check_judged(nb, assignment)
        if not fill_rules(nb, self.settings):
            raise GradingError(f"{assignment}: {notebook.name} has no grading-rules cell (a markdown cell "
                               "with metadata hepcourse.rules: true) to tell students the budgets and rules")
        nbformat.write(nb, notebook)

    def release(self, assignment: str) -> None:
        self.check_assignment(assignment)
        if not (self.root / "release" / assignment).is_dir():
            self.build([assignment])
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
