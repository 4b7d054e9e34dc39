"""The held-out sets' seeds come from a secret of the course, made once where only the graders
can read it, never from public values."""

import stat

from support import REPO

from hepcourse.config import load_settings
from hepcourse.grading.course import Course, heldout_datasets


def test_the_course_secret_is_made_once_and_private(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("roster: roster.yaml\nhub: {state_dir: state}\ngrading: {dir: state/grading}\n")
    course = Course(load_settings(settings))
    secret = course.heldout_secret()
    assert len(secret) == 32 and course.heldout_secret() == secret
    path = course.root / "heldout.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(course.root.stat().st_mode) == 0o700
    other = Course(load_settings(settings, env={}))   # a course elsewhere gets its own
    other.root = tmp_path / "elsewhere"
    assert other.heldout_secret() != secret


def test_every_graded_homework_has_its_own_heldout_sets():
    sets = heldout_datasets(REPO / "modules")
    assert set(sets) == {"02_intro_ml", "03_trees", "04_neural_nets", "05_cv_generative", "06_ml_in_hep"}
    for assignment in sets:
        source = (REPO / "modules" / assignment / "homework.ipynb").read_text()
        for name in sets[assignment]:
            assert f'heldout(\\"{name}\\", \\"{assignment}\\")' in source
