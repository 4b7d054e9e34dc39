"""Top tagging jets in the schema of the Top Quark Tagging Reference Dataset.

Public dataset: Kasieczka, Plehn, Thompson, Russell, Zenodo 2603256 (arXiv:1902.09914).

Recipe
------
- Pythia 8 (pythia8mc 8.317.2, default Monash tune), pp at 14 TeV, multiparton interactions
  off and no pile-up (``PartonLevel:MPI = off``), as in the public dataset.
- Signal: hadronic ttbar (``Top:gg2ttbar``, ``Top:qqbar2ttbar``; W+- decays to quarks only,
  ``24:onMode = off``, ``24:onIfAny = 1 2 3 4 5``). Background: QCD 2 -> 2 (``HardQCD:all``).
  Both with ``PhaseSpace:pTHatMin = 350`` GeV, chosen by generating from 250/300 GeV: the cut
  loses about 3 % of the matched top jets and 5 % of the QCD jets that would fall in the
  window (jets with more pT than the hard process, e.g. from initial-state radiation), while
  giving 0.08 (top) and
  0.12 (QCD) selected jets per generated event (7 % and 10 % of events give at least one).
- Jets: anti-kt, R = 0.8 (FastJet, E-scheme) on all visible final-state particles (neutrinos
  removed), the leading two jets of each event considered.
- Selection: the jet four-momentum is the sum of the stored constituents (the first 200 by pT,
  in float32, exactly what a user recomputes from a row); 550 <= pT <= 650 GeV and |eta| < 2.
- Signal truth matching: the top (its last copy, the one that decays) and its three decay
  quarks (the down-type quark, almost always the b, and the W's two quarks, as produced in the
  decay, before showering) all within Delta R = 0.8 of the jet axis. Unmatched top-sample
  jets are dropped. truthE..truthPZ hold the matched top's four-momentum; zeros for QCD.
- Background: any of the leading two QCD jets in the window (no flavour requirement).
- Constituents: the jet's particles sorted by pT, the first 200 stored as
  E_i, PX_i, PY_i, PZ_i (GeV), zero-padded.
- Detector model: none by default (particle level). ``smear=True`` scales each particle's
  four-momentum by 1 + sigma * N(0, 1) before clustering, a rough ATLAS-like resolution:
  photons and electrons sigma/E = 10 %/sqrt(E) (+) 1 % (EM calorimeter); neutral hadrons
  50 %/sqrt(E) (+) 3 % (hadronic calorimeter); charged hadrons and muons
  sigma/p = 0.05 % * pT/GeV (+) 1 % (tracker); (+) is the sum in quadrature. Particles whose
  smeared energy would be <= 0 are dropped (lost in noise).
- Shower variation: ``fsr_mur`` multiplies the renormalisation scale of final-state radiation's
  alpha_s (``TimeShower:renormMultFac = fsr_mur**2``, Pythia's factor on pT^2): 0.5 is the
  usual "FSR up" systematic variation (more radiation), 2 "FSR down"; 1 is the nominal Monash
  shower. The card's ``fsr_up.h5`` holds test jets of the 0.5 variation, another generator
  setting for domain-shift studies (module 06).
- Output: a pandas DataFrame, columns E_0, PX_0, PY_0, PZ_0, ..., PZ_199 (float32), truthE,
  truthPX, truthPY, truthPZ (float32), ttv, is_signal_new (int64); half top jets (1), half
  QCD (0), rows in a seeded random order. ``ttv`` is a constant from the option
  (0 train, 1 test, 2 validation; redundant, as in the public files).

Known differences from the public dataset
-----------------------------------------
- No Delphes: the public constituents are Delphes ATLAS-card E-flow objects (tracks plus
  calorimeter towers, with thresholds and tower granularity); ours are stable particles
  (optionally smeared), so expect more and softer constituents (we measure about 75 per top
  jet and 60 per QCD jet) and sharper mass peaks than in the public files.
- The pTHat ranges of the public samples are not published; ours (above) slightly
  underrepresent jets that gained pT from extra radiation. The Pythia version differs.
- Up to two jets of one event can enter the output; how the public samples treated
  this is not documented.
- The public description gives ``ttv`` as "test/train/validation" without the numeric code;
  0 train, 1 test, 2 validation is our convention.
- Dtypes: the constituents are float32 in the public files (the published example values are
  exact float32 numbers); int64 for ttv/is_signal_new and float32 for truth* are assumptions.

Randomness: numpy ``default_rng(seed)`` draws the two Pythia seeds (top, QCD) and the smearing
and the row order, so (n, seed, options) fixes the output.
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pandas as pd

from hepcourse.data.generators.pythia import antikt, make_pythia, visible_final_state

N_CONSTITUENTS = 200
JET_RADIUS = 0.8
PT_MIN, PT_MAX = 550.0, 650.0
ETA_MAX = 2.0
MATCH_DR = 0.8

COLUMNS = [f"{c}_{i}" for i in range(N_CONSTITUENTS) for c in ("E", "PX", "PY", "PZ")] + [
    "truthE",
    "truthPX",
    "truthPY",
    "truthPZ",
    "ttv",
    "is_signal_new",
]

COMMON_SETTINGS = ("PartonLevel:MPI = off",)
SIGNAL_SETTINGS = (
    "Top:gg2ttbar = on",
    "Top:qqbar2ttbar = on",
    "24:onMode = off",
    "24:onIfAny = 1 2 3 4 5",
    "PhaseSpace:pTHatMin = 350",
    *COMMON_SETTINGS,
)
BACKGROUND_SETTINGS = ("HardQCD:all = on", "PhaseSpace:pTHatMin = 350", *COMMON_SETTINGS)
# Selected jets per generated event (measured), used only to size the Pythia batches.
EXPECTED_YIELD = {True: 0.08, False: 0.12}

EM_IDS = (11, 22)
NEUTRAL_HADRON_IDS = (130, 310, 2112, 3122, 3212, 3322)


def generate(n: int, seed: int, ttv: int = 0, smear: bool = False, fsr_mur: float = 1.0) -> pd.DataFrame:
    """``n`` jets (half top, half QCD) as rows of the reference dataset's table."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if ttv not in (0, 1, 2):
        raise ValueError("ttv must be 0 (train), 1 (test) or 2 (validation)")
    if not 0.33 <= fsr_mur <= 3:    # Pythia's renormMultFac range is 0.1..10
        raise ValueError("fsr_mur must be between 0.33 and 3")
    shower = () if fsr_mur == 1 else (f"TimeShower:renormMultFac = {fsr_mur**2:g}",)
    rng = np.random.default_rng(seed)
    signal_seed, background_seed = (int(s) for s in rng.integers(1, 900_000_000, size=2))
    n_signal = n // 2
    sig_const, sig_truth = _jets(n_signal, (*SIGNAL_SETTINGS, *shower), True, signal_seed, rng, smear)
    bkg_const, bkg_truth = _jets(n - n_signal, (*BACKGROUND_SETTINGS, *shower), False, background_seed, rng, smear)

    constituents = np.concatenate([sig_const, bkg_const]).reshape(n, 4 * N_CONSTITUENTS)
    truth = np.concatenate([sig_truth, bkg_truth]).astype(np.float32)
    label = np.repeat(np.array([1, 0], dtype=np.int64), [n_signal, n - n_signal])
    order = rng.permutation(n)

    table = pd.DataFrame(constituents[order], columns=COLUMNS[: 4 * N_CONSTITUENTS])
    tail = pd.DataFrame(truth[order], columns=COLUMNS[4 * N_CONSTITUENTS : -2])
    tail["ttv"] = np.full(n, ttv, dtype=np.int64)
    tail["is_signal_new"] = label[order]
    return pd.concat([table, tail], axis=1)


