"""The calorimeter-shower generator (CaloGAN layout): schema, determinism, physics sanity and
particle-ID sanity. Thresholds come from 26 seeds of this very setup (see the numbers quoted next
to each), with margins."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from hepcourse.data.generators.calorimeter import PARTICLES, generate, shower_features

N = 3000  # showers per particle
SEED = 7
KEYS = ["energy", "layer_0", "layer_1", "layer_2", "overflow"]
SHAPES = {"energy": (1,), "layer_0": (3, 96), "layer_1": (12, 12), "layer_2": (12, 6),
          "overflow": (3,)}
SHAPE_FEATURES = ["frac_layer_0", "frac_layer_1", "frac_layer_2", "width_layer_0",
                  "width_layer_1", "width_layer_2", "depth"]


@pytest.fixture(scope="module")
def showers():
    return {p: generate(N, SEED + i, particle=p) for i, p in enumerate(PARTICLES)}


@pytest.fixture(scope="module")
def features(showers):
    return {p: shower_features(s) for p, s in showers.items()}


def total_gev(s):
    """Everything the calorimeter saw: the three layers plus the overflow, in GeV."""
    layers = sum(s[f"layer_{k}"].sum(axis=(1, 2)) for k in range(3))
    return (layers + s["overflow"].sum(axis=1)) / 1000.0


def auc(first, second, seed=0):
    """Test-half AUC of a gradient-boosted classifier on shower-shape features."""
    x = np.vstack([first[SHAPE_FEATURES].to_numpy(), second[SHAPE_FEATURES].to_numpy()])
    y = np.r_[np.zeros(len(first)), np.ones(len(second))]
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[: len(y) // 2], order[len(y) // 2:]
    with threadpool_limits(1):  # OpenMP threads crawl on a busy machine; one core is plenty
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x[train], y[train])
    return roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])


@pytest.mark.parametrize("particle", PARTICLES)
@pytest.mark.parametrize("n", [1, 57])
def test_schema(particle, n):
    s = generate(n, 1, particle=particle)
    assert list(s) == KEYS
    for key in KEYS:
        assert s[key].shape == (n, *SHAPES[key]) and s[key].dtype == np.float64
        assert np.isfinite(s[key]).all() and (s[key] >= 0).all()
    assert ((s["energy"] >= 1.0) & (s["energy"] <= 100.0)).all()


def test_options():
    s = generate(200, 2, particle="gamma", energy_range=(10.0, 20.0))
    assert s["energy"].min() >= 10.0 and s["energy"].max() <= 20.0
    with pytest.raises(ValueError, match="particle"):
        generate(5, 1, particle="proton")


@pytest.mark.parametrize("particle", PARTICLES)
def test_deterministic(particle):
    a, b = generate(40, 11, particle=particle), generate(40, 11, particle=particle)
    c = generate(40, 12, particle=particle)
    assert all(np.array_equal(a[k], b[k]) for k in KEYS)
    assert not np.array_equal(a["layer_1"], c["layer_1"])


def test_electron_energy_is_linear_with_stochastic_resolution(showers):
    s = showers["eplus"]
    energy, total = s["energy"][:, 0], total_gev(s)
    slope = np.polyfit(energy, total, 1)[0]
    assert 0.97 < slope < 1.02  # 0.9978-0.9996
    assert np.corrcoef(energy, total)[0, 1] > 0.999  # 0.9997
    ratio = total / energy
    low, high = energy < 10, energy > 80
    sigma_low, sigma_high = ratio[low].std(), ratio[high].std()
    print(f"e+ slope {slope:.4f}, sigma/E {sigma_low:.4f} (1-10 GeV) {sigma_high:.4f} (80-100 GeV)")
    assert sigma_low > 3.0 * sigma_high  # 4.3-5.4; a pure a/sqrt(E) term gives ~4
    for sigma, sel in ((sigma_low, low), (sigma_high, high)):  # a = sigma sqrt(E): 0.096-0.134
        assert 0.07 < sigma * np.sqrt(energy[sel].mean()) < 0.17


def test_pions_respond_less_and_shower_deeper_and_wider(showers, features):
    response = {p: (total_gev(showers[p]) / showers[p]["energy"][:, 0]).mean()
                for p in ("eplus", "piplus")}
    assert response["piplus"] < 0.6 * response["eplus"]  # 0.36-0.38 of it
    e, pi = features["eplus"], features["piplus"]
    assert pi.depth.mean() > e.depth.mean() + 0.15  # by 0.26-0.29
    deep = {p: (f.frac_layer_2 + f.frac_overflow).mean() for p, f in features.items()}
    assert deep["piplus"] > 10 * deep["eplus"]  # 30-34 times
    showering = pi[pi.e_total > 0.3 * pi.energy]  # pions that did not just cross as a MIP
    assert showering.width_layer_1.mean() > 1.3 * e.width_layer_1.mean()  # 1.41-1.45 times


def test_photons_start_later_than_positrons(showers, features):
    share = {p: features[p].frac_layer_0.mean() for p in ("eplus", "gamma")}
    assert share["gamma"] < 0.85 * share["eplus"]  # 0.71-0.76 times
    layer_0 = {p: showers[p]["layer_0"].sum(axis=(1, 2)) for p in ("eplus", "gamma")}
    assert (layer_0["eplus"] > 0).all()  # a positron always ionises layer 0
    unconverted = (layer_0["gamma"] == 0).mean()  # exp(-90 mm / (9/7 X0)) = 1.1 %; 0.9-1.6 %
    assert 0.003 < unconverted < 0.03


def test_shower_features_on_known_showers():
    s = {key: np.zeros((3, *shape)) for key, shape in SHAPES.items()}
    s["energy"][:] = 10.0
    s["layer_1"][0, 5, 5] = s["layer_1"][0, 6, 5] = 1000.0  # two cells 40 mm apart in x
    s["layer_0"][1, 1, 47] = 3000.0
    s["layer_2"][1, 6, 3] = 1000.0
    f = shower_features(s)
    assert list(f.columns[:4]) == ["energy", "e_total", "frac_layer_0", "frac_layer_1"]
    assert not f.isna().any().any()
    assert f.width_layer_1[0] == pytest.approx(20.0) and f.max_frac_layer_1[0] == 0.5
    assert f.depth[0] == 1.0 and f.frac_layer_1[0] == 1.0 and f.width_layer_0[0] == 0.0
    assert f.e_total[1] == 4.0 and f.frac_layer_0[1] == 0.75 and f.depth[1] == 0.5
    assert f.depth_width[1] == pytest.approx(np.sqrt(0.75 * 0.25 * 4))
    assert (f.iloc[2, 1:] == 0).all()  # an empty shower gives zeros, not NaN


def test_shower_features_on_generated_showers(features):
    for f in features.values():
        assert not f.isna().any().any() and len(f) == N
        fractions = f[["frac_layer_0", "frac_layer_1", "frac_layer_2"]].sum(axis=1)
        assert np.allclose(fractions[f.e_total > 0], 1.0)
        sparse = f.filter(like="sparsity").to_numpy()
        assert ((sparse >= 0) & (sparse <= 1)).all()


def test_particle_identification_is_possible_but_not_trivial(features):
    e_pi = auc(features["eplus"], features["piplus"])
    e_gamma = auc(features["eplus"], features["gamma"])
    print(f"AUC e+/pi+ {e_pi:.5f}, e+/gamma {e_gamma:.4f}")
    assert 0.99 < e_pi < 0.99995  # 0.9980-0.9999: a few early, pi0-dominated pions look like e+
    assert 0.62 < e_gamma < 0.82  # 0.70-0.74: photons convert ~1 X0 in, then look alike
