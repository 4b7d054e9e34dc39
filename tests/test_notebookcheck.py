"""`hepcourse content check`: notebooks brought from elsewhere, run in a real kernel, each failure
named by its cause (the six modules' own run goes through the same check: test_notebooks.py)."""

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from support import run_cli

CASES = {
    "fine": ["x = 1", "print(x + 1)"],
    "missing-package": ["import math", "import nosuchpackage_hepcourse_xyz"],
    "removed-numpy": ["import numpy as np", "np.zeros(3, dtype=np.float)"],
    "removed-pandas": ["import pandas as pd", "pd.DataFrame({'a': [1]}).append({'a': 2}, ignore_index=True)"],
    "blocked-download": ["import urllib.request",
                         "urllib.request.urlretrieve('http://opendata.example.invalid/higgs.root', 'higgs.root')"],
    "gpu-only": ["import torch", "x = torch.zeros(3).cuda()"],
    "blank-exercise": ["def efficiency(passed, total):\n    raise NotImplementedError()", "efficiency(3, 4)"],
    "placeholder": ["import numpy as np", "x = <your code here>"],
    "wget-then-read": ["!wget -q http://opendata.example.invalid/higgs_sample.csv",
                       "import pandas as pd\npd.read_csv('higgs_sample.csv')"],
    "course-dataset": ["import pandas as pd", "pd.read_csv('HIGGS.csv.gz')"],
    "xgboost-2": ["import numpy as np\nfrom xgboost import XGBClassifier",
                  "XGBClassifier(n_estimators=2).fit(np.zeros((4, 2)), [0, 1, 0, 1], eval_metric='auc')"],
    # Found on public notebooks (issue 20, point 4): the request's own URL, not one quoted by the
    # library's code in the traceback; a style package; a helper package installed from git.
    "requests-download": ["import requests", "requests.get('https://opendata.example.invalid/data/sample.root')"],
    "style-package": ["import matplotlib.pyplot as plt", "plt.style.use(['science', 'notebook'])"],
    "git-install": ["!pip install -q git+https://opendata.example.invalid/course/coursetools.git", "import coursetools"],
}
CAUSES = {
    "missing-package": "missing package: nosuchpackage_hepcourse_xyz (not in the course environment",
    "removed-numpy": "removed API: NumPy 1.24 removed np.float: use the builtin float",
    "removed-pandas": "removed API: pandas 2 removed DataFrame.append: use pd.concat",
    "blocked-download": "blocked download: http://opendata.example.invalid/higgs.root cannot be reached",
    "gpu-only": "GPU-only code",
    "blank-exercise": "an exercise left blank",
    "placeholder": "an exercise left blank",
    "wget-then-read": "blocked download: an earlier cell fetches http://opendata.example.invalid/higgs_sample.csv",
    "course-dataset": "it is the course dataset 'higgs': hepcourse.data.path('higgs', 'HIGGS.csv.gz')",
    "xgboost-2": "removed API: XGBoost 2 moved eval_metric from fit() to the XGBClassifier / XGBRegressor constructor",
    "requests-download": "blocked download: https://opendata.example.invalid/data/sample.root cannot be reached",
    "style-package": "missing package: the matplotlib style 'science' comes from a package that is not in the course "
                     "environment (SciencePlots: `import scienceplots`)",
    "git-install": "missing package: coursetools (the notebook installs it from "
                   "git+https://opendata.example.invalid/course/coursetools.git, which cannot be reached",
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU-only case runs on a GPU")
def test_each_failure_is_named_by_its_cause_and_its_cell(tmp_path):
    paths = []
    for name, cells in CASES.items():
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
        paths.append(str(path))
    out = run_cli("hepcourse", "content", "check", *paths, timeout=600)
    assert out.returncode == 1, out.stderr
    rows = {line.split()[0].rsplit("/", 1)[-1].removesuffix(".ipynb"): line for line in out.stdout.splitlines()[2:]}
    assert "ran to the end" in rows["fine"]
    for name, cause in CAUSES.items():
        assert cause in rows[name], rows[name]
        assert rows[name].split()[2] == "2", rows[name]            # the second code cell failed


def test_all_running_exits_zero_and_a_wrong_path_is_a_clear_error(tmp_path):
    path = tmp_path / "ok.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")]), path)
    assert run_cli("hepcourse", "content", "check", str(path)).returncode == 0
    out = run_cli("hepcourse", "content", "check", str(tmp_path / "nope.ipynb"))
    assert out.returncode == 2 and "no such notebook" in out.stderr and "Traceback" not in out.stderr


def test_each_run_is_in_a_scratch_copy_of_the_notebooks_folder(tmp_path):
    path = tmp_path / "writes.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import os\nassert not os.path.exists('left-by-an-earlier-run')\nopen('left-by-an-earlier-run', 'w').write('x')")]),
        path)
    for _ in range(2):                     # the second run would fail if the first one's file stayed
        assert run_cli("hepcourse", "content", "check", str(path)).returncode == 0
    assert not (tmp_path / "left-by-an-earlier-run").exists()


def test_a_package_left_out_on_purpose_says_why_without_asking_the_registry():
    from hepcourse.notebookcheck import LEFT_OUT, explain

    for name in LEFT_OUT:
        assert explain("ModuleNotFoundError", f"No module named '{name}'", [f"import {name}"]) == \
            f"missing package: {name} ({LEFT_OUT[name]})"
    assert "only" in explain("ModuleNotFoundError", "No module named 'torchvision.ops'", ["import torchvision.ops"])


def test_a_cell_meant_to_fail_is_passed_over_and_a_root_holds_the_files_beside(tmp_path):
    """A cell tagged raises-exception fails on purpose (nbclient runs on): the failure is a later
    one. A notebook reading ../data fails in a copy of its own folder, says so, and runs with
    --root set to the folder that holds both."""
    (tmp_path / "course" / "data").mkdir(parents=True)
    (tmp_path / "course" / "data" / "events.csv").write_text("x\n1\n")
    (tmp_path / "course" / "notebooks").mkdir()
    on_purpose = new_code_cell("raise ValueError('shown to the class')", metadata={"tags": ["raises-exception"]})
    path = tmp_path / "course" / "notebooks" / "reads-beside.ipynb"
    nbformat.write(new_notebook(cells=[on_purpose, new_code_cell("import pandas as pd"),
                                       new_code_cell("pd.read_csv('../data/events.csv')")]), path)
    out = run_cli("hepcourse", "content", "check", str(path), timeout=300)
    (row,) = out.stdout.splitlines()[2:]
    assert out.returncode == 1 and row.split()[2] == "3", row
    assert "check it with --root set to the folder that holds both" in row
    assert run_cli("hepcourse", "content", "check", "--root", str(tmp_path / "course"), str(path),
                   timeout=300).returncode == 0
    out = run_cli("hepcourse", "content", "check", "--root", str(tmp_path / "course" / "data"), str(path))
    assert out.returncode == 2 and "does not hold" in out.stderr and "Traceback" not in out.stderr
