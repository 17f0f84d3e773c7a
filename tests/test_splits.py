"""Splits that hold out whole grid points, and the edge-point mask."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from telescopeml.data.grid import SpectralGrid
from telescopeml.data.splits import GridSplit, is_edge, split_grid

TEFF = [800.0, 1000.0, 1200.0, 1400.0, 1600.0]
LOGG = [4.0, 4.5, 5.0, 5.5]
MH = [-0.5, 0.0, 0.5]


def make_grid(extra_params=None, extra_flux=None) -> SpectralGrid:
    """5 teff x 4 logg x 3 mh, log-flux linear in the parameters."""
    points = np.array(list(itertools.product(TEFF, LOGG, MH)))
    wavelength = np.linspace(1.0, 2.5, 40)
    log_flux = (
        points[:, :1] / 1000.0 * np.sin(wavelength)
        + points[:, 1:2] * 0.1 * wavelength
        - points[:, 2:3] * 0.3
    )
    flux = np.exp(log_flux)
    if extra_params is not None:
        points = np.vstack([points, extra_params])
        flux = np.vstack([flux, extra_flux])
    params = dict(zip(("teff", "logg", "mh"), points.T, strict=True))
    return SpectralGrid(params=params, wavelength=wavelength, flux=flux)


def test_parts_disjoint_cover_and_sized():
    grid = make_grid()
    split = split_grid(grid, (0.7, 0.15, 0.15), seed=3)
    parts = [split.train, split.val, split.test]
    assert sum(p.size for p in parts) == len(grid)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(grid)))
    assert split.val.size == split.test.size == 9
    assert split.train.size == 42
    assert split.fractions == (0.7, 0.15, 0.15)


def test_deterministic_per_seed_and_different_across_seeds():
    grid = make_grid()
    a, b, c = split_grid(grid, seed=1), split_grid(grid, seed=1), split_grid(grid, seed=2)
    assert a.to_dict() == b.to_dict()
    assert not np.array_equal(a.test, c.test)


def test_round_trip_through_json():
    split = split_grid(make_grid(), seed=5)
    again = GridSplit.from_dict(json.loads(json.dumps(split.to_dict())))
    assert again.to_dict() == split.to_dict()
    assert again.test.dtype == np.int64


@pytest.mark.parametrize("n", [3, 4, 7])
def test_small_grids_have_every_part_non_empty(n):
    grid = make_grid().take(np.arange(n))
    for seed in range(10):
        split = split_grid(grid, seed=seed)
        assert min(split.train.size, split.val.size, split.test.size) >= 1


def test_zero_fraction_gives_an_empty_part():
    split = split_grid(make_grid(), (0.9, 0.0, 0.1))
    assert split.val.size == 0
    assert split.test.size == 6


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.2), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)]
)
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fraction"):
        split_grid(make_grid(), fractions)


def test_too_few_points():
    with pytest.raises(ValueError, match="non-empty"):
        split_grid(make_grid().take([0, 1]))


def test_repeated_labels_and_duplicate_spectra_stay_together():
    base = make_grid()
    # 60 repeats the label of 7; 61 and 62 copy the flux of 20 under new labels; 63 repeats
    # 61's label with the flux of 3: 3, 20, 61, 62, 63 form one chain.
    extra_params = np.array(
        [base.parameter_matrix()[7], [1700.0, 4.0, 0.0], [1800.0, 4.0, 0.0], [1700.0, 4.0, 0.0]]
    )
    flux = base.flux_array()
    extra_flux = np.vstack([flux[7] * 1.01, flux[20], flux[20], flux[3]])
    grid = make_grid(extra_params, extra_flux)
    groups = [{7, 60}, {3, 20, 61, 62, 63}]
    for seed in range(20):
        with pytest.warns(UserWarning, match="7 spectra"):
            split = split_grid(grid, seed=seed)
        part = np.zeros(len(grid), dtype=int)
        for p, name in enumerate(("train", "val", "test")):
            part[split.part(name)] = p
        for group in groups:
            assert len({part[i] for i in group}) == 1
    assert sorted(map(sorted, split.repeated_labels)) == [[7, 60], [61, 63]]
    assert split.duplicate_spectra == [[3, 63], [20, 61, 62]]


def test_clean_grid_does_not_warn(recwarn):
    split_grid(make_grid())
    assert not recwarn.list


def test_edge_mask():
    grid = make_grid()
    edge = is_edge(grid)
    params = grid.parameter_matrix()
    interior = (
        (params[:, 0] > 800) & (params[:, 0] < 1600)
        & (params[:, 1] > 4.0) & (params[:, 1] < 5.5)
        & (params[:, 2] == 0.0)
    )
    assert np.array_equal(edge, ~interior)
    assert (~edge).sum() == 3 * 2 * 1
    assert np.array_equal(is_edge(grid, [5, 17]), edge[[5, 17]])


def test_two_value_axes_are_not_edges():
    grid = make_grid().subset(mh=[-0.5, 0.0], logg=[4.0, 4.5])
    params = grid.parameter_matrix()
    assert np.array_equal(is_edge(grid), np.isin(params[:, 0], [800.0, 1600.0]))
