import textwrap

import pytest

import hepcourse.data.cards as cards_module

TOY_CARD = """
name: toy_{fmt_name}
title: Toy
description: toy data
citation: nobody
source: http://127.0.0.1/
format: {fmt_name}
generator: toy_generator
chunk: 7
seed: 42
label_column: kind
files:
  a.bin: {{rows: {{ci: 20, course: 50, full: 100}}, options: {{fmt: {kind}}}, label: first}}
  b.bin: {{rows: {{ci: 20, course: 50, full: 100}}, options: {{fmt: {kind}, offset: 5.0}}, label: second}}
splits:
  train: {{files: [a.bin, b.bin], rows: [0.0, 0.8]}}
  test: {{files: [a.bin, b.bin], rows: [0.8, 1.0]}}
  first: {{files: [a.bin]}}
schema:
{schema}
"""
SCHEMAS = {
    "csv": ("table", "  columns:\n    - {names: ['x_{i}'], each: 2, dtype: float32}\n    - {names: [label], dtype: int64}"),
    "pandas-hdf": ("table", ("  key: table\n  columns:\n    - {names: ['x_{i}'], each: 2, dtype: float32}\n"
                             "    - {names: [label], dtype: int64}")),
    "hdf5": ("arrays", "  arrays:\n    energy: {shape: [1], dtype: float32}\n    image: {shape: [2, 3], dtype: float32}"),
    "root": ("events", "  tree: Events\n  branches: {nMuon: int32_t, Muon_pt: 'float[]', Muon_eta: 'float[]', MET: float}"),
}


@pytest.fixture
def toy_cards(tmp_path, monkeypatch):
    """A folder of toy cards (one per format) and an empty data dir, both in tmp."""
    folder = tmp_path / "cards"
    folder.mkdir()
    for fmt_name, (kind, schema) in SCHEMAS.items():
        text = TOY_CARD.format(fmt_name=fmt_name, kind=kind, schema=schema)
        (folder / f"toy_{fmt_name.replace('-', '_')}.yaml").write_text(textwrap.dedent(text).replace(
            "name: toy_pandas-hdf", "name: toy_pandas_hdf"))
    monkeypatch.setenv("HEPCOURSE_DATASETS", str(folder))
    monkeypatch.setenv("HEPCOURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEPCOURSE_WORKERS", "1")
    cards_module._cards_in.cache_clear()
    yield folder
    cards_module._cards_in.cache_clear()
