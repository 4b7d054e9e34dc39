"""Verdicts outside the kernel: the grading side of ``answers.py``.

A student's kernel can be made to lie about anything that runs inside it: an import hook, an
IPython AST transformer, a patched ``numpy.allclose`` or a ``float`` whose ``>=`` is always
true turn failing asserts into passes. So no graded test awards points from inside the kernel.
Before execution, :class:`SeparateVerdicts` cuts every ``@verdict`` function out of the graded
cells and writes the held-out *features* the hidden parts need into a folder the kernel may read
(the truth never leaves this process). After execution, :class:`JudgeAnswers` takes each graded
cell's handed-in answers (plain data) out of its outputs and runs the cell's verdicts here, in
the grading process, where no student code ever ran. A cell scores only if its kernel part
raised nothing *and* every verdict passed; a verdict's failure (an ``AssertionError``, or any
error on answers of the wrong form) becomes the cell's error output, which nbgrader scores 0.

A notebook none of whose test cells has a verdict (an nbgrader homework from another course) is
graded as nbgrader grades it: a test cell scores if it raised nothing in the kernel. Whether a
notebook is one is read from the cells nbgrader restored from the gradebook, never from what a
student submitted.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

from .answers import INPUTS_VAR, MIME, decode, measured, write_table
from .course import GradingError, heldout_of
from .sandbox import work_root


def split_verdicts(source: str) -> tuple[str, list[ast.FunctionDef]]:
    """``source`` without its top-level ``@verdict`` functions (lines blanked, so line numbers
    stay), and those functions, decorators removed."""
    try:   # the instructors' cells: magics and shell escapes (never in a verdict) blanked, lines kept
        tree = ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()))
    except SyntaxError:
        return source, []
    lines = source.splitlines()
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(_is_verdict(d) for d in node.decorator_list):
            start = min(d.lineno for d in node.decorator_list)
            lines[start - 1:node.end_lineno] = [""] * (node.end_lineno - start + 1)
            node.decorator_list = []
            found.append(node)
    return "\n".join(lines), found


def _is_verdict(decorator: ast.expr) -> bool:
    return (isinstance(decorator, ast.Name) and decorator.id == "verdict") or \
        (isinstance(decorator, ast.Attribute) and decorator.attr == "verdict")


def autograded(cell) -> bool:
    """A test cell whose points the autograder awards (not a hand-graded answer)."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def unjudged_cells(nb) -> list[str]:
    """Grade ids of autograded cells without a verdict: they could only score inside the kernel."""
    return [cell.metadata.nbgrader.grade_id for cell in nb.cells
            if autograded(cell) and not split_verdicts(cell.source)[1]]


def judge(function: ast.FunctionDef, answers: dict, heldout) -> tuple[str, str | None]:
    """Run one verdict on ``answers``: (what it printed, None if it passed or why it failed)."""
    namespace: dict = {"__name__": "hepcourse_verdict"}
    printed = io.StringIO()
    measured.clear()     # its threshold checks (read by bench/bench_thresholds.py)
    try:
        exec(compile(ast.Module(body=[function], type_ignores=[]), "<verdict>", "exec"), namespace)  # noqa: S102 - the instructors' code
        with contextlib.redirect_stdout(printed):
            if namespace[function.name].__code__.co_argcount > 1:
                namespace[function.name](answers, heldout)
            else:
                namespace[function.name](answers)
    except AssertionError as err:
        return printed.getvalue(), str(err) or "a hidden test failed"
    except Exception as err:  # noqa: BLE001 - answers of the wrong form fail the test, nothing more
        return printed.getvalue(), f"your answers could not be checked ({type(err).__name__}: {err})"
    return printed.getvalue(), None


_inputs: dict = {}


