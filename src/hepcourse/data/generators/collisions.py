"""Small NanoAOD-like collision events for columnar analysis with uproot and awkward (modules 01
and 06).

Recipe
------
A mixture of three Standard Model processes, Pythia 8.317, pp at sqrt(s) = 13 TeV, default tune,
hadronisation on, no pile-up, multi-parton interactions off by default (``mpi=True`` turns them
on at 3x (ttbar) to 9x (W, Z) the CPU; the reasons are those of the HIGGS generator):

====  ===========  ===========================================================  ===========
code  name         Pythia settings                                              sigma used
====  ===========  ===========================================================  ===========
0     drell_yan    ``WeakSingleBoson:ffbar2gmZ`` (Z/gamma* with interference),  2 x 2.0 nb
                   m(ll) > 50 GeV, Z -> e e or mu mu only
1     w_jets       ``WeakSingleBoson:ffbar2W``, W -> e nu or mu nu only; the     2 x 20.6 nb
                   jets come from the parton shower
2     ttbar        ``Top:gg2ttbar``, ``Top:qqbar2ttbar``, all decays             0.83 nb
====  ===========  ===========================================================  ===========

Cross sections are rough 13 TeV values: per lepton flavour ~20.6 nb for W+ + W- and ~2.0 nb for
Z/gamma* (ATLAS, PLB 759 (2016) 601), ttbar ~832 pb (NNLO+NNLL); taus are left out.

Filter: every event has at least one reconstructed isolated electron or muon with pT > 25 GeV
and |eta| < 2.5, like a single-lepton trigger. Its efficiency, measured with this generator on
7,000 events per process (``FILTER_EFFICIENCY``), is 61 % (drell_yan), 41 % (w_jets) and 26 %
(ttbar: all-hadronic and tau decays fail it). The default mix is proportional to sigma x filter
efficiency (``DEFAULT_FRACTIONS``): drell_yan 12.5 %, w_jets 86.4 %, ttbar 1.1 %. That is a
realistic single-lepton sample: W+jets dominates, Z -> mu mu gives a clean peak, and ttbar takes
over at four or more jets. Each call holds exactly round(fraction x n) events of each process
(largest remainder), in a seeded random order; ``fractions=`` overrides the mix, e.g. equal
thirds for a classification exercise (weights are then no longer physical).

Detector: ``detector.reconstruct`` (numbers in its docstring).

Output
------
A dict of branches. Write a TTree with ``tree = uproot.recreate(path).mktree("Events", {k:
ak.type(v) for k, v in branches.items()})`` then ``tree.extend(branches)`` (uproot 5.7's
``file["Events"] = branches`` writes an RNTuple instead). Jagged collections are records, which
uproot writes NanoAOD-style as a counter ``nMuon`` plus ``Muon_pt``, ``Muon_eta``, ...:

- ``Muon``, ``Electron``: pt, eta, phi, mass (GeV, float32), charge (int32), isolation (float32:
  relative isolation, scalar pT sum of the other visible particles within dR 0.3 over the lepton
  pT; no cut applied, isolated means < 0.15); every reconstructed lepton with pT > 10 GeV and
  |eta| < 2.5, pT-ordered;
- ``Jet``: pt, eta, phi, mass (float32), btag (float32 score in [0, 1): > 0.5 tags 70 % of b, 10 %
  of c and 1 % of light jets, > 0.8 is a tight point); jets with pT > 20 GeV and |eta| < 4.7,
  pT-ordered; jets are not cleaned against leptons that are not isolated;
- ``MET_pt``, ``MET_phi`` (float32);
- ``process`` (int32): the code in the table above, a truth label for teaching (real data has none).

Known differences from CMS NanoAOD: far fewer branches, a toy detector (no pile-up, fake leptons,
trigger), leading-order Pythia W/Z (too few hard extra jets: on average 0.1-0.2 jets above 30 GeV
with |eta| < 2.5 per W event), MET resolution of a pile-up-free detector (Drell-Yan MET median ~5 GeV), no event
weights (the default mix already follows the cross sections).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepcourse.data.generators import detector

ECM_GEV = 13_000.0
FILTER_LEPTON_PT = 25.0
JET_PT_MIN, JET_ETA_MAX = 20.0, 4.7

PROCESSES = {  # name: (code, Pythia settings, cross section in pb)
    "drell_yan": (
        0,
        ["WeakSingleBoson:ffbar2gmZ = on", "23:mMin = 50", "PhaseSpace:mHatMin = 50",
         "23:onMode = off", "23:onIfAny = 11 13"],
        2 * 2000.0,
    ),
    "w_jets": (
        1,
        ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13"],
        2 * 20_600.0,
    ),
    "ttbar": (2, ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"], 832.0),
}
FILTER_EFFICIENCY = {"drell_yan": 0.61, "w_jets": 0.41, "ttbar": 0.26}  # measured, see docstring
_WEIGHT = {name: PROCESSES[name][2] * FILTER_EFFICIENCY[name] for name in PROCESSES}
DEFAULT_FRACTIONS = {name: w / sum(_WEIGHT.values()) for name, w in _WEIGHT.items()}


def generate(n: int, seed: int, fractions: dict[str, float] | None = None, mpi: bool = False) -> dict:
    """``n`` filtered events of the process mix as a dict of branches (see the module docstring)."""
    counts = _split(n, fractions or DEFAULT_FRACTIONS)
    *process_seeds, order_seed = np.random.SeedSequence(seed).spawn(len(PROCESSES) + 1)
    seeds = dict(zip(PROCESSES, process_seeds))
    mpi_setting = f"PartonLevel:MPI = {'on' if mpi else 'off'}"

    parts, codes = [], []
    for name, (code, settings, _) in PROCESSES.items():
        if counts[name] == 0:
            continue
        events = detector.generate_selected(
            [*settings, mpi_setting], ECM_GEV, counts[name], _passes_filter, seeds[name],
            max(FILTER_EFFICIENCY[name], 0.2),
        )
        parts.append(events)
        codes.append(np.full(len(events), code, dtype=np.int32))
    events = ak.concatenate(parts)
    process = np.concatenate(codes)
    order = np.random.default_rng(order_seed).permutation(n)
    return _branches(events[order], process[order])


def _split(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Exact integer counts summing to n (largest remainder), in PROCESSES order."""
    unknown = set(fractions) - set(PROCESSES)
    if unknown:
        raise ValueError(f"unknown processes {sorted(unknown)}; known: {list(PROCESSES)}")
    share = np.array([fractions.get(name, 0.0) for name in PROCESSES], dtype=float)
    if share.min() < 0 or share.sum() <= 0:
        raise ValueError("fractions must be non-negative and not all zero")
    exact = n * share / share.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    return dict(zip(PROCESSES, counts.tolist()))


