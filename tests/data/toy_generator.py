"""A tiny generator in every format, for testing the data framework itself."""

import os

import awkward as ak
import numpy as np
import pandas as pd


def generate(n, seed, fmt="table", offset=0.0):
    if os.environ.get("TOY_CALLS"):  # count calls across processes
        with open(os.environ["TOY_CALLS"], "a") as fh:
            fh.write(f"{n}\n")
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=n) + offset).astype("float32")
    if fmt == "table":
        return pd.DataFrame({"x_0": x, "x_1": 2 * x, "label": rng.integers(0, 2, n)})
    if fmt == "arrays":
        return {"energy": x[:, None], "image": rng.random((n, 2, 3)).astype("float32")}
    counts = rng.poisson(2, n)
    pts = ak.unflatten(rng.exponential(20, counts.sum()).astype("float32"), counts)
    return {"Muon": ak.zip({"pt": pts, "eta": pts * 0}), "MET": x}
