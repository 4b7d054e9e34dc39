"""The real datasets at ci scale: generated offline, every file matches its card, and every
split has the size the card promises."""

import pytest

from hepcourse.data import load
from hepcourse.data.build import verify_file
from hepcourse.data.formats import FORMATS

pytestmark = pytest.mark.xdist_group("ci-data")


def test_every_generated_file_matches_its_card(ci_data):
    assert set(ci_data) == {"higgs", "top_tagging", "calorimeter", "collisions"}
    for card in ci_data.values():
        for filename in card.files:
            assert verify_file(card, "ci", filename) == [], f"{card.name}/{filename}"


def test_splits_have_the_sizes_the_cards_promise(ci_data):
    for card in ci_data.values():
        for split, spec in card.data["splits"].items():
            start, stop = spec.get("rows", [0.0, 1.0])
            expected = sum(round(card.rows(f, "ci") * stop) - round(card.rows(f, "ci") * start)
                           for f in spec["files"])
            table = load(card.name, split, scale="ci")
            assert FORMATS[card.format].nrows(table) == expected, f"{card.name}/{split}"


def test_loaded_tables_carry_the_public_schema(ci_data):
    higgs = load("higgs", "test", scale="ci")
    uci_jets = [f"jet_{i}_{v}" for i in range(1, 5) for v in ("pt", "eta", "phi", "b-tag")]  # UCI: jets 1..4
    assert list(higgs.columns[6:22]) == uci_jets and higgs.columns[0] == "label"
    assert set(higgs.label) == {0.0, 1.0} and len(higgs.columns) == 29
    jets = load("top_tagging", "val", scale="ci")
    assert jets.shape[1] == 806 and set(jets.ttv) == {2} and set(jets.is_signal_new) == {0, 1}
    showers = load("calorimeter", "train", n=30, scale="ci")
    assert showers["layer_1"].shape == (30, 12, 12) and set(showers["particle"]) == {"eplus", "gamma", "piplus"}
    events = load("collisions", "all", n=50, scale="ci")
    assert len(events) == 50 and "Muon_pt" in events.fields
