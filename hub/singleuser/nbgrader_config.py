"""nbgrader in every user's server: the course and its exchange (the Assignments tab), with
submissions private to their author (see hepcourse/grading/exchange.py)."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.course_id = os.environ["HEPCOURSE_COURSE_ID"]
# Submissions are named after the hub user (nbgrader would take the OS user, which in local
# mode is the hub's for everyone; in docker mode ownership is checked at collect time).
c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
c.Exchange.root = os.environ["HEPCOURSE_EXCHANGE"]
c.Exchange.path_includes_course = True
c.ExchangeFactory.submit = "hepcourse.grading.exchange.PrivateSubmit"
