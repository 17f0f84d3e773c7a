"""Models (every registered architecture x head) and model bundles."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

from telescopeml.bundle import (
    MANIFEST,
    WEIGHTS,
    load_bundle,
    read_manifest,
    read_weights,
    save_bundle,
    seal,
)
from telescopeml.data.inputs import InputEncoder
from telescopeml.data.transforms import Normalizer, ParameterScaler
from telescopeml.errors import DataError
from telescopeml.models import (
    HEADS,
    MODELS,
    ModelConfig,
    build_model,
    count_parameters,
    numpy_model,
)
from telescopeml.models.torch_network import TorchNetwork
from telescopeml.predict import Predictor

N_WL = 40
TINY = {
    "telescopeml": {"filters": (4, 8), "kernel_sizes": (4, 3), "layers_per_block": 1,
                    "feature_dense": (16,), "dense": (8,), "dropout": 0.5},
    "resnet": {"filters": (8, 16), "kernel_sizes": (5, 3), "dense": (16,), "n_extra": 3,
               "dropout": 0.5},
    "mlp": {"dense": (16,), "n_extra": 1, "dropout": 0.5},
    "hybrid": {"filters": (4, 4), "kernel_sizes": (5, 3), "dense": (16,), "n_extra": 1,
               "dropout": 0.5},
}


BOUNDS = ((-2.0, 2.0), (-1.0, 3.0), (0.0, 0.5))
TINY_FLOW = {"bounds": BOUNDS, "flow_transforms": 2, "flow_hidden": (16,), "flow_context": 8,
             "flow_samples": 16}


def tiny_config(architecture: str, head: str, **kw) -> ModelConfig:
    flow = TINY_FLOW if head == "flow" else {}
    return ModelConfig(architecture=architecture, n_wavelengths=N_WL, n_outputs=3,
                       in_channels=2, head=head, **{**TINY[architecture], **flow, **kw})


def inputs(config: ModelConfig, n: int = 5) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, config.in_channels, config.n_wavelengths, generator=g)
    extra = torch.randn(n, config.n_extra, generator=g) if config.n_extra else None
    return x, extra


def test_every_architecture_has_a_tiny_test_config():
    assert set(TINY) == set(MODELS)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("architecture", sorted(MODELS))
def test_model_contract(architecture, head, tmp_path):
    torch.manual_seed(0)
    config = tiny_config(architecture, head)
    model = build_model(config)
    x, extra = inputs(config)

    out = model(x, extra)
    assert out.shape == (5, 3 * (2 if head == "gaussian" else 1))
    if head == "flow":
        y = torch.tensor([[0.1, 0.5, 0.2]]).expand(5, -1)
        assert model.log_prob(y, x, extra).shape == (5,)
        (-model.log_prob(y, x, extra).mean()).backward()
    else:
        out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name

    model.eval()
    with torch.no_grad():
        first = model(x, extra)
        assert torch.equal(first, model(x, extra))
        if head == "flow":
            torch.manual_seed(7)  # the global RNG must not matter
            part = model(x[:2], None if extra is None else extra[:2])
            torch.testing.assert_close(part, first[:2])  # independent of the batch
            low, high = torch.tensor(BOUNDS).T
            for scale in (1.0, 1e3):  # far outside the training distribution too
                samples = model.posterior(scale * x, extra).sample(50)
                assert samples.shape == (50, 5, 3)
                assert ((samples >= low) & (samples <= high)).all()

    save_bundle(tmp_path / "b", model, config, parameters={"names": ["teff", "logg", "mh"]},
                wavelength=[1.0, 2.0])
    bundle = load_bundle(tmp_path / "b")
    assert not bundle.model.training
    assert bundle.config == config
    assert bundle.manifest["parameters"]["names"] == ["teff", "logg", "mh"]
    with torch.no_grad():
        assert torch.equal(bundle.model(x, extra), first)
        if head == "flow":
            assert torch.equal(bundle.model.log_prob(first, x, extra),
                               model.log_prob(first, x, extra))


#: Architectures the NumPy engine deliberately leaves to torch, with every head: ``resnet``
#: (batch/group normalization, residual stages, global pooling have no NumPy twins).
TORCH_ONLY = {"resnet"}
#: Members of the ensemble case (``ModelConfig.members``, point head only).
MEMBERS = 2


def engine_cases():
    """Every registered architecture with every head, and as an ensemble."""
    for architecture in sorted(MODELS):
        for head in HEADS:
            yield pytest.param(architecture, head, 1, id=f"{architecture}-{head}")
        yield pytest.param(architecture, "point", MEMBERS, id=f"{architecture}-ensemble")


def _plain(value):
    """A module attribute as the NumPy tree records it: 1-tuples are their value, a
    ``functools.partial`` is its function's name and keywords."""
    if isinstance(value, functools.partial):
        return value.func.__name__, dict(value.keywords)
    if isinstance(value, (tuple, list)):
        value = tuple(_plain(v) for v in value)
        return value[0] if len(value) == 1 else value
    return value


