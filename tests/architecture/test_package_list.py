"""Every package of the source tree is listed in pyproject.toml: the package list is explicit
(templates/, static/ and migrations/ are mapped into the package), so a new folder under
portal/ that is not added there would be missing from every wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_under_portal_is_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "portal").rglob("__init__.py")
    }
    assert not on_disk - listed, (
        f"add {sorted(on_disk - listed)} to [tool.setuptools] packages in pyproject.toml"
    )
    # Data folders without __init__.py are listed too, with their files in package-data.
    for data in ("portal.data", "portal.translations"):
        assert data in listed and data in config["package-data"]


def test_top_level_folders_are_mapped_into_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    for folder in ("templates", "static", "migrations"):
        assert mapping[f"portal.bundled.{folder}"] == folder
