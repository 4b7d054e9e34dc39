"""The grade export as nbgrader's own plugin: ``nbgrader export``, the formgrader and
``hepcourse grade export`` all write one CSV row per student and assignment, with the autograde
outcome (graded, failed, missing, needs manual grading) and its note (why points were lost or
why a submission could not be graded), which nbgrader's stock CSV leaves out."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

COLUMNS = ["student", "assignment", "score", "max_score", "status", "note"]


def grade_rows(gradebook: Gradebook, course_root: Path, assignments=(), students=()) -> list[dict]:
    """One row per student and assignment (all, or those named)."""
    rows = []
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        notes_file = course_root / "autograde" / f"{assignment.name}.json"
        notes = json.loads(notes_file.read_text()) if notes_file.exists() else {}
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            try:
                sub = gradebook.find_submission(assignment.name, student.id)
                score, status = sub.score, "needs manual grading" if sub.needs_manual_grade else "graded"
            except MissingEntry:
                score, status = 0.0, "missing"
            outcome = notes.get(student.id, {})
            if outcome.get("status") == "failed":
                status = "failed"
            rows.append({"student": student.id, "assignment": assignment.name, "score": round(score, 2),
                         "max_score": assignment.max_score, "status": status, "note": outcome.get("note", "")})
    return rows


class NotesExport(ExportPlugin):
    """CSV with each submission's autograde status and note (``--to -``: standard output)."""

    def export(self, gradebook: Gradebook) -> None:
        root = Path(self.config.CourseDirectory.root or ".")
        rows = grade_rows(gradebook, root, [str(a) for a in self.assignment], [str(s) for s in self.student])
        dest = self.to or "grades.csv"
        with open(dest, "w", newline="") if dest != "-" else contextlib.nullcontext(sys.stdout) as stream:
            writer = csv.DictWriter(stream, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.log.info("%d rows exported to %s", len(rows), dest)
