"""A hostile class, graded by the real sandboxed autograde: every attack that was found against
the grader (and more) scores no higher than a blank submission, the honest students graded in
the same run keep their full marks, and nothing of an attack outlives its grading.

The homework is the tiny one of ``conftest.py`` plus a held-out task: ``pion_score(showers)``
must tell charged pions from electromagnetic showers on the course's held-out calorimeter
showers (AUC >= 0.9; the honest answer, the energy fraction behind the EM layers, gets ~0.99; a
constant gets 0.5). A probe after the held-out test proves that no label reached the kernel.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import psutil
import pytest
from conftest import ASSIGNMENT, GOOD_ADD, GOOD_DOUBLE, _meta, page_text, tiny_homework
from hubdriver import let_accounts_through
from nbformat.v4 import new_code_cell
from support import TEST_SECRET

from hepcourse.config import load_settings
from hepcourse.data import generate_heldout, heldout_rows
from hepcourse.data.store import data_dir, heldout_dir
from hepcourse.grading.account import prepare
from hepcourse.grading.autograde import Outcome, autograde, record
from hepcourse.grading.broker import socket_path
from hepcourse.grading.course import Course

pytestmark = [pytest.mark.sandbox, pytest.mark.xdist_group("ci-data"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the autograde sandbox needs root (CI runs as root)")]

SETUP = "import numpy as np\nfrom hepcourse.data import load\ntrain = load('calorimeter', split='train')"
PION = "def pion_score(showers):\n    ### BEGIN SOLUTION\n" + textwrap.indent(textwrap.dedent("""\
    deep = showers["layer_2"].sum(axis=(1, 2)) + showers["overflow"].sum(axis=1)
    total = sum(showers[f"layer_{i}"].reshape(len(deep), -1).sum(axis=1) for i in range(3)) + showers["overflow"].sum(axis=1)
    return deep / total"""), "    ") + "\n    ### END SOLUTION"
PION_TEST = textwrap.dedent("""\
    _s = pion_score(train)
    assert np.shape(_s) == (len(train["energy"]),), "one score per shower"
    ### BEGIN HIDDEN TESTS
    from hepcourse.grading.answers import hand_in, heldout, verdict

    hand_in(scores=pion_score(heldout("calorimeter", "99_tiny")))


    @verdict
    def _(answers, heldout):
        import numpy as np
        from sklearn.metrics import roc_auc_score

        y = heldout("calorimeter")["particle"] == "piplus"
        scores = np.asarray(answers["scores"], dtype=float)
        assert scores.shape == y.shape and np.all(np.isfinite(scores)), "one finite score per held-out shower"
        auc = roc_auc_score(y, scores)
        print(f"held-out AUC {auc:.3f}")
        assert auc >= 0.9, f"held-out AUC {auc:.3f} < 0.9"
    ### END HIDDEN TESTS""")
