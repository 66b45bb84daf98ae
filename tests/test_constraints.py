"""``constraints.txt`` pins every dependency exactly, within pyproject's ranges (``make lock``)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
REFRESH = "run `make lock` and commit constraints.txt"


def pins() -> dict[str, Version]:
    """The exact versions in ``constraints.txt``, by canonical name."""
    pinned: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line!r} is not an exact pin"
        pinned[canonicalize_name(requirement.name)] = Version(spec.version)
    return pinned


def declared() -> list[Requirement]:
    """Every dependency pyproject names, runtime and every extra, and the build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = list(project["project"]["dependencies"])
    for extra in project["project"].get("optional-dependencies", {}).values():
        texts.extend(extra)
    texts.extend(project["build-system"]["requires"])
    return [Requirement(text) for text in texts]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned: {REFRESH}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{requirement.name}=={pinned[name]} is outside {requirement}: {REFRESH}"
        )


def test_every_pinned_distribution_has_its_own_dependencies_pinned() -> None:
    pinned = pins()
    for name, version in pinned.items():
        installed = Version(metadata.version(name))
        assert installed == version, f"{name} {installed} is installed, {version} pinned"
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in pinned, f"{name} needs {dependency}, not pinned: {REFRESH}"
