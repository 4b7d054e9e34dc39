"""The HDF files the course writes are read by the pandas students are likely to have: the oldest
supported (pandas 1.5, with PyTables 3.8 and numpy 1.x) in a virtual environment of its own, made
once from the package index and kept under build/compat. Supported: pandas >= 1.5."""

import subprocess
import sys

import numpy as np
import pytest
from support import REPO

from hepcourse.data import load
from hepcourse.data.cards import get_card
from hepcourse.data.formats import PandasHdf

OLDEST = ["pandas==1.5.3", "tables==3.8.0", "numpy<2"]
pytestmark = pytest.mark.xdist_group("ci-data")


@pytest.fixture(scope="session")
def oldest_pandas():
    venv = REPO / "build" / "compat" / "pandas-1.5"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        out = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *OLDEST],
                             check=False, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"could not install {OLDEST} from the package index:\n{out.stderr[-2000:]}"
        (venv / ".complete").touch()
    return python


def test_top_tagging_files_read_in_the_oldest_supported_pandas(oldest_pandas, tmp_path, ci_data):
    card = get_card("top_tagging")
    jets = load("top_tagging", split="test", scale="ci")
    path = tmp_path / "test.h5"
    PandasHdf.write(jets, path, card)
    assert PandasHdf.count(path, card) == len(jets)
    code = ("import sys, numpy as np, pandas as pd\n"
            f"df = pd.read_hdf(sys.argv[1], key={card.schema['key']!r}, start=3, stop=13)\n"
            "np.save(sys.argv[2], df.to_numpy(dtype='float64'))\n"
            "print(pd.__version__, list(df.columns) == sys.argv[3].split(','))")
    out = subprocess.run([str(oldest_pandas), "-c", code, str(path), str(tmp_path / "rows.npy"), ",".join(jets.columns)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1.5.3", "True"]
    assert np.array_equal(np.load(tmp_path / "rows.npy"), jets.iloc[3:13].to_numpy(dtype="float64"))
