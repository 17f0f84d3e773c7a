"""Flow posterior head: it learns a known posterior, is calibrated, and stays in its box."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from telescopeml.models import ModelConfig, box_bounds, build_model
from telescopeml.training import TrainConfig, Trainer

N_WL, SIGMA = 16, 0.3


def problem(n: int, seed: int):
    """Random 'spectra' whose first pixel is mu; y ~ N((mu, -mu), SIGMA^2)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, N_WL)).astype(np.float32)
    mu = rng.uniform(-1.0, 1.0, n)
    x[:, 0, 0] = mu
    y = np.stack([mu, -mu], axis=1) + rng.normal(0.0, SIGMA, (n, 2))
    return x, y.astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Sampling many small tensors is much faster on one thread, above all on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, y = problem(3000, 0)
    torch.manual_seed(0)
    config = ModelConfig(architecture="mlp", n_wavelengths=N_WL, n_outputs=2, dense=(32,),
                         dropout=0.0, head="flow", bounds=box_bounds(y, 0.2),
                         flow_transforms=2, flow_hidden=(32,), flow_context=16)
    train = TrainConfig(epochs=20, batch_size=128, lr=5e-3, loss="nll", patience=0,
                        checkpoint_every=0, num_threads=1, device="cpu")
    trainer = Trainer(build_model(config), train, tmp_path_factory.mktemp("flow"),
                      progress=False)
    trainer.fit(lambda epoch: (x[:2500], y[:2500]), (x[2500:], y[2500:]))
    return trainer.model.eval()


def test_posterior_matches_the_known_one(trained):
    x, y = problem(300, 1)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        post = trained.posterior(torch.from_numpy(x))
        std = post.sample(300, gen).numpy().std(axis=0)
        q16, q84 = post.quantile([0.16, 0.84], 300, gen).numpy()
        few = trained.posterior(torch.from_numpy(x[:100]))
        mean, median = few.mean(300, gen).numpy(), few.median(300, gen).numpy()
    assert np.all(np.abs(np.median(std, axis=0) / SIGMA - 1) < 0.3), np.median(std, axis=0)
    covered = ((y >= q16) & (y <= q84)).mean(axis=0)
    assert np.all((covered > 0.55) & (covered < 0.8)), covered
    truth_mean = np.stack([x[:100, 0, 0], -x[:100, 0, 0]], axis=1)
    assert np.sqrt(np.mean((mean - truth_mean) ** 2)) < 0.15
    assert np.sqrt(np.mean((median - truth_mean) ** 2)) < 0.15


def test_samples_stay_in_the_box_out_of_distribution(trained):
    low, high = torch.tensor(trained.config.bounds).T
    x = torch.from_numpy(problem(50, 2)[0])
    x[:, 0, 0] = torch.linspace(-100.0, 100.0, 50)  # mu far outside the training range
    with torch.no_grad():
        post = trained.posterior(x * 10.0)
        samples = post.sample(200)
        assert ((samples >= low) & (samples <= high)).all()
        outside = torch.stack([high + 0.1, low]).expand(50, 2, 2).transpose(0, 1)
        assert torch.isneginf(post.log_prob(outside[0])).all()
        assert torch.isfinite(post.log_prob(outside[1])).all()  # the edge itself is inside
        mean = trained(x * 10.0)
        assert ((mean >= low) & (mean <= high)).all()


def test_spread_stretches_samples_and_density_consistently(trained):
    x = torch.from_numpy(problem(200, 3)[0])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        plain = trained.posterior(x)
        wide = plain.sample(400, gen).std(0)
        y = plain.sample(1, gen)[0]
        trained.flow.set_spread([0.5, 1.0])
        try:
            narrow = trained.posterior(x)
            spread = narrow.sample(400, gen).std(0)
            low, high = torch.tensor(trained.config.bounds).T
            # change of variables: the stretched density at the stretched point equals the
            # plain density at the original point divided by the stretch (2 x the box map)
            t = ((y - low) / (high - low)).clamp(1e-6, 1 - 1e-6)
            u = torch.log(t) - torch.log1p(-t)
            c = plain.center()
            u2 = c + torch.tensor([0.5, 1.0]) * (u - c)
            y2 = narrow.to_box(u2)
            t2 = (y2 - low) / (high - low)
            box = lambda t: torch.log(t) + torch.log1p(-t)  # noqa: E731
            expected = (plain.log_prob(y) + box(t).sum(-1) - box(t2).sum(-1)
                        - np.log(0.5))
            torch.testing.assert_close(narrow.log_prob(y2), expected, atol=2e-3, rtol=1e-4)
        finally:
            trained.flow.set_spread(None)
    ratio = (spread / wide).median(0).values
    assert 0.4 < ratio[0] < 0.6 and 0.9 < ratio[1] < 1.1, ratio
    with pytest.raises(ValueError, match="2 positive factors"):
        trained.flow.set_spread([1.0, -1.0])


def test_draws_map_the_same_in_chunks(trained, monkeypatch):
    """Base draws go through the flow in bounded chunks (memory); the samples are those of
    one pass."""
    from telescopeml.models import posterior

    x = torch.from_numpy(problem(40, 4)[0])
    z = torch.randn((50, 40, 2), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        post = trained.posterior(x)
        whole = post.unconstrained(z)
        monkeypatch.setattr(posterior, "FLOW_CHUNK_ROWS", 7 * 40)
        chunked = post.unconstrained(z)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole)
