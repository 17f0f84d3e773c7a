"""The documentation builds without a warning, and every page it should have is there.

The build is the one ``docs/conf.py`` describes: ``sphinx-build -W --keep-going -b html``,
tutorials rendered without being executed, no network.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

import telescopeml
from telescopeml.data.grid import SpectralGrid

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9]*.py"))

#: Every module with a page in the API reference (docs/api/<module>.rst).
API_MODULES = [
    "telescopeml",
    "telescopeml.errors",
    "telescopeml.jsonio",
    "telescopeml.extras",
    "telescopeml.parameters",
    "telescopeml.vocabulary",
    "telescopeml.progress",
    "telescopeml.data.grid",
    "telescopeml.data.gridchecks",
    "telescopeml.data.spectrum",
    "telescopeml.data.readers",
    "telescopeml.data.readers.registry",
    "telescopeml.data.readers.fits",
    "telescopeml.data.readers.text",
    "telescopeml.data.readers.specutils_io",
    "telescopeml.data.units",
    "telescopeml.data.sources",
    "telescopeml.data.library",
    "telescopeml.data.coordinates",
    "telescopeml.data.objects",
    "telescopeml.data.resample",
    "telescopeml.data.transforms",
    "telescopeml.data.checks",
    "telescopeml.data.instruments",
    "telescopeml.data.augment",
    "telescopeml.data.formats",
    "telescopeml.data.gridregistry",
    "telescopeml.data.sonora",
    "telescopeml.data.compact",
    "telescopeml.data.gridio",
    "telescopeml.data.splits",
    "telescopeml.data.prepared",
    "telescopeml.data.chi2",
    "telescopeml.data.classification",
    "telescopeml.data.classification.indices",
    "telescopeml.data.classification.standards",
    "telescopeml.models",
    "telescopeml.models.config",
    "telescopeml.models.cnn",
    "telescopeml.data.inputs",
    "telescopeml.models.posterior",
    "telescopeml.models.numpy_model",
    "telescopeml.models.torch_network",
    "telescopeml.models.regressors",
    "telescopeml.models.recalibration",
    "telescopeml.training",
    "telescopeml.training.config",
    "telescopeml.training.trainer",
    "telescopeml.training.runtime",
    "telescopeml.training.checkpoint",
    "telescopeml.training.outputs",
    "telescopeml.training.experiment",
    "telescopeml.training.manifest",
    "telescopeml.training.empirical",
    "telescopeml.training.search_space",
    "telescopeml.training.storage",
    "telescopeml.training.tune",
    "telescopeml.inference.request",
    "telescopeml.inference.protocol",
    "telescopeml.inference.prepare",
    "telescopeml.inference.likelihood",
    "telescopeml.inference.sampling",
    "telescopeml.inference.correct",
    "telescopeml.inference.diagnostics",
    "telescopeml.inference.batch",
    "telescopeml.predict",
    "telescopeml.prediction",
    "telescopeml.tables",
    "telescopeml.pretrained",
    "telescopeml.empirical",
    "telescopeml.bundle",
    "telescopeml.evaluation",
    "telescopeml.evaluation.metrics",
    "telescopeml.evaluation.evaluate",
    "telescopeml.evaluation.crlb",
    "telescopeml.evaluation.calibration",
    "telescopeml.evaluation.benchmark",
    "telescopeml.evaluation.baselines",
    "telescopeml.evaluation.real_baselines",
    "telescopeml.explore",
    "telescopeml.report",
    "telescopeml.values",
    "telescopeml.plots",
    "telescopeml.plots.style",
    "telescopeml.plots.grid",
    "telescopeml.plots.training",
    "telescopeml.plots.evaluation",
    "telescopeml.plots.calibration",
    "telescopeml.plots.predict",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The HTML site, built once for this module's tests."""
    out = tmp_path_factory.mktemp("docs-html")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               str(DOCS), str(out)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (
        f"sphinx-build failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
        f"{done.stderr[-8000:]}"
    )
    return out


def page_text(path: Path) -> str:
    """The visible text of an HTML page: tags removed, entities decoded, spaces collapsed."""
    assert path.is_file(), f"{path.name} was not built"
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", raw))
    # docutils' smart quotes: "it's" is rendered "it’s"
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))
    return " ".join(text.split())


