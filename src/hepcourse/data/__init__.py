"""The course's HEP datasets, the same API offline and online.

    from hepcourse.data import load
    train = load("top_tagging", split="train", n=10_000)   # pandas DataFrame
    showers = load("calorimeter", split="test")            # dict of NumPy arrays
    events = load("collisions")                            # awkward Array (ROOT TTree)

The scale (``ci``, ``course``, ``full``) comes from ``$HEPCOURSE_SCALE`` unless ``scale=`` is
given. ``ci`` and ``course`` files are generated on this machine the first time they are
asked for (Monte Carlo in the public schema); ``full`` is the public dataset, downloaded by a
facilitator with ``hepcourse data fetch``. Every dataset is described by a card in
``datasets/``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .. import scale as scales
from .build import generate_files, is_current
from .cards import Card, get_card
from .cards import cards as all_cards
from .formats import FORMATS
from .store import DataError, data_dir, file_path, heldout_dir, read_meta, writable

__all__ = ["DataError", "datasets", "fields", "generate_heldout", "heldout", "heldout_rows", "load", "path",
           "without"]


def datasets() -> dict[str, Card]:
    """Every dataset card, by name."""
    return all_cards()


def ensure(card: Card, scale: str, filenames: list[str], progress: bool = True) -> list[Path]:
    """The cached files, generated first where missing and allowed here."""
    paths = [file_path(card, scale, f) for f in filenames]
    if all(is_current(card, scale, f) for f in filenames):
        return paths
    if card.seed is None:
        raise DataError(f"the held-out {card.name} data ({scale} scale) of this assignment is not in "
                        f"{paths[0].parent}: a facilitator makes it with `make data` "
                        "(hepcourse data generate --heldout)")
    if scale == "full":
        raise DataError(f"{card.name}: the full scale is the public dataset; a facilitator fetches it "
                        f"with `hepcourse data fetch {card.name}` (or use scale='course')")
    if not writable(paths[0].parent):
        raise DataError(f"{card.name} ({scale} scale) is not in the shared data folder {data_dir()}, "
                        "which is read-only here: ask your facilitator to run `make data`")
    return generate_files(card, filenames, scale, progress=progress)


def path(name: str, file: str | None = None, scale: str | None = None) -> Path:
    """Path of a dataset file (the first file of the card if ``file`` is not given)."""
    card = get_card(name)
    return ensure(card, scales.current(scale), [file or next(iter(card.files))])[0]


def load(name: str, split: str = "train", n: int | None = None, scale: str | None = None):
    """Rows of ``split`` of dataset ``name`` (at most ``n``, taken evenly from its files)."""
    return _load(get_card(name), split, n, scales.current(scale))


def heldout(name: str, assignment: str, n: int | None = None, scale: str | None = None):
    """Grading data of ``assignment`` that no student has seen: the ``test`` split of ``name``
    made by the same generator from a seed derived from the course's secret, kept in the
    grader-only folder, one set per assignment. At ``full`` scale the public test set is
    public, so the ``course`` size is used. Only a facilitator generates it (``make data``)."""
    return _load(heldout_card(get_card(name), assignment), "test", n, _heldout_scale(scale))


def heldout_rows(name: str, assignment: str, scale: str | None = None):
    """:func:`heldout` with its rows shuffled, in the order the grader hands them to a kernel:
    the files hold one class each, so their order would tell the labels. The permutation comes
    from the files' own digests (as secret as the data), so every grader draws the same one."""
    scale = _heldout_scale(scale)
    card = heldout_card(get_card(name), assignment)
    files = ensure(card, scale, card.split("test")["files"], progress=False)
    digest = hashlib.sha256("".join(read_meta(f)["sha256"] for f in files).encode()).digest()
    table = _load(card, "test", None, scale)
    order = np.random.default_rng(int.from_bytes(digest, "big")).permutation(_length(table))
    if isinstance(table, pd.DataFrame):
        return table.iloc[order].reset_index(drop=True)
    if isinstance(table, dict):
        return {key: value[order] for key, value in table.items()}
    return table[order]


