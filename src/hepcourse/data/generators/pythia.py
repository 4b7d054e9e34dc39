"""Pythia 8 and FastJet in bulk: whole batches of events as awkward arrays, no per-particle
Python loops (``Pythia.nextBatch`` and FastJet's awkward interface)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import awkward as ak
import fastjet
import pythia8mc
import vector

vector.register_awkward()

NEUTRINOS = (12, 14, 16)


def make_pythia(settings: Iterable[str], seed: int, ecm_gev: float = 14_000.0) -> pythia8mc.Pythia:
    """A quiet, seeded Pythia for ``ecm_gev`` pp collisions with the given settings."""
    pythia = pythia8mc.Pythia("", False)
    base = [
        f"Beams:eCM = {ecm_gev}",
        "Random:setSeed = on",
        f"Random:seed = {seed % 900_000_000 + 1}",  # Pythia takes 1..900000000
        "Next:numberCount = 0",
        "Print:quiet = on",
    ]
    for line in [*base, *settings]:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError("Pythia failed to initialise")
    return pythia


def batches(pythia: pythia8mc.Pythia, size: int = 100) -> Iterator[ak.Array]:
    """Endless batches of ``size`` events: each event's particle record (``prt``: id, status,
    mothers, daughters, p = Momentum4D, m, ...)."""
    while True:
        yield pythia.nextBatch(size).prt


def visible_final_state(prt: ak.Array) -> ak.Array:
    """Final-state particles a detector sees (no neutrinos), as Momentum4D with ``id``."""
    absid = abs(prt.id)
    invisible = (absid == NEUTRINOS[0]) | (absid == NEUTRINOS[1]) | (absid == NEUTRINOS[2])
    final = prt[(prt.status > 0) & ~invisible]
    return ak.zip(
        {"px": final.p.px, "py": final.p.py, "pz": final.p.pz, "E": final.p.e, "id": final.id},
        with_name="Momentum4D",
    )


def antikt(particles: ak.Array, radius: float, ptmin: float) -> tuple[ak.Array, ak.Array]:
    """Anti-kt jets above ``ptmin`` (GeV), pT-ordered, and their constituents, per event."""
    inputs = ak.zip({k: particles[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = sequence.inclusive_jets(ptmin)
    constituents = sequence.constituents(ptmin)
    jets = ak.zip({k: jets[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
    order = ak.argsort(jets.pt, axis=1, ascending=False)
    return jets[order], constituents[order]
