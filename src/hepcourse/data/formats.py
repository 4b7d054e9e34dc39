"""Reading, writing and checking each file format of the datasets.

A table in memory is what a generator returns: a pandas DataFrame (csv, pandas-hdf), a dict
of NumPy arrays (hdf5) or a dict of awkward/NumPy branches (root).

h5py, awkward and uproot are imported by the formats that use them, not here: every student's
kernel that loads a dataset imports this module, and they cost a fifth of a CPU second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .cards import Card

if TYPE_CHECKING:
    import awkward as ak


class _DataFrames:
    """Formats whose rows are a pandas DataFrame in memory."""

    @staticmethod
    def concat(tables):
        return pd.concat(tables, ignore_index=True)

    @staticmethod
    def nrows(table) -> int:
        return len(table)


class Csv(_DataFrames):
    """Gzipped CSV without a header, like UCI's HIGGS.csv.gz."""

    @staticmethod
    def write(table: pd.DataFrame, path: Path, card: Card) -> None:
        table.to_csv(path, header=False, index=False, float_format="%.9e", compression="gzip")

    @staticmethod
    def read(path: Path, card: Card, start: int, stop: int) -> pd.DataFrame:
        names = [name for name, _ in card.columns()]
        return pd.read_csv(path, header=None, names=names, skiprows=start, nrows=stop - start,
                           dtype=dict(card.columns()), compression="gzip")

    @staticmethod
    def count(path: Path, card: Card) -> int:
        chunks = pd.read_csv(path, header=None, usecols=[0], chunksize=1 << 20, compression="gzip")
        return sum(len(chunk) for chunk in chunks)

    @staticmethod
    def check(path: Path, card: Card) -> list[str]:
        head = pd.read_csv(path, header=None, nrows=5, compression="gzip")
        expected = len(card.columns())
        return [] if head.shape[1] == expected else [f"{head.shape[1]} columns, expected {expected}"]


class PandasHdf(_DataFrames):
    """A pandas HDF5 store under one key, like the top-tagging reference files. Written in
    pandas' "fixed" format, which pandas 1.5 and later read (the "table" format of pandas 3 is
    not readable by pandas 2.0 or 1.5: tests/data/test_hdf_compat.py)."""

    @staticmethod
    def write(table: pd.DataFrame, path: Path, card: Card) -> None:
        table.to_hdf(path, key=card.schema["key"], mode="w", format="fixed", complevel=1)

    @staticmethod
    def read(path: Path, card: Card, start: int, stop: int) -> pd.DataFrame:
        return pd.read_hdf(path, key=card.schema["key"], start=start, stop=stop)

    @staticmethod
    def count(path: Path, card: Card) -> int:
        with pd.HDFStore(path, mode="r") as store:
            storer = store.get_storer(card.schema["key"])
            return int(storer.nrows if storer.nrows is not None else storer.shape[0])   # "table" / "fixed"

    @staticmethod
    def check(path: Path, card: Card) -> list[str]:
        head = pd.read_hdf(path, key=card.schema["key"], start=0, stop=2)
        expected = card.columns()
        actual = [(c, str(t)) for c, t in head.dtypes.items()]
        if actual == expected:
            return []
        wrong = [f"{a} != {e}" for a, e in zip(actual, expected) if a != e][:3]
        return [f"columns differ from the card ({len(actual)} vs {len(expected)}): {', '.join(wrong)}"]


class Hdf5:
    """One HDF5 dataset per key, rows along the first axis, like CaloGAN's files."""

    @staticmethod
    def concat(tables):
        return {key: np.concatenate([t[key] for t in tables]) for key in tables[0]}

    @staticmethod
    def nrows(table) -> int:
        return len(next(iter(table.values())))

    @staticmethod
    def write(table: dict, path: Path, card: Card) -> None:
        import h5py

        with h5py.File(path, "w") as f:
            for key, array in table.items():
                f.create_dataset(key, data=array, compression="gzip", compression_opts=1)

    @staticmethod
    def read(path: Path, card: Card, start: int, stop: int) -> dict:
        import h5py

        with h5py.File(path, "r") as f:
            return {key: f[key][start:stop] for key in card.schema["arrays"]}

    @staticmethod
    def count(path: Path, card: Card) -> int:
        import h5py

        with h5py.File(path, "r") as f:
            return len(f[next(iter(card.schema["arrays"]))])

    @staticmethod
    def check(path: Path, card: Card) -> list[str]:
        import h5py

        problems = []
        with h5py.File(path, "r") as f:
            for key, spec in card.schema["arrays"].items():
                if key not in f:
                    problems.append(f"missing array {key!r}")
                elif list(f[key].shape[1:]) != spec["shape"] or f[key].dtype != np.dtype(spec["dtype"]):
                    problems.append(f"{key}: {f[key].dtype}{list(f[key].shape[1:])}, "
                                    f"expected {spec['dtype']}{spec['shape']}")
        return problems


class Root:
    """A ROOT TTree written with uproot (jagged collections as counts + branches)."""

    # In memory a generator's dict of branches, or the awkward Array that read() returns.
    @staticmethod
    def concat(tables):
        import awkward as ak

        if isinstance(tables[0], ak.Array):
            return ak.concatenate(tables)
        return {key: ak.concatenate([t[key] for t in tables]) for key in tables[0]}

    @staticmethod
    def nrows(table) -> int:
        return len(next(iter(table.values()))) if isinstance(table, dict) else len(table)

    @staticmethod
    def write(table: dict, path: Path, card: Card) -> None:
        import awkward as ak
        import uproot

        with uproot.recreate(path) as f:
            tree = f.mktree(card.schema["tree"], {k: ak.type(v) if isinstance(v, ak.Array) else v.dtype
                                                  for k, v in table.items()})
            tree.extend(table)

    @staticmethod
    def read(path: Path, card: Card, start: int, stop: int) -> ak.Array:
        import uproot

        with uproot.open(path) as f:
            return f[card.schema["tree"]].arrays(entry_start=start, entry_stop=stop)

    @staticmethod
    def count(path: Path, card: Card) -> int:
        import uproot

        with uproot.open(path) as f:
            return f[card.schema["tree"]].num_entries

    @staticmethod
    def check(path: Path, card: Card) -> list[str]:
        import uproot

        with uproot.open(path) as f:
            tree = f[card.schema["tree"]]
            actual = {name: branch.typename for name, branch in tree.items()}
        expected = card.schema["branches"]
        missing = sorted(set(expected) - set(actual))
        wrong = [f"{n}: {actual[n]} != {t}" for n, t in expected.items() if n in actual and actual[n] != t]
        return [f"missing branches {missing}"] * bool(missing) + wrong


FORMATS = {"csv": Csv, "pandas-hdf": PandasHdf, "hdf5": Hdf5, "root": Root}
