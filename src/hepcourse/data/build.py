"""Materialise dataset files: generate them offline (parallel, deterministic, atomic),
download the public ones (resumable, verified), and verify what is in the cache."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..cpus import cpu_budget
from ..files import replacing, sha256_of
from ..locks import locked
from .cards import Card
from .download import download
from .formats import FORMATS
from .store import DataError, file_path, read_meta, write_meta


def chunk_plan(card: Card, filename: str, n: int) -> list[tuple[int, int]]:
    """(rows, seed) of each generate() call for ``n`` rows of ``filename``.

    Seeds depend on the card's seed, the file and the chunk's position only, so the output is
    the same whatever the number of workers, and a smaller scale is a prefix of a larger one.
    """
    file_index = list(card.files).index(filename)
    sizes = [card.chunk] * (n // card.chunk) + ([n % card.chunk] if n % card.chunk else [])
    children = np.random.SeedSequence([card.seed, file_index]).spawn(len(sizes))
    return [(size, int(child.generate_state(1)[0])) for size, child in zip(sizes, children)]


def _generate_chunk(generator: str, options: dict, job: tuple[int, int]):
    size, seed = job
    return importlib.import_module(generator).generate(size, seed, **options)


def default_workers() -> int:
    return int(os.environ.get("HEPCOURSE_WORKERS") or cpu_budget())


def generate_files(card: Card, filenames: list[str], scale: str, workers: int | None = None,
                   progress: bool = True) -> list[Path]:
    """Generate ``filenames`` of ``card`` at ``scale`` into the cache (those not there yet),
    sharing one pool of worker processes."""
    paths = [file_path(card, scale, f) for f in filenames]
    todo = [(f, p) for f, p in zip(filenames, paths) if not is_current(card, scale, f)]
    if not todo:
        return paths
    workers = workers or default_workers()
    if workers <= 1:
        for filename, path in todo:
            _generate(card, filename, scale, path, map, 1, progress)
        return paths
    # forkserver: safe even from a kernel whose threads (torch, BLAS) fork can't copy
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for filename, path in todo:
            _generate(card, filename, scale, path, pool.map, workers, progress)
    return paths


def is_current(card: Card, scale: str, filename: str) -> bool:
    """The file is cached, and if generated, at the row count its card asks for now (a card
    that changed its sizes makes it again)."""
    meta = read_meta(file_path(card, scale, filename))
    return bool(meta) and (meta.get("source") != "generated" or meta.get("rows") == card.rows(filename, scale))


def generate_file(card: Card, filename: str, scale: str, workers: int | None = None,
                  progress: bool = True) -> Path:
    return generate_files(card, [filename], scale, workers, progress)[0]


def _generate(card: Card, filename: str, scale: str, path: Path, mapper, workers: int,
              progress: bool) -> None:
    with locked(path):
        if is_current(card, scale, filename):  # made meanwhile by another process
            return
        fmt = FORMATS[card.format]
        n = card.rows(filename, scale)
        work = partial(_generate_chunk, card.generator, card.files[filename].get("options", {}))
        started = time.monotonic()
        with tqdm(total=n, desc=f"{card.name}/{filename}", unit="row", disable=not progress) as bar:
            tables = [_tick(bar, fmt, t) for t in mapper(work, chunk_plan(card, filename, n))]
        table = fmt.concat(tables)
        if fmt.nrows(table) != n:
            raise DataError(f"{card.generator} made {fmt.nrows(table)} rows instead of {n}")
        with replacing(path) as tmp:
            fmt.write(table, tmp, card)
        # A held-out twin's seed (card.root set) comes from the course secret: never recorded.
        seed = {"seed": card.seed} if card.root is None else {}
        write_meta(path, {"source": "generated", "generator": card.generator, **seed,
                          "rows": n, "sha256": sha256_of(path), "hepcourse": __version__,
                          "seconds": round(time.monotonic() - started, 1), "workers": workers})


def _tick(bar, fmt, table):
    bar.update(fmt.nrows(table))
    return table


def fetch_file(card: Card, filename: str, progress: bool = True) -> Path:
    """Download the public ``filename`` of ``card`` (the ``full`` scale)."""
    spec = card.files[filename]
    path = file_path(card, "full", filename)
    with locked(path):
        if read_meta(path):
            return path
        if spec.get("url"):
            download(spec["url"], path, spec.get("sha256"), spec.get("size"), progress=progress)
        elif not path.exists():
            raise DataError(f"{card.name}/{filename} has no direct download link: get it from "
                            f"{card.source} into {path.parent} and run this again to register it, "
                            f"or generate it (hepcourse data generate {card.name})")
        digest = sha256_of(path)
        if not spec.get("sha256"):
            print(f"note: {card.path.name} has no sha256 for {filename}; "
                  f"this download's is {digest} (record it in the card once checked)")
        write_meta(path, {"source": "downloaded", "url": spec.get("url") or card.source, "sha256": digest,
                          "rows": FORMATS[card.format].count(path, card)})
    return path


def verify_file(card: Card, scale: str, filename: str) -> list[str]:
    """Problems with the cached file ('missing' if absent); [] if it checks out."""
    path = file_path(card, scale, filename)
    meta = read_meta(path)
    if meta is None:
        return ["missing"]
    problems = []
    expected = card.files[filename].get("sha256") if meta["source"] == "downloaded" else None
    digest = sha256_of(path)
    if digest != meta["sha256"] or (expected and digest != expected):
        problems.append(f"sha256 {digest} does not match the recorded {expected or meta['sha256']}")
    fmt = FORMATS[card.format]
    try:
        problems += fmt.check(path, card)
        rows = fmt.count(path, card)
    except Exception as err:  # any reader error means the file cannot be used  # noqa: BLE001
        return [*problems, f"unreadable ({err.__class__.__name__}: {err})"]
    wanted = card.rows(filename, scale)
    if rows != meta["rows"] or (meta["source"] == "generated" and rows != wanted):
        problems.append(f"{rows} rows, expected {wanted}")
    return problems
