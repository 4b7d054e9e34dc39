"""The course environment (README: "The environment"): the locks keep the run time's packages, all
the course images install, apart from the development ones, every file hash-pinned;
scikit-hep-testdata finds the files the course ships without reaching GitHub; and each package
added for HEP-ML material from elsewhere does its job in a real kernel."""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import skhep_testdata
from nbformat.v4 import new_code_cell, new_notebook
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support import REPO

from hepcourse.notebookcheck import check

SHIPPED = sorted((REPO / "datasets" / "skhep-testdata").glob("*.root"))


def pins(lock: str) -> dict[str, list[str]]:
    """Each package a lock pins, with the hashes it allows."""
    entries = re.split(r"\n(?=[A-Za-z])", (REPO / lock).read_text())
    return {canonicalize_name(Requirement(entry.split()[0]).name): re.findall(r"--hash=sha256:(\w+)", entry)
            for entry in entries if re.match(r"[A-Za-z0-9._-]+(\[[\w,-]+\])?==", entry)}


def test_the_run_time_lock_has_no_development_package_and_every_pin_has_hashes():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    direct_dev = {canonicalize_name(Requirement(r).name) for r in extras}
    assert direct_dev <= set(dev) | set(runtime), direct_dev - set(dev) - set(runtime)
    assert not set(runtime) & set(dev), set(runtime) & set(dev)
    assert {"pytest", "execnet", "iniconfig", "pluggy", "greenlet"} <= set(dev)   # test-only: never in an image
    assert all(runtime.values()) and all(dev.values())


def test_scikit_hep_testdata_finds_the_shipped_files_in_its_own_folder():
    assert SHIPPED
    for path in SHIPPED:
        found = Path(skhep_testdata.data_path(path.name))
        assert found.parent == Path(skhep_testdata.__file__).parent / "data", found   # not ~/.local: no download
        assert found.read_bytes() == path.read_bytes()


# Each added package doing its job once, with the pinned stack, in a real kernel.
AT_WORK = [
    """import numpy as np, pandas as pd
rng = np.random.default_rng(1)
x = rng.normal(size=(400, 3)); y = (x[:, 0] + x[:, 1] > 0).astype(int)""",
    """from iminuit import Minuit
from iminuit.cost import UnbinnedNLL
from scipy.stats import norm
m = Minuit(UnbinnedNLL(x[:, 0], lambda v, mu, sigma: norm.pdf(v, mu, sigma)), mu=0.5, sigma=2)
m.limits['sigma'] = (0.1, None); m.migrad()
assert m.valid and abs(m.values['mu']) < 4 * m.errors['mu']""",
    """import pyhf
model = pyhf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[50.0], bkg_uncertainty=[5.0])
cls = pyhf.infer.hypotest(1.0, [52.0] + model.config.auxdata, model)
assert 0 < float(cls) < 1""",
    """from particle import Particle
import hepunits as u
z = Particle.from_pdgid(23)
assert z.name == 'Z0' and 91 * u.GeV < z.mass * u.MeV < 92 * u.GeV""",
    """import lightgbm, catboost
for model in (lightgbm.LGBMClassifier(n_estimators=20, verbose=-1),
              catboost.CatBoostClassifier(iterations=20, verbose=False, thread_count=1, allow_writing_files=False)):
    assert (model.fit(x, y).predict(x) == y).mean() > 0.9""",
    """import seaborn as sns, plotly.express as px, matplotlib
matplotlib.use('Agg')
sns.histplot(pd.DataFrame(x, columns=list('abc')), x='a')
px.scatter(x=x[:, 0], y=x[:, 1]).to_html()""",
    """import skhep_testdata, uproot
events = uproot.open(skhep_testdata.data_path('uproot-HZZ.root'))['events']
assert len(events.arrays(['Muon_Px'], library='ak')) == events.num_entries > 0""",
]


@pytest.mark.notebooks
def test_the_added_packages_work_in_a_kernel(tmp_path):
    path = tmp_path / "environment.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(source) for source in AT_WORK]), path)
    report = check(path, timeout=300)
    assert report.ok, f"code cell {report.cell}: {report.cause}\n{report.detail}"
