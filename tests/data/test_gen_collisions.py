"""NanoAOD-like collision events: schema, ROOT round trip with uproot, determinism, physics.

Physics thresholds come from samples with seeds 1-5 (observed values in the comments)."""

import awkward as ak
import numpy as np
import pytest
import uproot
import vector
from scipy.stats import gaussian_kde

from hepcourse.data.generators import collisions

vector.register_awkward()

N = 300
N_PHYSICS = 900  # equal thirds: enough Z -> mu mu and ttbar for the physics checks
COLLECTIONS = {
    "Muon": ["pt", "eta", "phi", "mass", "charge", "isolation"],
    "Electron": ["pt", "eta", "phi", "mass", "charge", "isolation"],
    "Jet": ["pt", "eta", "phi", "mass", "btag"],
}
FLAT = {"MET_pt": np.float32, "MET_phi": np.float32, "process": np.int32}


@pytest.fixture(scope="module")
def branches() -> dict:
    return collisions.generate(N, seed=7)


@pytest.fixture(scope="module")
def mixed() -> dict:
    return collisions.generate(N_PHYSICS, seed=8, fractions=dict.fromkeys(collisions.PROCESSES, 1.0))


def write_and_read(branches: dict, path) -> tuple[uproot.TTree, ak.Array]:
    with uproot.recreate(path) as file:
        types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()}
        tree = file.mktree("Events", types)
        tree.extend(branches)
    tree = uproot.open(path)["Events"]
    return tree, tree.arrays()


def test_schema(branches):
    assert list(branches) == [*COLLECTIONS, *FLAT]
    for name, fields in COLLECTIONS.items():
        assert len(branches[name]) == N
        assert branches[name].fields == fields
        for field in fields:
            expected = "int32" if field == "charge" else "float32"
            assert str(ak.type(branches[name][field]).content.content) == expected
    for name, dtype in FLAT.items():
        assert branches[name].dtype == dtype and branches[name].shape == (N,)
    # exact mix, seeded order
    counts = np.bincount(branches["process"], minlength=3)
    expected = collisions._split(N, collisions.DEFAULT_FRACTIONS)
    assert counts.tolist() == [expected[name] for name in collisions.PROCESSES]
    assert not np.all(np.diff(branches["process"]) >= 0)


def test_filter_and_object_cuts(branches):
    muons, electrons, jets = branches["Muon"], branches["Electron"], branches["Jet"]
    leptons = ak.concatenate([muons, electrons], axis=1)
    assert ak.all(ak.any((leptons.pt > 25) & (leptons.isolation < 0.15), axis=1))
    assert ak.all(leptons.pt > 10) and ak.all(abs(leptons.eta) < 2.5)
    assert ak.all((jets.pt > 20) & (abs(jets.eta) < 4.7))
    assert ak.all((jets.btag >= 0) & (jets.btag < 1))
    assert ak.all(jets.pt[:, :-1] >= jets.pt[:, 1:])  # pT-ordered
    assert set(np.unique(ak.flatten(muons.charge))) <= {-1, 1}


def test_root_round_trip(branches, tmp_path):
    tree, events = write_and_read(branches, tmp_path / "events.root")
    assert tree.num_entries == N
    # NanoAOD layout: a counter per collection plus one branch per field
    names = set(tree.keys())
    for name, fields in COLLECTIONS.items():
        assert f"n{name}" in names
        assert all(f"{name}_{f}" in names for f in fields)
        assert ak.all(tree[f"n{name}"].array() == ak.num(branches[name]))
        for field in fields:
            assert ak.all(events[f"{name}_{field}"] == branches[name][field])
    for name in FLAT:
        assert np.array_equal(events[name].to_numpy(), branches[name])
    # a columnar read as a student would do it
    muons = ak.zip({f: events[f"Muon_{f}"] for f in COLLECTIONS["Muon"]})
    assert ak.all(ak.num(muons) == events["nMuon"])


def test_determinism():
    first = collisions.generate(12, seed=3)
    again = collisions.generate(12, seed=3)
    other = collisions.generate(12, seed=4)
    for name in first:
        assert ak.to_list(first[name]) == ak.to_list(again[name])
    assert ak.to_list(first["MET_pt"]) != ak.to_list(other["MET_pt"])


def test_fractions_option():
    assert collisions._split(10, {"ttbar": 1.0}) == {"drell_yan": 0, "w_jets": 0, "ttbar": 10}
    assert sum(collisions._split(301, collisions.DEFAULT_FRACTIONS).values()) == 301
    with pytest.raises(ValueError):
        collisions._split(10, {"higgs": 1.0})


def test_z_peak(mixed):
    muons = mixed["Muon"]
    muons = ak.zip({f: muons[f] for f in ("pt", "eta", "phi", "mass")} | {"charge": muons.charge},
                   with_name="Momentum4D")
    muons = muons[(muons.pt > 20) & (mixed["Muon"].isolation < 0.15)]
    first, second = ak.unzip(ak.combinations(muons, 2))
    opposite = first.charge != second.charge
    mass = ak.to_numpy(ak.flatten((first + second)[opposite].mass))
    near = mass[(mass > 71) & (mass < 111)]
    assert len(near) > 50  # observed 76-91 pairs from 300 Drell-Yan events
    grid = np.linspace(71, 111, 401)
    peak = grid[np.argmax(gaussian_kde(near, bw_method=0.15)(grid))]
    core = near[np.abs(near - peak) < 10]
    width = np.subtract(*np.quantile(core, [0.75, 0.25]))
    print(f"dimuon peak {peak:.2f} GeV, IQR {width:.2f} GeV from {len(near)} pairs")
    assert abs(peak - 91.19) < 3  # observed 90.5-91.5 GeV
    # Breit-Wigner (Gamma_Z = 2.5 GeV) (x) Gaussian of the muon resolution (sigma_m ~ 0.7 GeV at
    # pT ~ 45 GeV), trimmed to +-10 GeV: IQR 2.5 GeV expected (2.2 with no resolution, 3.2 with
    # twice and 4.0 with three times the resolution); observed 1.9-3.4 with ~80 pairs
    assert 1.5 < width < 4.0


def test_ttbar_has_more_jets_and_btags_than_drell_yan(mixed):
    jets = mixed["Jet"]
    central = jets[(jets.pt > 30) & (abs(jets.eta) < 2.5)]
    n_jets = ak.to_numpy(ak.num(central))
    n_tags = ak.to_numpy(ak.sum(central.btag > 0.5, axis=1))
    ttbar, dy = mixed["process"] == 2, mixed["process"] == 0
    print(f"jets: ttbar {n_jets[ttbar].mean():.2f}, DY {n_jets[dy].mean():.2f}; "
          f"b-tags: ttbar {n_tags[ttbar].mean():.2f}, DY {n_tags[dy].mean():.2f}")
    assert n_jets[ttbar].mean() > n_jets[dy].mean() + 2  # observed 3.0-3.2 vs 0.25-0.34
    assert n_tags[ttbar].mean() > 0.8  # two b jets at 70 % within acceptance: observed 1.05-1.10
    assert n_tags[dy].mean() < 0.1  # mistags and g -> bb: observed 0.003-0.013
