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
    "from hepcourse.data import heldout\nX = heldout('higgs')",
    "import gc",
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
])
def test_ordinary_homework_code_passes(source):
    assert finding(source) is None, finding(source)
