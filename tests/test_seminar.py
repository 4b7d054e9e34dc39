"""Live seminars without a hub: pushing a notebook into homes, the scopes of each share mode,
the landing page's module index. The real-hub side is in test_live_seminar.py."""

import json

from support import REPO, run_cli

from hepcourse import content, homes, seminar
from hepcourse.files import sha256_of

MODULES = REPO / "modules"


def test_push_never_overwrites_a_students_copy(tmp_path):
    src = MODULES / "02_intro_ml" / "seminar.ipynb"
    home = tmp_path / "alice" / "modules"
    rel = "02_intro_ml/seminar.ipynb"
    assert content.push(src, home, rel) == ("added", rel)
    assert content.push(src, home, rel) == ("current", rel)

    # An untouched copy of an older version is replaced.
    (home / rel).write_text("{}")
    manifest = tmp_path / "alice" / ".hepcourse" / "delivered.json"
    delivered = json.loads(manifest.read_text())
    delivered["modules"][rel] = sha256_of(home / rel)
    manifest.write_text(json.dumps(delivered))
    assert content.push(src, home, rel) == ("updated", rel)
    assert (home / rel).read_bytes() == src.read_bytes()

    # The student's own edits stay; the fresh copy lands beside them.
    (home / rel).write_text('{"mine": true}')
    outcome, written = content.push(src, home, rel)
    assert outcome == "beside" and written != rel and written.startswith("02_intro_ml/seminar_")
    assert (home / rel).read_text() == '{"mine": true}'
    assert (home / written).read_bytes() == src.read_bytes()


def test_push_to_every_home_of_the_local_mode(tmp_path):
    state = tmp_path / "state"
    (state / "homes" / "alice").mkdir(parents=True)
    (state / "homes" / "bob" / "modules" / "04_neural_nets").mkdir(parents=True)
    (state / "homes" / "bob" / "modules" / "04_neural_nets" / "seminar.ipynb").write_text("bob's notes")
    settings = {"mode": "local", "hub": {"state_dir": str(state)}, "content": {"source": str(MODULES)}}
    rows = homes.push(settings, "04_neural_nets", "seminar.ipynb", ["alice", "bob", "carol"])
    assert [r[:2] for r in rows] == [("alice", "added"), ("bob", "beside"), ("carol", "no home yet")]
    assert (state / "homes" / "bob" / "modules" / "04_neural_nets" / "seminar.ipynb").read_text() == "bob's notes"
    assert (state / "homes" / "alice" / rows[0][2]).read_bytes() == (MODULES / "04_neural_nets" / "seminar.ipynb").read_bytes()


def test_push_cli_explains_a_wrong_module(tmp_path, write):
    roster = write("roster.yaml", "instructors: [prof]\nstudents: [alice]\n")
    settings = write("settings.yaml", f"roster: {roster}\nhub:\n  state_dir: {tmp_path / 'state'}\n"
                                      f"content:\n  source: {MODULES}\n")
    out = run_cli("hepcourse", "seminar", "push", "4_nets", env={"HEPCOURSE_SETTINGS": str(settings)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no seminar.ipynb in module '4_nets'" in out.stderr and "04_neural_nets" in out.stderr
    out = run_cli("hepcourse", "seminar", "push", "04_neural_nets", "--users", "mallory",
                  env={"HEPCOURSE_SETTINGS": str(settings)})
    assert out.returncode == 2 and "not on the roster: mallory" in out.stderr


def test_share_modes_grant_only_what_they_say():
    follow = seminar.share_scopes("prof", "follow")
    assert follow == ["access:servers!server=prof/", "custom:jupyter_server:read:*!server=prof/",
                      "custom:jupyter_server:write:*!server=prof/"]
    assert "custom:jupyter_server:execute:*!server=prof/" in seminar.share_scopes("prof", "run")
    scopes = seminar.custom_scopes()
    assert scopes["custom:jupyter_server:execute:*"]["subscopes"] == [
        "custom:jupyter_server:read:*", "custom:jupyter_server:write:*"]
    assert scopes["custom:jupyter_server:read:*"]["subscopes"] == []


def test_module_index_lists_what_students_open():
    index = content.module_index(MODULES)
    assert [m["name"] for m in index] == sorted(p.name for p in MODULES.iterdir() if p.is_dir())
    first = index[0]
    assert first["title"].startswith("Module 1") and first["notebooks"] == ["lecture", "seminar"]
    assert all(m["homework"] for m in index)



def test_every_lecture_heading_starts_a_slide():
    import nbformat

    for path in sorted(MODULES.glob("*/lecture.ipynb")):
        notebook = nbformat.read(path, 4)
        assert content.mark_slides(notebook) == 0, f"{path}: slide breaks missing (make strip sets them)"
        assert sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in notebook.cells) >= 5


def test_module_index_of_a_missing_folder_is_empty(tmp_path):
    assert content.module_index(tmp_path / "nowhere") == []
