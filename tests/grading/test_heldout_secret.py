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


def test_a_heldout_set_is_made_of_test_rows_alone_and_remade_when_its_size_changes(tmp_path, monkeypatch):
    from support import TEST_SECRET

    from hepcourse.data import generate_heldout, heldout, heldout_card, load
    from hepcourse.data.build import is_current
    from hepcourse.data.cards import get_card

    monkeypatch.setenv("HEPCOURSE_HELDOUT_DIR", str(tmp_path / "heldout"))
    generate_heldout("higgs", "02_intro_ml", TEST_SECRET, "ci", progress=False)
    card = heldout_card(get_card("higgs"), "02_intro_ml")
    rows = len(heldout("higgs", "02_intro_ml", scale="ci"))
    assert rows == card.rows("HIGGS.csv.gz", "ci") and abs(rows - len(load("higgs", split="test", scale="ci"))) <= 1
    assert rows < get_card("higgs").rows("HIGGS.csv.gz", "ci") / 10      # the test share of the file, not all of it
    assert is_current(card, "ci", "HIGGS.csv.gz")
    card.data["files"]["HIGGS.csv.gz"]["rows"]["ci"] += 1                  # a card whose sizes changed
    assert not is_current(card, "ci", "HIGGS.csv.gz")
