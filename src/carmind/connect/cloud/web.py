"""The vehicle pages, in the manner of TeslaMate: current state, a track plot of the last drives,
and plots of consumption, state of charge and charging sessions. Server-rendered HTML and SVG;
no JavaScript, no CDN, no map tiles (so no tile credit is due).

    GET /vehicles          the signed-in user's vehicles
    GET /vehicles/{vin}    one vehicle's page

The pages use the session cookie from `/login` (or a bearer token with `vehicle_device_data`).
"""

from __future__ import annotations

import html
import time
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from carmind.connect.cloud import db, derive, plots
from carmind.connect.cloud.auth import VEHICLE_DEVICE_DATA, VEHICLE_LOCATION, Principal
from carmind.connect.cloud.deps import Service, caller
from carmind.connect.cloud.ingest import join_value

router = APIRouter(include_in_schema=False)

STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1rem;color:#111827}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #e5e7eb;
text-align:left}.error{color:#b91c1c}label{display:block;margin:.5rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.5rem}
.tile{background:#f9fafb;border:1px solid #e5e7eb;border-radius:6px;padding:.5rem}
.tile b{display:block;font-size:1.2rem}svg{max-width:100%;height:auto}
"""
STATE_TILES: Final = (
    (derive.SOC, "State of charge", "%"),
    ("Vehicle.Powertrain.TractionBattery.Range", "Range", "m"),
    (derive.ODOMETER, "Odometer", "km"),
    (derive.SPEED, "Speed", "km/h"),
    (derive.IS_CHARGING, "Charging", ""),
    ("Vehicle.Cabin.Door.Row1.DriverSide.IsLocked", "Locked", ""),
    ("Vehicle.Cabin.HVAC.AmbientAirTemperature", "Cabin", "°C"),
    ("Vehicle.Exterior.AirTemperature", "Outside", "°C"),
)


def page(title: str, body: str) -> str:
    """A whole HTML page around `body`."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _who(request: Request) -> Principal | None:
    from fastapi.security import SecurityScopes

    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    try:
        return caller(SecurityScopes([VEHICLE_DEVICE_DATA]), request, token)
    except HTTPException:
        return None


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _shown(value: object, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = round(value, 1)
    if unit == "m" and isinstance(value, int | float):
        return f"{value / 1000:.0f} km"
    return f"{value} {unit}".strip()


@router.get("/vehicles", response_model=None)
async def vehicle_list(request: Request, cloud: Service) -> Response:
    principal = _who(request)
    if principal is None:
        return RedirectResponse("/login?next=/vehicles", status_code=303)
    async with cloud.sessions() as session:
        rows = list(
            await session.scalars(
                select(db.Vehicle)
                .where(db.Vehicle.owner_id == principal.user_id)
                .order_by(db.Vehicle.vin)
            )
        )
    items = "".join(
        f'<li><a href="/vehicles/{v.vin}">{html.escape(v.name or v.vin)}</a> ({v.vin}, '
        f"{'online' if v.online else 'offline'})</li>"
        for v in rows
    )
    body = f"<h1>Your vehicles</h1><ul>{items or '<li>none registered yet</li>'}</ul>"
    return HTMLResponse(page("carmind: vehicles", body))


@router.get("/vehicles/{vin}", response_model=None)
async def vehicle_page(
    request: Request, cloud: Service, vin: Annotated[str, Path(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")]
) -> Response:
    """One vehicle: state tiles, track plot, consumption, state of charge, charging sessions."""
    principal = _who(request)
    if principal is None:
        return RedirectResponse(f"/login?next=/vehicles/{vin}", status_code=303)
    async with cloud.sessions() as session:
        vehicle = await session.scalar(select(db.Vehicle).where(db.Vehicle.vin == vin))
    if vehicle is None or vehicle.owner_id != principal.user_id:
        return HTMLResponse(page("Not found", f"<h1>No vehicle {vin} among yours</h1>"), 404)
    await cloud.refresh_vehicle(vin)
    located = principal.has(VEHICLE_LOCATION)
    async with cloud.sessions() as session:
        latest = {
            r.path: (join_value(r.kind, r.num, r.txt), r.ts)
            for r in await session.scalars(select(db.Latest).where(db.Latest.vin == vin))
        }
        drives = list(
            await session.scalars(
                select(db.Drive)
                .where(db.Drive.vin == vin)
                .order_by(db.Drive.start_ts.desc())
                .limit(10)
            )
        )
        charges = list(
            await session.scalars(
                select(db.Charge)
                .where(db.Charge.vin == vin)
                .order_by(db.Charge.start_ts.desc())
                .limit(12)
            )
        )
        point = db.TelemetryPoint
        soc_rows = (
            await session.execute(
                select(point.ts, point.num)
                .where(point.vin == vin, point.path == derive.SOC, point.num.is_not(None))
                .order_by(point.ts.desc())
                .limit(2000)
            )
        ).all()
    tiles = "".join(
        f'<div class="tile">{label}<b>{html.escape(_shown(latest[path][0], unit))}</b></div>'
        for path, label, unit in STATE_TILES
        if path in latest
    )
    seen = max((ts for _, ts in latest.values()), default=None)
    status = "online" if vehicle.online else "offline"
    header = (
        f"<h1>{html.escape(vehicle.name or vehicle.vin)}</h1><p>{vin} · {status}"
        + (f" · last data {_when(seen)}" if seen else "")
        + "</p>"
    )
    soc = [(ts, num) for ts, num in reversed(soc_rows) if num is not None]
    sections = [
        header,
        f'<h2>Now</h2><div class="grid">{tiles or "<p>no data yet</p>"}</div>',
        "<h2>Last drives</h2>"
        + (
            plots.track_plot("Track plot of the last drives", [d.track for d in reversed(drives)])
            if located
            else "<p>hidden: needs the vehicle_location scope</p>"
        ),
        "<h2>Consumption</h2>"
        + plots.bar_chart(
            "Consumption per drive",
            [
                (time.strftime("%d.%m", time.gmtime(d.start_ts)), d.efficiency_wh_km)
                for d in reversed(drives)
                if d.efficiency_wh_km is not None
            ],
            "Wh/km",
        ),
        "<h2>State of charge</h2>" + plots.line_chart("State of charge", soc, "%"),
        "<h2>Charging sessions</h2>"
        + plots.bar_chart(
            "Energy added per session",
            [
                (time.strftime("%d.%m", time.gmtime(c.start_ts)), c.energy_added_kwh)
                for c in reversed(charges)
            ],
            "kWh",
        ),
        _drive_table(drives),
        _charge_table(charges, cloud.settings.currency),
    ]
    return HTMLResponse(page(f"carmind: {vehicle.name or vin}", "".join(sections)))


def _drive_table(drives: list[db.Drive]) -> str:
    if not drives:
        return ""
    rows = "".join(
        f"<tr><td>{_when(d.start_ts)}</td><td>{(d.end_ts - d.start_ts) / 60:.0f} min</td>"
        f"<td>{d.distance_km:.1f} km</td>"
        f"<td>{'' if d.energy_kwh is None else f'{d.energy_kwh:.2f} kWh'}</td>"
        f"<td>{'' if d.efficiency_wh_km is None else f'{d.efficiency_wh_km:.0f} Wh/km'}</td>"
        f"<td>{'' if d.closed else 'driving'}</td></tr>"
        for d in drives
    )
    return (
        "<h2>Drives</h2><table><tr><th>start</th><th>duration</th><th>distance</th>"
        f"<th>energy</th><th>efficiency</th><th></th></tr>{rows}</table>"
    )


def _charge_table(charges: list[db.Charge], currency: str) -> str:
    if not charges:
        return ""
    rows = "".join(
        f"<tr><td>{_when(c.start_ts)}</td><td>{(c.end_ts - c.start_ts) / 60:.0f} min</td>"
        f"<td>{c.energy_added_kwh:.2f} kWh</td><td>{c.cost:.2f} {html.escape(currency)}</td>"
        f"<td>{'' if c.closed else 'charging'}</td></tr>"
        for c in charges
    )
    return (
        "<h2>Charges</h2><table><tr><th>start</th><th>duration</th><th>added</th>"
        f"<th>cost</th><th></th></tr>{rows}</table>"
    )
