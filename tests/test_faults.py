"""Fault injection: hostile spectra and output paths cost only themselves, never a traceback,
never a silent NaN, never a lost file."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import damage_zip_member
from telescopeml.bundle import seal
from telescopeml.cli import main
from telescopeml.errors import DataError
from telescopeml.inference.batch import predict_files
from telescopeml.predict import Predictor, clean_spectrum
from test_predict import bundle, module_grid  # noqa: F401  (fixtures)

WAVE = np.linspace(0.85, 2.45, 80)


def spectrum_file(path, module_grid, flux_scale=1.0, sigma_scale=0.02, edit=None):  # noqa: F811
    flux = np.interp(WAVE, module_grid.wavelength, module_grid.flux[20]) * flux_scale
    sigma = flux * sigma_scale
    if edit:
        flux, sigma = edit(flux.copy(), sigma.copy())
    path.write_text("\n".join(f"{w:.6f} {f:.6e} {s:.6e}" for w, f, s in
                              zip(WAVE, flux, sigma, strict=True)))
    return path


def one_huge_pixel(flux, sigma):
    flux[40] = 1e300
    return flux, sigma


def zero_sigma(flux, sigma):
    return flux, np.zeros_like(sigma)


@pytest.mark.parametrize("name, options, words", [
    ("zero-sigma", {"edit": zero_sigma}, "every uncertainty is zero"),
    ("one-huge-pixel", {"edit": one_huge_pixel}, "1 of 80 pixels masked"),
])
def test_bad_pixels_are_masked_with_a_note(bundle, module_grid, tmp_path, name,  # noqa: F811
                                           options, words):
    path = spectrum_file(tmp_path / f"{name}.txt", module_grid, **options)
    prediction = Predictor(bundle).predict(path, n_samples=300)
    assert np.all(np.isfinite(prediction.samples))
    assert np.isfinite(prediction.chi2_red)
    assert any(words in n for n in prediction.notes), prediction.notes
    reference = Predictor(bundle).predict(spectrum_file(tmp_path / "ok.txt", module_grid),
                                          n_samples=300)
    assert abs(prediction.median["teff"] - reference.median["teff"]) < 100


@pytest.mark.parametrize("scale", [1e-316, 1e299])
def test_absurd_flux_scales_are_refused_by_name(bundle, module_grid, tmp_path,  # noqa: F811
                                                scale):
    path = spectrum_file(tmp_path / "absurd.txt", module_grid, flux_scale=scale)
    with pytest.raises(DataError, match=r"absurd.txt: flux values are of order"):
        Predictor(bundle).predict(path, n_samples=100)


def test_clean_spectrum_is_idempotent(bundle, module_grid, tmp_path):  # noqa: F811
    from telescopeml.data.spectrum import ObservedSpectrum

    spectrum = ObservedSpectrum.read(spectrum_file(tmp_path / "p.txt", module_grid,
                                                   edit=one_huge_pixel))
    once = clean_spectrum(spectrum)
    assert len(once) == 79 and clean_spectrum(once) is once


def test_a_batch_answers_every_good_spectrum(bundle, module_grid, tmp_path):  # noqa: F811
    files = [spectrum_file(tmp_path / "good1.txt", module_grid),
             spectrum_file(tmp_path / "tiny.txt", module_grid, flux_scale=1e-316),
             spectrum_file(tmp_path / "pixel.txt", module_grid, edit=one_huge_pixel),
             spectrum_file(tmp_path / "zero.txt", module_grid, edit=zero_sigma),
             tmp_path / "missing.txt"]
    done, failed = predict_files(Predictor(bundle), files, n_samples=200, progress=False)
    assert [p.source for p in done] == ["good1", "pixel", "zero"]
    assert [f[0] for f in failed] == [str(files[1]), str(files[4])]
    assert all(np.all(np.isfinite(p.samples)) for p in done)


def test_exit_status_and_results_file(bundle, module_grid, tmp_path, capsys):  # noqa: F811
    good = spectrum_file(tmp_path / "good.txt", module_grid)
    bad = spectrum_file(tmp_path / "bad.txt", module_grid, flux_scale=1e299)
    out = tmp_path / "keep.csv"
    out.write_text("precious results\n")
    # every spectrum fails: exit 2, and the existing file is left as it was (even when it
    # could be replaced)
    assert main(["-q", "predict", str(bundle), str(bad), "--out", str(out),
                 "--overwrite"]) == 2
    assert out.read_text() == "precious results\n"
    assert "left as it was" in capsys.readouterr().err
    # an existing file is not replaced without --overwrite, even with answers to write
    assert main(["-q", "predict", str(bundle), str(good), "--out", str(out),
                 "--samples", "200"]) == 2
    assert out.read_text() == "precious results\n"
    assert "already exists" in capsys.readouterr().err
    # all answered: 0; some failed: 1, with the failure as a row
    assert main(["-q", "predict", str(bundle), str(good), "--out", str(out),
                 "--samples", "200", "--overwrite"]) == 0
    assert main(["-q", "predict", str(bundle), str(good), str(bad), "--out", str(out),
                 "--samples", "200", "--overwrite"]) == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["flag"].startswith("error:") for r in rows] == [False, True]
    assert not list(tmp_path.glob(".keep.csv.*"))  # no temporary file left behind


@pytest.mark.parametrize("args, words", [
    (["--out", "DIR"], "is a directory"),
    (["--out", "FILE/x.csv"], "cannot write here"),  # a folder that is a file
])
def test_bad_options_fail_before_any_work(bundle, module_grid, tmp_path, capsys,  # noqa: F811
                                          args, words):
    good = spectrum_file(tmp_path / "good.txt", module_grid)
    args = [str(tmp_path) if a == "DIR" else a.replace("FILE", str(good)) for a in args]
    assert main(["-q", "predict", str(bundle), str(good), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["predict", "x.txt", "--samples", "-1"], ["benchmark", "shipped", "--objects", "o.csv",
                                              "--samples", "0"],
    ["train", "--out", "m", "--epochs", "0"], ["tune", "--out", "t", "--trials", "-3"],
])
def test_counts_below_one_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["-q", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "must be at least 1" in err and "Traceback" not in err


def test_an_output_folder_that_is_a_file_is_one_line(module_grid, tmp_path,  # noqa: F811
                                                     capsys):
    grid = module_grid.to_hdf5(tmp_path / "toy.h5")
    target = tmp_path / "afile"
    target.write_text("keep me")
    assert main(["-q", "explore", str(grid), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"telescopeml: error: {target}" in err and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_train_keeps_an_existing_model(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text('{"precious": true}')
    assert main(["-q", "train", "--out", str(model), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "already holds a model" in err and "--overwrite" in err
    assert (model / "manifest.json").read_text() == '{"precious": true}'
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["-q", "train", "--out", str(not_a_dir)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_resume_refuses_another_split_or_augmentation(tmp_path):
    from telescopeml.training.experiment import ExperimentConfig, check_resumable

    saved = ExperimentConfig.from_dict({"data": {"grid": "toy.h5", "split_seed": 0}})
    saved.to_toml(tmp_path / "config.toml")
    reread = ExperimentConfig.from_toml(tmp_path / "config.toml")
    check_resumable(reread, saved, tmp_path / "config.toml")  # the same run: fine
    other = ExperimentConfig.from_dict({"data": {"grid": "toy.h5", "split_seed": 1},
                                        "augment": {"n_interpolated": 7}})
    with pytest.raises(DataError) as caught:
        check_resumable(reread, other, tmp_path / "config.toml")
    message = str(caught.value)
    assert "[data] split_seed: 0 -> 1" in message
    assert "[augment] n_interpolated" in message and "config.toml" in message


def edited_bundle(source, target, edit):
    import json
    import shutil

    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    edit(manifest)
    (target / "manifest.json").write_text(json.dumps(seal(manifest)))
    return target


@pytest.mark.parametrize("name, edit, words", [
    ("no-wavelength", lambda m: m.pop("wavelength"), "KeyError: 'wavelength'"),
    ("no-transforms", lambda m: m.pop("transforms"), "KeyError: 'transforms'"),
    ("short-names", lambda m: m["parameters"].update(names=["teff"]), "1 parameter names"),
    ("no-names", lambda m: m["parameters"].update(names=[]), "0 parameter names"),
    ("fewer-wavelengths", lambda m: m.update(wavelength=m["wavelength"][:-5]),
     "wavelengths for a network of"),
    ("no-range", lambda m: m["parameters"]["ranges"].pop("logg"), "no range for logg"),
])
def test_an_edited_manifest_is_refused_on_load(bundle, tmp_path, name, edit,  # noqa: F811
                                               words):
    for engine in ("numpy", "torch"):
        path = edited_bundle(bundle, tmp_path / f"{name}-{engine}", edit)
        with pytest.raises(DataError, match="inconsistent bundle") as caught:
            Predictor(path, engine=engine)
        assert words in str(caught.value) and str(path) in str(caught.value)


def test_weights_of_another_model_are_refused(bundle, tmp_path):  # noqa: F811
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    from telescopeml.cache import sha256_file

    path = tmp_path / "swapped"
    shutil.copytree(bundle, path)
    weights = load_file(str(path / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.ndim == 2)
    weights[name] = np.zeros((weights[name].shape[0] + 3, weights[name].shape[1]),
                             dtype=weights[name].dtype)
    save_file(weights, str(path / "model.safetensors"))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["weights"]["sha256"] = sha256_file(path / "model.safetensors")
    (path / "manifest.json").write_text(json.dumps(manifest))
    for engine in ("numpy", "torch"):
        with pytest.raises(DataError):
            Predictor(path, engine=engine)


@pytest.mark.network
@pytest.mark.slow
def test_damaged_library_cache_is_rebuilt(network_cache):
    from telescopeml.data.library import find_entry, library_file, library_index
    from telescopeml.data.wheels import wheel_path

    entry = find_entry("2MASS J22244381-0158521")
    path = library_file(entry)
    good = path.read_bytes()
    # a truncated extracted FITS is extracted again
    path.write_bytes(good[: len(good) // 2])
    assert library_file(entry).read_bytes() == good
    # a corrupt index is rebuilt
    index = network_cache / "library" / "spex_prism_index.json"
    index.write_text("{not json")
    assert len(library_index()) > 3000
    # a wheel damaged in place, size and time unchanged, is downloaded again when a member
    # fails to read
    wheel = wheel_path("splat")
    damage_zip_member(wheel, entry.member, offset=10)
    path.unlink()
    assert library_file(entry).read_bytes() == good
    from telescopeml.cache import sha256_file
    from telescopeml.data.wheels import WHEELS

    assert sha256_file(wheel) == WHEELS["splat"].sha256  # downloaded again, not patched over


def test_a_manifest_cannot_make_the_fit_check_open_any_file(bundle, module_grid,  # noqa: F811
                                                            tmp_path):
    def point_at_passwd(manifest):
        manifest["training"]["config"]["data"]["grid"] = "/etc/passwd"

    path = edited_bundle(bundle, tmp_path / "passwd", point_at_passwd)
    prediction = Predictor(path).predict(spectrum_file(tmp_path / "s.txt", module_grid),
                                         n_samples=200)
    assert np.all(np.isfinite(prediction.samples))
    assert any("no grid spectrum to compare with: the bundle names its grid '/etc/passwd'"
               in f for f in prediction.flags)


def test_a_flat_spectrum_is_flagged_featureless(bundle, module_grid, tmp_path):  # noqa: F811
    flat = spectrum_file(tmp_path / "flat.txt", module_grid,
                         edit=lambda f, s: (np.full_like(f, f.mean()), s))
    prediction = Predictor(bundle).predict(flat, n_samples=200)
    assert any(f.startswith("featureless spectrum") for f in prediction.flags)
    normal = Predictor(bundle).predict(spectrum_file(tmp_path / "ok.txt", module_grid),
                                       n_samples=200)
    assert not any(f.startswith("featureless") for f in normal.flags)


def test_a_bad_row_of_a_target_list_costs_only_itself(bundle, module_grid, tmp_path,  # noqa: F811
                                                      capsys):
    """A distance that is not a number, or a row with no spectrum, is an error of its row,
    as a negative distance is; the other rows are predicted (exit 1)."""
    for name in ("a", "b", "c", "d"):
        spectrum_file(tmp_path / f"{name}.txt", module_grid)
    (tmp_path / "targets.csv").write_text(
        "file,distance_pc,distance_err_pc\n"
        "a.txt,10,1\nb.txt,abc,\nc.txt,12,x\n,,\nd.txt,-3,0\nd.txt,,\n")
    out = tmp_path / "table.csv"
    assert main(["-q", "predict", str(bundle), "--list", str(tmp_path / "targets.csv"),
                 "--out", str(out), "--samples", "200"]) == 1
    err = capsys.readouterr().err
    assert "b.txt (targets.csv line 3): distance_pc 'abc' is not a number" in err
    assert "c.txt (targets.csv line 4): distance_err_pc 'x' is not a number" in err
    assert "targets.csv line 5: no file and no name" in err
    assert "distance -3" in err
    rows = list(csv.DictReader(out.open()))
    assert sum(not r["flag"].startswith("error:") for r in rows) == 2  # a and the last d
    assert sum(r["flag"].startswith("error:") for r in rows) == 4
