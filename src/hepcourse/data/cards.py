"""Dataset cards (``datasets/<name>.yaml``): validated on load, one :class:`Card` each.

The cards ship inside the package (``hepcourse/cards``, a link to the checkout's ``datasets/``
that the wheel holds as files), so an installed wheel in a container needs no checkout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..config import ConfigError, load_schema, read_yaml, validate

PACKAGED_CARDS = Path(__file__).resolve().parents[1] / "cards"


def cards_dir() -> Path:
    """``$HEPCOURSE_DATASETS`` (a folder of cards of your own) or the cards the package ships."""
    return Path(os.environ.get("HEPCOURSE_DATASETS") or PACKAGED_CARDS)


@dataclass(frozen=True)
class Card:
    path: Path
    data: dict
    root: Path | None = None  # cache folder of its files; None: the data dir

    def __getattr__(self, key):
        try:
            return self.data[key]
        except KeyError:
            raise AttributeError(key) from None

    def columns(self) -> list[tuple[str, str]]:
        """(name, dtype) of every column, patterns expanded (csv and pandas-hdf)."""
        out = []
        for group in self.data["schema"].get("columns", []):
            if "each" in group:
                out += [(n.format(i=i), group["dtype"]) for i in range(group["each"]) for n in group["names"]]
            else:
                out += [(n, group["dtype"]) for n in group["names"]]
        return out

    def rows(self, filename: str, scale: str) -> int:
        return self.data["files"][filename]["rows"][scale]

    def split(self, split: str) -> dict:
        try:
            spec = self.data["splits"][split]
        except KeyError:
            raise ConfigError(f"dataset {self.name!r} has no split {split!r}; "
                              f"choose one of {', '.join(self.data['splits'])}") from None
        return {"files": spec["files"], "rows": spec.get("rows", [0.0, 1.0])}


def load_card(path: Path) -> Card:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a dataset card is a mapping")
    validate(data, load_schema("dataset"), str(path))
    for split, spec in data["splits"].items():
        unknown = set(spec["files"]) - set(data["files"])
        if unknown:
            raise ConfigError(f"{path}: splits.{split}: unknown files {sorted(unknown)}")
    return Card(path, data)


def cards() -> dict[str, Card]:
    return _cards_in(cards_dir())


@cache
def _cards_in(directory: Path) -> dict[str, Card]:
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        card = load_card(path)
        found[card.name] = card
    return found


def get_card(name: str) -> Card:
    known = cards()
    if name not in known:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]