def assert_same_modules(model: torch.nn.Module, tree: numpy_model.Node) -> None:
    """The NumPy engine's tree names every module of ``model``: its class, its arguments."""
    ours, theirs = dict(tree.walk()), dict(model.named_modules())
    assert sorted(ours) == sorted(theirs)
    for name, module in theirs.items():
        node = ours[name]
        assert type(module).__name__ == node.kind, name
        for key, value in node.args.items():
            actual = getattr(module, key)
            if isinstance(actual, torch.Tensor):  # the flow's box: float32 buffers
                assert np.array_equal(actual.numpy(), np.float32(value)), f"{name}.{key}"
            else:
                assert _plain(actual) == _plain(value), f"{name}.{key}"


def predictor_bundle(path, model: torch.nn.Module, config: ModelConfig):
    """A bundle a Predictor reads: encoder, parameter scaler, names and ranges."""
    rng = np.random.default_rng(0)
    flux = np.exp(rng.normal(0, 0.2, (30, N_WL)))
    encoder = InputEncoder(np.linspace(1.0, 2.0, N_WL), Normalizer.from_dict({"name": "median"}),
                           config.in_channels == 2)
    names = ["teff", "logg", "mh"]
    scaler = ParameterScaler(names).fit(rng.uniform([900, 3.5, -0.5], [2400, 5.5, 0.5], (30, 3)))
    save_bundle(path, model, config, wavelength=encoder.wavelength,
                transforms={"encoder": encoder.fit(flux, flux / 30).to_dict(),
                            "parameters": scaler.to_dict()},
                parameters={"names": names, "ranges": {"teff": [900, 2400],
                                                       "logg": [3.5, 5.5], "mh": [-0.5, 0.5]}})
    return flux[:3]


@pytest.mark.parametrize(("architecture", "head", "members"), list(engine_cases()))
def test_numpy_engine_matches_torch(architecture, head, members, tmp_path):
    """The NumPy engine's tree is the torch module tree, and computes what torch computes
    from the bundle's weights; where the engine has no twins (TORCH_ONLY) prediction runs on
    torch."""
    supported = architecture not in TORCH_ONLY
    # the Predictor's encoder gives two extra inputs: a torch-only bundle must take them
    config = tiny_config(architecture, head, members=members,
                         **({} if supported else {"n_extra": 2}))
    assert numpy_model.supports(config) == supported, (
        "register the architecture's module tree in models/numpy_model.py (or say in "
        "TORCH_ONLY that it runs on torch)")
    torch.manual_seed(0)
    model = build_model(config)
    with torch.no_grad():  # fresh flows are near the identity: perturb them to test the splines
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.eval()
    if not supported:
        flux = predictor_bundle(tmp_path, model, config)
        with pytest.raises(ValueError, match="NumpyModel evaluates"):
            numpy_model.NumpyModel(config, read_weights(tmp_path, read_manifest(tmp_path)))
        predictor = Predictor(tmp_path, grid=False)  # engine="auto"
        assert isinstance(predictor.network, TorchNetwork)
        x, extra = predictor.encoder.encode(flux, flux / 30)
        extra = extra if config.n_extra else None
        with torch.no_grad():
            expected = model.embed(torch.from_numpy(x),
                                   None if extra is None else torch.from_numpy(extra)).numpy()
        np.testing.assert_array_equal(predictor.network.embed(x, extra), expected)
        return

    assert_same_modules(model, numpy_model.structure(config))
    save_bundle(tmp_path, model, config, parameters={"names": ["teff", "logg", "mh"]})
    engine = numpy_model.NumpyModel(config, read_weights(tmp_path, read_manifest(tmp_path)))
    x, extra = inputs(config)
    with torch.no_grad():
        expected = model.embed(x, extra).numpy()
    context = engine.embed(x.numpy(), None if extra is None else extra.numpy())
    np.testing.assert_allclose(context, expected, atol=2e-5, rtol=1e-5)
    if head != "flow":
        return
    z = torch.randn((300, len(x), 3), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():  # the same base draws through both flows
        expected = model.posterior(x, extra).from_base(z).numpy()
    got = engine.flow.sample(context, z.numpy())
    low, high = np.array(BOUNDS, dtype=np.float32).T
    plain = low + (high - low) * (0.5 + 0.5 * np.tanh(z.numpy() / 2))  # an identity flow's
    assert np.abs(expected - plain).max() > 0.5  # the splines were exercised
    # float32 rounding through steep splines: typically 1e-7, at worst ~1e-4
    assert np.median(np.abs(got - expected)) < 1e-6
    np.testing.assert_allclose(got, expected, atol=5e-4)


def test_a_one_parameter_flow_runs_on_torch():
    """zuko makes a one-feature flow of ElementWiseTransforms, which have no NumPy twin."""
    config = ModelConfig(architecture="hybrid", n_wavelengths=N_WL, n_outputs=1, head="flow",
                         **{**TINY["hybrid"], **TINY_FLOW, "bounds": ((-1.0, 1.0),)})
    assert not numpy_model.supports(config)
    node = dict(numpy_model.structure(config).walk())["flow.transform.transforms.0"]
    module = build_model(config).get_submodule("flow.transform.transforms.0")
    assert node.kind == type(module).__name__ == "ElementWiseTransform"


def test_config_validation_and_round_trip():
    config = ModelConfig(architecture="telescopeml", n_wavelengths=104, n_outputs=4)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="must be one of telescopeml, resnet, mlp"):
        ModelConfig(architecture="transformer")
    with pytest.raises(ValueError, match="point, gaussian, flow"):
        ModelConfig(head="bayes")
    flow = ModelConfig(n_outputs=2, head="flow", bounds=[[-1, 1], [0, 2]])
    assert ModelConfig.from_dict(json.loads(json.dumps(flow.to_dict()))) == flow
    assert flow.bounds == ((-1.0, 1.0), (0.0, 2.0)) and flow.n_model_outputs == 32
    with pytest.raises(ValueError, match="needs bounds"):
        ModelConfig(n_outputs=2, head="flow", bounds=[[-1, 1]])
    with pytest.raises(ValueError, match="low < high"):
        ModelConfig(n_outputs=1, head="flow", bounds=[[1, -1]])
    with pytest.raises(ValueError, match="head='flow' only"):
        ModelConfig(n_outputs=1, bounds=[[-1, 1]])
    with pytest.raises(ValueError, match="needs head='flow'"):
        build_model(ModelConfig(architecture="mlp", n_wavelengths=N_WL)).posterior(
            torch.zeros(1, 1, N_WL))
    with pytest.raises(ValueError, match="valid: 1, 2"):
        ModelConfig(in_channels=3)
    with pytest.raises(ValueError, match="kernel_sizes"):
        ModelConfig(filters=(8, 16), kernel_sizes=(3,))
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"architecture": "mlp", "widths": [3]})
    model = build_model(ModelConfig(architecture="mlp", n_wavelengths=N_WL))
    with pytest.raises(ValueError, match="x has shape"):
        model(torch.zeros(2, 1, N_WL + 1))


