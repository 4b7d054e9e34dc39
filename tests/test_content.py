"""Course delivery follows nbgitpuller's merge rules: nothing a student wrote is ever lost."""

import pytest

from hepcourse.content import course_files, sync


@pytest.fixture
def course(tmp_path):
    src = tmp_path / "course"
    (src / "01_python").mkdir(parents=True)
    (src / "01_python" / "lecture.ipynb").write_text("lecture v1")
    (src / "01_python" / "homework.ipynb").write_text("with solutions")
    (src / "01_python" / ".ipynb_checkpoints").mkdir()
    (src / "01_python" / ".ipynb_checkpoints" / "x.ipynb").write_text("junk")
    (src / "README.md").write_text("readme")
    return src


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home" / "modules"


def test_first_delivery_copies_everything_but_homework(course, home):
    report = sync(course, home)
    assert sorted(report.added) == ["01_python/lecture.ipynb", "README.md"]
    assert not (home / "01_python" / "homework.ipynb").exists()
    assert (home / "01_python" / "lecture.ipynb").read_text() == "lecture v1"
    assert sync(course, home).summary() == "up to date"


def test_upstream_update_reaches_untouched_files(course, home):
    sync(course, home)
    (course / "01_python" / "lecture.ipynb").write_text("lecture v2")
    assert sync(course, home).updated == ["01_python/lecture.ipynb"]
    assert (home / "01_python" / "lecture.ipynb").read_text() == "lecture v2"


def test_student_edits_win_over_upstream_changes(course, home):
    sync(course, home)
    (home / "01_python" / "lecture.ipynb").write_text("my notes")
    (course / "01_python" / "lecture.ipynb").write_text("lecture v2")
    report = sync(course, home)
    assert report.kept == ["01_python/lecture.ipynb"] and not report.updated
    assert (home / "01_python" / "lecture.ipynb").read_text() == "my notes"
    assert sync(course, home).kept == ["01_python/lecture.ipynb"]  # and stays the student's


def test_new_material_still_appears_next_to_edits(course, home):
    sync(course, home)
    (home / "01_python" / "lecture.ipynb").write_text("my notes")
    (course / "01_python" / "seminar.ipynb").write_text("seminar")
    assert sync(course, home).added == ["01_python/seminar.ipynb"]
    assert (home / "01_python" / "lecture.ipynb").read_text() == "my notes"


def test_deleted_file_is_restored(course, home):
    sync(course, home)
    (home / "README.md").unlink()
    assert sync(course, home).restored == ["README.md"]
    assert (home / "README.md").read_text() == "readme"


def test_student_file_colliding_with_new_upstream_file_is_renamed(course, home):
    sync(course, home)
    (home / "01_python" / "seminar.ipynb").write_text("student's own")
    (course / "01_python" / "seminar.ipynb").write_text("seminar")
    (rel, new), = sync(course, home).renamed
    assert rel == "01_python/seminar.ipynb" and new.startswith("01_python/seminar_")
    assert (home / new).read_text() == "student's own"
    assert (home / rel).read_text() == "seminar"


def test_identical_preexisting_file_is_adopted_not_renamed(course, home):
    (home / "01_python").mkdir(parents=True)
    (home / "01_python" / "lecture.ipynb").write_text("lecture v1")
    report = sync(course, home)
    assert not report.renamed and report.added == ["README.md"]


def test_upstream_removal_deletes_only_untouched_copies(course, home):
    (course / "notes.md").write_text("notes")
    sync(course, home)
    (home / "README.md").write_text("my readme")
    (course / "notes.md").unlink()
    (course / "README.md").unlink()
    report = sync(course, home)
    assert report.removed == ["notes.md"]
    assert (home / "README.md").read_text() == "my readme"


def test_exclusions_apply_to_folders_and_hidden_files(course):
    assert set(course_files(course)) == {"01_python/lecture.ipynb", "README.md"}


def _push_many(src, dest, names):
    from hepcourse.content import push

    for name in names:
        push(src, dest, f"seminars/{name}.ipynb")


def test_deliveries_at_the_same_time_lose_no_record(course, home):
    """Seminar pushes (and the server's own delivery) can write the same manifest at once: each
    read-modify-write holds the lock, so every delivery stays recorded (a lost record would make
    a later update of an untouched copy land beside it as if the student had changed it)."""
    import json
    import multiprocessing

    from hepcourse.content import MANIFEST

    src = course / "01_python" / "lecture.ipynb"
    jobs = [[f"p{i}_{j}" for j in range(15)] for i in range(6)]
    workers = [multiprocessing.get_context("fork").Process(target=_push_many, args=(src, home, names)) for names in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    recorded = json.loads((home.parent / MANIFEST).read_text())[home.name]
    assert set(recorded) == {f"seminars/{n}.ipynb" for names in jobs for n in names}