def _jets(n: int, settings: tuple[str, ...], signal: bool, pythia_seed: int, rng: np.random.Generator, smear: bool):
    """(constituents (n, 200, 4) float32 as E, px, py, pz; truth top (n, 4) float64)."""
    constituents = [np.zeros((0, N_CONSTITUENTS, 4), np.float32)]
    truths = [np.zeros((0, 4))]
    if n == 0:
        return constituents[0], truths[0]
    pythia = make_pythia(settings, pythia_seed)
    have = 0
    while have < n:
        # Size each batch for the jets still missing (pythia.batches has one fixed size): less
        # overshoot for small chunks, and still a function of (n, seed) only.
        size = int(np.clip(math.ceil(1.1 * (n - have) / EXPECTED_YIELD[signal]) + 10, 20, 500))
        const, truth = _select(pythia.nextBatch(size).prt, signal, rng if smear else None)
        constituents.append(const)
        truths.append(truth)
        have += len(const)
    return np.concatenate(constituents)[:n], np.concatenate(truths)[:n]


def _select(
    prt: ak.Array, signal: bool, smear_rng: np.random.Generator | None, return_event: bool = False
):
    """Constituents and truth top of the jets of one batch that pass the selection (and, with
    ``return_event``, the index of each jet's event in the batch)."""
    particles = visible_final_state(prt)
    if smear_rng is not None:
        particles = smear_particles(particles, smear_rng)
    jets, constituents = antikt(particles, JET_RADIUS, ptmin=0.8 * PT_MIN)
    jets, constituents = jets[:, :2], constituents[:, :2]  # the leading two jets
    # A loose cut on FastJet's jets first, so that only candidates are sorted and padded.
    loose = (jets.pt > 0.95 * PT_MIN) & (jets.pt < 1.05 * PT_MAX) & (abs(jets.eta) < ETA_MAX + 0.1)
    event_of_jet = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(jets)))[
        ak.to_numpy(ak.flatten(loose))
    ]

    per_jet = ak.flatten(constituents[loose], axis=1)
    per_jet = per_jet[ak.argsort(per_jet.pt, axis=1, ascending=False)][:, :N_CONSTITUENTS]
    padded = ak.pad_none(per_jet, N_CONSTITUENTS, axis=1, clip=True)
    const = (
        np.stack(
            [ak.to_numpy(ak.fill_none(padded[k], 0.0)) for k in ("E", "px", "py", "pz")], axis=-1
        )
        .astype(np.float32)
        .reshape(-1, N_CONSTITUENTS, 4)
    )

    # The selection uses the jet as a user recomputes it from the stored row.
    _, px, py, pz = const.astype(np.float64).sum(axis=1).T
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    keep = (pt >= PT_MIN) & (pt <= PT_MAX) & (np.abs(eta) < ETA_MAX)

    truth = np.zeros((len(const), 4))
    if signal and keep.any():
        events, jet_event = np.unique(event_of_jet, return_inverse=True)
        for top_p4, partons_eta, partons_phi, found in _top_decays(prt[events]):
            dr = _delta_r(
                eta[:, None], phi[:, None], partons_eta[jet_event], partons_phi[jet_event]
            )
            matched = found[jet_event] & np.all(dr < MATCH_DR, axis=1)
            truth[matched] = top_p4[jet_event[matched]]
        keep &= truth[:, 0] > 0
    if return_event:
        return const[keep], truth[keep], event_of_jet[keep]
    return const[keep], truth[keep]


