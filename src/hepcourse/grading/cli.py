"""``hepcourse grade``: the facilitator's homework cycle over nbgrader's Python API.

    hepcourse grade build [ASSIGNMENT...]     modules' homework -> nbgrader source + student version
    hepcourse grade release ASSIGNMENT        publish the student version to the exchange
    hepcourse grade collect ASSIGNMENT        fetch the students' submissions
    hepcourse grade autograde ASSIGNMENT      sandboxed, parallel; prints a summary table
    hepcourse grade feedback ASSIGNMENT       generate and return feedback
    hepcourse grade export [--to FILE]        one CSV row per student and assignment (for an LMS)
    hepcourse grade status                    assignments, submissions and grades so far
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..cli import handler, table

if TYPE_CHECKING:
    from .course import Course


def cmd_build(args) -> int:
    from ..content import module_problems

    course = _course()
    for problem in module_problems(course.modules):
        warn(problem)
    for assignment, release in course.build(args.assignments or None, warn).items():
        print(f"{assignment}: student version in {release}")
    return 0


def cmd_release(args) -> int:
    course = _course()
    course.release(args.assignment, warn)
    print(f"{args.assignment}: released to {course.exchange}; students fetch it from the Assignments tab")
    return 0


def cmd_collect(args) -> int:
    course = _course()
    students = course.collect(args.assignment)
    print(f"{args.assignment}: {len(students)} submissions collected: {', '.join(students) or 'none'}")
    return 0


def cmd_autograde(args) -> int:
    course = _course()
    from .autograde import autograde, record

    outcomes = autograde(course, args.assignment, args.students or None, workers=args.workers,
                         sandbox=False if args.no_sandbox else None)
    path = record(course, args.assignment, outcomes)
    rows = [[o.student, f"{o.score:g} / {o.max_score:g}" if o.status == "graded" else "-",
             o.status, f"{o.seconds:.1f}", o.note] for o in outcomes]
    print(table(rows, ["student", "score", "status", "seconds", "note"]))
    failed = sum(o.status != "graded" for o in outcomes)
    print(f"\n{len(outcomes)} submissions, {failed} failed; outcomes recorded in {path}")
    return 0


def cmd_feedback(args) -> int:
    course = _course()
    course.feedback(args.assignment)
    print(f"{args.assignment}: feedback generated and released; students fetch it from the Assignments tab")
    return 0


def cmd_export(args) -> int:
    course = _course()
    from nbgrader.api import Gradebook

    from .export import NotesExport

    with Gradebook(course.db_url, course.id) as gb:
        NotesExport(config=course.config(), to=args.to).export(gb)
    if args.to != "-":
        print(f"grades written to {args.to}")
    return 0


def cmd_status(args) -> int:
    course = _course()
    rows = []
    for assignment in course.assignments():
        released = (course.exchange / course.id / "outbound" / assignment).is_dir()
        submitted = course.submitted(assignment)
        graded = sum((course.root / "autograded" / s / assignment).is_dir() for s in submitted)
        rows.append([assignment, "yes" if released else "no", len(submitted), graded])
    print(table(rows, ["assignment", "released", "submissions", "autograded"]))
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser("grade", help="the homework cycle (nbgrader)")
    parser.set_defaults(func=handler("hepcourse.grading.cli", "run"))
    grade = parser.add_subparsers(dest="what", required=True)
    p = grade.add_parser("build", help="build nbgrader assignments from the modules' homework")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    for name, text in [("release", "publish an assignment to students"), ("collect", "collect submissions"),
                       ("feedback", "generate and release feedback")]:
        grade.add_parser(name, help=text).add_argument("assignment")
    p = grade.add_parser("autograde", help="autograde submissions (sandboxed, parallel)")
    p.add_argument("assignment")
    p.add_argument("students", nargs="*", metavar="STUDENT", help="default: every collected submission")
    p.add_argument("--workers", type=int, default=0, help="submissions at a time (default: settings, else cores)")
    p.add_argument("--no-sandbox", action="store_true", help="run kernels unconfined (trusted code only)")
    p = grade.add_parser("export", help="grades as CSV")
    p.add_argument("--to", default="grades.csv", help="output file, or - for the terminal (default: grades.csv)")
    grade.add_parser("status", help="assignments and submissions")


def run(args) -> int:
    """Run the command; run as root, what it wrote then goes back to the formgrader's account
    (hepcourse.grading.account), whatever happened."""
    from ..config import load_settings
    from . import account

    try:
        return globals()[f"cmd_{args.what}"](args)
    finally:
        account.hand_over(load_settings())


def warn(message: str) -> None:
    print(f"hepcourse: warning: {message}", file=sys.stderr)


def _course() -> Course:
    from .course import Course  # nbgrader loads only for grading commands

    return Course()
