"""Where the shipped files are: the source tree, or the unpacked bundle of ``dist/exchange``.

Data (``data/*.json``), templates, static files and bundled scenarios are found through
``shipped`` alone. A PyInstaller one-file build unpacks them to ``sys._MEIPASS`` in the same
layout as the checkout (``data/``, ``web/templates``, ``web/static``, ``scenarios/``), so one
relative path names a file in both.
"""

from __future__ import annotations

import sys
from pathlib import Path


def root() -> Path:
    """The directory holding ``data/``, ``web/`` and ``scenarios/``."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def shipped(*parts: str) -> Path:
    """A shipped file or directory, e.g. ``shipped("data", "assets.json")``."""
    return root().joinpath(*parts)
