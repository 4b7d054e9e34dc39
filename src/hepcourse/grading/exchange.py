"""nbgrader's filesystem exchange, hardened for users with distinct uids (`docker` mode).

Stock nbgrader trusts the name of a submission folder (``alice+hw1+<time>+<random>``) to say
who submitted it, leaves submissions readable by everyone who can guess a name, and lets anyone
with write access to ``inbound`` remove other folders. Here:

* ``PrivateSubmit`` (students' side): the submission folder and files are the student's alone
  (0700/0600; stock nbgrader leaves the folder 0777); the grader reads them as root.
* ``GuardedRelease`` (grader): ``inbound`` gets the sticky bit, so nobody can delete or rename
  another user's submission.
* ``VerifiedCollect`` (grader): a submission counts only if the uid owning its folder is the
  uid of the student its name claims; anything else is refused and logged (bob cannot submit
  as alice).

Feedback needs no change: nbgrader names each released feedback file by a hash of the secret
stored in the student's own (now private) submission, in a folder others cannot list.

The uid of each student comes from ``hepcourse.uids`` (``Exchange.uid_registry`` names the
state folder). With no registry (`local` mode: every user is the hub's OS user) the ownership
checks cannot mean anything and are skipped: local mode is for trusted users.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nbgrader.exchange.default import (
    ExchangeCollect,
    ExchangeReleaseAssignment,
    ExchangeSubmit,
)
from traitlets import Unicode

from ..uids import uid_of

REGISTRY_HELP = "State folder holding uids.json (hepcourse.uids); empty: users share one uid (local mode)."


class PrivateSubmit(ExchangeSubmit):
    def set_perms(self, dest, fileperms, dirperms):
        super().set_perms(dest, fileperms=stat.S_IRUSR | stat.S_IWUSR, dirperms=stat.S_IRWXU)

    def copy_files(self):
        super().copy_files()
        # nbgrader then opens the submission folder to everyone (0777, "so the instructor can
        # delete it"): anyone who learns its name could empty it. The grader is root anyway.
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), stat.S_IRWXU)


class GuardedRelease(ExchangeReleaseAssignment):
    def copy_files(self):
        super().copy_files()
        course = Path(self.root) / self.coursedir.course_id
        inbound = course / "inbound"
        os.chmod(inbound, os.stat(inbound).st_mode | stat.S_ISVTX)


class VerifiedCollect(ExchangeCollect):
    uid_registry = Unicode("", help=REGISTRY_HELP).tag(config=True)

    def _path_to_record(self, path):
        record = super()._path_to_record(path)
        owner = os.stat(path).st_uid
        if self.uid_registry and owner != uid_of(record["username"], self.uid_registry):
            self.log.error("Refused %s: it claims to be %s's submission but uid %d wrote it",
                           record["filename"], record["username"], owner)
            # Grouped apart, so a forged newer submission never hides the student's own.
            record["username"] = REFUSED + record["username"]
        return record

    def init_src(self):
        super().init_src()
        self.src_records = [r for r in self.src_records if not r["username"].startswith(REFUSED)]


REFUSED = "\0refused:"
