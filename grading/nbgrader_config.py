"""nbgrader configuration of the course, for the formgrader service and for plain `nbgrader`
commands run in the course directory. Everything comes from hub/settings.yaml through
`hepcourse.grading` (course id, course directory, gradebook, exchange, the hardened autograde),
so the formgrader's "autograde" button grades like `hepcourse grade autograde`."""

import os

from hepcourse.grading.autograde import pipeline_config
from hepcourse.grading.course import Course
from hepcourse.grading.sandbox import SandboxError, sandbox_of

c = get_config()  # noqa: F821 (provided by nbgrader)
course = Course()
c.merge(course.config())
sandbox = course.settings["grading"]["sandbox"]
confined = None
if sandbox["enabled"]:
    try:
        confined = sandbox_of(course.settings)   # root: a sandbox uid; the grader account: the broker
    except SandboxError as err:
        raise SystemExit(f"hepcourse: {err}") from None
c.merge(pipeline_config(course.settings, confined))
os.environ.setdefault("OMP_NUM_THREADS", "1")
