"""A small parametrised detector: Pythia's final state -> reconstructed electrons, muons, jets
and missing transverse momentum, per event, with whole-array awkward operations.

It is a teaching model in the spirit of Delphes, far simpler: no tracking, no calorimeter cells,
no pile-up, no fakes of leptons by jets, no trigger. Every number is a module constant:

=====================  =====================================================================
object                 model
=====================  =====================================================================
acceptance             visible final-state particles (no neutrinos) with |eta| < 4.9
                       (calorimeter coverage); the rest escape and count as missing momentum
electron, muon         truth final-state e / mu with pT > 10 GeV, |eta| < 2.5; efficiency
                       90 % (e), 95 % (mu), flat
isolation              ``iso`` = (scalar sum pT of the other visible particles within
                       dR < 0.3) / lepton pT; "isolated" means iso < 0.15
electron resolution    sigma_E / E = 10 % / sqrt(E/GeV) (+) 0.7 % (calorimeter-like)
muon resolution        sigma_pT / pT = 1 % (+) 0.01 % * pT/GeV (tracker-like: 1.4 % at
                       100 GeV, 10 % at 1 TeV)
jets                   anti-kt R = 0.4 on the visible particles minus the reconstructed isolated
                       leptons, clustered above pT 10 GeV (true), then smeared:
                       sigma_E / E = 100 % / sqrt(E/GeV) (+) 5 % (4-vector scaled, mass
                       included), eta and phi each smeared by 0.02
jet flavour (truth)    b if a b hadron with pT > 5 GeV lies within dR < 0.4 of the jet, else c
                       if a c hadron does, else light
b-tag score            ``btag`` in [0, 1) for |eta| < 2.5 (0 outside the tracker), drawn so
                       that P(btag > t) = (1 - t)^k with k per flavour; at the working point
                       ``BTAG_WP`` = 0.5 the efficiency is 70 % (b), 10 % (c), 1 % (light);
                       the tight point ``BTAG_TIGHT_WP`` = 0.8 gives 44 %, 0.5 %, 0.002 %
missing momentum       MET = -(sum of reconstructed isolated leptons + all jets + unclustered
                       visible particles), i.e. the visible imbalance with the objects'
                       mismeasurement propagated, plus a soft-term resolution: a Gaussian of
                       0.5 * sqrt(sum ET unclustered / GeV) GeV on each of MET_x and MET_y
=====================  =====================================================================

``(+)`` is a sum in quadrature. Leptons that fail the efficiency or isolation stay in the jet
inputs (an electron lost as a lepton is still seen by the calorimeter); a non-isolated lepton
is both a lepton (with large ``iso``) and part of a jet, as in NanoAOD. Jets also carry their truth
``flavour`` (5, 4, 0), which the generators do not publish.

``generate_selected`` runs Pythia + this detector + a generator's selection in batches until
enough events pass (shared by the HIGGS and collisions generators).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import awkward as ak
import numpy as np

from hepcourse.data.generators.pythia import antikt, make_pythia, visible_final_state

CALO_ETA_MAX = 4.9
LEPTON_PT_MIN = 10.0
LEPTON_ETA_MAX = 2.5
ISO_DR = 0.3
ISO_MAX = 0.15
ELECTRON_EFF = 0.90
MUON_EFF = 0.95
ELECTRON_RES_STOCHASTIC = 0.10  # x sqrt(GeV)
ELECTRON_RES_CONSTANT = 0.007
MUON_RES_CONSTANT = 0.01
MUON_RES_SLOPE = 1.0e-4  # per GeV
JET_RADIUS = 0.4
JET_CLUSTER_PT_MIN = 10.0
JET_RES_STOCHASTIC = 1.0  # x sqrt(GeV)
JET_RES_CONSTANT = 0.05
JET_ANGLE_RES = 0.02
FLAVOUR_MATCH_DR = 0.4
FLAVOUR_HADRON_PT_MIN = 5.0
TRACKER_ETA_MAX = 2.5
BTAG_WP = 0.5
BTAG_TIGHT_WP = 0.8
BTAG_EFF = {5: 0.70, 4: 0.10, 0: 0.01}  # at BTAG_WP, by truth flavour
MET_SOFT_RES = 0.5  # x sqrt(GeV)

ELECTRON_MASS = 0.000511
MUON_MASS = 0.10566


def reconstruct(prt: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Reconstructed objects of a batch of Pythia events (``prt`` from ``pythia.batches``).

    Returns one record per event: ``electrons`` and ``muons`` (pt, eta, phi, mass, charge, iso,
    pT-ordered), ``jets`` (pt, eta, phi, mass, btag, flavour, pT-ordered, reconstructed pT
    above ~10 GeV) as Momentum4D, and ``met_pt``, ``met_phi``. All randomness comes from ``rng``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # eta of pT = 0 remnants is +-inf
        vis = visible_final_state(prt)
        vis = vis[abs(vis.eta) < CALO_ETA_MAX]
    vis = ak.with_field(vis, ak.local_index(vis, axis=1), "index")

    leptons = _leptons(vis, rng)
    isolated = leptons[leptons.iso < ISO_MAX]

    # Jets from everything but the isolated reconstructed leptons.
    pairs = ak.cartesian([vis.index, isolated.index], nested=True)
    is_isolated_lepton = ak.any(pairs["0"] == pairs["1"], axis=2)
    true_jets, _ = antikt(vis[~is_isolated_lepton], JET_RADIUS, JET_CLUSTER_PT_MIN)
    jets = _smear_jets(true_jets, rng)
    jets = ak.with_field(jets, _flavour(jets, prt), "flavour")
    jets = ak.with_field(jets, _btag_score(jets, rng), "btag")
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]

    # MET: visible imbalance, minus what smearing added to the objects, plus the soft term.
    met_x = -ak.sum(vis.px, axis=1) - _sum_delta(isolated, "px") - _sum_delta(jets, "px")
    met_y = -ak.sum(vis.py, axis=1) - _sum_delta(isolated, "py") - _sum_delta(jets, "py")
    soft_et = ak.sum(vis.pt, axis=1) - ak.sum(isolated.true_pt, axis=1) - ak.sum(true_jets.pt, axis=1)
    sigma = MET_SOFT_RES * np.sqrt(np.maximum(ak.to_numpy(soft_et), 0.0))
    met_x = ak.to_numpy(met_x) + sigma * rng.standard_normal(len(sigma))
    met_y = ak.to_numpy(met_y) + sigma * rng.standard_normal(len(sigma))

    keep = ["pt", "eta", "phi", "mass"]
    return ak.zip(
        {
            "electrons": _momenta(leptons[leptons.pdg == 11], [*keep, "charge", "iso"]),
            "muons": _momenta(leptons[leptons.pdg == 13], [*keep, "charge", "iso"]),
            "jets": _momenta(jets, [*keep, "btag", "flavour"]),
            "met_pt": np.hypot(met_x, met_y),
            "met_phi": np.arctan2(met_y, met_x),
        },
        depth_limit=1,
    )


def _leptons(vis: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Truth e/mu in acceptance -> efficiency, isolation, momentum smearing."""
    absid = abs(vis.id)
    cand = vis[((absid == 11) | (absid == 13)) & (vis.pt > LEPTON_PT_MIN) & (abs(vis.eta) < LEPTON_ETA_MAX)]
    pdg = abs(cand.id)
    cand = cand[_uniform_like(cand.pt, rng) < ak.where(pdg == 11, ELECTRON_EFF, MUON_EFF)]
    pdg = abs(cand.id)

    pairs = ak.cartesian([cand, vis], nested=True)
    near = pairs["0"].deltaR(pairs["1"]) < ISO_DR
    cone = ak.sum(ak.where(near, pairs["1"].pt, 0.0), axis=2) - cand.pt  # minus itself
    iso = np.maximum(cone / cand.pt, 0.0)  # >= 0 despite rounding

    energy = cand.E
    sigma_e = np.sqrt((ELECTRON_RES_STOCHASTIC / np.sqrt(energy)) ** 2 + ELECTRON_RES_CONSTANT**2)
    sigma_mu = np.sqrt(MUON_RES_CONSTANT**2 + (MUON_RES_SLOPE * cand.pt) ** 2)
    scale = 1.0 + ak.where(pdg == 11, sigma_e, sigma_mu) * _normal_like(cand.pt, rng)
    pt = cand.pt * np.maximum(scale, 0.05)
    leptons = ak.zip(
        {
            "pt": pt,
            "eta": cand.eta,
            "phi": cand.phi,
            "mass": ak.where(pdg == 11, ELECTRON_MASS, MUON_MASS),
            "charge": -np.sign(cand.id),  # e-, mu- have positive PDG codes
            "iso": iso,
            "pdg": pdg,
            "index": cand.index,
            "true_pt": cand.pt,
            "true_px": cand.px,
            "true_py": cand.py,
        },
        with_name="Momentum4D",
    )
    return leptons[ak.argsort(leptons.pt, axis=1, ascending=False)]


