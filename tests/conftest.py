import os
import shutil
import tempfile
from pathlib import Path

import pytest

# As `make` does: one shared data folder in the checkout, also when pytest runs on its own (the
# autograde sandbox cannot read a default folder under root's private home).
os.environ.setdefault("HEPCOURSE_DATA_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "data"))

from hubdriver import let_accounts_through
from support import TEST_SECRET

from hepcourse.data import datasets, generate_heldout
from hepcourse.data.build import generate_files
from hepcourse.grading.course import heldout_datasets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Tests never inherit a developer's hub overrides."""
    for var in ("HEPCOURSE_SETTINGS", "HEPCOURSE_MODE", "HEPCOURSE_PORT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _traversable_tmp(tmp_path_factory):
    """Hubs prepared in pytest's folders: the grader account passes through them (as root)."""
    let_accounts_through(tmp_path_factory.getbasetemp())


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text) -> path in the test's temp folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def pytest_terminal_summary(terminalreporter):
    """Print how long each notebook took and the whole notebook suite (sum of kernels' time)."""
    timings = [
        (rep.nodeid, value)
        for rep in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
        for key, value in getattr(rep, "user_properties", [])
        if key == "notebook_seconds"
    ]
    if timings:
        terminalreporter.section("notebook execution times (ci scale)")
        for nodeid, seconds in sorted(timings):
            terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid.split('[', 1)[-1].rstrip(']')}")
        terminalreporter.write_line(f"{sum(s for _, s in timings):7.1f} s  all {len(timings)} notebooks")


@pytest.fixture(scope="session")
def ci_data():
    """Every dataset at ci scale in the shared data folder, with each assignment's held-out test
    data (what `make data SCALE=ci` makes), so notebook times measure the notebooks. Parallel test
    workers wait on the same file locks."""
    for card in datasets().values():
        generate_files(card, list(card.files), "ci", progress=False)
    for assignment, names in heldout_datasets(REPO / "modules").items():
        for name in names:
            generate_heldout(name, assignment, TEST_SECRET, "ci", progress=False)
    return datasets()


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real one-node Slurm cluster on loopback (tests/slurmcluster.py; root): 2 CPUs, so two
    jobs at once, and two stand-in GPUs; SLURM_CONF names it for the session's Slurm commands."""
    from slurmcluster import SlurmCluster, ensure_installed

    ensure_installed()
    folder = Path(tempfile.mkdtemp(prefix="hepcourse-slurm-"))   # others reach it (not pytest's)
    try:
        with SlurmCluster(folder, cpus=2, gpus=2, max_jobs=2, max_time="2:00:00") as cluster, \
                pytest.MonkeyPatch.context() as env:
            env.setenv("SLURM_CONF", str(cluster.conf))
            yield cluster
    finally:
        shutil.rmtree(folder, ignore_errors=True)
