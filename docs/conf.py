"""Sphinx configuration for the telescopeml documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``tests/test_docs.py`` runs exactly this into a temporary directory).

Sources: the Markdown pages in this directory (MyST), the API pages in ``api/`` (autodoc +
napoleon, NumPy-style docstrings) and the tutorials, jupytext "percent" scripts
``tutorials/NN_name.py`` read as notebooks by myst-nb and rendered without being executed
(their own tests execute them).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The package is normally installed (pip install -e .); this makes a plain checkout work too.
sys.path.insert(0, str(DOCS.parent / "src"))
sys.path.insert(0, str(DOCS / "_ext"))

import telescopeml  # noqa: E402

project = "telescopeml"
author = "telescopeml developers"
copyright = "telescopeml developers"
release = telescopeml.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "myst_nb",  # also registers myst_parser for the .md pages
]

# Only these files are documents. A whitelist keeps tutorial outputs (models, figures,
# notebooks written next to the scripts, sub-directories) and this file out of the build.
include_patterns = [
    "index.md",
    "usage.md",
    "scaling.md",
    "architecture.md",
    "BENCHMARKS.md",
    "api/*.rst",
    "api/*.md",
    "tutorials/[0-9]*.py",
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "conf.py", "tutorials/*/**"]

# The tutorials: jupytext percent scripts parsed as notebooks, never executed here.
# (percent_notebook.read_percent is jupytext.reads(text, fmt="py:percent") that also names
# the kernel, Python, when a script has no jupytext header.)
nb_custom_formats = {".py": "percent_notebook.read_percent"}
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autosummary_generate = False  # the API pages in api/ are written by hand
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

# No intersphinx: the build must not need the network.

try:
    import furo  # noqa: F401
except ImportError:  # pragma: no cover - furo is in the docs extra
    html_theme = "alabaster"
else:
    html_theme = "furo"
html_title = f"telescopeml {release}"
html_static_path: list[str] = []


TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9]*.py"))
_TUTORIALS_TOCTREE = re.compile(r"```\{toctree\}[^`]*?\ntutorials/\[0-9\]\*\n```\n", re.S)


def _drop_empty_tutorials_toctree(app, docname, source):
    """Without any tutorial yet, leave out index.md's glob toctree of them.

    Sphinx warns when a glob toctree matches nothing, and that warning (subtype empty_glob)
    carries no type, so ``suppress_warnings`` cannot silence it.
    """
    if docname == "index" and not TUTORIALS:
        source[0] = _TUTORIALS_TOCTREE.sub("", source[0])


def setup(app):
    app.connect("source-read", _drop_empty_tutorials_toctree)
