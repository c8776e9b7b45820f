"""CDF features, layouts, distances (paper Eq. 2 and 3), function outputs and the ``fim``/``models`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from act_bench.cli._main import main
from act_bench.errors import InvalidInputError
from act_bench.features import (
    FeatureLayout,
    LayerSpectrum,
    cdf_features,
    compute_fim_features,
    fim_distance,
    fim_layout,
    function_output_features,
    histogram_counts,
    layout_from_weights,
    output_distance,
)
from act_bench.space import function_outputs, standard_inputs
from data_builders.models import create_model


def test_histogram_counts_match_numpy_histogram():
    rng = np.random.default_rng(0)
    for bins in (1, 7, 100, 3319):
        values = np.concatenate([rng.uniform(-100, 100, 5000), rng.normal(0, 80, 3000),
                                 [-100.0, 100.0, -1e300, 1e300, -np.inf, np.inf]])
        ref, _ = np.histogram(np.clip(values, -100, 100), bins=bins, range=(-100, 100))
        np.testing.assert_array_equal(histogram_counts(values, bins), ref)
        edges = np.linspace(-100, 100, bins + 1)  # values exactly on the edges
        ref, _ = np.histogram(edges, bins=bins, range=(-100, 100))
        np.testing.assert_array_equal(histogram_counts(edges, bins), ref)
    with pytest.raises(InvalidInputError, match="NaN"):
        histogram_counts(np.array([0.0, np.nan]), 3)


def test_cdf_features_are_density_histogram_cdfs_in_layer_order():
    rng = np.random.default_rng(1)
    spectra = [LayerSpectrum("a", 250, rng.normal(-20, 10, 250)), LayerSpectrum("b", 99, rng.normal(0, 1, 99)),
               LayerSpectrum("c", 1000, np.concatenate([rng.normal(5, 30, 990), np.full(10, -np.inf)]))]
    vec, layout = cdf_features(spectra)
    assert [(r.layer, r.weights, r.bins) for r in layout.rows] == [("a", 250, 2), ("b", 99, 0), ("c", 1000, 10)]
    assert vec.shape == (12,) and layout.dims == 12
    for s in (spectra[0], spectra[2]):
        bins = s.weights // 100
        dens, edges = np.histogram(np.clip(s.log_eigenvalues, -100, 100), bins=bins, range=(-100, 100),
                                   density=True)
        np.testing.assert_allclose(vec[layout.slices()[s.name]], np.cumsum(dens * np.diff(edges)), rtol=1e-12)
    assert vec[layout.slices()["c"]][-1] == pytest.approx(1.0)
    assert vec[layout.slices()["c"]][0] >= 10 / 1000  # the zero eigenvalues (-inf) are counted in the first bin
    bad = LayerSpectrum("d", 300, np.empty(0), valid=False, reason="non-finite")
    with pytest.raises(InvalidInputError, match="invalid"):
        cdf_features([bad])
    with pytest.raises(InvalidInputError, match="must have 300"):
        cdf_features([LayerSpectrum("d", 300, np.zeros(5))])


def test_layout_round_trips_and_validates():
    layout = layout_from_weights([("x", 2688), ("y", 83040), ("z", 1930)])
    assert layout.dims == 26 + 830 + 19
    assert FeatureLayout.from_records(json.loads(json.dumps(layout.to_records()))) == layout
    with pytest.raises(InvalidInputError, match="floor"):
        FeatureLayout.from_records([{"layer": "x", "weights": 250, "bins": 3}])
    with pytest.raises(InvalidInputError, match="keys"):
        FeatureLayout.from_records([{"layer": "x"}])


def test_fim_distance_is_weighted_wasserstein_of_the_binned_distributions():
    """Eq. 2 against scipy's 1-Wasserstein distance of the bin-centre distributions (exact for the step CDFs up
    to the half-bin shift, which cancels between the two distributions)."""
    rng = np.random.default_rng(2)
    w = [("l1", 2000), ("l2", 50000), ("l3", 700)]
    sa = [LayerSpectrum(n, k, rng.normal(-10, 15, k)) for n, k in w]
    sb = [LayerSpectrum(n, k, rng.normal(-5 + i, 25, k)) for i, (n, k) in enumerate(w)]
    va, layout = cdf_features(sa)
    vb, _ = cdf_features(sb)
    expected = 0.0
    total = sum(k for _, k in w)
    for (name, k), a, b in zip(w, sa, sb):
        bins = k // 100
        centres = np.linspace(-100, 100, bins + 1)[:-1] + 100 / bins
        ca = histogram_counts(a.log_eigenvalues, bins)
        cb = histogram_counts(b.log_eigenvalues, bins)
        expected += k / total * wasserstein_distance(centres, centres, ca, cb)
    assert fim_distance(va, vb, layout) == pytest.approx(expected, rel=1e-10)
    assert fim_distance(va, va, layout) == 0.0
    both = fim_distance(np.stack([va, vb]), va, layout)
    np.testing.assert_allclose(both, [0.0, expected], rtol=1e-10)
    with pytest.raises(InvalidInputError, match="features"):
        fim_distance(va[:-1], vb[:-1], layout)


def test_output_features_and_euclidean_distance():
    out = function_output_features(["relu(x)", "tanh(x)"])
    x = standard_inputs().astype(np.float64)
    np.testing.assert_allclose(out[0], np.maximum(x, 0), rtol=1e-6)
    np.testing.assert_allclose(out[1], np.tanh(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(function_output_features("relu(x)"), function_outputs("relu(x)"))
    d = output_distance(out[0], out[1])
    assert d == pytest.approx(float(np.sqrt(np.sum((np.maximum(x, 0) - np.tanh(x)) ** 2))), rel=1e-5)
    np.testing.assert_allclose(output_distance(out, out[0]), [0.0, d], rtol=1e-12)
    assert not np.isfinite(output_distance(function_output_features("exp(exp(exp(x)))"), out[0]))
    with pytest.raises(InvalidInputError):
        function_output_features([])


def test_compute_fim_features_on_a_registered_model():
    model = create_model("mnist1d-cnn", "swish(x)", seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 40, generator=gen)
    y = torch.randint(0, 10, (32,), generator=gen)
    res = compute_fim_features(model, x, y)
    assert res.valid and res.reason is None
    assert res.layout == fim_layout(model) and res.fim_dims == 95 == res.features.shape[0]
    assert np.all(np.diff(res.features[res.layout.slices()["features.2"]]) >= 0)
    again = compute_fim_features(create_model("mnist1d-cnn", "swish(x)", seed=0), x, y)
    np.testing.assert_array_equal(res.features, again.features)
    other = compute_fim_features(create_model("mnist1d-cnn", "tanh(x)", seed=0), x, y)
    assert fim_distance(res.features, other.features, res.layout) > 0


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name,dims", [("all-cnn-c", 13692), ("resnet-56", 16500), ("mobilevitv2-0.5", 11013)])
def test_cli_models_describe_gives_the_paper_dimensions(capsys, name, dims):
    code, out, _ = _run(capsys, "models", "describe", name, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == name and doc["fim_dims"] == dims
    assert sum(r["bins"] for r in doc["layers"]) == dims
    assert doc["parameters"] >= sum(r["weights"] for r in doc["layers"])


def test_cli_fim_valid_invalid_and_errors(capsys):
    code, out, _ = _run(capsys, "fim", "--model", "mnist1d-cnn", "swish(x)", "--batch", "16", "--json",
                        "--features")
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True and doc["fim_dims"] == 95 and len(doc["features"]) == 95
    assert [r["layer"] for r in doc["layers"]] == ["features.0", "features.2", "features.4", "classifier"]
    assert doc["seconds"] > 0
    code, out, _ = _run(capsys, "fim", "--model", "mnist1d-cnn", "exp(exp(x))", "--batch", "16", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is False and "non-finite" in doc["reason"]
    code, _, err = _run(capsys, "fim", "--model", "nope", "relu(x)")
    assert code == 2 and "all-cnn-c" in err and "Traceback" not in err
    code, _, err = _run(capsys, "fim", "--model", "mnist1d-cnn", "relu(x)", "--data", "bogus")
    assert code == 2 and "synthetic" in err and "mnist1d" in err
    code, _, err = _run(capsys, "models", "describe", "nope")
    assert code == 2 and "resnet-56" in err


@pytest.mark.slow
def test_cli_fim_on_task_data(capsys):
    """--data TASK: a seeded batch of the task's training split (data_builders.tasks), normalised."""
    code, out, _ = _run(capsys, "fim", "--model", "mnist1d-cnn", "tanh(x)", "--data", "mnist1d",
                        "--batch", "32", "--seed", "1", "--json", "--features")
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True and doc["data"] == "mnist1d" and doc["fim_dims"] == 95
    code, out, _ = _run(capsys, "fim", "--model", "mnist1d-cnn", "tanh(x)", "--data", "mnist1d",
                        "--batch", "32", "--seed", "1", "--json", "--features")
    assert json.loads(out)["features"] == doc["features"]  # same seed, same batch and initialisation
    code, _, err = _run(capsys, "fim", "--model", "all-cnn-c", "tanh(x)", "--data", "mnist1d",
                        "--batch", "4")
    assert code == 2 and "expects (3, 32, 32)" in err
