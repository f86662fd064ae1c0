"""Valhalla's traffic formats: historical speed CSVs loaded into the tiles, and live speeds.

Historical: one CSV per routing tile under `map/traffic/`, mirroring `map/tiles/`, with rows
`level/tileid/edgeindex,freeflow_kph,constrained_kph,<2016 five-minute speeds, DCT-compressed>`,
loaded with `valhalla_add_predicted_traffic`, which rewrites tiles in place. To make learning
repeatable, the tiles as built are kept once in `map/tiles.pristine/`; every load starts from
that copy in a scratch directory and swaps the result in only when Valhalla succeeded.

Live: `map/traffic.tar` holds one 64-bit record per directed edge (see `maps`); records are
written in place through a memory map, so a running router sees them at once.
"""

from __future__ import annotations

import mmap
import shutil
import struct
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from carmind.navigation.errors import MapError, TrafficDataError
from carmind.navigation.maps import (
    TRAFFIC_HEADER,
    TRAFFIC_INDEX_ENTRY,
    MapInfo,
    _valhalla_bin,
    _write_json,
    tile_files,
)

PRISTINE: Final = "tiles.pristine"
LIVE_UNKNOWN: Final = 127
MAX_LIVE_KPH: Final = 252  # 7 bits of 2 km/h, 127 meaning unknown


def split_graph_id(value: int) -> tuple[int, int, int]:
    """A Valhalla GraphId value as (level, tile id, edge index)."""
    return value & 0x7, (value >> 3) & 0x3FFFFF, (value >> 25) & 0x1FFFFF


def graph_id_text(value: int) -> str:
    level, tile, index = split_graph_id(value)
    return f"{level}/{tile}/{index}"


def tile_paths(tiles: Path) -> dict[tuple[int, int], str]:
    """(level, tile id) -> the tile's path relative to `tiles`, without the `.gph` suffix."""
    from valhalla.baldr import GraphId

    out: dict[tuple[int, int], str] = {}
    for path in tile_files(tiles):
        rel = path.relative_to(tiles).as_posix()
        gid = GraphId.from_tile_path(rel)
        level, tile, _ = split_graph_id(int(gid.value))
        out[(level, tile)] = rel[: -len(".gph")]
    return out


@dataclass(frozen=True)
class EdgeSpeeds:
    """What Valhalla gets for one edge: 2016 speeds (km/h) and its free-flow/constrained speeds."""

    edge_id: int
    freeflow_kph: int
    constrained_kph: int
    week: Any  # numpy float32 array of 2016


def encode_week(week: Any) -> str:
    """2016 speeds as Valhalla's base64 DCT coefficients."""
    import numpy as np
    from valhalla.baldr.utils import compress_speed_buckets, encode_compressed_speeds

    speeds = np.ascontiguousarray(week, dtype=np.float32)
    return str(encode_compressed_speeds(compress_speed_buckets(speeds)))


def _write_csvs(
    root: Path, layout: Mapping[tuple[int, int], str], edges: Iterable[EdgeSpeeds]
) -> int:
    rows: dict[str, list[str]] = {}
    count = 0
    for edge in edges:
        level, tile, index = split_graph_id(edge.edge_id)
        rel = layout.get((level, tile))
        if rel is None:
            raise TrafficDataError(
                f"edge {level}/{tile}/{index} is not in this map's tiles: the observations were "
                "matched on another map"
            )
        rows.setdefault(rel, []).append(
            f"{level}/{tile}/{index},{edge.freeflow_kph},{edge.constrained_kph},"
            f"{encode_week(edge.week)}"
        )
        count += 1
    for rel, lines in rows.items():
        path = root / f"{rel}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


