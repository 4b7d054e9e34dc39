"""The numbers the course quotes, checked against what its notebooks compute.

Each module lists, in ``claims.yaml`` beside its notebooks, every reference number that its
notebooks' text or its README quotes (an AUC, a rejection, a resolution, a time): the words as
quoted and where, the value, a tolerance, and an expression that computes it in the notebook's
kernel once the notebook has run (a variable, or a short expression over its variables); a
homework runs solved, without its hidden tests (the autograder's).
:func:`check` runs each notebook top to bottom at a data scale, evaluates the expressions there,
and compares; ``make course-check`` does it for the whole course at course scale and writes the
table to ``build/course-check.md``. A quote that is no longer in its file is an error too, so the
list and the texts cannot drift apart.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import UserError

MARK = "HEPCOURSE-CLAIMS "
SCHEMA_KEYS = {"notebook", "where", "quote", "value", "tolerance", "expr"}


@dataclass
class Outcome:
    module: str
    notebook: str
    quote: str
    value: float
    tolerance: float
    measured: float | None
    problem: str = ""          # why it failed: drifted, not quoted any more, the expression failed

    @property
    def ok(self) -> bool:
        return not self.problem


def load_claims(module: Path) -> list[dict]:
    """A module's claims, checked for their keys (a mistake names the file and the entry)."""
    path = module / "claims.yaml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    for n, entry in enumerate(entries, 1):
        missing = SCHEMA_KEYS - set(entry) if isinstance(entry, dict) else SCHEMA_KEYS
        if missing or set(entry) - SCHEMA_KEYS:
            raise UserError(f"{path}: entry {n}: needs exactly the keys {', '.join(sorted(SCHEMA_KEYS))}")
        if not (module / f"{entry['notebook']}.ipynb").exists():
            raise UserError(f"{path}: entry {n}: no notebook {entry['notebook']}.ipynb in {module.name}")
    return entries


def check(modules: list[Path], scale: str, timeout: int = 3600, progress: bool = True) -> list[Outcome]:
    """Run every notebook that has claims at ``scale`` and compare each claim with what it computes."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell
    from tqdm import tqdm

    runs = [(module, notebook, [c for c in claims if c["notebook"] == notebook])
            for module in modules for claims in [load_claims(module)]
            for notebook in sorted({c["notebook"] for c in claims})]
    outcomes = []
    env = {"HEPCOURSE_SCALE": scale, "MPLBACKEND": "Agg"}
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        for module, notebook, claims in tqdm(runs, desc=f"notebooks at {scale} scale", unit="notebook",
                                             disable=not progress):
            path = module / f"{notebook}.ipynb"
            nb = nbformat.read(path, 4)
            if notebook == "homework":        # solved, as a student runs it: the hidden tests are the grader's
                from nbgrader.preprocessors import ClearHiddenTests

                nb, _ = ClearHiddenTests().preprocess(nb, {})
            nb.cells.append(new_code_cell(_evaluation(claims)))
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(module)}}).execute()
            measured = _measured(nb.cells[-1])
            outcomes += [_judge(module, claim, measured.get(str(n))) for n, claim in enumerate(claims)]
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return outcomes


def _evaluation(claims: list[dict]) -> str:
    """The cell that evaluates every claim's expression in the notebook's kernel."""
    exprs = json.dumps([c["expr"] for c in claims])
    return ("import json as _json\n_found = {}\n"
            f"for _n, _expr in enumerate({exprs}):\n"
            "    try:\n        _found[str(_n)] = float(eval(_expr))\n"
            "    except Exception as _err:\n        _found[str(_n)] = f'{type(_err).__name__}: {_err}'\n"
            f"print({MARK!r} + _json.dumps(_found))")


def _measured(cell) -> dict:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(MARK):
                return json.loads(line.removeprefix(MARK))
    return {}


def _judge(module: Path, claim: dict, measured) -> Outcome:
    outcome = Outcome(module.name, claim["notebook"], claim["quote"], float(claim["value"]),
                      float(claim["tolerance"]), measured if isinstance(measured, float) else None)
    if claim["quote"] not in text_of(module / claim["where"]):
        outcome.problem = f"not quoted in {claim['where']} any more"
    elif outcome.measured is None:
        outcome.problem = f"the expression {claim['expr']!r} failed: {measured}"
    elif not math.isclose(outcome.measured, outcome.value, abs_tol=outcome.tolerance):
        outcome.problem = f"drifted: {outcome.measured:.4g} against {outcome.value:g} +- {outcome.tolerance:g}"
    return outcome


def text_of(path: Path) -> str:
    """What a reader reads: a notebook's cells (not their JSON escapes), any other file as it is."""
    if path.suffix != ".ipynb":
        return path.read_text()
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def table(outcomes: list[Outcome], scale: str) -> str:
    lines = [(f"Every number the course quotes, as its notebooks compute it at {scale} scale "
              "(`make course-check`; generated, do not edit)."), "",
             "| module | notebook | quoted | value | tolerance | measured | |", "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        measured = "-" if o.measured is None else f"{o.measured:.4g}"
        lines.append(f"| {o.module} | {o.notebook} | {o.quote} | {o.value:g} | {o.tolerance:g} | {measured} | "
                     f"{'ok' if o.ok else o.problem} |")
    return "\n".join(lines) + "\n"