def _top_decays(prt: ak.Array):
    """For the top and then the antitop of each event: its four-momentum (E, px, py, pz), the
    (eta, phi) of the top and its three decay quarks, and whether they were all found. Works on
    the flattened record: Pythia's mother1 is an index within the event."""
    counts = ak.to_numpy(ak.num(prt))
    event = np.repeat(np.arange(len(counts)), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ids = ak.to_numpy(ak.flatten(prt.id))
    mother = ak.to_numpy(ak.flatten(prt.mother1)) + start[event]
    four = np.stack([ak.to_numpy(ak.flatten(prt.p[k])) for k in ("e", "px", "py", "pz")], axis=-1)
    pt = np.hypot(four[:, 1], four[:, 2])
    eta = np.arcsinh(four[:, 3] / np.maximum(pt, 1e-12))
    phi = np.arctan2(four[:, 2], four[:, 1])

    quark = (np.abs(ids) >= 1) & (np.abs(ids) <= 5)
    mother_id = ids[mother]
    for sign in (1, -1):
        down = np.flatnonzero(quark & (mother_id == 6 * sign))  # t -> W b (or W s, W d)
        w_quarks = np.flatnonzero(quark & (mother_id == 24 * sign))  # W+ from t, W- from t~
        found = (np.bincount(event[down], minlength=len(counts)) == 1) & (
            np.bincount(event[w_quarks], minlength=len(counts)) == 2
        )
        down = down[found[event[down]]]
        w_quarks = w_quarks[found[event[w_quarks]]].reshape(-1, 2)
        partons = np.zeros((len(counts), 4), dtype=np.int64)
        # the decaying (last) top copy is the down quark's mother
        partons[found] = np.column_stack([mother[down], down, w_quarks])
        yield four[partons[:, 0]], eta[partons], phi[partons], found


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def smear_particles(particles: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Scale each particle's four-momentum by a detector-like resolution (see the module
    docstring); particles whose smeared energy would be <= 0 are dropped."""
    flat = ak.flatten(particles)
    absid = np.abs(ak.to_numpy(flat.id))
    energy = ak.to_numpy(flat.E)
    pt = ak.to_numpy(flat.pt)
    em = np.isin(absid, EM_IDS)
    neutral_hadron = np.isin(absid, NEUTRAL_HADRON_IDS)
    sqrt_e = np.sqrt(np.maximum(energy, 1e-6))
    sigma = np.where(
        em,
        np.hypot(0.10 / sqrt_e, 0.01),
        np.where(neutral_hadron, np.hypot(0.50 / sqrt_e, 0.03), np.hypot(5e-4 * pt, 0.01)),
    )
    factor = 1.0 + sigma * rng.standard_normal(len(energy))
    scale = ak.unflatten(factor, ak.num(particles))
    smeared = ak.zip(
        {
            "px": particles.px * scale,
            "py": particles.py * scale,
            "pz": particles.pz * scale,
            "E": particles.E * scale,
            "id": particles.id,
        },
        with_name="Momentum4D",
    )
    return smeared[scale > 0]
