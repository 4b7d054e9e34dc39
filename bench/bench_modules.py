"""What one student's kernel needs for each course notebook at a data scale (default: course):
its peak memory (the kernel and its children, resident, sampled every 0.1 s), its CPU seconds
and wall time, and, on a CUDA machine, the GPU memory torch held at its peak. docs/capacity.md
plans from these figures.

Each notebook runs top to bottom in a fresh kernel, as a student would run it: lectures and
seminars as committed, each homework solved (the instructors' version without its hidden
tests, which only the autograder runs). One BLAS/torch thread by default, so that the CPU
seconds are the work itself, not idle spinning of threads a shared server would not give.

    make bench-modules                                   (SCALE=course, every notebook)
    python bench/bench_modules.py --scale ci 04_neural_nets
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import ClearHiddenTests
from tqdm import tqdm

from hepcourse.config import REPO_ROOT

MODULES = REPO_ROOT / "modules"
MARK = "BENCH-GPU "
# Appended to each notebook: what torch held on the GPU at its peak (None without CUDA).
GPU_PEAK = (f"import json as _j, sys as _s\n_t = _s.modules.get('torch')\n"
            f"print({MARK!r} + _j.dumps(_t.cuda.max_memory_reserved() if _t and _t.cuda.is_available() else None))")


class Sampler(threading.Thread):
    """Peak resident memory and the CPU seconds of a process and its children."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.cpu, self.done = psutil.Process(pid), 0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss, cpu = 0, 0.0
            for process in tree:
                try:
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    cpu += times.user + times.system
                except psutil.NoSuchProcess:
                    continue
            self.peak, self.cpu = max(self.peak, rss), max(self.cpu, cpu)

    def stop(self) -> None:
        self.done.set()
        self.join()


def as_run(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, 4)
    if path.stem == "homework":
        nb, _ = ClearHiddenTests().preprocess(nb, {})
    nb.cells.append(new_code_cell(GPU_PEAK))
    return nb


def measure(path: Path) -> dict:
    nb = as_run(path)
    client = NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    samplers = []

    def watch_kernel(**_):
        samplers.append(Sampler(client.km.provisioner.process.pid))
        samplers[0].start()

    client.on_notebook_start = watch_kernel        # called once the kernel runs
    started = time.monotonic()
    try:
        client.execute()
    finally:
        for sampler in samplers:
            sampler.stop()
    wall = time.monotonic() - started
    printed = [line for out in nb.cells[-1].outputs if out.get("output_type") == "stream"
               for line in out["text"].splitlines() if line.startswith(MARK)]
    gpu = json.loads(printed[0].removeprefix(MARK)) if printed else None
    return {"notebook": str(path.relative_to(MODULES)), "wall_s": round(wall, 1), "cpu_s": round(samplers[0].cpu, 1),
            "peak_rss_mib": round(samplers[0].peak / 2**20), "gpu_peak_mib": None if gpu is None else round(gpu / 2**20)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="module folders (default: all), e.g. 04_neural_nets")
    parser.add_argument("--scale", default="course", choices=["ci", "course", "full"])
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads of each kernel")
    args = parser.parse_args()
    wanted = args.modules or sorted(p.name for p in MODULES.iterdir() if p.is_dir())
    unknown = [m for m in wanted if not (MODULES / m).is_dir()]
    if unknown:
        print(f"no such module: {', '.join(unknown)} (modules/: {', '.join(sorted(p.name for p in MODULES.iterdir()))})")
        return 2
    os.environ.update(HEPCOURSE_SCALE=args.scale, MPLBACKEND="Agg", OMP_NUM_THREADS=str(args.threads),
                      MKL_NUM_THREADS=str(args.threads))
    notebooks = [MODULES / m / f"{kind}.ipynb" for m in wanted for kind in ("lecture", "seminar", "homework")]
    rows = [measure(path) for path in tqdm(notebooks, desc=f"notebooks at {args.scale} scale", unit="notebook")]
    out = REPO_ROOT / "build" / "bench" / f"modules-{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scale": args.scale, "threads": args.threads, "cores": len(os.sched_getaffinity(0)),
                               "notebooks": rows}, indent=1))
    print(f"\n{len(rows)} notebooks at {args.scale} scale, {args.threads} thread(s) per kernel ({out})\n")
    print("| notebook | wall (s) | CPU (s) | peak memory (MiB) | GPU peak (MiB) |")
    print("|---|---|---|---|---|")
    for row in rows:
        gpu = "no CUDA here" if row["gpu_peak_mib"] is None else row["gpu_peak_mib"]
        print(f"| {row['notebook']} | {row['wall_s']} | {row['cpu_s']} | {row['peak_rss_mib']} | {gpu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
