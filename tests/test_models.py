"""Models (every registered architecture x head) and model bundles."""

from __future__ import annotations

import json

import pytest
import torch

from telescopeml.bundle import MANIFEST, WEIGHTS, load_bundle, save_bundle
from telescopeml.errors import DataError
from telescopeml.models import HEADS, MODELS, ModelConfig, build_model, count_parameters

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


def test_config_validation_and_round_trip():
    config = ModelConfig(architecture="telescopeml", n_wavelengths=104, n_outputs=4)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="valid: telescopeml, resnet, mlp"):
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


def _edit_manifest(directory, **changes):
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / WEIGHTS).write_bytes((d / WEIGHTS).read_bytes()[:-1] + b"\x00"),
         "damaged"),
        (lambda d: (d / WEIGHTS).unlink(), "model.safetensors is missing"),
        (lambda d: (d / MANIFEST).unlink(), "manifest.json is missing"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "not valid JSON"),
        (lambda d: _edit_manifest(d, format="keras-h5"), "expected 'telescopeml-model'"),
        (lambda d: _edit_manifest(d, format_version=99), "newer telescopeml"),
        (lambda d: _edit_manifest(d, config={**json.loads((d / MANIFEST).read_text())["config"],
                                             "dense": [32]}), "do not fit"),
    ],
    ids=["tampered", "no-weights", "no-manifest", "bad-json", "format", "version", "mismatch"],
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
