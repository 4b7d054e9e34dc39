"""The static audit flags tampering with what tests use, and lets ordinary homework code pass."""

import pytest

from hepcourse.grading.audit import audit, module_aliases, protected_names

LOCKED = [("import numpy as np\nimport pandas as pd\nfrom sklearn.metrics import roc_auc_score\n"
          "import matplotlib.pyplot as plt\nfrom torch import nn\n\ndef scores(model):\n    return 1")]


def finding(source):
    return audit(source, module_aliases(LOCKED + [source]), protected_names(LOCKED))


@pytest.mark.parametrize("source", [
    "np.allclose = lambda *a, **k: True",
    "import numpy\nnumpy.testing.assert_allclose = print",
    "roc_auc_score = lambda y, s: 1.0",
    "from mylib import roc_auc_score",
    "def scores(model):\n    return 100",
    "setattr(np, 'isclose', print)",
    "nn.Module.__call__ = lambda self, x: x",
    "get_ipython().showtraceback = lambda *a, **k: None",
    "import builtins\nbuiltins.AssertionError = Exception",
    "exec('np.all' + 'close = print')",
    "import sys\nsys.modules['numpy'] = None",
    "%time np.allclose = print",
    "%%time\nnp.allclose = print",
    "_ = !true\nnp.allclose = print",
    "%run -i evil.py",
    "from sys import modules\nmodules['numpy'].allclose = print",
    "vars(np)['allclose'] = print",
    "getattr(np, 'all' + 'close')",
    "object.__setattr__(np, 'allclose', print)",
    "np.__dict__['allclose'] = print",
    "def f(x):\n    return x\nf.__code__ = print.__code__",
    "x = (1 +",
])
def test_tampering_is_flagged(source):
    assert finding(source), source


@pytest.mark.parametrize("source", [
    "import numpy as np\nfrom torch import nn\npd.options.display.max_rows = 20",
    "plt.rcParams['figure.figsize'] = (4, 3)\nfig, ax = plt.subplots()\nax.set_title('x')",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layer = nn.Linear(2, 1)",
    "for i, c in enumerate([1, 2]):\n    total = i + c",
    "auc = roc_auc_score([0, 1], [0.2, 0.8])\nmodel = None",
    "%matplotlib inline\nx = np.arange(3)",
    "def helper(a):\n    return a.sum()",
    "import gc\ngc.collect()",
    "heldout = train.sample(frac=0.2)\nfrom hepcourse.grading.answers import heldout as features",
    "%time model = None\n!ls\nfiles = !ls",
    "%%capture\nx = 1",
    "getattr(model, 'feature_importances_', None)",
    "class Point:\n    def __init__(self):\n        self.x = 1\nvars(Point())",
])
def test_ordinary_homework_code_passes(source):
    assert finding(source) is None, finding(source)


REFUSED = {"shower_features": "it computes Task 4's features"}


@pytest.mark.parametrize("source", [
    "from hepcourse.data.generators.calorimeter import shower_features",
    "from hepcourse.data.generators import calorimeter\nX = calorimeter.shower_features(showers)",
    "import hepcourse.data.generators.calorimeter as c\nf = getattr(c, 'shower_features')",
    "%time X = shower_features(showers)",
])
def test_a_name_the_homework_refuses_is_flagged_however_reached(source):
    found = audit(source, module_aliases(LOCKED + [source]), protected_names(LOCKED), REFUSED)
    assert found and "does not allow: it computes Task 4's features" in found
    assert finding(source) is None or "getattr" in finding(source)      # other homeworks allow it


def test_the_homeworks_refusals_reach_the_rules_cell_and_come_from_the_course(course):
    import nbformat

    from hepcourse.grading.course import refused_names
    from hepcourse.grading.rules import fill_rules

    nb = nbformat.read(course.modules / "99_tiny" / "homework.ipynb", 4)
    nb.metadata["hepcourse"] = {"refuse": REFUSED}
    nbformat.write(nb, course.modules / "99_tiny" / "homework.ipynb")
    assert refused_names(course.modules, "99_tiny") == REFUSED
    assert fill_rules(nb, course.settings)
    (rules,) = [c for c in nb.cells if c.metadata.get("hepcourse", {}).get("rules")]
    assert "does not allow `shower_features`: it computes Task 4's features" in rules.source
