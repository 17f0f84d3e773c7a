"""The command line's shape: how a grid is given, old option spellings, the exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telescopeml.cli import build_parser
from telescopeml.cli.common import grid_of
from telescopeml.errors import DataError


@pytest.mark.parametrize("argv", [
    ["explore", "g", "--out", "x"], ["explore", "--grid", "g", "--out", "x"],
    ["train", "g", "--out", "x"], ["train", "--grid", "g", "--out", "x"],
    ["tune", "g", "--out", "x"], ["tune", "--grid", "g", "--out", "x"],
])
def test_a_grid_is_given_as_argument_or_option(argv):
    assert grid_of(build_parser().parse_args(argv)) == "g"


def test_two_grids_or_none_where_one_is_needed_are_refused():
    parser = build_parser()
    with pytest.raises(DataError, match="two grids"):
        grid_of(parser.parse_args(["explore", "g", "--grid", "h", "--out", "x"]))
    with pytest.raises(DataError, match="give a grid"):
        grid_of(parser.parse_args(["explore", "--out", "x"]), required=True)
    assert grid_of(parser.parse_args(["train", "--out", "x"])) is None


def test_old_spellings_still_parse_and_stay_out_of_the_help():
    parser = build_parser()
    args = parser.parse_args(["benchmark", "m", "--objects", "o.csv", "--plot", "b.png"])
    assert args.plots == "b.png"
    help_text = parser._subparsers._group_actions[0].choices["benchmark"].format_help()
    assert "--plots" in help_text and "--plot " not in help_text


def test_help_documents_the_exit_codes_and_imports_nothing_heavy():
    code = ("import sys; from telescopeml.cli import build_parser; "
            "print(build_parser().format_help()); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    for line in ("0    success", "1    some inputs failed", "2    usage or data error"):
        assert line in out
    assert out.strip().endswith("[]")