def load_historical(info: MapInfo, edges: Iterable[EdgeSpeeds]) -> int:
    """Replace the map's historical speeds with `edges`; the number of edges loaded.

    Idempotent: every load starts from the tiles as built, so edges learned before and absent
    now lose their old profile. Routers opened before must be reopened to see the new tiles.
    """
    root = info.paths.root
    tiles = info.paths.tiles
    pristine = root / PRISTINE
    if not pristine.is_dir():
        scratch = root / f".{PRISTINE}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(tiles, scratch)
        scratch.rename(pristine)
    staging = root / ".tiles.learning"
    csv_dir = root / ".traffic.learning"
    for scratch_dir in (staging, csv_dir):
        shutil.rmtree(scratch_dir, ignore_errors=True)
    try:
        shutil.copytree(pristine, staging)
        csv_dir.mkdir()
        count = _write_csvs(csv_dir, tile_paths(pristine), edges)
        config = info.valhalla_config()
        config["mjolnir"]["tile_dir"] = str(staging)
        config["mjolnir"]["traffic_extract"] = ""
        config_path = root / ".valhalla.learning.json"
        _write_json(config_path, config)
        if count:
            cmd = [
                str(_valhalla_bin("valhalla_add_predicted_traffic")),
                "-c",
                str(config_path),
                "-j",
                "1",
                str(csv_dir),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise MapError(
                    f"Valhalla could not load the learned speeds (exit status "
                    f"{proc.returncode}): {tail[0]}"
                )
        old_tiles = root / ".tiles.old"
        shutil.rmtree(old_tiles, ignore_errors=True)
        tiles.rename(old_tiles)
        staging.rename(tiles)
        shutil.rmtree(old_tiles, ignore_errors=True)
        historical = info.paths.historical
        shutil.rmtree(historical, ignore_errors=True)
        csv_dir.rename(historical)
        config_path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(csv_dir, ignore_errors=True)
        (root / ".valhalla.learning.json").unlink(missing_ok=True)
    return count


# ----------------------------------------------------------------------------------------- live


def encode_live_speed(kph: float) -> int:
    """One live-traffic record: the whole edge at `kph` (Valhalla's TrafficSpeed bitfield)."""
    encoded = max(1, min(round(kph / 2.0), MAX_LIVE_KPH // 2))
    value = encoded  # overall_encoded_speed
    value |= encoded << 7  # encoded_speed1
    value |= LIVE_UNKNOWN << 14  # encoded_speed2
    value |= LIVE_UNKNOWN << 21  # encoded_speed3
    value |= 255 << 28  # breakpoint1: the first speed covers the whole edge
    return value


def decode_live_speed(record: int) -> float | None:
    """The overall km/h of a live record, or None where the edge has no live speed."""
    if record == 0:
        return None
    encoded = record & 0x7F
    return None if encoded == LIVE_UNKNOWN else float(encoded * 2)


class LiveTrafficFile:
    """The map's `traffic.tar`, memory-mapped for reading and writing edge records in place."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise MapError(f"the map has no live-traffic file {path}: rebuild the map")
        self.path = path
        self._fh = path.open("r+b")
        try:
            self._mm = mmap.mmap(self._fh.fileno(), 0)
        except (OSError, ValueError) as exc:
            self._fh.close()
            raise MapError(f"cannot map the live-traffic file {path}: {exc}") from None
        self._tiles: dict[tuple[int, int], tuple[int, int]] = {}
        self._read_index()

    def _read_index(self) -> None:
        # the tar's first member is index.bin: (data offset, tile id, size) per tile
        size_field = bytes(self._mm[124:136]).rstrip(b"\0 ").decode("ascii") or "0"
        index_size = int(size_field, 8)
        entry = TRAFFIC_INDEX_ENTRY
        for pos in range(512, 512 + index_size, entry.size):
            offset, tile_id, _size = entry.unpack_from(self._mm, pos)
            level, tile, _ = split_graph_id(tile_id)
            header = TRAFFIC_HEADER.unpack_from(self._mm, offset)
            self._tiles[(level, tile)] = (offset, int(header[2]))
        if not self._tiles:
            raise MapError(f"the live-traffic file {self.path} has no tiles: rebuild the map")

    def __enter__(self) -> LiveTrafficFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._mm.flush()
        self._mm.close()
        self._fh.close()

    def _slot(self, edge_id: int) -> int:
        level, tile, index = split_graph_id(edge_id)
        found = self._tiles.get((level, tile))
        if found is None or index >= found[1]:
            raise TrafficDataError(f"edge {level}/{tile}/{index} is not in this map's live file")
        return found[0] + TRAFFIC_HEADER.size + 8 * index

    def read(self, edge_id: int) -> float | None:
        (record,) = struct.unpack_from("<Q", self._mm, self._slot(edge_id))
        return decode_live_speed(int(record))

    def replace_all(self, speeds: Mapping[int, float]) -> int:
        """Clear every edge, then write `speeds` (edge id -> km/h); the number written."""
        now = int(time.time())
        slots = {self._slot(edge): encode_live_speed(kph) for edge, kph in speeds.items()}
        for offset, count in self._tiles.values():
            start = offset + TRAFFIC_HEADER.size
            self._mm[start : start + 8 * count] = b"\0" * (8 * count)
            struct.pack_into("<Q", self._mm, offset + 8, now)  # last_update
        for slot, record in slots.items():
            struct.pack_into("<Q", self._mm, slot, record)
        self._mm.flush()
        return len(slots)
