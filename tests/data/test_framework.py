"""The data layer itself (cards, generation, cache, loading, verification), on toy generators
in every file format."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from hepcourse.config import ConfigError
from hepcourse.data import DataError, datasets, generate_heldout, heldout, load, path
from hepcourse.data.build import chunk_plan, fetch_file, generate_file, verify_file
from hepcourse.data.cards import get_card, load_card
from hepcourse.data.store import file_path, read_meta
from hepcourse.files import sha256_of

FORMAT_NAMES = ["toy_csv", "toy_pandas_hdf", "toy_hdf5", "toy_root"]


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_generated_files_roundtrip_and_match_their_card(toy_cards, name):
    card = get_card(name)
    for filename in card.files:
        generate_file(card, filename, "ci", progress=False)
        assert verify_file(card, "ci", filename) == []
        assert read_meta(file_path(card, "ci", filename))["rows"] == 20


def test_generation_is_the_same_with_any_number_of_workers(toy_cards, tmp_path, monkeypatch):
    card = get_card("toy_hdf5")
    one = sha256_of(generate_file(card, "a.bin", "course", workers=1, progress=False))
    monkeypatch.setenv("HEPCOURSE_DATA_DIR", str(tmp_path / "other"))
    two = generate_file(card, "a.bin", "course", workers=2, progress=False)
    assert sha256_of(two) == one
    assert read_meta(two)["workers"] == 2


def test_a_smaller_scale_is_a_prefix_of_a_larger_one(toy_cards):
    card = get_card("toy_pandas_hdf")
    assert chunk_plan(card, "a.bin", 20)[:2] == chunk_plan(card, "a.bin", 50)[:2]
    ci = load("toy_pandas_hdf", "first", scale="ci")
    course = load("toy_pandas_hdf", "first", scale="course")
    pd.testing.assert_frame_equal(ci.iloc[:14], course.iloc[:14])  # the two full chunks of 7


def test_files_differ_and_splits_do_not_overlap(toy_cards):
    train = load("toy_pandas_hdf", "train", scale="course")
    test = load("toy_pandas_hdf", "test", scale="course")
    assert len(train) == 80 and len(test) == 20
    assert set(train.kind) == {"first", "second"}
    assert train[train.kind == "second"].x_0.mean() > 3  # file b has its own options
    assert not set(train.x_0) & set(test.x_0)


def test_n_takes_rows_evenly_from_every_file(toy_cards):
    showers = load("toy_hdf5", "train", n=10, scale="course")
    assert showers["energy"].shape == (10, 1) and showers["image"].shape == (10, 2, 3)
    assert list(showers["kind"]) == ["first"] * 5 + ["second"] * 5


def test_root_files_keep_jagged_collections(toy_cards):
    events = load("toy_root", "first", scale="ci")
    assert isinstance(events, ak.Array) and len(events) == 20
    assert ak.sum(ak.num(events.Muon_pt)) == ak.sum(events.nMuon)


def test_scale_comes_from_the_environment(toy_cards, monkeypatch):
    monkeypatch.setenv("HEPCOURSE_SCALE", "ci")
    assert path("toy_csv").parent.name == "ci"
    monkeypatch.setenv("HEPCOURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="unknown data scale 'huge'"):
        path("toy_csv")


def test_missing_full_scale_says_how_to_fetch(toy_cards):
    with pytest.raises(DataError, match="hepcourse data fetch toy_csv"):
        load("toy_csv", scale="full")


def test_read_only_shared_folder_says_who_to_ask(toy_cards):
    """A student's kernel (not root) facing the hub's shared folder without the data."""
    base = Path(tempfile.mkdtemp(prefix="hepcourse-shared-"))  # readable by everyone, unlike tmp_path
    try:
        base.chmod(0o755)
        shutil.copytree(toy_cards, base / "cards")
        shared = base / "data"
        shared.mkdir()
        code = ("from hepcourse.data import load, DataError\n"
                "try:\n    load('toy_csv', scale='ci')\nexcept DataError as err:\n    print(err)")
        env = {**os.environ, "HEPCOURSE_DATA_DIR": str(shared), "HEPCOURSE_DATASETS": str(base / "cards"),
               "PYTHONPATH": str(Path(__file__).parent)}
        if os.geteuid() == 0:  # run as an unprivileged user, as a student's server does
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        else:
            prefix = []
            shared.chmod(0o555)
        result = subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=False, timeout=120)
        assert "read-only here: ask your facilitator to run `make data`" in result.stdout, result.stderr
        assert not list(shared.iterdir())
    finally:
        shutil.rmtree(base)


def test_concurrent_requests_generate_once(toy_cards, tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("TOY_CALLS", str(calls))
    threads = [threading.Thread(target=load, args=("toy_hdf5", "first"), kwargs={"scale": "ci"})
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls.read_text().split() == ["7", "7", "6"]  # one file's chunks, made once


def test_verify_catches_tampering_and_absence(toy_cards):
    card = get_card("toy_csv")
    assert verify_file(card, "ci", "a.bin") == ["missing"]
    target = generate_file(card, "a.bin", "ci", progress=False)
    target.write_bytes(target.read_bytes()[:-10])
    assert any("sha256" in p for p in verify_file(card, "ci", "a.bin"))


def test_card_errors_are_clear(toy_cards, write):
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; known: toy_csv"):
        get_card("nope")
    with pytest.raises(ConfigError, match="has no split 'val'; choose one of train, test, first"):
        load("toy_csv", split="val", scale="ci")
    bad = write("bad.yaml", (toy_cards / "toy_csv.yaml").read_text().replace("[a.bin, b.bin], rows: [0.0, 0.8]",
                                                                             "[a.bin, c.bin]"))
    with pytest.raises(ConfigError, match=r"splits.train: unknown files \['c.bin'\]"):
        load_card(bad)


def test_repository_cards_are_valid():
    known = datasets()
    for card in known.values():
        assert card.path.name == f"{card.name}.yaml"
        assert np.all([set(f["rows"]) == {"ci", "course", "full"} for f in card.files.values()])


def test_heldout_rows_are_new_stored_apart_and_secret(toy_cards, tmp_path, monkeypatch):
    monkeypatch.setenv("HEPCOURSE_HELDOUT_DIR", str(tmp_path / "graders"))
    with pytest.raises(DataError, match="not in .* a facilitator makes it with `make data`"):
        heldout("toy_pandas_hdf", "01_hw", scale="course")   # reading never generates
    for assignment, secret in (("01_hw", b"one"), ("02_hw", b"one"), ("03_hw", b"two")):
        generate_heldout("toy_pandas_hdf", assignment, secret, "course", progress=False)
    public = load("toy_pandas_hdf", "test", scale="course")
    first = heldout("toy_pandas_hdf", "01_hw", scale="course")
    assert len(first) == len(public) == 20
    assert not set(first.x_0) & set(load("toy_pandas_hdf", "train", scale="course").x_0)
    assert not set(first.x_0) & set(public.x_0)
    # One set per assignment; another secret, another set; the same secret, the same set.
    assert not set(first.x_0) & set(heldout("toy_pandas_hdf", "02_hw", scale="course").x_0)
    assert not set(first.x_0) & set(heldout("toy_pandas_hdf", "03_hw", scale="course").x_0)
    stored = tmp_path / "graders" / "01_hw" / "toy_pandas_hdf" / "course" / "a.bin"
    assert stored.exists() and "seed" not in json.loads(stored.with_name("a.bin.json").read_text())
    assert len(heldout("toy_pandas_hdf", "01_hw", n=6, scale="full")) == 6  # full: the course-sized set
    monkeypatch.setenv("HEPCOURSE_HELDOUT_DIR", str(tmp_path / "again"))
    generate_heldout("toy_pandas_hdf", "01_hw", b"one", "course", progress=False)
    assert heldout("toy_pandas_hdf", "01_hw", scale="course").equals(first)


def test_a_public_file_placed_by_hand_is_registered_by_fetch(toy_cards):
    card = get_card("toy_hdf5")  # toy files have no download url, like CaloGAN's
    with pytest.raises(DataError, match="no direct download link: get it from http://127.0.0.1/ into"):
        fetch_file(card, "a.bin", progress=False)
    made = generate_file(card, "a.bin", "ci", progress=False)  # stands in for the public file
    target = file_path(card, "full", "a.bin")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(made.read_bytes())
    fetch_file(card, "a.bin", progress=False)
    assert read_meta(target)["rows"] == 20 and verify_file(card, "full", "a.bin") == []
