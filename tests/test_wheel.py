"""The package as a course image installs it: built as a wheel, installed into a fresh virtual
environment outside the checkout, it finds its dataset cards and loads every dataset.

The fresh environment borrows its dependencies from the test's own (a path to its
site-packages, whose editable install of hepcourse that path does not activate), so hepcourse
itself comes from the wheel alone."""

import os
import subprocess
import sys
import sysconfig
import textwrap
import venv

import pytest
from support import REPO

pytestmark = pytest.mark.xdist_group("ci-data")

LOAD_EVERY_DATASET = textwrap.dedent("""
    import pathlib, sys
    import hepcourse
    from hepcourse.data import datasets, load
    where = pathlib.Path(hepcourse.__file__).resolve()
    assert where.is_relative_to(pathlib.Path(sys.prefix)), where
    for name, card in sorted(datasets().items()):
        for split in card.splits:
            rows = load(name, split=split)
            print(name, split, len(rows))
""")


def test_installed_wheel_loads_every_dataset_without_the_checkout(tmp_path, ci_data):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(REPO)], check=True, capture_output=True)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (wheel,) = wheels.glob("hepcourse-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HEPCOURSE_DATASETS", "PYTHONPATH")}
    out = subprocess.run([python, "-c", LOAD_EVERY_DATASET], check=False, cwd=tmp_path, capture_output=True, text=True,
                         env={**env, "HEPCOURSE_SCALE": "ci"})
    assert out.returncode == 0, out.stderr
    loaded = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.stdout.splitlines()}
    expected = {(name, split) for name, card in ci_data.items() for split in card.splits}
    assert set(loaded) == expected and all(loaded.values()), out.stdout