def _inputs_folder(root: str) -> Path:
    """This worker's folder of held-out features (in ``root``, else the sandboxes' work root):
    readable by the sandbox, emptied for each submission, removed when the worker ends."""
    if "folder" not in _inputs:
        _inputs["folder"] = Path(tempfile.mkdtemp(prefix="inputs-", dir=root or work_root()))
        atexit.register(shutil.rmtree, _inputs["folder"], True)
    folder = _inputs["folder"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    return folder


def heldout_sets(modules: Path, assignment: str) -> dict:
    """name -> (full held-out rows, what a kernel may see of them) for ``assignment``, read once
    per worker. What is withheld comes from the course's modules and the dataset cards, never
    from the submission."""
    key = (str(modules), assignment)
    if key not in _inputs:
        _inputs[key] = {name: heldout_pair(name, assignment, withheld)
                        for name, withheld in heldout_of(modules, assignment).items()}
    return _inputs[key]


def heldout_pair(name: str, assignment: str, withheld: list[str]) -> tuple:
    """(the held-out rows of ``name`` for ``assignment``, the same rows without the card's truth
    fields and ``withheld``: what a kernel may see)."""
    from ..data import heldout_rows, without
    from ..data.cards import get_card

    rows = heldout_rows(name, assignment)
    return rows, without(rows, [*get_card(name).data.get("truth", []), *withheld])


class SeparateVerdicts(NbGraderPreprocessor):
    """Before execution: cut the verdicts out of the graded cells (kept for :class:`JudgeAnswers`)
    and give the kernel the held-out features, and only them."""

    modules = Unicode("", help="the course's modules folder (what each assignment grades on)").tag(config=True)
    inputs_root = Unicode("", help="where the held-out features for the kernel are written (default: the "
                          "sandboxes' work root)").tag(config=True)

    def preprocess(self, nb, resources):
        verdicts = {}
        for cell in nb.cells:
            if autograded(cell):
                cell.source, verdicts[cell.metadata.nbgrader.grade_id] = split_verdicts(cell.source)
        resources["verdicts"] = verdicts
        resources["tests_in_kernel"] = not any(verdicts.values())    # see check_judged
        folder = _inputs_folder(self.inputs_root)
        sets = heldout_sets(Path(self.modules), resources["nbgrader"]["assignment"]) if self.modules else {}
        for name, (_, features) in sets.items():
            write_table(features, folder / f"{name}.npz")
            os.chmod(folder / f"{name}.npz", 0o644)
        resources["heldout"] = {name: rows for name, (rows, _) in sets.items()}
        os.environ[INPUTS_VAR] = str(folder)      # the kernel, started next, inherits it
        return nb, resources


class JudgeAnswers(NbGraderPreprocessor):
    """After execution: score each graded cell by its verdicts, run here on its handed-in answers."""

    def preprocess(self, nb, resources):
        heldout = resources.get("heldout", {})

        def rows(name):
            if name not in heldout:
                raise GradingError(f"the assignment is not graded on a held-out {name} set (its metadata)")
            return heldout[name]

        for cell in nb.cells:
            if not autograded(cell):
                continue
            answers = take_answers(cell)
            # what the kernel printed ends here: the feedback keeps only the verdicts' outputs after it
            cell.metadata.setdefault("hepcourse", {})["kernel_outputs"] = len(cell.outputs)
            verdicts = resources.get("verdicts", {}).get(cell.metadata.nbgrader.grade_id)
            if any(out.output_type == "error" for out in cell.outputs):
                continue                          # the kernel part failed: no points either way
            if not verdicts:
                if not resources.get("tests_in_kernel"):
                    _fail(cell, "this test has no verdict outside the kernel, so it cannot award points")
                continue
            if isinstance(answers, str):
                _fail(cell, answers)
                continue
            for function in verdicts:
                printed, failure = judge(function, answers, rows)
                if printed:
                    cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=printed))
                if failure:
                    _fail(cell, failure)
                    break
        return nb, resources


def take_answers(cell) -> dict | str:
    """The answers the cell's kernel part handed in (removed from its outputs), or why they
    cannot be read."""
    answers, kept = {}, []
    for out in cell.outputs:
        payload = out.get("data", {}).get(MIME) if out.output_type in ("display_data", "execute_result") else None
        if payload is None:
            kept.append(out)
            continue
        if isinstance(answers, dict):
            try:
                answers.update(decode(payload))
            except (ValueError, TypeError) as err:
                answers = f"the answers handed in are not plain data ({type(err).__name__})"
    cell.outputs = kept
    return answers


def _fail(cell, message: str) -> None:
    cell.outputs.append(NotebookNode(output_type="error", ename="AssertionError", evalue=message,
                                     traceback=[f"AssertionError: {message}"]))


def check_judged(nb, assignment: str) -> bool:
    """Refuse to build a notebook some of whose test cells have a verdict and some not (those
    could only score inside the kernel). True when none has one: its tests run in the kernel."""
    tests = [cell.metadata.nbgrader.grade_id for cell in nb.cells if autograded(cell)]
    missing = unjudged_cells(nb)
    if missing and len(missing) < len(tests):
        raise GradingError(f"{assignment}: the test cells {', '.join(missing)} have no @verdict; "
                           "a test awards points only from a verdict run outside the student's kernel")
    return bool(tests) and len(missing) == len(tests)
