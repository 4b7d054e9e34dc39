"""nbgrader's filesystem exchange, hardened for users with distinct uids (`docker` mode).

Stock nbgrader trusts the name of a submission folder (``alice+hw1+<time>+<random>``) to say
who submitted it, leaves submissions readable by everyone who can guess a name, and lets anyone
with write access to ``inbound`` remove other folders. Here:

* ``PrivateSubmit`` (students' side): the submission folder and files are the student's, and
  readable by the grader account's group only (0750/0640: ``inbound`` is the grader's, setgid,
  so what students make in it is in the grader's group); stock nbgrader leaves the folder 0777.
* ``GuardedRelease`` (grader): ``inbound`` gets the sticky bit, so nobody can delete or rename
  another user's submission.
* ``AccountOwned`` (grader, both releases): root may release into the course's folders that the
  formgrader's account owns, nobody else's.
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
import pwd
import stat
from pathlib import Path

from nbgrader.exchange.default import (
    Exchange,
    ExchangeCollect,
    ExchangeReleaseAssignment,
    ExchangeReleaseFeedback,
    ExchangeSubmit,
)
from traitlets import Unicode

from ..uids import known_uid

REGISTRY_HELP = "State folder holding uids.json (hepcourse.uids); empty: users share one uid (local mode)."


PRIVATE_FILE = stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP
PRIVATE_DIR = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP


class PrivateSubmit(ExchangeSubmit):
    def do_copy(self, src, dest, log=None):
        super().do_copy(src, dest, log)
        if Path(dest).parent == Path(self.inbound_path):
            # copytree gave the folder the mode of the student's own folder, which drops the
            # setgid bit it had from inbound (a student is not in the grader's group), and the
            # files nbgrader writes next would be in the student's group, out of the grader's
            # reach. A fresh folder made in inbound has the bit again: the copy moves into it.
            fresh = Path(f"{dest}.tmp")
            fresh.mkdir()
            for entry in Path(dest).iterdir():
                entry.rename(fresh / entry.name)
            Path(dest).rmdir()
            fresh.rename(dest)

    def set_perms(self, dest, fileperms, dirperms):
        super().set_perms(dest, fileperms=PRIVATE_FILE, dirperms=PRIVATE_DIR)

    def copy_files(self):
        super().copy_files()
        # nbgrader then opens the submission folder to everyone (0777, "so the instructor can
        # delete it"): anyone who learns its name could empty it. The grader's group reads it.
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), PRIVATE_DIR)


class AccountOwned(Exchange):
    """Root releasing into the course's exchange folders that the formgrader's account owns
    (``hepcourse.grading.account`` hands them over): nbgrader wants them self-owned, which
    would refuse every release by root after the account's first. Folders of anyone else (a
    student who made the course's folder first) are still refused."""

    account = Unicode("", help="the formgrader's OS account (grading.account) under a root hub").tag(config=True)

    def ensure_directory(self, path, mode):
        if self.account and os.geteuid() == 0 and os.path.isdir(path) \
                and os.stat(path).st_uid == pwd.getpwnam(self.account).pw_uid:
            return
        super().ensure_directory(path, mode)


class GuardedRelease(AccountOwned, ExchangeReleaseAssignment):
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
        if self.uid_registry and owner != known_uid(record["username"], self.uid_registry):
            self.log.error("Refused %s: it claims to be %s's submission but uid %d wrote it",
                           record["filename"], record["username"], owner)
            # Grouped apart, so a forged newer submission never hides the student's own.
            record["username"] = REFUSED + record["username"]
        return record

    def init_src(self):
        super().init_src()
        self.src_records = [r for r in self.src_records if not r["username"].startswith(REFUSED)]


REFUSED = "\0refused:"


class AccountReleaseFeedback(AccountOwned, ExchangeReleaseFeedback):
    pass