def rst_plain(text: str) -> str:
    """What reST inline markup in a docstring line shows as: roles, literals and emphasis."""

    def role(match: re.Match) -> str:
        target = match.group(1)
        titled = re.fullmatch(r"(.*?)\s*<.*>", target)
        if titled:
            return titled.group(1)
        if target.startswith("~"):
            return target[1:].rsplit(".", 1)[-1]
        return target

    text = re.sub(r":[\w:.-]+:`([^`]*)`", role, text)
    text = text.replace("``", "").replace("`", "").replace("**", "")
    return " ".join(text.split())


def readme_command(marker: str) -> str:
    """The command on the line after ``marker`` in README.md, as .ci/run reads it."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    after = lines[lines.index(marker) + 1:]
    return next(line for line in after if re.match(r"[a-z]", line))


def test_index_has_what_install_and_the_two_commands(site):
    text = page_text(site / "index.html")
    assert "brown dwarfs" in text
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        command = readme_command(marker)
        assert " ".join(command.split()) in text, f"index.html lacks {command!r}"
    assert "pip install torch" in text
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in ("usage.html", "scaling.html", "BENCHMARKS.html", "api/index.html"):
        assert f'href="{page}' in index, f"index.html does not link {page}"
        assert (site / page).is_file()
    assert "telescopeml tune" in page_text(site / "scaling.html")
    usage = page_text(site / "usage.html")
    assert "telescopeml predict" in usage
    # one place that says what the two scales are and what --scale and --fast do
    scales = usage[usage.index("Two scales: empirical and atmosphere grid"):]
    scales = scales[:scales.index("Prediction tables and samples")]
    for words in ("--scale empirical", "--scale grid", "--scale auto", "--fast",
                  "evolutionary", "the network only proposes"):
        assert words in scales, f"usage.html's section on the two scales lacks {words!r}"


def test_api_reference_has_every_module_and_its_docstrings(site):
    api_index = (site / "api" / "index.html").read_text(encoding="utf-8")
    for module in API_MODULES:
        page = site / "api" / f"{module}.html"
        assert f'href="{module}.html"' in api_index, f"api/index.html does not link {module}"
        summary = inspect.getdoc(importlib.import_module(module))
        assert summary, f"{module} has no docstring"
        first_line = rst_plain(summary.splitlines()[0])
        assert first_line in page_text(page), f"{page.name} lacks {first_line!r}"

    grid_page = page_text(site / "api" / "telescopeml.data.grid.html")
    assert "SpectralGrid" in grid_page
    for method in (SpectralGrid.interpolate, SpectralGrid.interpolate_points):
        doc = inspect.getdoc(method)
        paragraph = rst_plain(doc.split("\n\n")[0])
        assert paragraph in grid_page, f"the grid page lacks {method.__qualname__}'s docstring"
    # A NumPy-style "Parameters" section rendered by napoleon, not shown as raw text.
    assert "Parameters" in grid_page and "----------" not in grid_page

    top = (site / "api" / "telescopeml.html").read_text(encoding="utf-8")
    for name in telescopeml.__all__:
        if not name.startswith("_"):
            assert f"#{getattr(telescopeml, name).__module__}.{name}" in top, (
                f"api/telescopeml.html does not link {name} to its documentation"
            )


def markdown_title(tutorial: Path) -> str | None:
    """The first heading of the tutorial's first Markdown cell, as plain text."""
    notebook = jupytext.read(tutorial, fmt="py:percent")
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.lstrip("#"))
                    return rst_plain(title.replace("*", ""))
            return None
    return None


def first_code_line(tutorial: Path) -> str | None:
    notebook = jupytext.read(tutorial, fmt="py:percent")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                if line.strip() and not line.lstrip().startswith(("#", "%", "!")):
                    return " ".join(line.split())
    return None


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=[t.stem for t in TUTORIALS])
def test_each_tutorial_is_a_page(site, tutorial):
    page = site / "tutorials" / f"{tutorial.stem}.html"
    text = page_text(page)
    raw = page.read_text(encoding="utf-8")
    assert f'href="tutorials/{tutorial.stem}.html"' in (site / "index.html").read_text(
        encoding="utf-8"
    ), f"index.html does not list {tutorial.name}"
    title = markdown_title(tutorial)
    if title and "$" not in title:
        assert title in text, f"{page.name} lacks its title {title!r}"
    code = first_code_line(tutorial)
    if code:
        assert "cell_input" in raw, f"{page.name} was not rendered as a notebook"
        assert code in text, f"{page.name} lacks its code {code!r}"
