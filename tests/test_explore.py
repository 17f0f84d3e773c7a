"""explore_grid writes its figures and summaries; its computations give known answers."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
from scipy import stats

from telescopeml import explore
from telescopeml.cli import explore as explore_command
from telescopeml.data.spectrum import ObservedSpectrum
from telescopeml.errors import DataError

FIGURES = ["spectra_by_parameter", "grid_coverage", "parameter_histograms",
           "flux_distribution", "flux_correlation", "pca"]


@pytest.fixture
def flawed_grid(toy_grid):
    """The toy grid without its first node, with a copy of spectrum 5 under another label
    and one spectrum with a NaN."""
    keep = np.arange(1, len(toy_grid))
    grid = toy_grid.take(keep)
    flux = grid.flux_array()
    flux[10] = flux[4]
    flux[20, 3] = np.nan
    return grid.with_flux(flux)


def _observed(grid, index, seed=0):
    rng = np.random.default_rng(seed)
    flux = 3e-3 * grid.flux_array()[index].astype(float)
    sigma = 0.01 * np.median(flux) * np.ones_like(flux)
    return ObservedSpectrum(grid.wavelength, flux + rng.normal(0, sigma), sigma,
                            name="fake dwarf")


def test_explore_writes_every_figure_and_the_summaries(flawed_grid, tmp_path):
    summary = explore.explore_grid(flawed_grid, tmp_path / "out", fixed={"mh": 0.5})
    out = tmp_path / "out"
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 0
        assert (out / f"{name}.pdf").stat().st_size > 0
    assert set(summary["figures"]) == set(FIGURES)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["n_spectra"] == 35
    assert saved["axes"]["teff"]["values"] == [900.0, 1000.0, 1100.0, 1200.0]
    assert saved["axes"]["teff"]["counts"] == [8, 9, 9, 9]
    done = saved["completeness"]
    assert (done["complete"], done["combinations_expected"], done["n_missing"]) == (
        False, 36, 1)
    assert done["missing"] == [{"teff": 900.0, "logg": 4.0, "mh": -0.5}]
    assert saved["duplicate_spectra"][0]["indices"] == [4, 10]
    assert saved["bad_spectra"][0]["index"] == 20
    assert "NaN" in saved["bad_spectra"][0]["problem"]
    assert saved["figures_exclude_bad_spectra"] == 1
    assert saved["reference_node"]["mh"] == 0.5
    with (out / "summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["parameter"] for r in rows] == ["teff", "logg", "mh"]
    assert rows[1]["values"] == "4 4.5 5"


def test_explore_fits_an_observed_spectrum(toy_grid, tmp_path):
    summary = explore.explore_grid(toy_grid, tmp_path, spectrum=_observed(toy_grid, 17))
    assert (tmp_path / "observed_vs_grid.png").is_file()
    best = summary["spectrum"]["matches"][0]
    assert best["index"] == 17
    assert best["scale"] == pytest.approx(3e-3, rel=1e-2)
    assert 0.5 < best["reduced_chi2"] < 2.0
    assert summary["spectrum"]["weighted"]


def test_nearest_grid_spectra_without_uncertainties_and_out_of_range(toy_grid):
    spectrum = _observed(toy_grid, 5)
    bare = ObservedSpectrum(spectrum.wavelength, spectrum.flux)
    match = explore.nearest_grid_spectra(toy_grid, bare, k=2)
    assert match.indices[0] == 5 and match.p_value is None and len(match.indices) == 2
    far = ObservedSpectrum(np.linspace(3.0, 4.0, 30), np.ones(30), np.ones(30))
    with pytest.raises(DataError, match="covers only"):
        explore.nearest_grid_spectra(toy_grid, far)


def test_spearman_correlation_matches_scipy():
    rng = np.random.default_rng(0)
    params = rng.normal(size=(50, 2))
    flux = np.column_stack([params[:, 0] ** 3, -params[:, 1], rng.normal(size=50),
                            np.ones(50)])
    corr = explore.spearman_correlation(flux, params)
    assert corr.shape == (2, 4)
    assert corr[0, 0] == pytest.approx(1.0)
    assert corr[1, 1] == pytest.approx(-1.0)
    assert corr[0, 2] == pytest.approx(stats.spearmanr(params[:, 0], flux[:, 2])[0])
    assert np.isnan(corr[0, 3])


def test_principal_components_of_a_rank_two_matrix():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 12)) + 5.0
    scores, explained, components = explore.principal_components(data, n_components=4)
    assert scores.shape == (40, 4) and components.shape == (4, 12)
    assert explained[:2].sum() == pytest.approx(1.0)
    assert np.allclose(scores[:, 2:], 0.0, atol=1e-9)


def test_explore_subcommand(toy_grid, tmp_path, capsys):
    path = toy_grid.to_hdf5(tmp_path / "toy.h5")
    parser = argparse.ArgumentParser()
    parser.add_argument("-q", "--quiet", action="store_true")
    common = argparse.ArgumentParser(add_help=False)  # as telescopeml.cli builds it
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)
    explore_command.register(parser.add_subparsers(dest="command"), common)
    args = parser.parse_args(["explore", str(path), "--out", str(tmp_path / "ex"),
                              "--fixed", "teff=1100", "-q"])
    assert args.fixed == [("teff", 1100.0)]
    assert args.func(args) == 0
    assert "36 spectra, 36 of 36 combinations" in capsys.readouterr().out
    assert (tmp_path / "ex" / "summary.json").is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["explore", str(path), "--out", "x", "--fixed", "teff"])
