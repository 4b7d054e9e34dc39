"""Sample submissions made from an assignment itself: the instructor's answers, none, or some.
Used to prove that a homework grades (tests) and to load the autograde (bench)."""

from __future__ import annotations

import copy

import nbformat

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def answer_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the autograded answer cells (solution cells that carry no points themselves)."""
    return [i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("solution") and not c.metadata["nbgrader"].get("grade")]


def solved(source: str) -> str:
    """An instructor's answer without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in MARKERS)


def answered(instructor: nbformat.NotebookNode, released: nbformat.NotebookNode,
             fraction: float = 1.0) -> nbformat.NotebookNode:
    """The student version with the first ``fraction`` of the answer cells solved."""
    nb = copy.deepcopy(released)
    answers = answer_cells(instructor)
    for i in answers[: int(len(answers) * fraction)]:
        nb.cells[i].source = solved(instructor.cells[i].source)
    return nb