def _smear_jets(jets: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Energy (whole 4-vector) and direction smearing of true jets."""
    sigma = np.sqrt((JET_RES_STOCHASTIC / np.sqrt(jets.E)) ** 2 + JET_RES_CONSTANT**2)
    scale = np.maximum(1.0 + sigma * _normal_like(jets.pt, rng), 0.05)
    phi = jets.phi + JET_ANGLE_RES * _normal_like(jets.pt, rng)
    return ak.zip(
        {
            "pt": jets.pt * scale,
            "eta": jets.eta + JET_ANGLE_RES * _normal_like(jets.pt, rng),
            "phi": np.arctan2(np.sin(phi), np.cos(phi)),
            "mass": jets.mass * scale,
            "true_px": jets.px,
            "true_py": jets.py,
        },
        with_name="Momentum4D",
    )


def _flavour(jets: ak.Array, prt: ak.Array) -> ak.Array:
    """5 / 4 / 0 for jets matched to a b hadron / c hadron / neither (truth labels)."""
    aid = abs(prt.id) % 10_000
    baryon = aid >= 1000
    heaviest = ak.where(baryon, (aid // 1000) % 10, (aid // 100) % 10)
    # hadrons only: no quarks/leptons/bosons (< 100), no diquarks (x x 0 y), no BSM codes
    hadron = (aid >= 100) & ~(baryon & ((aid // 10) % 10 == 0)) & (abs(prt.id) < 1_000_000)
    hard = hadron & (prt.p.pt > FLAVOUR_HADRON_PT_MIN)

    def matched(quark: int) -> ak.Array:
        hadrons = prt.p[hard & (heaviest == quark)]
        pairs = ak.cartesian([jets, hadrons], nested=True)
        return ak.any(pairs["0"].deltaR(pairs["1"]) < FLAVOUR_MATCH_DR, axis=2)

    return ak.where(matched(5), 5, ak.where(matched(4), 4, 0))


def _btag_score(jets: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Score with P(score > t) = (1 - t)^k: k = ln(eff) / ln(1 - BTAG_WP) per flavour."""
    log_wp = np.log(1.0 - BTAG_WP)
    k = ak.where(
        jets.flavour == 5,
        np.log(BTAG_EFF[5]) / log_wp,
        ak.where(jets.flavour == 4, np.log(BTAG_EFF[4]) / log_wp, np.log(BTAG_EFF[0]) / log_wp),
    )
    score = 1.0 - _uniform_like(jets.pt, rng) ** (1.0 / k)
    return ak.where(abs(jets.eta) < TRACKER_ETA_MAX, score, 0.0)


def _sum_delta(objects: ak.Array, axis: str) -> ak.Array:
    """Sum over objects of reconstructed minus true momentum component ``axis``."""
    return ak.sum(getattr(objects, axis) - objects[f"true_{axis}"], axis=1)


def _momenta(objects: ak.Array, fields: list[str]) -> ak.Array:
    return ak.zip({f: objects[f] for f in fields}, with_name="Momentum4D")


def _uniform_like(jagged: ak.Array, rng: np.random.Generator) -> ak.Array:
    return ak.unflatten(rng.random(int(ak.sum(ak.num(jagged, axis=1)))), ak.num(jagged, axis=1))


def _normal_like(jagged: ak.Array, rng: np.random.Generator) -> ak.Array:
    counts = ak.num(jagged, axis=1)
    return ak.unflatten(rng.standard_normal(int(ak.sum(counts))), counts)


def generate_selected(
    settings: Iterable[str],
    ecm_gev: float,
    count: int,
    select: Callable[[ak.Array], ak.Array],
    seed: np.random.SeedSequence,
    efficiency_guess: float,
) -> ak.Array:
    """The first ``count`` events that pass ``select`` (reconstructed events -> the passing ones,
    in any form), generating and reconstructing Pythia batches as needed. Batch sizes depend on
    ``count`` and ``efficiency_guess`` only, so the output is a function of (arguments, seed)."""
    pythia_seed, detector_seed = seed.spawn(2)
    pythia = make_pythia(list(settings), int(pythia_seed.generate_state(1)[0]), ecm_gev)
    rng = np.random.default_rng(detector_seed)
    kept, found = [], 0
    while found < count or not kept:
        size = int(np.clip(1.2 * (count - found) / efficiency_guess + 10, 20, 500))
        passing = select(reconstruct(pythia.nextBatch(size).prt, rng))
        kept.append(passing)
        found += len(passing)
    return ak.concatenate(kept)[:count]
