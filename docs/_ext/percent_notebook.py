"""Read a jupytext "percent" script (``docs/tutorials/NN_name.py``) as a notebook for myst-nb.

``jupytext.reads`` leaves the notebook without a kernel when the script has no jupytext
header; myst-nb then cannot tell the language of the code cells and warns on every one
(``myst-nb.lexer``), which ``sphinx-build -W`` turns into an error. The tutorials are
Python, so say so where the script does not.
"""

from __future__ import annotations

import jupytext
import nbformat

PYTHON_KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def read_percent(text: str) -> nbformat.NotebookNode:
    """Parse ``text`` as a ``py:percent`` script; default the kernel to Python 3."""
    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata.setdefault("kernelspec", dict(PYTHON_KERNEL))
    notebook.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    return notebook
