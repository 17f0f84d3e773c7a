"""Literature parameters of known objects: the shipped table and the lookup."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from telescopeml.data.objects import LITERATURE_TABLE, find_literature

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks" / "objects"


@pytest.mark.parametrize("name", ["2MASS J22244381-0158521", "2MASSW J2224438-015852",
                                  "2mass j22244381-0158521", "10120_11596.fits"])
def test_find_literature_by_name_alias_or_file(name):
    found = find_literature(name)
    assert found is not None and found.name == "2MASS J22244381-0158521"
    assert (found.teff, found.teff_err, found.logg) == (1646.0, 71.0, 5.18)
    assert found.spectral_type == "L3.0" and found.reference.startswith("Filippazzo")


def test_unknown_or_ambiguous_names_have_none(tmp_path):
    assert find_literature("nobody at all") is None
    table = tmp_path / "t.csv"
    table.write_text("name,data_file,teff,teff_err,logg,logg_err,source\n"
                     "A J0000+0000,a.fits,1000,50,5,0.3,x\n"
                     "B J0000123+000045,b.fits,900,50,5,0.3,y\n")
    assert find_literature("C J0000+0000", table) is None  # two rows share J0000+0000
    assert find_literature("A J0000+0000", table).teff == 1000.0


@pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="the benchmark tables are not here")
def test_shipped_table_matches_the_benchmark_tables():
    def rows(path):
        with open(path, newline="", encoding="utf-8") as fh:
            return {r["name"]: (r["data_file"], r["teff"], r["teff_err"], r["logg"],
                                r["logg_err"], r["source"]) for r in csv.DictReader(fh)}

    benchmarks = rows(BENCHMARKS / "train_objects.csv") | rows(BENCHMARKS / "dev_objects.csv")
    assert rows(LITERATURE_TABLE) == benchmarks
