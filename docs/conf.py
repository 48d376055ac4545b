"""Sphinx configuration for simloop's documentation (MyST Markdown pages, furo theme)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.ext.napoleon import Config as NapoleonConfig
from sphinx.ext.napoleon.docstring import GoogleDocstring

import simloop

project = "simloop"
author = "simloop developers"
copyright = "simloop developers"
release = simloop.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]

source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"

html_theme = "furo"
html_title = f"simloop {release}"

# docs/conformance.md is written separately; until it exists, its toctree entry would be the
# build's only warning.
suppress_warnings = (
    [] if (Path(__file__).parent / "conformance.md").exists() else ["toc.not_readable"]
)

_NAPOLEON = NapoleonConfig(napoleon_numpy_docstring=False)


def _google_sections(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Render Google-style sections (``Args:``) of functions and classes.

    This is what ``sphinx.ext.napoleon`` does, minus attributes and properties: napoleon reads
    the first line of their docstrings as ``type: description``, which garbles one-line
    docstrings such as "A snapshot of the run so far: its schedule...".
    """
    if what in {"attribute", "property", "data"}:
        return
    lines[:] = GoogleDocstring(lines, _NAPOLEON, app, what, name, obj, options).lines()


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _google_sections)
