"""`hepcourse content claims` (make course-check): each quoted number recomputed by its notebook
in a real kernel; a drift, a quote gone from its text, a failing expression all fail it."""

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from support import REPO, run_cli

from hepcourse.claims import load_claims, text_of
from hepcourse.errors import UserError


def module(tmp_path, claims: list[dict]):
    folder = tmp_path / "modules" / "07_toy"
    folder.mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("import os\nauc = 0.8125\nscale = os.environ['HEPCOURSE_SCALE']"),
                             new_markdown_cell("The toy reaches an AUC of 0.81.")])
    nbformat.write(nb, folder / "lecture.ipynb")
    (folder / "README.md").write_text("# Toy\n\nThe lecture's classifier: AUC 0.81 at course scale.\n")
    (folder / "claims.yaml").write_text(yaml.safe_dump(claims))
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"roster: roster.yaml\ncontent: {{source: {tmp_path / 'modules'}}}\n")
    return folder, {"HEPCOURSE_SETTINGS": str(settings)}


def claim(**changes) -> dict:
    return {"notebook": "lecture", "where": "README.md", "quote": "AUC 0.81", "value": 0.81, "tolerance": 0.01,
            "expr": "auc", **changes}


def test_quoted_numbers_that_hold_pass_and_each_kind_of_drift_fails(tmp_path):
    folder, env = module(tmp_path, [
        claim(),
        claim(where="lecture.ipynb", quote="an AUC of 0.81"),
        claim(quote="AUC 0.81", value=0.85),                       # the notebook computes 0.8125
        claim(quote="AUC 0.90"),                                   # no longer in the README
        claim(expr="roc_auc"),                                     # no such variable
    ])
    out = run_cli("hepcourse", "content", "claims", str(folder), "--scale", "ci", "--out",
                  str(tmp_path / "check.md"), env=env)
    assert out.returncode == 1, out.stderr
    rows = [line for line in (tmp_path / "check.md").read_text().splitlines() if line.startswith("| 07_toy")]
    assert len(rows) == 5
    assert rows[0].endswith("| 0.8125 | ok |") and rows[1].endswith("| 0.8125 | ok |")
    assert "drifted: 0.8125 against 0.85 +- 0.01" in rows[2]
    assert "not quoted in README.md any more" in rows[3]
    assert "NameError" in rows[4]
    assert "2 of 5 quoted numbers hold at ci scale" in out.stderr


def test_all_holding_exits_zero(tmp_path):
    _, env = module(tmp_path, [claim()])
    out = run_cli("hepcourse", "content", "claims", "07_toy", "--scale", "ci", env=env)
    assert out.returncode == 0, out.stderr
    assert "1 of 1 quoted numbers hold" in out.stderr


def test_a_malformed_claims_file_names_the_entry(tmp_path):
    folder, env = module(tmp_path, [claim(), {"notebook": "lecture", "value": 1}])
    with pytest.raises(UserError, match="claims.yaml: entry 2: needs exactly the keys"):
        load_claims(folder)
    out = run_cli("hepcourse", "content", "claims", "07_toy", env=env)
    assert out.returncode == 2 and "entry 2" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("folder", sorted(p for p in (REPO / "modules").iterdir() if (p / "claims.yaml").exists()),
                         ids=lambda p: p.name)
def test_the_course_claims_are_well_formed_and_still_quoted(folder):
    for entry in load_claims(folder):
        assert entry["quote"] in text_of(folder / entry["where"]), f"{folder.name}: {entry['quote']!r} not in {entry['where']}"