def _passes_filter(events: ak.Array) -> ak.Array:
    """Events with an isolated e or mu above FILTER_LEPTON_PT (like a single-lepton trigger)."""
    leptons = ak.concatenate([events.electrons, events.muons], axis=1)
    good = (leptons.iso < detector.ISO_MAX) & (leptons.pt > FILTER_LEPTON_PT)
    return events[ak.any(good, axis=1)]


def _branches(events: ak.Array, process: np.ndarray) -> dict:
    jets = events.jets[(events.jets.pt > JET_PT_MIN) & (abs(events.jets.eta) < JET_ETA_MAX)]
    return {
        "Muon": _leptons(events.muons),
        "Electron": _leptons(events.electrons),
        "Jet": ak.zip({**_kinematics(jets), "btag": ak.values_astype(jets.btag, np.float32)}),
        "MET_pt": ak.to_numpy(events.met_pt).astype(np.float32),
        "MET_phi": ak.to_numpy(events.met_phi).astype(np.float32),
        "process": process.astype(np.int32),
    }


def _kinematics(objects: ak.Array) -> dict:
    return {f: ak.values_astype(objects[f], np.float32) for f in ("pt", "eta", "phi", "mass")}


def _leptons(leptons: ak.Array) -> ak.Array:
    return ak.zip(
        {
            **_kinematics(leptons),
            "charge": ak.values_astype(leptons.charge, np.int32),
            "isolation": ak.values_astype(leptons.iso, np.float32),
        }
    )
