"""Generation rates of the offline datasets, with the time split between Pythia, FastJet
clustering, file writing and the rest (selection, truth matching, detector model).

Each dataset's first file generates one chunk in this process while Pythia (init and
nextBatch) and FastJet's ClusterSequence are timed; the goal is clustering + I/O < 20 % of
Pythia's time.

    make bench-data
    python bench/bench_data.py --rows 400
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

import fastjet
import pythia8mc

from hepcourse.data import datasets
from hepcourse.data.formats import FORMATS

SECONDS = {"pythia": 0.0, "clustering": 0.0}
EVENTS = {"n": 0}


def timed(owner, name: str, bucket: str, count_events: bool = False) -> None:
    original = getattr(owner, name)

    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            SECONDS[bucket] += time.perf_counter() - started
            if count_events:
                EVENTS["n"] += args[0]

    setattr(owner, name, wrapper)


def measure(card, rows: int) -> dict:
    generator = importlib.import_module(card.generator)
    filename, spec = next(iter(card.files.items()))
    SECONDS.update(pythia=0.0, clustering=0.0)
    EVENTS["n"] = 0
    started = time.perf_counter()
    table = generator.generate(rows, 12345, **spec.get("options", {}))
    total = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        FORMATS[card.format].write(table, Path(tmp) / filename, card)
        write = time.perf_counter() - started
    return {"rows": rows, "total": total + write, "write": write, "events": EVENTS["n"], **SECONDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows per dataset (default: one chunk of its card)")
    args = parser.parse_args()
    timed(pythia8mc.Pythia, "init", "pythia")
    timed(pythia8mc.Pythia, "nextBatch", "pythia", count_events=True)
    timed(fastjet.ClusterSequence, "__init__", "clustering")
    print("seconds for one chunk on one core; shares are of Pythia's time")
    print(f"{'dataset':13}{'rows':>6}{'rows/s':>8}{'Pythia':>8}{'ev/s':>7}{'cluster':>9}{'write':>7}"
          f"{'other':>7}  {'(cluster+write)/Pythia':>22}")
    for card in datasets().values():
        r = measure(card, args.rows or card.chunk)
        other = r["total"] - r["pythia"] - r["clustering"] - r["write"]
        line = (f"{card.name:13}{r['rows']:6d}{r['rows'] / r['total']:8.1f}{r['pythia']:8.2f}"
                f"{(r['events'] / r['pythia'] if r['pythia'] else 0):7.0f}{r['clustering']:9.2f}"
                f"{r['write']:7.2f}{other:7.2f}")
        if r["pythia"]:
            share = (r["clustering"] + r["write"]) / r["pythia"]
            line += f"  {share:14.0%} {'met' if share < 0.2 else 'NOT met'} (goal < 20 %)"
        else:
            line += "  no Pythia (parametrised showers)"
        print(line)
    print("other = selection, truth matching, detector model; `hepcourse data generate` uses all cores")


if __name__ == "__main__":
    main()
