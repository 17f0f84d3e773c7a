"""Data: model grids, observed spectra, resampling, transforms."""