def test_telescopeml_preset_size():
    with torch.device("meta"):
        model = build_model(ModelConfig(architecture="telescopeml", n_wavelengths=104,
                                        n_outputs=4))
    assert model.config.n_extra == 2
    assert 7_500_000 < count_parameters(model) < 9_500_000  # "about 8 M" as published


@pytest.fixture
def bundle_dir(tmp_path):
    config = tiny_config("mlp", "point")
    return save_bundle(tmp_path / "model", build_model(config), config, metrics={"r2": 0.9})


def _edit_manifest(directory, reseal=True, **changes):
    """Change the manifest; ``reseal``: as a writer would have written it (its integrity
    digest recomputed), else as a hand edit."""
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(seal(manifest) if reseal else manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / WEIGHTS).write_bytes((d / WEIGHTS).read_bytes()[:-1] + b"\x00"),
         "damaged"),
        (lambda d: (d / WEIGHTS).unlink(), "model.safetensors is missing"),
        (lambda d: (d / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "not valid JSON"),
        (lambda d: (d / MANIFEST).write_text("[" * 200_000 + "]" * 200_000),
         "nested too deeply"),
        (lambda d: _edit_manifest(d, format="keras-h5"), "expected 'telescopeml-model'"),
        (lambda d: _edit_manifest(d, format_version=99), "newer telescopeml"),
        (lambda d: _edit_manifest(d, config={**json.loads((d / MANIFEST).read_text())["config"],
                                             "dense": [32]}), "do not fit"),
        (lambda d: _edit_manifest(d, reseal=False, command="edited by hand"),
         "integrity digest does not match"),
    ],
    ids=["tampered", "no-weights", "no-manifest", "bad-json", "nested", "format", "version",
         "mismatch", "edited"],
)
def test_bundle_refusals(bundle_dir, damage, message):
    damage(bundle_dir)
    with pytest.raises(DataError, match=message) as info:
        load_bundle(bundle_dir)
    assert info.value.source is not None


def test_bundle_missing_dir_and_reserved_sections(tmp_path, bundle_dir):
    with pytest.raises(DataError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")
    bundle = load_bundle(bundle_dir)
    with pytest.raises(ValueError, match="reserved"):
        save_bundle(tmp_path / "x", bundle.model, bundle.config, weights={})
    assert load_bundle(save_bundle(bundle_dir, bundle.model, bundle.config)).manifest.get(
        "metrics") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
