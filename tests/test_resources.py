"""Shipped files are found in the checkout and inside the one-file bundle alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from exchange import resources
from exchange.catalogue import DEFAULT_PATH, load_catalogue

CHECKOUT = Path(__file__).resolve().parent.parent


def test_the_checkout_is_the_root_from_source() -> None:
    assert resources.root() == CHECKOUT
    assert DEFAULT_PATH == CHECKOUT / "data" / "assets.json"
    assert load_catalogue(), "the shipped catalogue loads"
    assert resources.shipped("web", "templates", "docs.html").is_file()


def test_the_unpacked_bundle_is_the_root_when_frozen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.shipped("data", "assets.json") == tmp_path / "data" / "assets.json"
    assert resources.shipped("scenarios") == tmp_path / "scenarios"
