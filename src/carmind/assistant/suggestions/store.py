"""The suggestions store: the trip log, dismissals and when each suggestion was last offered.

One small SQLite file, local only; nothing in it leaves the car. Its default place is
`$CARMIND_DATA_DIR/suggestions.sqlite3`, where `CARMIND_DATA_DIR` defaults to the user's data
directory (`$XDG_DATA_HOME/carmind`, else `~/.local/share/carmind`; the platform's equivalent on
macOS and Windows). Coordinates are stored rounded to `COORDINATE_DECIMALS`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from carmind.assistant.suggestions.model import Position, SuggestionError, Trip
from carmind.paths import default_data_dir

log = logging.getLogger(__name__)

STORE_FILE: Final = "suggestions.sqlite3"
SCHEMA_VERSION: Final = 1

COORDINATE_DECIMALS: Final = 4
"""Trip ends are kept to 4 decimal places of a degree (about 11 m): ample for places of
250 m radius, and no finer a trace of where the driver goes than needed."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS trips (
    start_time REAL NOT NULL,
    end_time REAL NOT NULL,
    start_lat REAL NOT NULL,
    start_lon REAL NOT NULL,
    end_lat REAL NOT NULL,
    end_lon REAL NOT NULL,
    distance_km REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS trips_by_start ON trips (start_time);
CREATE TABLE IF NOT EXISTS dismissed (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS offered (key TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class StoreError(SuggestionError):
    """The store file cannot be opened or is not a carmind suggestions store."""


def default_store_path(environ: Mapping[str, str] | None = None) -> Path:
    return default_data_dir(environ) / STORE_FILE


class SuggestionStore:
    """Trips, dismissals and offers in one SQLite file (`":memory:"` for a throwaway store).

    Opening creates the file and its folder when missing. A file that is not such a store, or
    one written by a newer carmind, raises `StoreError` and is left as it is.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path: Path | str
        if path is None:
            self.path = default_store_path()
        elif str(path) == ":memory:":
            self.path = ":memory:"
        else:
            self.path = Path(path).expanduser()
        if isinstance(self.path, Path):
            if self.path.is_dir():
                raise StoreError(f"store path {self.path} is a directory; expected a file")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {self.path}: {exc}") from None
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the suggestions store {self.path}: {exc}") from None
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer carmind (schema {version}); "
                    f"this one reads schema {SCHEMA_VERSION} and older"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path} is not a carmind suggestions store: {exc}") from None
        except StoreError:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SuggestionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- trips --------------------------------------------------------------------------------

    def add_trip(self, trip: Trip) -> None:
        d = COORDINATE_DECIMALS
        self._db.execute(
            "INSERT INTO trips VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                trip.start_time,
                trip.end_time,
                round(trip.start.latitude, d),
                round(trip.start.longitude, d),
                round(trip.end.latitude, d),
                round(trip.end.longitude, d),
                round(trip.distance_km, 3),
            ),
        )

    def trips(self, since: float | None = None) -> list[Trip]:
        """The logged trips (that started at or after `since`), oldest first."""
        rows = self._db.execute(
            "SELECT * FROM trips WHERE start_time >= ? ORDER BY start_time",
            (float("-inf") if since is None else since,),
        ).fetchall()
        return [Trip(r[0], r[1], Position(r[2], r[3]), Position(r[4], r[5]), r[6]) for r in rows]

    def trip_count(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM trips").fetchone()[0]
        return count

    def forget_trips(self, before: float | None = None) -> int:
        """Delete the trips that started before `before` (all of them with None); how many."""
        if before is None:
            cursor = self._db.execute("DELETE FROM trips")
        else:
            cursor = self._db.execute("DELETE FROM trips WHERE start_time < ?", (before,))
        return cursor.rowcount

    # --- dismissals and offers ----------------------------------------------------------------

    def dismiss(self, key: str, at: float) -> None:
        """Never offer the suggestion id or kind `key` again."""
        self._db.execute("INSERT OR REPLACE INTO dismissed VALUES (?, ?)", (key, at))

    def restore(self, key: str) -> bool:
        """Undo a dismissal; False when `key` was not dismissed."""
        return self._db.execute("DELETE FROM dismissed WHERE key = ?", (key,)).rowcount > 0

    def dismissed(self) -> dict[str, float]:
        """Every dismissed id or kind, with when it was dismissed."""
        return dict(self._db.execute("SELECT key, at FROM dismissed ORDER BY at").fetchall())

    def is_dismissed(self, *keys: str) -> bool:
        marks = ",".join("?" * len(keys))
        query = f"SELECT 1 FROM dismissed WHERE key IN ({marks}) LIMIT 1"
        return self._db.execute(query, keys).fetchone() is not None

    def record_offer(self, key: str, at: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO offered VALUES (?, ?)", (key, at))

    def last_offered(self, *keys: str) -> float | None:
        """The latest time any of `keys` was offered (or snoozed), or None."""
        marks = ",".join("?" * len(keys))
        query = f"SELECT MAX(at) FROM offered WHERE key IN ({marks})"
        at: float | None = self._db.execute(query, keys).fetchone()[0]
        return at