HONEST = {"add": GOOD_ADD, "double": GOOD_DOUBLE, "pion": PION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")}
WRONG = {"add": "def add(a, b):\n    return 0", "double": "def double(x):\n    return 0",
         "pion": "def pion_score(showers):\n    return np.zeros(len(showers['energy']))"}

# The probe: after the held-out test, every global of the kernel (and what the kernel may read)
# is described by the canonical pattern of each label-like vector, for the test to compare with
# the real labels outside.
PROBE = textwrap.dedent("""\
    import glob as _glob, json as _json, os as _os
    import numpy as _np

    def _patterns(value, depth=0):
        if depth > 2:
            return []
        if isinstance(value, dict):
            return [p for v in value.values() for p in _patterns(v, depth + 1)]
        if hasattr(value, "columns"):
            return [p for c in value.columns for p in _patterns(value[c].to_numpy(), depth + 1)]
        if isinstance(value, (list, tuple)) and len(value) > 10 or hasattr(value, "__len__") and hasattr(value, "dtype"):
            try:
                array = _np.asarray(value).ravel()
            except Exception:
                return []
            if array.dtype.hasobject or array.size < 10 or len(_np.unique(array)) > 3:
                return []
            _, codes = _np.unique(array, return_inverse=True)
            first = {c: i for i, c in reversed(list(enumerate(codes)))}
            order = sorted(first, key=first.get)
            return ["".join(str(order.index(c)) for c in codes)]
        return []

    _found = [p for name, value in list(globals().items()) if not name.startswith("_ip") for p in _patterns(value)]
    _readable = []
    for _root in [HELDOUT, _os.environ.get("HOME", "/"), "/tmp", "/run"]:
        for _path in _glob.glob(_root + "/**", recursive=True):
            try:
                with open(_path, "rb") as _f:
                    _f.read(1)
                _readable.append(_path)
            except OSError:
                pass
    _inputs = _os.environ.get("HEPCOURSE_GRADING_INPUTS", "")
    _fields = {_p: list(_np.load(_p)["__names__"]) for _p in _glob.glob(_inputs + "/*.npz")}
    print("PROBE " + _json.dumps({"patterns": _found, "readable": _readable, "fields": _fields,
                                  "environ": sorted(_os.environ)}))""")


def homework() -> nbformat.NotebookNode:
    nb = tiny_homework()
    nb.metadata["hepcourse"] = {"heldout": ["calorimeter"]}
    (setup,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    setup.source = SETUP + "\n\ndef reference(x):\n    return 2 * x"
    nb.cells += [new_code_cell(PION, metadata=_meta("pion", solution=True)),
                 new_code_cell(PION_TEST, metadata=_meta("pion-test", grade=True, locked=True, points=10))]
    return nb


VARIANTS = {"audit": True, "verdicts-alone": False, "broker": True, "slurm": True, "slurm-broker": True}


@pytest.fixture(scope="module", params=[pytest.param(v, marks=pytest.mark.slurm) if v.startswith("slurm") else v
                                        for v in VARIANTS])
def course(request, tmp_path_factory, ci_data):
    """The course, with the static audit (as courses run) or without it (the verdicts outside the
    kernel must hold on their own), or graded as a root hub's formgrader grades: by the grader
    account, whose kernels the grading broker starts; or each submission a job of a real
    one-node Slurm cluster (grading.executor: slurm, make test-slurm), run by root or, for the
    grader account, by the broker."""
    audit = VARIANTS[request.param]
    root = tmp_path_factory.mktemp("hostile")
    cluster = ""
    if request.param.startswith("slurm"):
        cluster = request.getfixturevalue("slurm_cluster")
        cluster = f"  executor: slurm\n  slurm: {{partition: {cluster.partition}, memory: 1500M}}\n"
    (root / "modules" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(homework(), root / "modules" / ASSIGNMENT / "homework.ipynb")
    (root / "state").mkdir()
    (root / "state" / "jupyterhub.sqlite").write_text("hub secrets")       # what a hub keeps there
    (root / "settings.yaml").write_text(
        "roster: roster.yaml\nhub: {state_dir: state}\ncontent: {source: modules}\n"
        f"data: {{dir: {data_dir()}}}\n"
        "grading:\n  dir: state/grading\n  sandbox: {cell_timeout: 20, memory: 3G, cpu_seconds: 60, output: 1M, answers: 8M, file_size: 64M, "
        f"audit: {str(audit).lower()}}}\n{cluster}")
    generate_heldout("calorimeter", ASSIGNMENT, TEST_SECRET, "ci", progress=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HEPCOURSE_SCALE", "ci")
        course = Course(load_settings(root / "settings.yaml"))
        course.build()
        if not request.param.endswith("broker"):
            yield course
            return
        env.setenv("HEPCOURSE_SETTINGS", str(root / "settings.yaml"))
        let_accounts_through(root)
        prepare(course.settings)
        broker = subprocess.Popen([sys.executable, "-m", "hepcourse.grading.broker"])
        try:
            deadline = time.monotonic() + 60
            while not socket_path(course.settings).exists() and broker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert broker.poll() is None, "the grading broker did not start"
            yield course
        finally:
            broker.terminate()
            broker.wait(30)


def grade(course, through_broker: bool) -> dict:
    """The class autograded in one run (two workers): by root itself, or by the grader account's
    `hepcourse grade autograde` (whose kernels the broker starts), its outcomes read back from
    the record it keeps."""
    if not through_broker:
        return {o.student: o for o in autograde(course, ASSIGNMENT, workers=2, progress=False)}
    account = course.settings["grading"]["account"]
    out = subprocess.run(["runuser", "-u", account, "--", str(Path(sys.executable).parent / "hepcourse"),
                          "grade", "autograde", ASSIGNMENT, "--workers", "2"],
                         capture_output=True, text=True, timeout=1200, check=False, cwd="/",
                         env={**os.environ, "HEPCOURSE_SETTINGS": course.settings["_file"], "HEPCOURSE_SCALE": "ci"})
    assert out.returncode == 0, out.stderr[-3000:]
    recorded = json.loads((course.root / "autograde" / f"{ASSIGNMENT}.json").read_text())
    return {student: Outcome(**fields) for student, fields in recorded.items()}


def submission(course, **cells) -> nbformat.NotebookNode:
    """The student version with the answer cells replaced (``add=``, ``double=``, ``pion=``) and
    extra student cells (``after_<grade id>=`` source placed after that cell)."""
    nb = nbformat.read(course.root / "release" / ASSIGNMENT / "homework.ipynb", 4)
    out = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in cells:
            cell.source = cells[grade_id]
        out.append(cell)
        if f"after_{grade_id}" in cells:
            out.append(new_code_cell(cells[f"after_{grade_id}"]))
    nb.cells = out
    return nb


def place(course, student, nb):
    folder = course.root / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "homework.ipynb")


def wrong(**attack):
    return {**WRONG, **attack}


LABEL_GRAB = "def pion_score(showers):\n    import numpy as np\n    {find}\n    return np.asarray(labels == 'piplus', dtype=float)"
ATTACKS = {
    # Labels from the kernel: none are there to find.
    "globals-lookup": wrong(pion=LABEL_GRAB.format(find=(
        "labels = next(v['particle'] for v in globals().values() if isinstance(v, dict) and 'particle' in v "
        "and len(v['particle']) == len(showers['energy']))"))),
    "heldout-import": wrong(pion=LABEL_GRAB.format(find=(
        "import hepcourse.data as D; labels = D.heldout('calorimeter', '99_tiny')['particle']"))),
    "heldout-getattr": wrong(pion=LABEL_GRAB.format(find=(
        "import hepcourse.data as D; labels = getattr(D, 'held' + 'out')('calorimeter', '99_tiny')['particle']"))),
    "heldout-files": wrong(pion=LABEL_GRAB.format(find=(
        "import glob, os, h5py\n    from hepcourse.data.store import heldout_dir\n"
        "    paths = sorted(glob.glob(str(heldout_dir()) + '/**/*.hdf5', recursive=True))\n"
        "    labels = np.concatenate([[os.path.basename(p).split('.')[0]] * len(h5py.File(p)['energy']) for p in paths])"))),
    "heldout-magic": wrong(pion="%time from hepcourse.data import heldout\n" + LABEL_GRAB.format(
        find="labels = heldout('calorimeter', '99_tiny')['particle']")),
    "heldout-rows": wrong(pion=LABEL_GRAB.format(find=(
        "from hepcourse.data import heldout_rows; labels = heldout_rows('calorimeter', '99_tiny')['particle']"))),
    "regenerate": wrong(pion=LABEL_GRAB.format(find=(
        "import hepcourse.data as D, tempfile, os\n    os.environ['HEPCOURSE_HELDOUT_DIR'] = tempfile.mkdtemp()\n"
        "    D.generate_heldout('calorimeter', '99_tiny', b'guess', 'ci', progress=False)\n"
        "    labels = D.heldout_rows('calorimeter', '99_tiny')['particle']"))),
    "inputs-relabel": wrong(pion=LABEL_GRAB.format(find=(
        "import os\n    labels = np.load(os.environ['HEPCOURSE_GRADING_INPUTS'] + '/calorimeter.npz')['f0']"))),
    # Verdicts in the kernel: the tests' own checks are not what awards points.
    "ast-try-except": wrong(after_setup=textwrap.dedent("""\
        import ast
        class _Swallow(ast.NodeTransformer):
            def visit_Module(self, node):
                node.body = [ast.Try(body=[s], handlers=[ast.ExceptHandler(body=[ast.Pass()])], orelse=[], finalbody=[])
                             for s in node.body]
                return ast.fix_missing_locations(node)
        get_ipython().ast_transformers.append(_Swallow())""")),
    "ast-hidden-by-shell": wrong(after_setup="_ = !true\nget_ipython().ast_transformers.append(__import__('ast').NodeTransformer())\n"
                                 "np.allclose = lambda *a, **k: True"),
    "vars-patch": wrong(after_setup="vars(np)['allclose'] = lambda *a, **k: True\nvars(np)['isclose'] = lambda *a, **k: True"),
    "sys-modules": wrong(after_setup="from sys import modules\nm = modules['num' + 'py']\nm.__dict__['allclose'] = lambda *a, **k: True"),
    "setattr-built": wrong(after_setup="name = 'all' + 'close'\nobject.__setattr__(__import__('numpy'), name, lambda *a, **k: True)"),
    "rigged-float": wrong(add="class F(float):\n    def __eq__(self, other): return True\n    def __ge__(self, other): return True\n"
                              "    __hash__ = float.__hash__\ndef add(a, b):\n    return F(0)",
                          pion="class A(np.ndarray):\n    def __ge__(self, other): return np.ones(self.shape, bool)\n"
                               "def pion_score(showers):\n    return np.zeros(len(showers['energy'])).view(A)"),
    "assert-off": wrong(after_setup="import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})"),
    "traceback-off": wrong(after_setup="get_ipython().showtraceback = lambda *a, **k: None\nget_ipython().run_cell_magic = None"),
    "print-hidden": wrong(after_setup="get_ipython().events.register('pre_run_cell', lambda info: print(info.raw_cell))"),
    "raise-hidden": wrong(after_setup=textwrap.dedent("""\
        import ast
        class Tell(ast.NodeTransformer):
            def visit_Module(self, node):
                text = ast.unparse(node)
                return ast.parse(f"raise RuntimeError({text!r})") if "hand_in" in text else node
        get_ipython().ast_transformers.append(Tell())""")),
    "exit-hook": wrong(after_setup="import atexit, os\natexit.register(lambda: os._exit(0))"),
    "forged-answers": wrong(add=("from IPython.display import display\nfrom hepcourse.grading.answers import MIME\n"
                                 "def add(a, b):\n    display({MIME: {'small': 3, 'signs': 0}}, raw=True)\n    return 0")),
    "forged-garbage": wrong(add=("from IPython.display import display\nfrom hepcourse.grading.answers import MIME\n"
                                 "def add(a, b):\n    display({MIME: {'small': {'__ndarray__': 'AAAA'}}}, raw=True)\n    return 0")),
    "patched-hand-in": wrong(after_setup=("import hepcourse.grading.answers as A\n_real = A.hand_in\n"
                                          "A.hand_in = lambda **k: _real(**{n: 1 for n in k})")),
    "subclass-model": wrong(pion=("class Clever(float):\n    pass\ndef pion_score(showers):\n"
                                  "    return [Clever(0.5)] * len(showers['energy'])")),
    "edited-verdict": wrong(),   # its graded cells replaced by a student's own 'verdict'
    "object-scores": wrong(pion="def pion_score(showers):\n    return np.array([object()] * len(showers['energy']))"),
    "nan-scores": wrong(pion="def pion_score(showers):\n    return np.full(len(showers['energy']), np.nan)"),
    # The machine: floods, files, daemons, secrets.
    "output-flood": wrong(after_setup="for _ in range(200):\n    print('x' * 1_000_000)"),
    "answer-flood": wrong(pion=("from hepcourse.grading.answers import hand_in\n"
                                "def pion_score(showers):\n    for _ in range(10):\n        hand_in(junk=np.zeros(200_000))\n"
                                "    return np.zeros(len(showers['energy']))")),
    "scratch-filler": wrong(after_setup=("for d in ['/tmp', '/var/tmp', '/dev/shm']:\n    try:\n"
                                         "        open(d + '/hog', 'wb').write(b'x' * 200_000_000)\n    except OSError:\n        pass")),
    "hub-secrets": wrong(after_setup=("import glob\nsecret = ''\nfor p in glob.glob(STATE + '/**', recursive=True):\n    try:\n"
                                      "        secret += open(p).read()\n    except OSError:\n        pass\n"
                                      "print('LEAK: ' + secret[:40])")),
    "daemon": wrong(after_setup=textwrap.dedent("""\
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open('/proc/self/comm', 'w').write('hepcourse-daemon')
                time.sleep(600)
            os._exit(0)
        time.sleep(0.5)
        os.kill(os.getpid(), 9)""")),
    "fork-survivor": wrong(after_setup=textwrap.dedent("""\
        import subprocess
        subprocess.Popen(['sleep', '600'], start_new_session=True)""")),
}


def test_hostile_class(course, request):
    state = str(course.root.parent)
    heldout = str(heldout_dir())
    honest = submission(course, **HONEST, **{"after_pion-test": PROBE.replace("HELDOUT", repr(heldout))})
    place(course, "honest-1", honest)
    place(course, "blank", submission(course))
    for name, cells in ATTACKS.items():
        cells = {k: v.replace("STATE", repr(state)) for k, v in cells.items()}
        place(course, name, submission(course, **cells))
    edited = submission(course, **WRONG)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "@verdict\ndef _(answers):\n    pass"
    place(course, "edited-verdict", edited)
    place(course, "honest-2", submission(course, **HONEST))          # graded after the daemon's worker

    outcomes = grade(course, through_broker=request.node.callspec.params["course"].endswith("broker"))
    record(course, ASSIGNMENT, list(outcomes.values()))
    print(json.dumps({s: (o.score, o.status, o.note) for s, o in outcomes.items()}, indent=1))

    if request.node.callspec.params["course"].startswith("slurm"):     # each submission a job of root's
        ran = request.getfixturevalue("slurm_cluster").run("squeue", "--states=all", "-h", "-o", "%j %u").stdout
        assert {f"grade-{ASSIGNMENT}-{student} root" for student in outcomes} <= set(ran.splitlines()), ran
    assert len(ATTACKS) >= 30
    assert outcomes["blank"].score == 0
    assert outcomes["honest-1"].score == outcomes["honest-2"].score == 20, outcomes
    over = {name: outcomes[name].score for name in ATTACKS if outcomes[name].score > outcomes["blank"].score}
    assert not over, f"attacks scored above a blank submission: {over}"
    assert "dropped" in outcomes["output-flood"].note and "dropped" in outcomes["answer-flood"].note

    # Nothing of any submission is left: no daemon, no file in the host's scratch folders, and
    # no secret of the hub's state folder was read.
    assert not [p.info for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "hepcourse-daemon" or p.info["cmdline"] == ["sleep", "600"]]
    assert not [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(f"{d}/hog")]
    leaked = nbformat.writes(nbformat.read(course.root / "autograded" / "hub-secrets" / ASSIGNMENT / "homework.ipynb", 4))
    assert "LEAK: " in leaked and "hub secrets" not in leaked

    # A hook that prints the hidden tests' kernel parts: what it printed is not in the feedback.
    assert course.api().generate_feedback(ASSIGNMENT, "print-hidden")["success"]
    page = page_text((course.root / "feedback" / "print-hidden" / ASSIGNMENT / "homework.html").read_text())
    assert "hand_in" not in page

    # The probe: no label-like vector in the kernel's globals, no readable held-out file, only
    # features in the inputs, no held-out path in the environment.
    graded = nbformat.read(course.root / "autograded" / "honest-1" / ASSIGNMENT / "homework.ipynb", 4)
    (line,) = [line for cell in graded.cells for out in cell.get("outputs", []) if out.get("output_type") == "stream"
               for line in out["text"].splitlines() if line.startswith("PROBE ")]
    probe = json.loads(line.removeprefix("PROBE "))
    labels = heldout_rows("calorimeter", ASSIGNMENT, scale="ci")["particle"]
    _, codes = np.unique(labels, return_inverse=True)
    first = {c: i for i, c in reversed(list(enumerate(codes)))}
    order = sorted(first, key=first.get)
    pattern = "".join(str(order.index(c)) for c in codes)
    binary = [("".join("0" if c == k else "1" for c in codes)) for k in range(3)]
    canonical = {p if p[0] == "0" else p.translate(str.maketrans("01", "10")) for p in binary}
    assert pattern not in probe["patterns"] and not canonical & set(probe["patterns"])
    assert not [p for p in probe["readable"] if p.startswith(heldout)], probe["readable"]
    assert probe["fields"] and all("particle" not in fields for fields in probe["fields"].values())
    assert not [v for v in probe["environ"] if "HELDOUT" in v]
