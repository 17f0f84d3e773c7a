"""The NumPy engine computes what the torch modules compute, from the same safetensors file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import zuko

from telescopeml.bundle import (
    posterior_recalibration,
    posterior_spread,
    read_manifest,
    read_weights,
    save_bundle,
    seal,
)
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.transforms import Normalizer, ParameterScaler
from telescopeml.errors import DataError
from telescopeml.models import ModelConfig, build_model
from telescopeml.models.numpy_model import (
    TESTED_ZUKO,
    NumpyModel,
    check_zuko,
    conv1d,
    gelu,
    max_pool1d,
    supports,
)
from telescopeml.models.torch_network import TorchNetwork
from telescopeml.predict import Predictor

N_WL = 57
BOUNDS = ((-2.0, 2.0), (-1.5, 1.0), (-2.5, 2.5))


#: Small networks; telescopeml's even kernels pad unevenly and its pools drop a pixel.
SHAPES = {
    "hybrid": {"filters": (8, 4), "kernel_sizes": (5, 3), "pool": 2},
    "telescopeml": {"filters": (6, 8, 4, 5), "kernel_sizes": (6, 3, 4, 5), "layers_per_block": 2,
                    "pool": 3, "feature_dense": (20,)},
}


def config(architecture: str, head: str) -> ModelConfig:
    extra = SHAPES.get(architecture, {})
    flow = {"bounds": BOUNDS, "flow_transforms": 3, "flow_hidden": (16, 16),
            "flow_context": 12, "flow_bins": 6} if head == "flow" else {}
    return ModelConfig(architecture=architecture, n_wavelengths=N_WL, n_outputs=3, in_channels=2,
                       dense=(24, 16), dropout=0.0, head=head, **extra, **flow)


def torch_model(cfg: ModelConfig, seed: int = 0, perturb: float = 0.3) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():  # fresh flows are near the identity; perturb them to test splines
        for p in model.parameters():
            p.add_(perturb * torch.randn_like(p))
    return model.eval()


def inputs(n: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 2, N_WL)).astype(np.float32)


def test_layers_match_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 41)).astype(np.float32)
    weight = rng.normal(size=(5, 2, 5)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    expected = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(weight),
                                          torch.from_numpy(bias), stride=3, padding=2).numpy()
    np.testing.assert_allclose(conv1d(x, weight, bias, 3, 2), expected, atol=1e-5)
    padded = torch.nn.functional.pad(torch.from_numpy(x), (1, 3))
    expected = torch.nn.functional.conv1d(padded, torch.from_numpy(weight),
                                          torch.from_numpy(bias)).numpy()
    np.testing.assert_allclose(conv1d(x, weight, bias, 1, (1, 3)), expected, atol=1e-5)
    expected = torch.nn.functional.max_pool1d(torch.from_numpy(x), 4).numpy()
    np.testing.assert_array_equal(max_pool1d(x, 4), expected)
    grid = np.linspace(-8, 8, 2001, dtype=np.float32)
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in grid.astype(float)])
    np.testing.assert_allclose(gelu(grid), exact, rtol=1e-5, atol=3e-7)
    # torch's float32 1 + erf cancels in the negative tail, hence the looser match
    np.testing.assert_allclose(gelu(grid), torch.nn.functional.gelu(torch.from_numpy(grid)),
                               atol=3e-6)


@pytest.mark.parametrize("architecture,head", [("hybrid", "flow"), ("mlp", "flow"),
                                               ("hybrid", "gaussian"), ("mlp", "point"),
                                               ("telescopeml", "point"),
                                               ("telescopeml", "flow")])
def test_same_outputs_as_torch_from_the_bundle(architecture, head, tmp_path):
    cfg = config(architecture, head)
    model = torch_model(cfg)
    spread = {"teff": 1.3, "logg": 0.8, "mh": 1.0}
    stretch = {"levels": [0.1, 0.68, 0.95], "snr": [10.0, 100.0],
               "factors": {"teff": [[0.8, 1.0, 1.6], [1.0, 1.0, 1.0]],
                           "logg": [[1.0, 1.0, 1.0], [0.5, 0.6, 0.7]],
                           "mh": [[1.2, 0.9, 0.7], [1.0, 1.1, 1.2]]}}
    save_bundle(tmp_path, model, cfg, parameters={"names": list(spread)},
                posterior={"spread": spread, "stretch": stretch})
    manifest = read_manifest(tmp_path)
    recalibration = posterior_recalibration(manifest, tmp_path)
    numpy_net = NumpyModel(cfg, read_weights(tmp_path, manifest),
                           posterior_spread(manifest, tmp_path), recalibration)
    x = inputs()
    extra = (np.random.default_rng(3).normal(size=(len(x), cfg.n_extra)).astype(np.float32)
             if cfg.n_extra else None)
    tensors = (torch.from_numpy(x), None if extra is None else torch.from_numpy(extra))
    with torch.no_grad():
        expected = model.embed(*tensors).numpy()
    np.testing.assert_allclose(numpy_net.embed(x, extra), expected, atol=2e-5, rtol=1e-5)
    if head != "flow":
        return
    model.flow.set_spread(list(spread.values()))
    model.flow.set_recalibration(recalibration)
    snr = np.array([5.0, 20.0, 60.0, 300.0])
    with torch.no_grad():  # torch draws z itself: draw the same z for numpy
        expected = model.posterior(*tensors).sample(
            500, torch.Generator().manual_seed(2), snr).numpy()
        z = torch.randn((500, len(x), 3), generator=torch.Generator().manual_seed(2)).numpy()
    got = numpy_net.flow.sample(numpy_net.embed(x, extra), z, snr)
    # the splines were exercised: samples are far from a plain logistic of z
    assert np.abs(expected - (np.tanh(z / 2))).max() > 0.5
    # float32 rounding through three steep splines: typically 1e-7, at worst ~1e-4
    assert np.median(np.abs(got - expected)) < 1e-6
    np.testing.assert_allclose(got, expected, atol=5e-4)
    low, high = np.array(BOUNDS).T
    assert np.all((got >= low) & (got <= high))


def test_predictor_engines_agree_and_fall_back(tmp_path):
    cfg = config("hybrid", "flow")
    names = ["teff", "logg", "mh"]
    rng = np.random.default_rng(0)
    wavelength = np.linspace(1.0, 2.0, N_WL)
    flux = np.exp(rng.normal(0, 0.2, (50, N_WL)))
    encoder = InputEncoder(wavelength, Normalizer.from_dict({"name": "median"}), True)
    scaler = ParameterScaler(names).fit(rng.uniform([900, 3.5, -0.5], [2400, 5.5, 0.5],
                                                    (50, 3)))
    save_bundle(tmp_path / "flow", torch_model(cfg, perturb=0.05), cfg, wavelength=wavelength,
                transforms={"encoder": encoder.fit(flux, flux / 30).to_dict(),
                            "parameters": scaler.to_dict()},
                parameters={"names": names,
                            "ranges": {"teff": [900, 2400], "logg": [3.5, 5.5],
                                       "mh": [-0.5, 0.5]}})
    flux = flux[:2]
    quantiles = {}
    for engine in ("numpy", "torch"):
        predictor = Predictor(tmp_path / "flow", grid=False, engine=engine)
        expected = NumpyModel if engine == "numpy" else TorchNetwork
        assert isinstance(predictor.network, expected)
        samples = predictor.sample_posterior(flux, flux / 30, n_samples=4000, seed=5)
        assert samples.shape == (4000, 2, 3)  # samples first
        quantiles[engine] = np.quantile(samples, [0.16, 0.5, 0.84], axis=0)
    # different random streams, the same distribution
    spread = quantiles["numpy"][2] - quantiles["numpy"][0]
    assert np.all(np.abs(quantiles["numpy"] - quantiles["torch"]) < 0.1 * spread)
    resnet = config("resnet", "point")
    assert not supports(resnet)
    with pytest.raises(ValueError, match="NumpyModel evaluates"):
        NumpyModel(resnet, {})
    with pytest.raises(ValueError, match="engine must be one of"):
        Predictor(tmp_path / "flow", engine="jax")


def test_flows_from_an_untested_zuko_are_refused(tmp_path):
    """Bundles record the torch and zuko that wrote them; the NumPy engine, which mirrors
    zuko's splines, refuses a flow from a zuko release it was not tested against."""
    # these tests compare the engine with the installed zuko: it is one of the tested releases
    assert ".".join(zuko.__version__.split(".")[:2]) in TESTED_ZUKO
    cfg = config("mlp", "flow")
    bundle = save_bundle(tmp_path / "flow", torch_model(cfg), cfg,
                         environment={"python": "3.11"})
    manifest = read_manifest(bundle)
    assert manifest["environment"] == {"python": "3.11", "torch": torch.__version__,
                                       "zuko": zuko.__version__}
    check_zuko(manifest, bundle)
    check_zuko({**manifest, "environment": {"python": "3.11"}}, bundle)  # older bundles
    newer = {**manifest, "environment": {"zuko": "1.99.0"}}
    check_zuko({**newer, "config": {**manifest["config"], "head": "point"}}, bundle)  # no flow
    # as a newer release would have written it (its integrity digest sealed)
    (bundle / "manifest.json").write_text(json.dumps(seal(dict(newer))), encoding="utf-8")
    with pytest.raises(DataError, match=r"written with zuko 1\.99\.0") as refused:
        Predictor(bundle, grid=False, engine="numpy")
    assert str(refused.value).startswith(str(bundle))


