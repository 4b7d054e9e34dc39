"""nbgrader preprocessors of the hardened autograde (see ``autograde.py`` for the pipeline)."""

from __future__ import annotations

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked

from .audit import audit, module_aliases, protected_names


class AuditCells(NbGraderPreprocessor):
    """Do not run a student's cell that tampers with what the tests use (see ``audit.py``):
    replace it by an error naming the finding, with the student's code kept as comments."""

    def preprocess(self, nb, resources):
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        aliases = module_aliases([cell.source for cell in code])
        protected = protected_names([cell.source for cell in code if is_locked(cell)])
        for cell in code:
            if is_locked(cell):
                continue
            finding = audit(cell.source, aliases, protected)
            if finding:
                self.log.warning("Not running a cell of the submission: %s", finding)
                message = f"not run by the autograder: {finding}"
                commented = "\n".join(f"# {line}" for line in cell.source.splitlines())
                cell.source = f"raise RuntimeError({message!r})\n{commented}"
        return nb, resources


class GuardedExecute(Execute):
    """nbgrader's Execute, but a kernel that dies (killed, out of memory, CPU limit, exit) or
    stops answering never turns into points: the cell it was running and every cell after it
    get an error output saying why, and the notebook goes on to be scored."""

    def preprocess_cell(self, cell, resources, index):
        self._current_index = index
        return super().preprocess_cell(cell, resources, index)

    def preprocess(self, nb, resources=None, km=None):
        self._current_index = 0
        try:
            return super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as err:
            reason = _reason(err)
            self.log.error("Kernel lost at cell %d: %s", self._current_index, reason)
            for cell in nb.cells[self._current_index:]:
                if cell.cell_type == "code":
                    cell.outputs.append(NotebookNode(
                        output_type="error", ename="KernelLost", evalue=reason,
                        traceback=[f"KernelLost: {reason}; this cell did not complete and scores 0"]))
            return nb, resources


class HideHiddenTests(ClearHiddenTests):
    """For students' feedback (nbgrader's includes the hidden tests, nbgrader #917, #1363): a
    graded cell keeps its outcome, points and the test's own message, and loses its hidden
    region (code, thresholds, the instructors' notes) and the traceback, which quotes the
    failing line."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests: not shown)"
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def _reason(err: Exception) -> str:
    if isinstance(err, DeadKernelError):
        return ("the kernel died (it was killed, ran out of memory or CPU time, or exited); "
                "cells from here on were not run")
    return f"the kernel stopped answering ({type(err).__name__}: {err}); cells from here on were not run"


__all__ = ["AuditCells", "GuardedExecute", "HideHiddenTests"]
