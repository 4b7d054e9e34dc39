"""nbgrader preprocessors of the hardened autograde (see ``autograde.py`` for the pipeline)."""

from __future__ import annotations

from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked
from traitlets import Int, Unicode

from .answers import MIME
from .audit import audit, module_aliases, protected_names
from .course import refused_names

OUTPUTS = {"stream", "display_data", "execute_result", "error", "update_display_data"}
DROPPED = "the autograder dropped this submission's output beyond"


class AuditCells(NbGraderPreprocessor):
    """Do not run a student's cell that tampers with what the tests use, or uses a name the
    homework refuses (see ``audit.py``): replace it by an error naming the finding, with the
    student's code kept as comments."""

    modules = Unicode("", help="the course's modules folder (the names each homework refuses)").tag(config=True)

    def preprocess(self, nb, resources):
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        aliases = module_aliases([cell.source for cell in code])
        protected = protected_names([cell.source for cell in code if is_locked(cell)])
        refused = refused_names(Path(self.modules), resources["nbgrader"]["assignment"]) if self.modules else {}
        for cell in code:
            if is_locked(cell):
                continue
            finding = audit(cell.source, aliases, protected, refused)
            if finding:
                self.log.warning("Not running a cell of the submission: %s", finding)
                message = f"not run by the autograder: {finding}"
                commented = "\n".join(f"# {line}" for line in cell.source.splitlines())
                cell.source = f"raise RuntimeError({message!r})\n{commented}"
        return nb, resources


class GuardedExecute(Execute):
    """nbgrader's Execute, but a kernel that dies (killed, out of memory, CPU limit, exit) or
    stops answering never turns into points: the cell it was running and every cell after it
    get an error output saying why, and the notebook goes on to be scored. Output is capped as
    it arrives (a flood neither fills the grader's memory nor the graded notebook), widgets are
    ignored (their outputs would bypass the cap), and whatever the kernel left behind is killed
    from here, whatever happened."""

    sandbox_uid = Int(None, allow_none=True, help="the sandbox uid whose processes to kill after the notebook").tag(config=True)
    max_output = Int(16 * 1024**2, help="bytes of output a submission may produce (answers apart)").tag(config=True)
    max_answers = Int(256 * 1024**2, help="bytes of answers a submission may hand in").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        self._current_index = index
        return super().preprocess_cell(cell, resources, index)

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind.startswith("comm"):
            return None
        if kind in OUTPUTS:
            content = msg["content"]
            data = content.get("data") or {}
            budget = "answers" if MIME in data else "output"
            self._used[budget] += len(content.get("text", "")) + sum(len(str(v)) for v in data.values()) \
                + sum(len(line) for line in content.get("traceback", []))
            limit = self.max_answers if budget == "answers" else self.max_output
            if self._used[budget] > limit:
                if budget not in self._dropped:
                    self._dropped.add(budget)
                    cell.outputs.append(NotebookNode(output_type="stream", name="stderr",
                                                     text=f"{DROPPED} {limit // 1024**2} MiB\n"))
                return None
        return super().process_message(msg, cell, cell_index)

    def preprocess(self, nb, resources=None, km=None):
        self._current_index = 0
        self._used = {"answers": 0, "output": 0}
        self._dropped = set()
        try:
            return super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as err:
            reason = _reason(err)
            self.log.error("Kernel lost at cell %d: %s", self._current_index, reason)
            lose_cells(nb.cells[self._current_index:], reason)
            return nb, resources
        finally:
            # nbclient cleans up a dead kernel through jupyter_client's own method, past the
            # sandbox manager's override: kill the uid's daemons and wipe its files here.
            if self.sandbox_uid is not None:
                self.kernel_manager_class.release_sandbox(self.sandbox_uid)


def lose_cells(cells, reason: str) -> None:
    """Mark the code ``cells`` as not completed (they score 0), saying why."""
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs.append(NotebookNode(output_type="error", ename="KernelLost", evalue=reason,
                                             traceback=[f"KernelLost: {reason}; this cell did not complete and scores 0"]))


class HideHiddenTests(ClearHiddenTests):
    """For students' feedback (nbgrader's includes the hidden tests, nbgrader #917, #1363): a
    graded cell keeps its outcome, points and the test's own message, and loses its hidden
    region (code, thresholds, the instructors' notes) and the traceback, which quotes the
    failing line. Of a hidden test's outputs it keeps the verdicts' and the kernel's errors,
    not what the kernel printed: a student's hook could have printed the hidden code there."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests: not shown)"
            printed = cell.metadata.get("hepcourse", {}).get("kernel_outputs", len(cell.outputs))
            kept = []
            for i, out in enumerate(cell.outputs):
                if i < printed and out.output_type == "error":       # the kernel's errors: their first line
                    out.evalue = (out.evalue.strip().splitlines() or [""])[0][:300]
                if i >= printed or out.output_type == "error":
                    kept.append(out)
            cell.outputs = kept
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def _reason(err: Exception) -> str:
    if isinstance(err, DeadKernelError):
        return ("the kernel died (it was killed, ran out of memory or CPU time, or exited); "
                "cells from here on were not run")
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"the kernel stopped answering ({type(err).__name__}: {first}); cells from here on were not run"


__all__ = ["AuditCells", "GuardedExecute", "HideHiddenTests", "lose_cells"]