def test_an_ensemble_is_the_mean_of_its_members_in_both_engines(tmp_path):
    cfg = ModelConfig(**{**config("hybrid", "point").to_dict(), "members": 3})
    model = torch_model(cfg)
    x = torch.from_numpy(inputs())
    with torch.no_grad():
        each = model.member_outputs(x)
        mean = model(x)
    assert each.shape == (3, len(x), 3)
    assert (each[0] - each[1]).abs().max() > 1e-3  # members start apart
    torch.testing.assert_close(mean, each.mean(0))
    save_bundle(tmp_path, model, cfg, parameters={"names": ["teff", "logg", "mh"]})
    manifest = read_manifest(tmp_path)
    numpy_net = NumpyModel(ModelConfig.from_dict(manifest["config"]),
                           read_weights(tmp_path, manifest))
    np.testing.assert_allclose(numpy_net.embed(inputs()), mean.numpy(), atol=2e-5, rtol=1e-5)


def test_an_ensemble_needs_a_point_head():
    with pytest.raises(ValueError, match=r"members > 1 .* needs head='point'"):
        ModelConfig(**{**config("hybrid", "flow").to_dict(), "members": 2})
    with pytest.raises(ValueError, match="members must be at least 1"):
        ModelConfig(members=0)


@pytest.mark.parametrize("members", [1_000_000_000, 2, 4])
def test_an_ensemble_size_the_weights_do_not_hold_is_refused_at_once(tmp_path, members):
    """A manifest edited to ``members = 1000000000`` is refused before anything is built
    (it used to build a list of a billion networks)."""
    import time

    cfg = ModelConfig(**{**config("hybrid", "point").to_dict(), "members": 3})
    save_bundle(tmp_path, torch_model(cfg), cfg, parameters={"names": ["teff", "logg", "mh"]})
    manifest = read_manifest(tmp_path)
    edited = ModelConfig.from_dict({**manifest["config"], "members": members})
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"ensemble of {members} networks but the weights "
                                         "hold 3"):
        NumpyModel(edited, read_weights(tmp_path, manifest))
    assert time.perf_counter() - start < 5


def test_a_flow_depth_the_weights_do_not_hold_is_refused_at_once(tmp_path):
    cfg = config("hybrid", "flow")
    save_bundle(tmp_path, torch_model(cfg), cfg, parameters={"names": ["teff", "logg", "mh"]})
    manifest = read_manifest(tmp_path)
    edited = ModelConfig.from_dict({**manifest["config"], "flow_transforms": 1_000_000_000})
    with pytest.raises(ValueError, match="1000000000 flow transforms but the weights hold 3"):
        NumpyModel(edited, read_weights(tmp_path, manifest))
