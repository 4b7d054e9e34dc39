"""The real course image, through the hub: docker mode against podman with the CPU course image
(`make test-images` builds it from images/Containerfile), a student logs in, their container
starts, and every course notebook runs at ci scale in their own kernel in that container: the
data from the read-only mount, the held-out folder nowhere. Homework runs as a student would
have it: the released version with the instructor's answers filled in."""

import os
import time

import nbformat
import pytest
from support import REPO, container_engine, logged_in, remove_homes, run_cli, running_hub

from hepcourse.config import load_settings
from hepcourse.data.store import heldout_dir
from hepcourse.grading.course import Course
from hepcourse.grading.samples import solved

pytestmark = [pytest.mark.images, pytest.mark.xdist_group("containers")]
IMAGE = "localhost/hepcourse/singleuser-cpu"
NETWORK = "hepcourse-test"
NOTEBOOKS = sorted((REPO / "modules").glob("*/*.ipynb"))


@pytest.fixture(scope="module")
def student(tmp_path_factory, ci_data):
    with container_engine(IMAGE, NETWORK) as (client, host):
        print(f"\n{IMAGE}: {client.images.get(IMAGE).attrs['Size'] / 1e9:.2f} GB")
        workdir = tmp_path_factory.mktemp("course-image")
        volumes = f"hepcourse-image-{workdir.name}-"
        settings = {"mode": "docker", "data": {"dir": os.environ["HEPCOURSE_DATA_DIR"], "scale": "ci"},
                    "docker": {"image": IMAGE, "network": NETWORK, "hub_connect_ip": host, "mem_limit": "6G",
                               "cpu_limit": 2, "volume": volumes + "{username}"}}
        try:
            with running_hub(workdir, {"instructors": ["prof"], "facilitators": [], "students": ["alice"]}, settings) as hub:
                user = logged_in(hub, "alice", spawn=True, timeout=300)
                (container,) = client.containers.list(filters={"name": "jupyter-alice"})
                yield user, container, hub
        finally:
            remove_homes(client, volumes)


def test_the_container_mounts_the_data_read_only_and_no_heldout_data(student):
    _, container, _ = student
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/srv/hepcourse/data"]["RW"] is False
    assert not [m for m in mounts.values() if str(heldout_dir()) in m["Source"]]


def student_version(path, tmp):
    """What a student runs: the released homework with the instructor's answers in it."""
    settings = tmp / "settings.yaml"
    if not settings.exists():
        settings.write_text(f"roster: roster.yaml\nhub: {{state_dir: state}}\ncontent: {{source: {REPO / 'modules'}}}\n"
                            "grading: {dir: state/grading}\n")
    course = Course(load_settings(settings))
    (release,) = course.build([path.parent.name]).values()
    instructor, released = nbformat.read(path, 4), nbformat.read(release / path.name, 4)
    for mine, theirs in zip(released.cells, instructor.cells, strict=True):
        if theirs.metadata.get("nbgrader", {}).get("solution"):      # written answers too
            mine.source = solved(theirs.source)
    return released


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(REPO / "modules")) for p in NOTEBOOKS])
def test_every_notebook_runs_in_the_students_container(student, path, tmp_path_factory, record_property):
    user, _, _ = student
    nb = student_version(path, tmp_path_factory.getbasetemp()) if path.name == "homework.ipynb" else nbformat.read(path, 4)
    kernel = user.start_kernel()
    started = time.monotonic()
    try:
        user.execute(f"import os\nos.chdir(os.path.expanduser('~/modules/{path.parent.name}'))", kernel=kernel)
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            try:
                user.execute(cell.source, timeout=300, kernel=kernel)
            except RuntimeError as err:
                pytest.fail(f"{path.relative_to(REPO)}, code cell {i}: {err}", pytrace=False)
    finally:
        user.server("DELETE", f"/kernels/{kernel}")
    seconds = time.monotonic() - started
    record_property("notebook_seconds", seconds)
    print(f"{path.relative_to(REPO / 'modules')}: {seconds:.1f} s in the course image")


def test_content_check_runs_notebooks_in_the_course_image(tmp_path, ci_data):
    """`hepcourse content check --image`: a notebook that reads a course dataset runs in a
    throwaway container of the image (the data mounted as students have it); one that needs
    torchvision is told that only the CUDA image has it, which is true of this CPU image and not
    of the host's venv check alone; an unknown package is looked up in the registry from here."""
    cases = {"reads-data": ["from hepcourse.data import load", "assert len(load('higgs', split='train')) > 0"],
             "torchvision": ["import torchvision"],
             "unknown": ["import nosuchpackage_hepcourse_xyz"]}
    paths = []
    for name, cells in cases.items():
        (tmp_path / name).mkdir()
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]),
                       tmp_path / name / "notebook.ipynb")
        paths.append(str(tmp_path / name / "notebook.ipynb"))
    out = run_cli("hepcourse", "content", "check", "--image", IMAGE, *paths, env={"HEPCOURSE_SCALE": "ci"}, timeout=600)
    assert out.returncode == 1, out.stderr
    rows = {line.split()[0].split("/")[-2]: line for line in out.stdout.splitlines()[2:]}
    assert "ran to the end" in rows["reads-data"], out.stdout
    assert "missing package: torchvision (in the CUDA image only" in rows["torchvision"]
    assert "missing package: nosuchpackage_hepcourse_xyz (not in the course environment" in rows["unknown"]
    assert "could not be asked" not in rows["unknown"]      # asked from the host, not the offline container
