"""Checks that verdicts share (they run in the grading process, on handed-in plain data)."""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import scale as scales


def copied_share(generated, reference, *, rows: int = 2000, floor: float = 0.1, seed: int | None = None) -> float:
    """The share of ``generated`` rows that copy a ``reference`` row: whose nearest reference row
    (Euclidean, in units of the reference's spread per column) is nearer than ``floor`` times the
    second nearest. An independent draw from the reference's distribution has this ratio near 1
    (below 0.1 with odds of ~0.1^d in d dimensions); a copy, rescaled or with a few cells changed,
    near 0. ``rows`` random generated rows are checked (the kernel cannot know which)."""
    generated, reference = np.asarray(generated, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    spread = reference.std(axis=0)
    keep = spread > 0
    scale = spread[keep]
    ref = reference[:, keep] / scale
    picked = np.random.default_rng(seed).permutation(len(generated))[:rows]
    gen = generated[picked][:, keep] / scale
    ref_sq = (ref**2).sum(axis=1)
    ratios = []
    for start in range(0, len(gen), 512):
        chunk = gen[start:start + 512]
        d2 = np.maximum((chunk**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2 * chunk @ ref.T, 0.0)
        nearest = np.sqrt(np.partition(d2, 1, axis=1)[:, :2])
        ratios.append(nearest[:, 0] / np.maximum(nearest[:, 1], 1e-12))
    return float(np.mean(np.concatenate(ratios) < floor)) if ratios else 0.0


def copied_showers(shapes) -> float:
    """:func:`copied_share` of generated calorimeter showers (rows of their ``SHAPE_FEATURES``)
    against the public showers a student could copy: the train and test splits at this scale,
    read and described once per grading process, not once per test."""
    from ..data.generators.calorimeter import SHAPE_FEATURES

    generated = np.asarray(shapes, dtype=np.float64).reshape(-1, len(SHAPE_FEATURES))
    return copied_share(generated, _public_shower_shapes(scales.current()))


@cache
def _public_shower_shapes(scale: str) -> np.ndarray:
    from ..data import load
    from ..data.generators.calorimeter import shape_features

    return np.vstack([shape_features(load("calorimeter", split=split, scale=scale)) for split in ("train", "test")])
