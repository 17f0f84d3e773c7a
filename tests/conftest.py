"""Shared fixtures: a private cache per test, tiny synthetic grids."""

from __future__ import annotations

import numpy as np
import pytest

from telescopeml.cache import set_cache_dir
from telescopeml.data.grid import SpectralGrid

#: The tiny fixture grids have no training node with all its neighbours, so every model
#: trained on one warns that the grid's scatter cannot be estimated (data.augment). Expected
#: there: silenced in the tests that use no real grid; users, and the tests marked
#: ``network`` (the real grids, where it would mean something), still see it.
TINY_GRID_WARNING = ("ignore:node_scatter. no training node has all its neighbours"
                     ":UserWarning")


def pytest_collection_modifyitems(items):
    """Silence :data:`TINY_GRID_WARNING` in every test not marked ``network``."""
    for item in items:
        if not item.get_closest_marker("network"):
            item.add_marker(pytest.mark.filterwarnings(TINY_GRID_WARNING))


@pytest.fixture(scope="session")
def network_cache(tmp_path_factory):
    """One cache shared by the tests marked ``network``, so each wheel is downloaded once."""
    return tmp_path_factory.mktemp("network-cache")


@pytest.fixture(autouse=True)
def private_cache(request, tmp_path_factory, monkeypatch):
    """Each test gets an empty cache directory; nothing touches the user's cache."""
    if request.node.get_closest_marker("network"):
        path = request.getfixturevalue("network_cache")
    else:
        path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("TELESCOPEML_CACHE", str(path))
    set_cache_dir(None)
    yield path
    set_cache_dir(None)


def analytic_log_flux(teff, logg, mh, wavelength):
    """log-flux linear in the parameters, so that interpolation is exact."""
    return (
        -np.outer(teff / 1000.0, wavelength)
        + np.outer(logg, np.sin(3 * wavelength)) * 0.2
        + np.outer(mh, np.cos(5 * wavelength)) * 0.3
        + 10.0
    )


@pytest.fixture
def toy_grid() -> SpectralGrid:
    """A complete 4 x 3 x 3 grid whose log-flux is linear in teff, logg and mh."""
    return make_toy_grid()


def make_toy_grid() -> SpectralGrid:
    """The :func:`toy_grid` fixture's grid, for module-scoped fixtures."""
    teff, logg, mh = np.meshgrid([900.0, 1000.0, 1100.0, 1200.0], [4.0, 4.5, 5.0],
                                 [-0.5, 0.0, 0.5], indexing="ij")
    teff, logg, mh = teff.ravel(), logg.ravel(), mh.ravel()
    wavelength = np.linspace(0.9, 2.4, 60)
    flux = np.exp(analytic_log_flux(teff, logg, mh, wavelength))
    return SpectralGrid(
        params={"teff": teff, "logg": logg, "mh": mh},
        wavelength=wavelength,
        flux=flux,
        flux_unit="erg / (s cm2 um)",
        meta={"name": "toy", "source": "tests"},
    )


def export_toy_model(grid: SpectralGrid, root, name: str, model: dict, epochs: int,
                     augment: dict | None = None, command: str | None = None,
                     loss: str = "gaussian_nll"):
    """Train a small model on ``grid`` (saved as ``root/NAME.h5``; a Gaussian head unless
    ``model`` names another, with its ``loss``) and export it as a shipped model would be,
    to ``root/models/NAME``."""
    from telescopeml import pretrained
    from telescopeml.predict import Predictor
    from telescopeml.training.experiment import ExperimentConfig, train

    config = ExperimentConfig.from_dict({
        "data": {"grid": str(grid.to_hdf5(root / f"{name}.h5")), "instrument": ""},
        "model": {"head": "gaussian", **model},
        "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 0, "patience": 0,
                  "loss": loss},
        "augment": augment or {},
    })
    run = train(config, root / "runs" / name, progress=False)
    return pretrained.export(run, root / "models" / name, Predictor(run).grid, command=command)


def damage_zip_member(path, member: str, offset: int = 5) -> None:
    """Flip one byte of ``member``'s data inside the zip file ``path``, keeping the file's
    size and modification time (the damage a size-and-time stamp cannot see)."""
    import os
    import struct
    import zipfile

    stat = os.stat(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", fh.read(4))
        fh.seek(info.header_offset + 30 + name_length + extra_length + offset)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def jittered_grid(jitter: float, seed: int = 0):
    """A grid exactly linear in log flux along each of three axes (0..6), plus independent
    node jitter of covariance ``jitter² diag(shape²)``; returns ``(grid, that covariance,
    smooth)`` with ``smooth(params) -> log flux`` the jitter-free function."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(1.0, 2.0, 40)
    slopes = 0.1 * np.array([np.sin(3 * wavelength), wavelength**2, np.exp(-wavelength)])
    shape = 1 + 0.5 * np.cos(5 * wavelength)
    axes = np.meshgrid(*[np.arange(7.0)] * 3, indexing="ij")
    nodes = np.column_stack([a.ravel() for a in axes])
    log_flux = nodes @ slopes + jitter * shape * rng.normal(size=(len(nodes), wavelength.size))
    grid = SpectralGrid(params={"a": nodes[:, 0], "b": nodes[:, 1], "c": nodes[:, 2]},
                        wavelength=wavelength, flux=np.exp(log_flux))
    return grid, jitter**2 * np.diag(shape**2), lambda params: params @ slopes
