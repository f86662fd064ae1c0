"""The vehicle page (server-rendered SVG plots), the plots themselves, and drive segmentation."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from carmind.connect.cloud import derive, plots
from carmind.connect.cloud.ingest import Batch
from carmind.connect.cloud.service import CloudService
from tests.connect.test_cloud_api import _drive_and_charge
from tests.connect.test_cloud_kit import http, make_owner, sqlite_service

__all__ = ["sqlite_service"]


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


async def test_vehicle_page_renders_svg_plots(sqlite_service: CloudService) -> None:
    owner = await make_owner(sqlite_service)
    await sqlite_service.writer.write(
        Batch(telemetry=_drive_and_charge(owner.vin, time.time() - 7200))
    )
    async with http(sqlite_service) as client:
        anonymous = await client.get(f"/vehicles/{owner.vin}")
        wrong = await client.post("/login", data={"username": "alice", "password": "nope"})
        login = await client.post(
            "/login",
            data={
                "username": "alice",
                "password": owner.password,
                "next": f"/vehicles/{owner.vin}",
            },
        )
        cookie = login.cookies.get("carmind_session")
        assert cookie is not None
        client.cookies.set("carmind_session", cookie)
        listing = await client.get("/vehicles")
        page = await client.get(f"/vehicles/{owner.vin}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert wrong.status_code == 401
    assert login.status_code == 303 and login.headers["location"] == f"/vehicles/{owner.vin}"
    assert owner.vin in listing.text
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    svgs = _svgs(page.text)
    labels = [svg.get("aria-label", "") for svg in svgs]
    assert len(svgs) == 4
    assert "track plot of 1 drives" in labels[0]
    assert "Consumption per drive: bar chart of 1 bars" in labels[1]
    assert "State of charge: line chart of 32 points" in labels[2]
    assert "Energy added per session: bar chart of 1 bars" in labels[3]
    assert "track plot" in page.text and "openstreetmap" not in page.text.lower()
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page.text))  # no CDN


def test_plots_handle_empty_and_odd_data() -> None:
    empty = ET.fromstring(plots.line_chart("SoC", [], "%"))
    assert "no data yet" in (empty.get("aria-label") or "")
    flat = ET.fromstring(
        plots.line_chart("SoC", [(1.0, 50.0), (2.0, 50.0), (3.0, float("nan"))], "%")
    )
    assert "2 points" in (flat.get("aria-label") or "")
    bars = ET.fromstring(plots.bar_chart("kWh", [("a", -1.0), ("b", 3.0)], "kWh"))
    assert len(bars.findall("{http://www.w3.org/2000/svg}rect")) == 3  # background + 2 bars
    one_point = plots.track_plot("t", [[[60.0, 24.0]]])
    assert "no data yet" in one_point
    assert plots.nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]


def test_segment_splits_on_stops_gaps_and_charging() -> None:
    samples: list[tuple[float, str, float | bool | None]] = []
    for i in range(5):  # drive 1: moving at t = 0..4 min
        samples += [(i * 60.0, derive.SPEED, 50.0), (i * 60.0, derive.ODOMETER, 10.0 + i)]
    samples += [(300.0, derive.SPEED, 0.0), (300.0, derive.ODOMETER, 14.5)]
    samples += [(2000.0, derive.SPEED, 30.0), (2000.0, derive.ODOMETER, 15.0)]  # after a gap
    samples += [(2060.0, derive.SPEED, 30.0), (2060.0, derive.ODOMETER, 15.5)]
    samples += [(2120.0, derive.SPEED, 0.0), (2120.0, derive.IS_CHARGING, True)]
    samples += [(2180.0, derive.IS_CHARGING, True)]
    drives, charges = derive.segment(samples, stop_s=600, price_per_kwh=0.3)
    assert [(d.start.ts, d.end.ts, d.closed) for d in drives] == [
        (0.0, 300.0, True),
        (2000.0, 2060.0, True),
    ]
    assert drives[0].distance_km == pytest.approx(4.5) and drives[0].max_speed_kmh == 50.0
    assert drives[0].efficiency_wh_km is None  # no energy signal
    assert len(charges) == 1 and charges[0].closed is False and charges[0].energy_added_kwh == 0.0


def test_segment_distance_from_track_without_odometer() -> None:
    samples: list[tuple[float, str, float | bool | None]] = []
    for i in range(3):
        samples += [
            (float(i), derive.SPEED, 40.0),
            (float(i), derive.LATITUDE, 60.0 + 0.01 * i),
            (float(i), derive.LONGITUDE, 24.0),
        ]
    drives, _ = derive.segment(samples, stop_s=60, price_per_kwh=0)
    assert drives[0].closed is False
    assert drives[0].distance_km == pytest.approx(2.224, abs=0.01)
    assert len(derive.thin([(float(i), 0.0) for i in range(1000)], 300)) == 300