def fields(table) -> list[str]:
    """Column names of a DataFrame, keys of a dict of arrays, fields of an awkward Array."""
    return list(table.columns) if isinstance(table, pd.DataFrame) else list(table.fields if _is_awkward(table) else table)


def _is_awkward(table) -> bool:
    # awkward is imported only by the formats that return its arrays (0.13 CPU s a kernel)
    ak = sys.modules.get("awkward")
    return ak is not None and isinstance(table, ak.Array)


def without(table, patterns: list[str]):
    """``table`` without the fields matching any of the shell ``patterns`` (``truth*``)."""
    drop = [f for f in fields(table) if any(fnmatch.fnmatchcase(f, p) for p in patterns)]
    if isinstance(table, pd.DataFrame):
        return table.drop(columns=drop)
    if isinstance(table, dict):
        return {key: value for key, value in table.items() if key not in drop}
    return table[[f for f in table.fields if f not in drop]]


def _heldout_scale(scale: str | None) -> str:
    scale = scales.current(scale)
    return "course" if scale == "full" else scale


def _length(table) -> int:
    return len(next(iter(table.values()))) if isinstance(table, dict) else len(table)


def heldout_card(card: Card, assignment: str, secret: bytes | None = None) -> Card:
    """The card of ``card``'s held-out twin for ``assignment``: in ``<held-out folder>/<assignment>``,
    its seed derived from the course ``secret`` (``hepcourse.grading.course.Course.heldout_secret``),
    never from public values. Reading the files needs no secret; generating them does. Its files
    hold the test split's rows alone (no student sees any of them), as many as the test split has
    unless the card's file says otherwise (``heldout: {scale: rows}``, for a test split too small
    to tell a model from a baseline)."""
    seed = None
    if secret is not None:
        digest = hmac.new(secret, f"{card.name}/{assignment}".encode(), hashlib.sha256).digest()
        seed = int.from_bytes(digest[:16], "big")
    test = card.split("test")
    share = test["rows"][1] - test["rows"][0]
    files = {name: {**spec, "rows": {scale: spec.get("heldout", {}).get(scale) or max(1, round(rows * share))
                                     for scale, rows in spec["rows"].items()}}
             for name, spec in card.files.items() if name in test["files"]}
    return Card(card.path, {**card.data, "seed": seed, "files": files,
                            "splits": {"test": {"files": test["files"], "rows": [0.0, 1.0]}}},
                root=heldout_dir() / assignment)


def generate_heldout(name: str, assignment: str, secret: bytes, scale: str, **options) -> list[Path]:
    """Make ``assignment``'s held-out set of ``name`` (the test split's files) from the secret,
    in the grader-only folder (mode 0700: no kernel's sandbox uid reads it)."""
    heldout_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(heldout_dir(), 0o700)
    card = get_card(name)
    return generate_files(heldout_card(card, assignment, secret), card.split("test")["files"], scale, **options)


def _load(card: Card, split: str, n: int | None, scale: str):
    spec = card.split(split)
    fmt = FORMATS[card.format]
    per_file = None if n is None else math.ceil(n / len(spec["files"]))
    parts = []
    for filename, file in zip(spec["files"], ensure(card, scale, spec["files"])):
        total = read_meta(file)["rows"]
        start, stop = (round(total * f) for f in spec["rows"])
        if per_file is not None:
            stop = min(stop, start + per_file)
        part = fmt.read(file, card, start, stop)
        if card.data.get("label_column"):
            part = _labelled(part, card.label_column, card.files[filename]["label"])
        parts.append(part)
    table = fmt.concat(parts) if len(parts) > 1 else parts[0]
    return table if n is None else _head(table, n)


def _labelled(part, column: str, label: str):
    if isinstance(part, pd.DataFrame):
        return part.assign(**{column: label})
    if _is_awkward(part):
        return sys.modules["awkward"].with_field(part, label, column)
    return {**part, column: np.full(len(next(iter(part.values()))), label)}


def _head(table, n: int):
    if isinstance(table, dict):
        return {key: value[:n] for key, value in table.items()}
    return table[:n] if not isinstance(table, pd.DataFrame) else table.iloc[:n]
