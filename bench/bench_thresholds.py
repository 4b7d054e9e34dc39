"""Graded thresholds against trivial answers, over independent held-out draws.

For each homework, its reference solution and the trivial answers of
``grading/baselines/<assignment>.yaml`` (a constant, one physics variable, the notebook's own
baseline...) run once each at the given scale, the way the autograder runs a submission: audited,
verdicts cut out, kernel threads as in grading. Every graded test that uses held-out data runs its kernel
part once per draw (each draw a held-out set generated from a bench secret of its own, as a course
secret would make it), and the verdicts judge every draw here, in this process, with the labels.
Every threshold check of a verdict (``at_least``, ``at_most``, ``below``) is recorded.

Printed per check: the bar, the reference's mean, sd and worst draw, how many draws it failed and
the failure rate per draw that its mean and sd imply (normal approximation), and the best trivial
answer aimed at that test, with its best draw and how many draws it passed. The table goes to
``build/bench/thresholds-<scale>.md`` (raw values beside it as JSON).

    make bench-thresholds                                   (course scale, 10 draws, all homeworks)
    python bench/bench_thresholds.py --scale ci --draws 2 02_intro_ml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from hepcourse.config import REPO_ROOT
from hepcourse.data import generate_heldout, heldout_rows
from hepcourse.data.store import HELDOUT_VAR
from hepcourse.grading import answers
from hepcourse.grading.answers import INPUTS_VAR, write_table
from hepcourse.grading.course import heldout_datasets
from hepcourse.grading.preprocessors import AuditCells
from hepcourse.grading.verdicts import autograded, heldout_pair, judge, split_verdicts, take_answers

MODULES = REPO_ROOT / "modules"
BASELINES = REPO_ROOT / "grading" / "baselines"
BETTER = {">=": max, "<=": min, "<": min}


def draw_secret(k: int) -> bytes:
    """Draw k's secret: fixed, so a rerun measures the same draws, and unlike any course's."""
    return hashlib.sha256(f"hepcourse bench-thresholds draw {k}".encode()).digest()


def make_draws(root: Path, assignments: list[str], n: int, scale: str) -> list[Path]:
    """n draws of every held-out set the assignments grade on; each draw's folder holds the sets
    (``heldout/``) and, per assignment, what a kernel may see of them (``inputs/<assignment>/``).
    Two assignments on the same dataset share a draw's set: a draw's statistics do not depend on
    which homework reads it."""
    sets = heldout_datasets(MODULES)
    draws = []
    for k in range(n):
        folder = root / f"draw-{k}"
        os.environ[HELDOUT_VAR] = str(folder / "heldout")
        made: dict[str, str] = {}
        for assignment in assignments:
            for name, withheld in sets.get(assignment, {}).items():
                if name in made:
                    (folder / "heldout" / assignment).mkdir(parents=True, exist_ok=True)
                    (folder / "heldout" / assignment / name).symlink_to(folder / "heldout" / made[name] / name)
                else:
                    print(f"draw {k + 1}/{n}: held-out {name} ({scale})", flush=True)
                    generate_heldout(name, assignment, draw_secret(k), scale)
                    made[name] = assignment
                inputs = folder / "inputs" / assignment
                inputs.mkdir(parents=True, exist_ok=True)
                write_table(heldout_pair(name, assignment, withheld)[1], inputs / f"{name}.npz")
        draws.append(folder)
    return draws


def variants(assignment: str) -> dict[str, dict]:
    """The reference solution and the trivial answers to try against the thresholds."""
    path = BASELINES / f"{assignment}.yaml"
    return {"reference": {"cells": {}, "targets": []}, **(yaml.safe_load(path.read_text()) if path.exists() else {})}


def planned(nb, cells: dict[str, str], draws: list[Path], assignment: str):
    """The notebook to execute: solution cells replaced by ``cells``, verdicts cut out, and every
    test on held-out data repeated once per draw (each copy pointed at its draw's inputs). Also the
    plan: (grade id, draw or None, verdicts) per executed test cell, in order."""
    out, plan = nbformat.v4.new_notebook(metadata=nb.metadata), []
    found = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in cells:
            cell = nbformat.v4.new_code_cell(cells[grade_id])
            found.add(grade_id)
        if not autograded(cell):
            out.cells.append(cell)
            continue
        source, verdicts = split_verdicts(cell.source)
        uses_heldout = "heldout(" in source or any(len(v.args.args) > 1 for v in verdicts)
        for k in range(len(draws)) if uses_heldout else [None]:
            prefix = "" if k is None else \
                f"import os as _bench_os; _bench_os.environ[{INPUTS_VAR!r}] = {str(draws[k] / 'inputs' / assignment)!r}\n"
            out.cells.append(nbformat.v4.new_code_cell(prefix + source, metadata={"bench": len(plan), "nbgrader": cell.metadata.nbgrader}))
            plan.append((grade_id, k, verdicts))
    missing = set(cells) - found
    if missing:
        raise SystemExit(f"{assignment}: baseline names cells that are not in the homework: {sorted(missing)}")
    out, _ = AuditCells(modules=str(MODULES)).preprocess(out, {"nbgrader": {"assignment": assignment}})   # as graded
    return out, plan


def run(nb, assignment: str, threads: str) -> None:
    os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, MPLBACKEND="Agg")
    NotebookClient(nb, timeout=None, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(MODULES / assignment)}}).execute()


def judged(nb, plan, draws: list[Path], assignment: str) -> list[dict]:
    """Each executed test cell judged by its verdicts, as ``JudgeAnswers`` does: its outcome
    and the threshold checks its verdicts made."""
    rows_of: dict = {}

    def rows(k):
        def heldout(name):
            if (k, name) not in rows_of:
                os.environ[HELDOUT_VAR] = str(draws[k] / "heldout")
                rows_of[k, name] = heldout_rows(name, assignment)
            return rows_of[k, name]
        return heldout

    results = []
    for cell in nb.cells:
        if "bench" not in cell.metadata:
            continue
        grade_id, k, verdicts = plan[cell.metadata["bench"]]
        result = {"test": grade_id, "draw": k, "checks": [], "failure": None}
        errors = [out for out in cell.outputs if out.output_type == "error"]
        answers_in = take_answers(cell)
        if errors:
            result["failure"] = f"kernel part: {errors[0].ename}: {errors[0].evalue}"[:300]
        elif isinstance(answers_in, str):
            result["failure"] = answers_in
        for function in [] if result["failure"] else verdicts:
            _, failure = judge(function, answers_in, rows(k) if k is not None else None)
            result["checks"] += [dict(check) for check in answers.measured]
            if failure:
                result["failure"] = failure[:300]
                break
        results.append(result)
    return results


def summary(assignment: str, measured: dict[str, list[dict]], specs: dict[str, dict], n_draws: int) -> str:
    """The markdown table of one homework: a row per threshold check of the reference, and per
    test the trivial answers aimed at it that passed it whole (in how many draws)."""
    values = defaultdict(lambda: defaultdict(list))       # (test, check, relation) -> variant -> [(value, bar)]
    outcomes = defaultdict(lambda: defaultdict(list))     # test -> variant -> [failure or None]
    for variant, results in measured.items():
        for result in results:
            for check in result["checks"]:
                values[result["test"], check["what"], check["relation"]][variant].append((check["value"], check["bar"]))
            outcomes[result["test"]][variant].append(result["failure"])
    lines = [f"### {assignment} ({n_draws} held-out draws)", "",
             ("| test | check | bar | reference: mean (± sd of its margin to the bar) | worst | failed | P(fail) per draw "
              "| best trivial answer: value (passed) | trivial answers passing the whole test |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for (test, what, relation), by_variant in values.items():
        ref = by_variant.get("reference", [])
        if not ref:
            continue
        margins = [(v - b) if relation == ">=" else (b - v) for v, b in ref]
        passed = [_passes(v, relation, b) for v, b in ref]
        bars = sorted({round(b, 4) for _, b in ref})
        bar = f"{relation} {bars[0]:.4g}" if len(bars) == 1 else f"{relation} {min(bars):.3g}-{max(bars):.3g} (per draw)"
        worst = min(zip(margins, ref))[1][0]
        sd = statistics.stdev(margins) if len(margins) > 1 else 0.0
        mean_margin = statistics.fmean(margins)
        p_fail = statistics.NormalDist().cdf(-mean_margin / sd) if sd > 0 else float(mean_margin < 0)
        aimed = [name for name in specs if name != "reference" and test in specs[name].get("targets", [])]
        reached = [(name, by_variant[name]) for name in aimed if by_variant.get(name)]
        if reached:
            name, vals = BETTER[relation](reached, key=lambda item: BETTER[relation](v for v, _ in item[1]))
            best = f"{name}: {BETTER[relation](v for v, _ in vals):.4g} ({sum(_passes(v, relation, b) for v, b in vals)}/{len(vals)})"
        elif aimed:      # stopped before the verdict (by a visible check, or an error): say where
            stops = [(name, f) for name in aimed for f in outcomes[test].get(name, []) if f]
            best = "; ".join(sorted({f"{name} stopped: {f.split('Error: ')[-1][:70]}" for name, f in stops})[:2]) \
                or "none reached it"
        else:
            best = "none aimed here"
        whole = [f"{name} ({sum(f is None for f in outcomes[test][name])}/{len(outcomes[test][name])})"
                 for name in aimed if any(f is None for f in outcomes[test][name])]
        lines.append(f"| {test} | {what} | {bar} | {statistics.fmean(v for v, _ in ref):.4g} ± {sd:.2g} | {worst:.4g} | "
                     f"{len(passed) - sum(passed)}/{len(passed)} | {p_fail:.1e} | {best} | "
                     f"{', '.join(whole) or ('none' if aimed else '')} |")
    for test, by_variant in outcomes.items():
        failures = [f for f in by_variant.get("reference", []) if f]
        if failures:
            lines.append(f"\n**{test}: the reference failed {len(failures)} time(s)**: {failures[0]}")
    return "\n".join(lines) + "\n"


def _passes(value: float, relation: str, bar: float) -> bool:
    return value >= bar if relation == ">=" else value <= bar if relation == "<=" else value < bar


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help="default: every homework")
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--scale", default="course", choices=["ci", "course"])
    parser.add_argument("--threads", default="1", help="kernel threads (grading gives one)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    args = parser.parse_args()
    assignments = args.assignments or sorted(p.parent.name for p in MODULES.glob("*/homework.ipynb"))
    os.environ["HEPCOURSE_SCALE"] = args.scale
    os.environ.pop(INPUTS_VAR, None)
    args.out.mkdir(parents=True, exist_ok=True)
    tables, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-thresholds-") as tmp:
        draws = make_draws(Path(tmp), assignments, args.draws, args.scale)
        for assignment in assignments:
            source = nbformat.read(MODULES / assignment / "homework.ipynb", 4)
            specs = variants(assignment)
            raw[assignment] = {}
            for name, spec in specs.items():
                nb, plan = planned(source, spec["cells"], draws, assignment)
                start = time.monotonic()
                run(nb, assignment, args.threads)
                raw[assignment][name] = judged(nb, plan, draws, assignment)
                print(f"{assignment} {name}: ran in {time.monotonic() - start:.0f} s", flush=True)
            tables.append(summary(assignment, raw[assignment], specs, args.draws))
            print(tables[-1], flush=True)
    stem = f"thresholds-{args.scale}" + ("" if not args.assignments else "-" + "-".join(a[:2] for a in assignments))
    (args.out / f"{stem}.md").write_text("\n".join(tables))
    (args.out / f"{stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"written: {args.out / stem}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
